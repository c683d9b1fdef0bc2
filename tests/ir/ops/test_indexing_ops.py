"""concat, split, slice, gather, embedding: references vs torch_impl vs ONNX Runtime / torch."""
import numpy as np
import pytest
import torch

from qcompiler.ir import Graph, TensorType, VerifyError, get_op, infer_types, verify
from qcompiler.runtime.reference import run_graph
from tensor_op_harness import close, i64, run_both, run_onnx, run_torch

rng = np.random.default_rng(2)
INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def test_concat_matches_onnxruntime():
    xs = [rng.standard_normal((2, n, 3)).astype(np.float32) for n in (1, 4, 2)]
    _, (ref,), _ = run_both("concat", xs, {"axis": -2})
    close(ref, run_onnx("Concat", xs, {"axis": -2})[0])
    node, _, _ = run_both("concat", [np.arange(3), np.ones(2, np.float32)], {"axis": 0})
    assert node.output.type == TensorType("f32", (5,))


def test_concat_shapes_with_symbolic_dims():
    def concat(*shapes, axis):
        return infer_types("concat", [TensorType("f32", s) for s in shapes], {"axis": axis})[0].shape

    assert concat(("N", 3), ("N", 5), axis=1) == ("N", 8)
    assert concat(("N", 3), ("N", 3), axis=0) == ("?", 3)
    assert concat(("N", 3), (0, 3), axis=0) == ("N", 3)
    assert concat(("N", 3), (2, 3), axis=1) == (2, 6)
    with pytest.raises(VerifyError, match=r"disagree on axis 0: \[2, 4\]"):
        concat((2, 3), (4, 3), axis=1)
    with pytest.raises(VerifyError, match="one common rank"):
        concat((2, 3), (2, 3, 1), axis=1)


def test_split_has_one_result_per_size():
    x = rng.standard_normal((2, 7)).astype(np.float32)
    node, refs, _ = run_both("split", [x], {"axis": 1, "sizes": [2, 0, 5]})
    assert [v.type.shape for v in node.outputs] == [(2, 2), (2, 0), (2, 5)]
    for r, o in zip(refs, run_onnx("Split", [x, i64(2, 0, 5)], {"axis": 1}, outputs=3)):
        close(r, o)
    g = Graph()
    v = g.add_input("x", TensorType("f32", ("N", 6)))
    parts = g.add("split", [v], {"sizes": [1, 5], "axis": -1}).outputs
    g.set_outputs(parts)
    verify(g)
    assert [p.type.shape for p in parts] == [("N", 1), ("N", 5)]
    assert [a.shape for a in run_graph(g, [np.zeros((3, 6), np.float32)])] == [(3, 1), (3, 5)]


def test_split_sizes_must_cover_the_axis():
    with pytest.raises(VerifyError, match="add up to 5, but axis 1 has size 7"):
        infer_types("split", [TensorType("f32", (2, 7))], {"axis": 1, "sizes": [2, 3]})


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([1], [3], None, None),
    ([-3, 0], [INT64_MAX, -1], [1, 0], None),
    ([5], [-100], [1], [-1]),
    ([INT64_MAX], [INT64_MIN], [-1], [-2]),
    ([-1, 10], [-100, 20], [0, 1], [-1, 1]),
    ([0, 1], [4, 5], [1, 2], [3, 2]),
    ([2], [1], [2], [1]),
])
def test_slice_matches_onnxruntime(starts, ends, axes, steps):
    x = rng.standard_normal((3, 6, 5)).astype(np.float32)
    attrs = {"starts": starts, "ends": ends, "axes": axes, "steps": steps}
    _, (ref,), _ = run_both("slice", [x], attrs)
    operands = [x, i64(*starts), i64(*ends), i64(*(axes or range(len(starts)))), i64(*(steps or [1] * len(starts)))]
    close(ref, run_onnx("Slice", operands)[0])


def test_slice_keeps_symbolic_dims_only_when_whole():
    def slice_shape(**attrs):
        return infer_types("slice", [TensorType("f32", ("N", "C", 8))], attrs)[0].shape

    assert slice_shape(starts=[0, 2], ends=[INT64_MAX, 6], axes=[0, 2]) == ("N", "C", 4)
    assert slice_shape(starts=[-1], ends=[INT64_MIN], axes=[1], steps=[-1]) == ("N", "C", 8)
    assert slice_shape(starts=[1], ends=[INT64_MAX]) == ("?", "C", 8)
    with pytest.raises(VerifyError, match="step 0 on axis 2"):
        slice_shape(starts=[0], ends=[1], axes=[2], steps=[0])
    with pytest.raises(VerifyError, match="need equal lengths"):
        slice_shape(starts=[0, 1], ends=[1])


def test_slice_with_a_negative_step_is_differentiable():
    x = torch.arange(5.0, requires_grad=True)
    y = get_op("slice").torch(x, starts=[3], ends=[INT64_MIN], axes=[0], steps=[-2])
    (y * torch.tensor([10.0, 1.0])).sum().backward()
    assert y.tolist() == [3, 1] and x.grad.tolist() == [0, 1, 0, 10, 0]


@pytest.mark.parametrize("axis,indices", [
    (0, i64(-1, 0, 2)), (1, np.array([[0, -1], [-4, 3]], np.int64)), (-1, np.array(2, np.int32)), (1, i64()),
])
def test_gather_matches_onnxruntime(axis, indices):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    for const in [(1,), ()]:
        _, (ref,), _ = run_both("gather", [x, indices], {"axis": axis}, const=const)
        close(ref, run_onnx("Gather", [x, indices], {"axis": axis})[0])


def test_gather_checks_constant_indices_and_keeps_symbolic_dims():
    t = infer_types("gather", [TensorType("f32", ("N", 4)), TensorType("i64", ("K",))], {"axis": 0}, [None, None])[0]
    assert t.shape == ("K", 4)
    with pytest.raises(VerifyError, match=r"indices in \[-5, 1\] are out of range for axis 1 of size 4"):
        infer_types("gather", [TensorType("f32", (3, 4)), TensorType("i64", (2,))], {"axis": 1}, [None, i64(-5, 1)])
    with pytest.raises(VerifyError, match="indices must be an integer tensor"):
        infer_types("gather", [TensorType("f32", (3, 4)), TensorType("f32", (2,))], {}, [None, None])


def test_embedding_matches_torch():
    weight = rng.standard_normal((10, 3)).astype(np.float32)
    indices = np.array([[1, 9], [0, 1]], np.int32)
    node, (ref,), _ = run_both("embedding", [indices, weight], const=(1,))
    close(ref, torch.nn.functional.embedding(torch.from_numpy(indices).long(), torch.from_numpy(weight)).numpy())
    assert node.output.type == TensorType("f32", (2, 2, 3))
    assert run_torch("embedding", [indices, weight], {})[0].shape == (2, 2, 3)
    with pytest.raises(VerifyError, match="weight must be 2-D"):
        infer_types("embedding", [TensorType("i64", (2,)), TensorType("f32", (10,))], {})
