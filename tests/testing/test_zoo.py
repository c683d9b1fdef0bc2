"""The test model zoo: deterministic data and models with the promised structure."""
import torch
import torch.nn as nn

from qcompiler.testing import zoo



def test_digits_data_is_normalized_nchw_and_deterministic():
    x, y, xt, yt = zoo.digits_data()
    assert x.shape[1:] == (1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert len(x) + len(xt) == 1797 and 0.0 <= x.min() and x.max() <= 1.0
    again = zoo.digits_data()
    assert torch.equal(again[2], xt) and torch.equal(again[3], yt)


def test_trained_digits_cnn_is_accurate_and_reproducible():
    _, _, xt, yt = zoo.digits_data()
    model = zoo.train_digits_cnn()
    assert not model.training and zoo.accuracy(model, xt, yt) > 0.9
    other = zoo.train_digits_cnn()
    assert other is not model and all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                                         other.state_dict().values()))


def test_mobilenet_blocks_have_the_mobilenet_ingredients():
    model, (x,) = zoo.mobilenet_v2_blocks()
    modules = list(model.modules())
    assert any(isinstance(m, nn.Conv2d) and m.groups == m.in_channels > 1 for m in modules)  # depthwise
    assert any(isinstance(m, nn.Hardswish) for m in modules) and any(isinstance(m, nn.Hardsigmoid) for m in modules)
    assert any(isinstance(m, zoo.InvertedResidual) and m.residual for m in modules)
    assert all(not isinstance(m, nn.BatchNorm2d) or m.running_var.min() >= 0.5 for m in modules)
    assert model(x).shape == (2, 10)


def test_transformer_encoder_shape():
    model, (x,) = zoo.transformer_encoder()
    assert len(model.layers) == 2 and model.layers[0].self_attn.num_heads == 4
    assert model.layers[0].self_attn.batch_first and not model.training
    assert model(x).shape == x.shape == (2, 5, 32)
