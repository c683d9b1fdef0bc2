"""Codebook weights in the torch executor: the reference interpreter's weights bit for bit,
gradients on the codewords only, integers recovered from the trained parameter."""
import numpy as np
import torch

from qcompiler.ir import CodebookType, Graph, TensorType
from qcompiler.ir.codebook import codebook_attrs, decode
from qcompiler.runtime.codebook import CodebookWeight
from qcompiler.runtime.reference import run_graph
from qcompiler.runtime.torch import to_torch

CODEBOOK = np.array([[-31, 0, 31], [5, -6, 7], [0, 0, 1], [-2, 3, -4]], np.int8)


def conv1d_graph() -> Graph:
    g = Graph("cb1d")
    x = g.add_input("x", TensorType("f32", ("N", 2, 9)))
    w = g.constant(np.array([[0, 2], [3, 3], [2, 0]], np.uint8), name="w", origin="conv.weight",
                   type=CodebookType(6, 2, (3,), "f32", (3, 2, 3)))
    w.producer.attrs.update(codebook_attrs(CODEBOOK, 0.0371))
    g.set_outputs([g.add("conv1d", [x, w], {"pad": [1, 1]}, name="y").output])
    return g


def test_torch_executor_runs_the_reference_weight():
    g = conv1d_graph()
    module = CodebookWeight(g.find("w").producer)
    with torch.no_grad():
        np.testing.assert_array_equal(module().numpy(), decode(g.find("w").producer))  # weights: bit for bit
        x = np.random.default_rng(1).standard_normal((4, 2, 9)).astype(np.float32)
        y = to_torch(g)(torch.from_numpy(x))[0].numpy()
    # outputs: up to the summation order of torch's and numpy's convolutions
    np.testing.assert_allclose(y, run_graph(g, [x])[0], rtol=1e-6, atol=1e-6)


def test_gradients_reach_the_codewords_with_indices_fixed():
    gm = to_torch(conv1d_graph())
    module = next(m for m in gm.modules() if isinstance(m, CodebookWeight))
    assert [name for name, _ in module.named_parameters()] == ["codebook"]
    gm(torch.ones(1, 2, 9))[0].sum().backward()
    grad = module.codebook.grad
    assert all(grad[k].abs().sum() > 0 for k in (0, 2, 3))
    assert not grad[1].any()  # no kernel uses codeword 1


def test_trained_codebook_back_to_integers():
    module = CodebookWeight(conv1d_graph().find("w").producer)
    np.testing.assert_array_equal(module.integer_codebook(), CODEBOOK)
    with torch.no_grad():
        module.codebook += 0.0371 * 0.6  # moves every codeword by more than half a step
    assert np.array_equal(module.integer_codebook(), np.clip(CODEBOOK.astype(np.int64) + 1, -32, 31))
