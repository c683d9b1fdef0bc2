"""Shape-moving and shape-creating ops: references vs torch_impl vs ONNX Runtime, and type
inference with constant, non-constant (fresh "?" dims) and symbolic shapes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper, TensorProto

from qcompiler.ir import TensorType, VerifyError, infer_types
from tensor_op_harness import close, i64, one_node_graph, run_both, run_onnx

rng = np.random.default_rng(1)
X234 = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


def shape_of(op, x_shape, operands=(), attrs=None, dtype="f32"):
    """Inferred shape for an input of (possibly symbolic) `x_shape`; each operand is
    a constant array or an int k for a non-constant i64[k] operand."""
    types = [TensorType(dtype, x_shape)] + [TensorType("i64", (o,) if isinstance(o, int) else o.shape) for o in operands]
    consts = [None] + [None if isinstance(o, int) else o for o in operands]
    return infer_types(op, types, attrs or {}, consts)[0].shape


@pytest.mark.parametrize("target,allowzero,x", [
    ((0, -1), 0, X234), ((-1,), 0, X234), ((4, 0, 2), 0, X234), ((2, 2, -1, 1), 0, X234),
    ((3, 0), 1, np.zeros((0, 3), np.float32)), ((0, 3), 0, np.zeros((0, 3), np.float32)),
])
def test_reshape_matches_onnxruntime(target, allowzero, x):
    for const in [(1,), ()]:
        node, (ref,), _ = run_both("reshape", [x, i64(*target)], {"allowzero": bool(allowzero)}, const=const)
        close(ref, run_onnx("Reshape", [x, i64(*target)], {"allowzero": allowzero})[0])
    assert node.output.type.shape == ("?",) * len(target)  # the last run had a computed shape


def test_reshape_infers_symbolic_dims():
    assert shape_of("reshape", ("N", 3, 4), [i64(0, -1)]) == ("N", 12)
    assert shape_of("reshape", ("N", 3, 4), [i64(-1, 12)]) == ("N", 12)
    assert shape_of("reshape", ("N", 3, 4), [i64(2, -1)]) == (2, "?")
    assert shape_of("reshape", ("N", "M"), [i64(-1)]) == ("?",)
    assert shape_of("reshape", ("?", 3), [i64(-1, 3)]) == ("?", 3)
    assert shape_of("reshape", ("N", 3, 4), [3]) == ("?", "?", "?")
    run_both("reshape", [X234, i64(0, -1)], const=(1,), shapes=[("N", 3, 4), None])


@pytest.mark.parametrize("target,message", [
    ((-1, -1), "more than one -1"), ((5, -1), "cannot reshape"), ((7, 4), r"\(24 elements\)"),
    ((0, 0, 0, 0), "entry 3 is 0 \\(copy\\) but the input has rank 3"), ((-2, 12), "invalid target dim -2"),
])
def test_reshape_errors(target, message):
    with pytest.raises(VerifyError, match=message):
        shape_of("reshape", (2, 3, 4), [i64(*target)])


def test_reshape_needs_a_shape_operand_of_known_length():
    with pytest.raises(VerifyError, match="symbolic length 'K'"):
        infer_types("reshape", [TensorType("f32", (6,)), TensorType("i64", ("K",))], {}, [None, None])
    with pytest.raises(VerifyError, match="shape operand must be an integer tensor"):
        infer_types("reshape", [TensorType("f32", (6,)), TensorType("f32", (1,))], {}, [None, None])


@st.composite
def reshapes(draw):
    """An input shape and a target written with ONNX's -1 and 0 conventions."""
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    merged = list(draw(st.permutations(shape)))
    while len(merged) > 1 and draw(st.booleans()):
        i = draw(st.integers(0, len(merged) - 2))
        merged[i:i + 2] = [merged[i] * merged[i + 1]]
    target = list(merged)
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    for i in range(min(len(shape), len(target))):
        if target[i] == shape[i] and draw(st.booleans()):
            target[i] = 0
    return tuple(shape), tuple(target), tuple(merged)


@settings(max_examples=40, deadline=None)
@given(case=reshapes(), symbolic=st.lists(st.booleans(), min_size=4, max_size=4))
def test_reshape_property(case, symbolic):
    shape, target, expected = case
    x = rng.standard_normal(shape).astype(np.float32)
    node, (ref,), _ = run_both("reshape", [x, i64(*target)], const=(1,))
    assert ref.shape == expected and node.output.type.shape == expected
    close(ref, run_onnx("Reshape", [x, i64(*target)])[0])
    declared = tuple(f"s{i}" if flag else d for i, (d, flag) in enumerate(zip(shape, symbolic)))
    run_both("reshape", [x, i64(*target)], const=(1,), shapes=[declared, None])


def test_flatten_follows_torch():
    for start, end in [(1, -1), (0, 1), (-2, -1), (1, 1)]:
        run_both("flatten", [X234], {"start_dim": start, "end_dim": end})
    assert shape_of("flatten", ("N", 3, 4)) == ("N", 12)
    assert shape_of("flatten", ("N", 3, 4), attrs={"start_dim": 0}) == ("?",)
    assert shape_of("flatten", ("N", 1, 1), attrs={"start_dim": 0}) == ("N",)
    assert run_both("flatten", [np.float32(3.0)])[0].output.type.shape == (1,)
    with pytest.raises(VerifyError, match="start_dim 2 comes after end_dim 1"):
        shape_of("flatten", (2, 3, 4), attrs={"start_dim": 2, "end_dim": 1})


def test_transpose():
    _, (ref,), _ = run_both("transpose", [X234], {"perm": [2, 0, 1]})
    close(ref, run_onnx("Transpose", [X234], {"perm": [2, 0, 1]})[0])
    assert shape_of("transpose", ("N", 3, "H"), attrs={"perm": [-1, 0, 1]}) == ("H", "N", 3)
    with pytest.raises(VerifyError, match="not a permutation of 3 axes"):
        shape_of("transpose", (2, 3, 4), attrs={"perm": [1, 0]})
    with pytest.raises(VerifyError, match="repeated axes"):
        shape_of("transpose", (2, 3, 4), attrs={"perm": [1, 1, 0]})


def test_squeeze_and_unsqueeze_match_onnxruntime():
    x = rng.standard_normal((1, 3, 1, 2)).astype(np.float32)
    _, (ref,), _ = run_both("squeeze", [x], {"axes": [0, -2]})
    close(ref, run_onnx("Squeeze", [x, i64(0, -2)])[0])
    _, (ref,), _ = run_both("unsqueeze", [x], {"axes": [-1, 0, 3]})
    close(ref, run_onnx("Unsqueeze", [x, i64(-1, 0, 3)])[0])
    assert shape_of("squeeze", ("N", 1, "C"), attrs={"axes": [1]}) == ("N", "C")
    assert shape_of("unsqueeze", ("N", "C"), attrs={"axes": [1, -1]}) == ("N", 1, "C", 1)
    with pytest.raises(VerifyError, match="axis 1 has size 3, not 1"):
        shape_of("squeeze", (1, 3), attrs={"axes": [1]})


def test_expand_matches_onnxruntime():
    x = rng.standard_normal((3, 1)).astype(np.float32)
    for target in [(2, 1, 4), (3, 5), (1, 1)]:
        for const in [(1,), ()]:
            _, (ref,), _ = run_both("expand", [x, i64(*target)], const=const)
            close(ref, run_onnx("Expand", [x, i64(*target)])[0])
    assert shape_of("expand", ("N", 1), [i64(1, 5)]) == ("N", 5)
    assert shape_of("expand", (3, 1), [3]) == ("?", 3, "?")
    with pytest.raises(VerifyError, match="do not broadcast"):
        shape_of("expand", (3, 2), [i64(4, 2)])
    with pytest.raises(VerifyError, match="negative dims in target shape"):
        shape_of("expand", (3, 2), [i64(-1, 2)])


def test_tile_matches_onnxruntime():
    x = rng.standard_normal((2, 3)).astype(np.float32)
    for const in [(1,), ()]:
        _, (ref,), _ = run_both("tile", [x, i64(2, 1)], const=const)
        close(ref, run_onnx("Tile", [x, i64(2, 1)])[0])
    assert shape_of("tile", ("N", "C"), [i64(1, 2)]) == ("N", "?")
    assert shape_of("tile", ("N", 3), [2]) == ("?", "?")
    with pytest.raises(VerifyError, match="repeats has 1 entries for an input of rank 2"):
        shape_of("tile", (2, 3), [i64(2)])


@pytest.mark.parametrize("start,end", [(0, None), (1, None), (-2, -1), (-9, 9), (2, 1)])
def test_shape_matches_onnxruntime(start, end):
    node, (ref,), _ = run_both("shape", [X234], {"start": start, "end": end}, shapes=[("N", 3, "W")])
    onnx_attrs = {"start": start} if end is None else {"start": start, "end": end}
    close(ref, run_onnx("Shape", [X234], onnx_attrs)[0])
    assert node.output.type == TensorType("i64", (len(ref),))


def test_constant_of_shape():
    value = helper.make_tensor("value", TensorProto.INT64, [1], [7])
    for const in [(0,), ()]:
        node, (ref,), _ = run_both("constant_of_shape", [i64(2, 3)], {"value": 7.0, "dtype": "i64"}, const=const)
        close(ref, run_onnx("ConstantOfShape", [i64(2, 3)], {"value": value})[0])
    assert node.output.type == TensorType("i64", ("?", "?"))
    with pytest.raises(VerifyError, match="negative dims"):
        one_node_graph("constant_of_shape", [i64(2, -1)], const=(0,))


@pytest.mark.parametrize("start,limit,delta", [(0, 10, 3), (10, 0, -3), (5, 5, 1), (1.0, 2.0, 0.25), (0.5, -1.0, -0.4)])
def test_range_matches_onnxruntime(start, limit, delta):
    dtype = np.float32 if isinstance(start, float) else np.int64
    operands = [np.array(v, dtype) for v in (start, limit, delta)]
    _, (ref,), _ = run_both("range", operands, const=(0, 1, 2))
    close(ref, run_onnx("Range", operands)[0])
    assert run_both("range", operands)[0].output.type.shape == ("?",)


def test_range_errors():
    with pytest.raises(VerifyError, match="delta is 0"):
        one_node_graph("range", [i64(0).reshape(()), i64(3).reshape(()), i64(0).reshape(())], const=(0, 1, 2))
    with pytest.raises(VerifyError, match="limit must be a scalar"):
        one_node_graph("range", [i64(0).reshape(()), i64(3, 4), i64(1).reshape(())])
