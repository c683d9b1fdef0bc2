"""Small models for tests: a digits CNN trained in seconds, MobileNet-style blocks and a
transformer encoder. Deterministic: the same seed gives the same weights."""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn as nn


def digits_data(test_fraction: float = 0.2, seed: int = 0) -> tuple:
    """scikit-learn's 8x8 digits as float32 NCHW [N,1,8,8] scaled to [0, 1], with int64
    labels: (x_train, y_train, x_test, y_test), split by a seeded permutation."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return (torch.from_numpy(x[train]), torch.from_numpy(y[train]),
            torch.from_numpy(x[test]), torch.from_numpy(y[test]))


class DigitsCNN(nn.Module):
    """conv-bn-relu ×2, max-pool, linear: 8x8 digits -> 10 logits."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width // 2, 3, padding=1), nn.BatchNorm2d(width // 2), nn.ReLU(),
            nn.Conv2d(width // 2, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(width * 4 * 4, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def train_digits_cnn(epochs: int = 4, seed: int = 0) -> DigitsCNN:
    """A DigitsCNN trained on digits_data() (about 97% test accuracy), in eval mode.
    Training runs once per (epochs, seed); each call returns a fresh copy."""
    return train_on_digits(DigitsCNN, epochs=epochs, seed=seed, lr=1e-2)


def train_on_digits(model_class, *, epochs: int, seed: int, lr: float) -> nn.Module:
    """A fresh `model_class()` with weights trained on digits_data() by Adam, in eval mode.
    Training runs once per (class, epochs, seed, lr) and is cached."""
    model = model_class()
    model.load_state_dict(_trained_state(model_class, epochs, seed, lr))
    return model.eval()


@functools.lru_cache(maxsize=8)
def _trained_state(model_class, epochs: int, seed: int, lr: float) -> dict:
    torch.manual_seed(seed)
    x, y, _, _ = digits_data()
    # float64: float32 sums differ between MKL/oneDNN code paths (Intel vs AMD, AVX2 vs
    # AVX-512) and training amplifies those differences into a different model; in float64
    # they stay below float32's resolution, so every machine gets the same float32 weights
    model = model_class().double()
    x = x.double()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(y), generator=order).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    return {k: v.detach().float() if v.is_floating_point() else v.detach().clone()
            for k, v in model.state_dict().items()}


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.expand = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.gate(self.expand(torch.relu(self.reduce(self.pool(x)))))


class InvertedResidual(nn.Module):
    """1x1 expand, 3x3 depthwise, squeeze-excite (optional), 1x1 project; residual when shapes allow."""

    def __init__(self, cin: int, cout: int, expand: int, stride: int, activation=nn.Hardswish,
                 squeeze_excite: bool = True):
        super().__init__()
        hidden = cin * expand
        self.block = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), activation(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), activation(),
            SqueezeExcite(hidden, max(hidden // 4, 4)) if squeeze_excite else nn.Identity(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetBlocks(nn.Module):
    def __init__(self, squeeze_excite: bool = True):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish())
        self.blocks = nn.Sequential(
            InvertedResidual(8, 8, 3, 1, nn.ReLU6, squeeze_excite),
            InvertedResidual(8, 16, 3, 2, squeeze_excite=squeeze_excite),
            InvertedResidual(16, 16, 3, 1, squeeze_excite=squeeze_excite),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def mobilenet_v2_blocks(seed: int = 0, squeeze_excite: bool = True) -> tuple:
    """(model, example_inputs): a MobileNetV2/V3-style stack in eval mode whose batch
    norms have non-trivial running statistics, and a [2,3,16,16] input. Without
    `squeeze_excite`, each depthwise conv feeds its block's 1x1 projection directly
    (MobileNetV2 proper)."""
    torch.manual_seed(seed)
    model = MobileNetBlocks(squeeze_excite)
    _randomize_batch_norms(model)
    return model.eval(), (torch.randn(2, 3, 16, 16),)


def _randomize_batch_norms(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


def transformer_encoder(seed: int = 0) -> tuple:
    """(model, example_inputs): a 2-layer batch-first nn.TransformerEncoder (d_model 32,
    4 heads, GELU, final LayerNorm) in eval mode, and a [2,5,32] input."""
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.1, activation="gelu", batch_first=True)
    model = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(32), enable_nested_tensor=False)
    return model.eval(), (torch.randn(2, 5, 32),)
