"""The output-space Hutchinson samples (‖Jₗᵀ F u‖², FFᵀ the loss's Hessian in the outputs):
the factors reproduce each loss's output Hessian, the piecewise-linear check that decides
where they equal the Hessian block's samples, their unbiasedness without a stop on a model
quadratic in its weights, and the stopped estimate against the exact block traces of a small
residual ReLU CNN (test_hutchinson ranks a deep ReLU MLP's, whose traces span three decades)."""
import pytest
import torch
import torch.nn.functional as F

from qcompiler.frontends.fx import import_module
from qcompiler.passes.sensitivity.data import Batch
from qcompiler.passes.sensitivity.hessian import hessian_traces, output_space_applies
from qcompiler.passes.sensitivity.layers import quantizable_layers
from qcompiler.passes.sensitivity.loss import kl_to_reference, task_loss
from qcompiler.passes.sensitivity.measurement import Measurement
from qcompiler.passes.sensitivity.output_curvature import OutputCurvature, factorable
from qcompiler.passes.sensitivity.piecewise_linear import not_piecewise_linear
from qcompiler.passes.sensitivity.torch_model import TorchModel

from test_hutchinson import TwoLinear, deep_mlp, exact_traces

def losses():
    torch.manual_seed(0)
    labels = torch.randint(0, 5, (6,))
    targets = torch.randn(6, 5)
    references = (torch.randn(6, 5), torch.randn(6, 3, 2))
    return {"cross entropy": (lambda o: task_loss(o, labels), 1),
            "squared error": (lambda o: task_loss(o, targets), 1),
            "kl, two outputs, one spatial": (lambda o: kl_to_reference(o, references), 2)}


@pytest.mark.parametrize("name", list(losses()))
def test_factors_reproduce_the_loss_hessian_in_the_outputs(name):
    loss, count = losses()[name]
    outputs = (torch.randn(6, 5), torch.randn(6, 3, 2))[:count]
    curvature = OutputCurvature(outputs, loss)
    width = sum(o[0].numel() for o in outputs)

    def flat_loss(flat):
        parts = torch.split(flat.reshape(6, width), [o[0].numel() for o in outputs], 1)
        return loss(tuple(p.reshape(o.shape) for p, o in zip(parts, outputs)))

    flat = torch.cat([o.reshape(6, -1) for o in outputs], 1).reshape(-1)
    full = torch.autograd.functional.hessian(flat_loss, flat).reshape(6, width, 6, width)
    blocks = torch.stack([full[n, :, n, :] for n in range(6)])
    assert full.abs().sum() - blocks.abs().sum() < 1e-6  # per-sample terms: nothing across samples
    factors = curvature.factors.double()
    assert torch.allclose(factors @ factors.transpose(1, 2), blocks.double(), atol=1e-6)
    assert blocks.abs().max() > 1e-3


def test_outputs_without_per_sample_blocks_are_not_factored():
    assert factorable((torch.randn(6, 5), torch.randn(6, 3, 2)))
    assert not factorable((torch.randn(6),))  # the KL's softmax would run across the samples
    assert not factorable((torch.randn(2, 3, 32, 32),))  # 3,072 outputs a sample: a segmentation map


class Residual(torch.nn.Module):
    """conv-relu, a residual conv with a shortcut add, pooling, linear: a ResNet in miniature."""

    def __init__(self):
        super().__init__()
        self.stem, self.conv = torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.Conv2d(3, 3, 3, padding=1)
        self.fc = torch.nn.Linear(3, 4)

    def forward(self, x):
        h = F.relu(self.stem(x))
        h = F.relu(self.conv(h) + h)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(F.max_pool2d(h, 2), 1), 1))


class Squared(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(6, 4), torch.nn.Linear(4, 3)

    def forward(self, x):
        h = self.a(x)
        return self.b(h * h)


class Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.a(torch.relu(self.a(x)))


def imported(module, shape):
    torch.manual_seed(0)
    return import_module(module.eval(), torch.randn(2, *shape), dynamic_batch=True)


def test_piecewise_linear_accepts_relu_networks_and_names_what_is_not():
    residual = imported(Residual(), (1, 6, 6))
    assert not_piecewise_linear(residual, quantizable_layers(residual)) is None
    mlp = deep_mlp()
    assert not_piecewise_linear(mlp, quantizable_layers(mlp)) is None
    squared = imported(Squared(), (6,))
    assert "mul" in not_piecewise_linear(squared, quantizable_layers(squared))
    tanh = imported(torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)), (6,))
    assert "tanh" in not_piecewise_linear(tanh, quantizable_layers(tanh))
    tied = imported(Tied(), (4,))
    assert "used 2 times" in not_piecewise_linear(tied, quantizable_layers(tied))


def measurement(graph, inputs, labels, iterations, tol):
    layers = quantizable_layers(graph)
    batches = [Batch((x,), None if labels is None else y) for x, y in zip(inputs, labels or [None] * len(inputs))]
    return Measurement(graph, layers, TorchModel(graph, layers), batches, (2, 4, 8), True, False,
                       torch.Generator().manual_seed(0), iterations, tol)


def test_samples_are_unbiased_on_a_quadratic_without_a_stop():
    """y = A x + B (3x) under the squared error: every block trace is known (2 and 18 × mean‖x‖²);
    1,000 samples, no stop: within 3 standard errors of the mean (0.9%: a sample's is 25-32% here)."""
    torch.manual_seed(0)
    x = torch.randn(24, 6)
    graph = imported(TwoLinear(), (6,))
    targets = [torch.randn(12, 4), torch.randn(12, 4)]
    m = measurement(graph, [x[:12], x[12:]], targets, iterations=1000, tol=0.0)
    assert output_space_applies(m)
    estimated, samples = hessian_traces(m)
    mean_square = float(x.square().sum(1).mean())
    a, b = (estimated[layer.name] for layer in m.layers)
    assert samples == 2 * 1000
    assert a == pytest.approx(2 * mean_square, rel=0.03) and b == pytest.approx(18 * mean_square, rel=0.03)


@pytest.mark.parametrize("labelled", [True, False], ids=["task-loss", "kl"])
def test_stopped_estimate_matches_the_exact_traces_of_a_residual_relu_cnn(labelled):
    torch.manual_seed(0)
    graph = imported(Residual(), (1, 6, 6))
    inputs = [torch.randn(8, 1, 6, 6), torch.randn(8, 1, 6, 6)]
    labels = [torch.randint(0, 4, (8,)), torch.randint(0, 4, (8,))] if labelled else None
    m = measurement(graph, inputs, labels, iterations=20000, tol=0.03)
    assert output_space_applies(m)
    estimated, _ = hessian_traces(m)
    exact = exact_traces(m)
    assert len(exact) == 3 and min(exact.values()) > 0
    for name, trace in exact.items():
        # stopped at a standard error of 3%: 3 standard errors
        assert estimated[name] == pytest.approx(trace, rel=0.09), (name, estimated, exact)
