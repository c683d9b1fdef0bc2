"""codebook-expand: the expanded weights compute exactly what the codebook did."""
import numpy as np
import pytest
from codebook_nets import small_graph

from qcompiler.ir import CodebookType, Graph, verify
from qcompiler.ir.clone import clone
from qcompiler.ir.codebook import codebook_attrs
from qcompiler.passmanager import PassError, run_pipeline
from qcompiler.runtime.reference import run_graph


@pytest.mark.parametrize("weights", ["gather", "int8"])
def test_expanded_graph_computes_the_same_outputs(weights):
    g = small_graph()
    run_pipeline(g, "codebook-quantize{index_bits=3}")
    expanded = clone(g)
    run_pipeline(expanded, f"codebook-expand{{weights={weights}}}")
    verify(expanded)
    assert not any(isinstance(v.type, CodebookType) for v in expanded.values())
    x = np.random.default_rng(0).standard_normal((4, 2, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(run_graph(expanded, [x])[0], run_graph(g, [x])[0])


def test_codewords_wider_than_i8_are_refused():
    g = Graph("wide")
    w = g.constant(np.zeros((2, 1), np.uint8), name="w", type=CodebookType(12, 1, (3,), "f32", (2, 1, 3)))
    w.producer.attrs.update(codebook_attrs(np.full((2, 3), 1000, np.int16), 0.5))
    g.set_outputs([w])
    verify(g)
    with pytest.raises(PassError, match="%w has 12-bit codewords; i8 storage holds at most 8"):
        run_pipeline(g, "codebook-expand")
