"""Elementwise ops and reductions: numpy reference vs torch_impl vs ONNX Runtime / torch,
inferred types vs actual results, dtype rules and errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

from qcompiler.ir import Graph, TensorType, VerifyError, infer_types, verify
from tensor_op_harness import close, i64, one_node_graph, run_both, run_onnx

rng = np.random.default_rng(0)
BINARY_ONNX = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max",
               "minimum": "Min", "equal": "Equal", "less": "Less", "greater": "Greater",
               "less_equal": "LessOrEqual", "greater_equal": "GreaterOrEqual"}


@pytest.mark.parametrize("name", sorted(BINARY_ONNX))
def test_binary_float_matches_onnxruntime(name):
    a = rng.uniform(0.5, 2, (2, 1, 4)).astype(np.float32)
    b = rng.uniform(0.5, 2, (3, 1)).astype(np.float32)
    b[0, 0] = a[0, 0, 0]  # an exact tie for the comparisons
    _, (ref,), _ = run_both(name, [a, b])
    close(ref, run_onnx(BINARY_ONNX[name], [a, b])[0], tol=1e-6)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "maximum", "minimum", "less", "equal"])
def test_binary_integer_matches_onnxruntime(name):
    a = i64(-7, 7, -7, 7, 0, -1, 9)
    b = i64(2, 2, -2, -2, 3, 4, 9)
    _, (ref,), _ = run_both(name, [a, b])
    close(ref, run_onnx(BINARY_ONNX[name], [a, b])[0])


def test_integer_div_truncates_toward_zero():
    _, (ref,), _ = run_both("div", [i64(-7, 7, -7, 7, -6), i64(2, 2, -2, -2, 3)])
    assert ref.tolist() == [-3, 3, 3, -3, -2]


def test_dtype_promotion_follows_torch():
    ints, floats = np.arange(4, dtype=np.int64), np.full(4, 0.5, np.float32)
    node, (ref,), _ = run_both("add", [ints, floats])
    assert node.output.type.dtype == "f32"
    assert torch.equal(torch.from_numpy(ref), torch.arange(4) + torch.full((4,), 0.5))
    node, _, _ = run_both("mul", [np.arange(4, dtype=np.int32), ints])
    assert node.output.type.dtype == "i64"
    node, (ref,), _ = run_both("pow", [i64(2, 3), np.array([2.0, 0.5], np.float32)])
    assert node.output.type.dtype == "i64" and ref.tolist() == [4, 1]  # base dtype, like ONNX Pow


def test_comparisons_are_bool_and_keep_symbolic_dims():
    t = infer_types("less", [TensorType("f32", ("N", 1, 4)), TensorType("f32", (3, 1))], {})[0]
    assert t == TensorType("bool", ("N", 3, 4))


def test_where_broadcasts_three_ways_like_onnxruntime():
    cond = rng.random((2, 1, 4)) > 0.5
    a, b = rng.standard_normal((3, 1)).astype(np.float32), rng.standard_normal((4,)).astype(np.float32)
    _, (ref,), _ = run_both("where", [cond, a, b])
    close(ref, run_onnx("Where", [cond, a, b])[0])


def test_where_rejects_a_non_bool_condition():
    with pytest.raises(VerifyError, match="where: condition must be bool"):
        infer_types("where", [TensorType("f32", (2,))] * 3, {})


UNARY_ONNX = {"neg": "Neg", "abs": "Abs", "sqrt": "Sqrt", "exp": "Exp", "log": "Log", "erf": "Erf",
              "reciprocal": "Reciprocal", "floor": "Floor", "ceil": "Ceil", "sin": "Sin", "cos": "Cos"}


@pytest.mark.parametrize("name", sorted(UNARY_ONNX))
def test_unary_matches_onnxruntime(name):
    x = rng.uniform(0.1, 3, (2, 5)).astype(np.float32)
    x[0, :2] = [1.5, 2.0]  # floor/ceil on exact and half values
    _, (ref,), _ = run_both(name, [x])
    close(ref, run_onnx(UNARY_ONNX[name], [x])[0], tol=2e-6)


def test_rsqrt_and_not():
    x = rng.uniform(0.1, 3, (7,)).astype(np.float32)
    _, (ref,), _ = run_both("rsqrt", [x])
    close(ref, torch.rsqrt(torch.from_numpy(x)).numpy(), tol=1e-6)
    flags = np.array([True, False, True])
    _, (ref,), _ = run_both("not", [flags])
    close(ref, run_onnx("Not", [flags])[0])


def test_unary_dtype_rules_on_integers():
    node, (ref,), _ = run_both("sqrt", [i64(4, 9)])
    assert node.output.type.dtype == "f32" and ref.tolist() == [2.0, 3.0]
    node, (ref,), _ = run_both("floor", [i64(-3, 5)])
    assert node.output.type.dtype == "i64" and ref.tolist() == [-3, 5]


def test_cast_truncates_and_rounds_bf16_like_torch():
    x = np.array([-2.7, -0.5, 0.5, 2.7, 1 + 2**-9, 1 + 3 * 2**-9], np.float32)
    _, (ref,), _ = run_both("cast", [x], {"to": "i32"})
    close(ref, run_onnx("Cast", [x], {"to": 6})[0])
    _, (ref,), _ = run_both("cast", [x], {"to": "bf16"})  # run_both compares with torch's bfloat16
    assert ref[4] == 1.0 and ref[5] == 1 + 2**-7  # ties to even at the bf16 mantissa


def test_cast_rejects_an_unknown_dtype():
    with pytest.raises(VerifyError, match="unknown target dtype 'f8'"):
        infer_types("cast", [TensorType("f32", (2,))], {"to": "f8"})
    g = Graph()
    x = g.add_input("x", TensorType("f32", (2,)))
    g.add("cast", [x], {"to": "f32"}).attrs["to"] = "f8"
    with pytest.raises(VerifyError, match="attribute 'to' = 'f8'"):
        verify(g)


def test_incompatible_broadcast_is_a_clear_error():
    with pytest.raises(VerifyError, match="do not broadcast"):
        infer_types("add", [TensorType("f32", (2, 3)), TensorType("f32", (4,))], {})


@settings(max_examples=40, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       symbolic=st.lists(st.booleans(), min_size=8, max_size=8),
       name=st.sampled_from(["add", "mul", "maximum", "greater"]))
def test_broadcasting_property(shapes, symbolic, name):
    """Inferred shapes equal numpy's broadcast shape; declaring non-1 dims symbolic keeps
    every remaining int dim right."""
    a_shape, b_shape = shapes.input_shapes
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    node, (ref,), _ = run_both(name, [a, b])
    assert node.output.type.shape == shapes.result_shape
    declared = [tuple(f"d{i}" if d > 1 and s else d for i, (d, s) in enumerate(zip(shape, flags)))
                for shape, flags in ((a_shape, symbolic[:4]), (b_shape, symbolic[4:]))]
    run_both(name, [a, b], shapes=declared)


REDUCE_TORCH = {"reduce_mean": torch.mean, "reduce_sum": torch.sum, "reduce_max": torch.amax, "reduce_min": torch.amin}
REDUCE_ONNX = {"reduce_mean": "ReduceMean", "reduce_sum": "ReduceSum", "reduce_max": "ReduceMax", "reduce_min": "ReduceMin"}


@pytest.mark.parametrize("name", sorted(REDUCE_TORCH))
@pytest.mark.parametrize("axes,keepdims", [([1, -1], True), ([0], False), (None, False), (None, True)])
def test_reductions(name, axes, keepdims):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    _, (ref,), _ = run_both(name, [x], {"axes": axes, "keepdims": keepdims})
    dims = tuple(range(3)) if axes is None else tuple(axes)
    close(ref, REDUCE_TORCH[name](torch.from_numpy(x), dim=dims, keepdim=keepdims).numpy(), tol=1e-6)
    onnx_axes = [] if axes is None else [i64(*axes)]
    close(ref, run_onnx(REDUCE_ONNX[name], [x, *onnx_axes], {"keepdims": int(keepdims)})[0], tol=1e-6)


def test_reduction_edge_cases():
    x = np.arange(6, dtype=np.int64).reshape(2, 3)
    node, (ref,), _ = run_both("reduce_sum", [x], {"axes": []})  # empty axes: nothing reduced
    assert node.output.type.shape == (2, 3) and np.array_equal(ref, x)
    node, (ref,), _ = run_both("reduce_mean", [np.array([[-3, 4]], np.int64)], {"axes": [1]})
    assert node.output.type.dtype == "i64" and ref.tolist() == [[0]]
    t = infer_types("reduce_max", [TensorType("f32", ("N", 3, "H"))], {"axes": [1], "keepdims": False})[0]
    assert t.shape == ("N", "H")
    with pytest.raises(VerifyError, match="repeated axes"):
        infer_types("reduce_sum", [TensorType("f32", (2, 3))], {"axes": [1, -1]})
    with pytest.raises(VerifyError, match="axis 2 is out of range for rank 2"):
        infer_types("reduce_sum", [TensorType("f32", (2, 3))], {"axes": [2]})


@pytest.mark.parametrize("axis,keepdims", [(0, True), (-1, False)])
def test_argmax_picks_the_first_maximum(axis, keepdims):
    x = np.array([[1, 5, 5], [7, 2, 7]], np.float32)
    node, (ref,), _ = run_both("argmax", [x], {"axis": axis, "keepdims": keepdims})
    assert node.output.type.dtype == "i64"
    close(ref, run_onnx("ArgMax", [x], {"axis": axis, "keepdims": int(keepdims)})[0])


@pytest.mark.parametrize("const", [(1,), ()])
def test_cumsum_matches_onnxruntime(const):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    _, (ref,), _ = run_both("cumsum", [x, i64(-1).reshape(())], const=const)
    close(ref, run_onnx("CumSum", [x, i64(-1).reshape(())])[0], tol=1e-6)
    xi = np.arange(6, dtype=np.int32).reshape(2, 3)
    node, _, _ = run_both("cumsum", [xi, i64(0).reshape(())], const=const)
    assert node.output.type.dtype == "i32"


def test_cumsum_checks_a_constant_axis():
    with pytest.raises(VerifyError, match="axis 5 is out of range"):
        one_node_graph("cumsum", [np.ones((2, 2), np.float32), i64(5).reshape(())], const=(1,))
