"""A small generated network for the codebook pass tests (imported by them)."""
import torch
from torch import nn

from qcompiler.frontends.fx import import_module


def small_graph():
    """3x3 convolutions of 8 and 32 kernels, a 1x1 convolution and a linear layer."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Conv2d(4, 8, 3, padding=1), nn.Conv2d(8, 4, 1),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    return import_module(model.eval(), (torch.randn(1, 2, 6, 6),), dynamic_batch=True)


def weight(graph, origin):
    """The weight value whose constant came from parameter `origin`."""
    return next(n for n in graph.nodes if n.attrs.get("origin") == origin).output
