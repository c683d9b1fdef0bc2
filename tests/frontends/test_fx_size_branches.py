"""fx symbolic tracing answers Python branches on sizes from the examples; with a dynamic
dim the traced graph must not keep a branch taken for the examples' size."""
import pytest
import torch
import torch.nn as nn
from fx_helpers import assert_faithful

from qcompiler.frontends.fx import import_module
from qcompiler.ir.errors import FrontendError


class LongSequencesDoubled(nn.Module):
    def forward(self, x):
        return x * 2 if x.shape[1] > 4 else x + 1


class SkipsSingleTokenWork(nn.Module):
    def forward(self, x):
        if x.shape[1] == 1:  # transformers skips the mask of a length-1 query likewise
            return x
        return x - x.mean(1, keepdim=True)


def test_a_size_branch_is_refused_by_fx():
    with pytest.raises(FrontendError, match="follows the examples' size of dim 'S'"):
        import_module(LongSequencesDoubled(), torch.randn(2, 3), capture="fx", dynamic_dims={0: {1: "S"}})


def test_a_size_branch_on_size_one_is_traced_at_two():
    graph = import_module(SkipsSingleTokenWork(), torch.randn(2, 1), capture="fx", dynamic_dims={0: {1: "S"}})
    assert_faithful(graph, SkipsSingleTokenWork(), (torch.randn(2, 5),))


def test_static_examples_trace_as_given():
    graph = import_module(LongSequencesDoubled(), torch.randn(2, 3), capture="fx")
    assert_faithful(graph, LongSequencesDoubled(), (torch.randn(2, 3),))
