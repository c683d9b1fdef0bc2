"""The additive-mask rewrite keeps the numbers: each mask form's .qir case, run by the
reference interpreter on padded masks before and after canonicalize, gives the same
probabilities, and no float value holds the mask afterwards."""
from pathlib import Path

import numpy as np
import pytest

from qcompiler.ir.parser import parse
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.reference import run_graph

HERE = Path(__file__).parent
FORMS = ["masked_softmax_where.qir", "masked_softmax_blocked_inf.qir", "masked_softmax_one_minus.qir",
         "masked_softmax_nan_rows.qir", "masked_softmax_zeros_like.qir"]


def padded_inputs(graph, rng):
    """Scores at attention scale; masks that keep the first 8 - i keys of sequence i."""
    arrays = []
    for v in graph.inputs:
        shape = [2 if isinstance(d, str) else d for d in v.type.shape]
        if v.type.dtype == "f32":
            arrays.append((rng.standard_normal(shape) * 4).astype(np.float32))
            continue
        token = np.arange(shape[-1]) < (shape[-1] - 3 * np.arange(shape[0]))[:, None]   # [batch, keys]
        token = token.reshape([shape[0]] + [1] * (len(shape) - 2) + [shape[-1]])
        blocked = v.name == "pad"
        arrays.append(np.broadcast_to(token != blocked, shape).astype(np.dtype(v.type.dtype.replace("i64", "int64"))))
    return arrays


@pytest.mark.parametrize("name", FORMS)
def test_rewrite_keeps_the_probabilities_and_removes_the_float_mask(name):
    graph = parse((HERE / name).read_text(), source=name)
    inputs = padded_inputs(graph, np.random.default_rng(0))
    before = run_graph(graph, inputs)[0]
    PassManager(["canonicalize", "dce"]).run(graph, PassContext())
    assert [n.op for n in graph.nodes if n.op in ("where", "add", "softmax", "onnx.IsNaN")] == []
    after = run_graph(graph, inputs)[0]
    assert np.array_equal(after, before)
    assert (after[1, ..., 5:] == 0).all() and (after[1, ..., :5] > 0).all()  # the padded keys get nothing
