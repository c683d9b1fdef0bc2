"""Small transformer encoders for import and quantization tests, built from configs with
seeded random weights (nothing downloads): Hugging Face BERT, DistilBERT and ViT, and
torch.nn.TransformerEncoder. Text models take (input_ids, attention_mask) with 1 for a
real token and 0 for padding, and return the masked-mean-pooled embedding [batch, hidden],
the sentence-embedding head whose cosine to fp32 is the transformers issue's metric."""
from __future__ import annotations

import torch
import torch.nn as nn

TINY_TEXT = dict(vocab_size=1000, hidden=64, layers=2, heads=4, intermediate=128, max_positions=64)


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real tokens of each sequence (padding excluded)."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1)


class MaskedMeanPooled(nn.Module):
    """A Hugging Face encoder followed by masked mean pooling of its last hidden state."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return masked_mean(hidden, attention_mask)


class PooledTorchEncoder(nn.Module):
    """Token embedding + learned positions + nn.TransformerEncoder (batch_first) whose
    padding reaches the encoder as src_key_padding_mask, then masked mean pooling."""

    def __init__(self, vocab_size, hidden, layers, heads, intermediate, max_positions):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, hidden)
        self.positions = nn.Parameter(torch.randn(1, max_positions, hidden) * 0.02)
        layer = nn.TransformerEncoderLayer(hidden, heads, intermediate, dropout=0.0, batch_first=True)
        # Nested tensors would change the traced graph with the mask's contents.
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, input_ids, attention_mask):
        x = self.tokens(input_ids) + self.positions[:, :input_ids.shape[1]]
        hidden = self.encoder(x, src_key_padding_mask=attention_mask == 0)
        return masked_mean(hidden, attention_mask)


def _seeded(seed: int):
    torch.manual_seed(seed)


def bert(seed: int = 0, attn: str = "sdpa", **sizes) -> MaskedMeanPooled:
    """A pooled transformers.BertModel (TINY_TEXT sizes unless overridden), eval mode."""
    from transformers import BertConfig, BertModel

    s = {**TINY_TEXT, **sizes}
    _seeded(seed)
    config = BertConfig(vocab_size=s["vocab_size"], hidden_size=s["hidden"], num_hidden_layers=s["layers"],
                        num_attention_heads=s["heads"], intermediate_size=s["intermediate"],
                        max_position_embeddings=s["max_positions"], attn_implementation=attn)
    return MaskedMeanPooled(BertModel(config, add_pooling_layer=False)).eval()


def distilbert(seed: int = 0, attn: str = "sdpa", **sizes) -> MaskedMeanPooled:
    """A pooled transformers.DistilBertModel (TINY_TEXT sizes unless overridden), eval mode."""
    from transformers import DistilBertConfig, DistilBertModel

    s = {**TINY_TEXT, **sizes}
    _seeded(seed)
    config = DistilBertConfig(vocab_size=s["vocab_size"], dim=s["hidden"], n_layers=s["layers"],
                              n_heads=s["heads"], hidden_dim=s["intermediate"],
                              max_position_embeddings=s["max_positions"], attn_implementation=attn)
    return MaskedMeanPooled(DistilBertModel(config)).eval()


def torch_encoder(seed: int = 0, **sizes) -> PooledTorchEncoder:
    """A pooled nn.TransformerEncoder (TINY_TEXT sizes unless overridden), eval mode."""
    s = {**TINY_TEXT, **sizes}
    _seeded(seed)
    return PooledTorchEncoder(s["vocab_size"], s["hidden"], s["layers"], s["heads"], s["intermediate"],
                              s["max_positions"]).eval()


class ViTEmbedding(nn.Module):
    """transformers.ViTModel returning its last hidden state's class token [batch, hidden]."""

    def __init__(self, vit: nn.Module):
        super().__init__()
        self.vit = vit

    def forward(self, pixel_values):
        return self.vit(pixel_values=pixel_values).last_hidden_state[:, 0]


def vit(seed: int = 0, attn: str = "sdpa", image: int = 32, patch: int = 8, hidden: int = 64,
        layers: int = 2, heads: int = 4, intermediate: int = 128) -> ViTEmbedding:
    """A tiny transformers.ViTModel (3-channel image x image inputs), eval mode."""
    from transformers import ViTConfig, ViTModel

    _seeded(seed)
    config = ViTConfig(image_size=image, patch_size=patch, hidden_size=hidden, num_hidden_layers=layers,
                       num_attention_heads=heads, intermediate_size=intermediate, attn_implementation=attn)
    return ViTEmbedding(ViTModel(config, add_pooling_layer=False)).eval()


def inject_outlier_channels(model: nn.Module, channels=(3, 17), gain: float = 60.0) -> nn.Module:
    """Multiply a few entries of every LayerNorm's gamma by `gain` (in place), so the
    residual stream carries the few huge channels trained transformers have."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm) and module.weight is not None:
                module.weight[list(channels)] *= gain
    return model


def padded_tokens(batch: int = 4, seq: int = 16, vocab_size: int = TINY_TEXT["vocab_size"],
                  seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) int64 [batch, seq]; sequence i has a different length
    (the first is full, the others padded at the end when seq > 1, none empty)."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab_size, (batch, seq), generator=gen)
    lengths = [seq] + torch.randint(1, max(seq, 2), (batch - 1,), generator=gen).tolist()
    mask = (torch.arange(seq)[None, :] < torch.tensor(lengths)[:, None]).long()
    return ids * mask, mask


def images(batch: int = 2, image: int = 32, seed: int = 0) -> torch.Tensor:
    """Seeded random pixel values [batch, 3, image, image]."""
    return torch.randn(batch, 3, image, image, generator=torch.Generator().manual_seed(seed))
