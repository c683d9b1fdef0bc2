"""`cm(x)` refuses inputs the integer kernels would turn into finite, plausible and wrong
outputs, naming the input (and the node for indices)."""
import numpy as np
import pytest
import torch

from qcompiler.model.compiled import CompiledModel
from qcompiler.model.input_checks import InputError
from qcompiler.ir.core import Graph
from qcompiler.ir.types import TensorType
from qcompiler.targets import get_target


def embedding_model(op: str) -> CompiledModel:
    """indices i64[2,3] picking rows of a 5x4 table, by embedding or gather; batch fixed at 2."""
    g = Graph(op)
    i = g.add_input("i", TensorType("i64", (2, 3)))
    table = g.constant(np.arange(20, dtype=np.float32).reshape(5, 4))
    out = g.add(op, [i, table] if op == "embedding" else [table, i])
    g.set_outputs([out.output])
    return CompiledModel(g, None, get_target("generic"), "")


@pytest.mark.parametrize("bad, message", [
    (lambda x: np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x), "input %x contains NaN"),
    (lambda x: torch.from_numpy(np.where(np.arange(x.size).reshape(x.shape) == 5, -np.inf, x)), "contains Inf"),
    (lambda x: x.astype(np.complex64) + 1j, r"input %x is complex \(complex64\)"),
])
def test_non_finite_and_complex_inputs_are_refused(compiled, bad, message):
    x = compiled.sample_inputs[0][:4]
    with pytest.raises(InputError, match=message):
        compiled(bad(x))


def test_the_nan_check_can_be_switched_off(compiled):
    x = compiled.sample_inputs[0][:4].copy()
    x[1, 0, 3, 3] = np.nan
    out = compiled(x, check_inputs=False)
    np.testing.assert_array_equal(out[[0, 2, 3]], compiled(x[[0, 2, 3]]))  # rows are independent


@pytest.mark.parametrize("op, indices, message", [
    ("embedding", [[0, -1, 4], [2, 3, 4]], r"indices in \[-1, 4\] are out of range for node 'embedding' .*0..4"),
    ("embedding", [[0, 5, 4], [2, 3, 4]], r"indices in \[0, 5\]"),
    ("gather", [[0, -6, 4], [2, 3, 4]], r"indices in \[-6, 4\] .*gather over 5 rows: -5..4"),
])
def test_indices_outside_the_table_are_refused(op, indices, message):
    with pytest.raises(InputError, match=message):
        embedding_model(op)(np.array(indices))


def test_indices_inside_the_table_run_and_gather_counts_from_the_end():
    rows = np.arange(20, dtype=np.float32).reshape(5, 4)
    np.testing.assert_array_equal(embedding_model("embedding")(np.array([[0, 1, 4], [2, 3, 4]]))[0, 2], rows[4])
    np.testing.assert_array_equal(embedding_model("gather")(np.array([[0, -1, 4], [2, 3, 4]]))[0, 1], rows[4])


def test_zero_rows_at_a_fixed_batch_are_refused_and_multiples_run():
    model = embedding_model("embedding")
    with pytest.raises(InputError, match=r"input %i has 0 rows; the model's batch is fixed at 2"):
        model(np.zeros((0, 3), dtype=np.int64))
    assert model(np.zeros((4, 3), dtype=np.int64)).shape == (4, 3, 4)
