"""verify(): one test per rule, each asserting the message and that it names the node
(or graph input/output) at fault. Structural breakage the parser cannot express (SSA,
order, use lists) is made through the Graph API and by poking the objects directly."""
import numpy as np
import pytest

from qcompiler.ir import Graph, Node, TensorType, VerifyError, parse, verify

SIGNATURE = "(%x: f32[2,3], %y: f32[4]) -> (f32[2,3])"


def graph(*lines: str, signature: str = SIGNATURE) -> Graph:
    text = "\n".join([f"graph @g{signature} {{", *("  " + line for line in lines), "  return %x", "}"])
    return parse(text, verify=False)


def error_of(g: Graph) -> str:
    with pytest.raises(VerifyError) as info:
        verify(g)
    return str(info.value)


def chain() -> Graph:
    """x -> mul(x, k) -> relu, returned."""
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", (2, 3)))
    k = g.constant(np.ones((3,), np.float32), name="k")
    m = g.add("mul", [x, k], name="m")
    r = g.add("relu", [m.output], name="r")
    g.set_outputs([r.output])
    verify(g)
    return g


# --- SSA, order, use lists ------------------------------------------------------------

def test_a_name_defined_twice_breaks_ssa():
    g = chain()
    g.find("r").name = "m"
    assert error_of(g) == "node 'relu' (%m): value name %m is defined twice (SSA)"


def test_every_value_needs_a_name():
    g = chain()
    g.find("x").name = ""
    assert error_of(g) == "graph input: a value has no name"


def test_a_graph_input_has_no_producer():
    g = chain()
    g.find("x").producer = g.find("m").producer
    assert error_of(g) == "graph input %x has a producer"


def test_a_use_before_the_definition_breaks_topological_order():
    g = chain()
    m = g.find("m")
    g.insert_before(m.producer, Node("sigmoid", [m], [m.type], output_names=["s"]))
    assert error_of(g) == ("node 'sigmoid' (%s): input 0 %m is used before it is defined "
                           "(not in topological order, or from another graph)")


def test_a_value_of_another_graph_is_not_defined_here():
    g, other = chain(), chain()
    g.append(Node("sigmoid", [other.find("m")], [other.find("m").type], output_names=["s"]))
    assert "node 'sigmoid' (%s): input 0 %m is used before it is defined" in error_of(g)


def test_uses_must_be_recorded():
    g = chain()
    g.find("m").uses.clear()
    assert error_of(g) == "node 'relu' (%r): input 0 %m does not record this use"


def test_a_result_must_point_back_at_its_node():
    g = chain()
    g.find("m").index = 1
    assert error_of(g) == "node 'mul' (%m): output 0 %m has a wrong producer"


def test_a_node_must_belong_to_the_graph():
    g = chain()
    g.find("m").producer.graph = None
    assert error_of(g) == "node 'mul' (%m) does not belong to graph @g"


def test_graph_outputs_must_be_defined_in_the_graph():
    g, other = chain(), chain()
    g.set_outputs([other.find("r")])
    assert error_of(g) == "graph output %r is not defined in graph @g"


# --- ops: registry, arity, operands, attribute schemas ----------------------------------

def test_an_unknown_op_is_named():
    g = chain()
    g.append(Node("rleu", [g.find("x")], [TensorType("f32", (2, 3))], output_names=["f"]))
    assert error_of(g).startswith("node 'rleu' (%f): unknown op 'rleu'; did you mean 'relu'")


@pytest.mark.parametrize("line, message", [
    ("%a = relu(%x, %x) : f32[2,3]", "node 'relu' (%a): op 'relu' takes 1 inputs ['x'], got 2"),
    ("%a = linear(%x, None) : f32[2,3]", "node 'linear' (%a): required input 'w' is missing"),
    ("%a = transpose(%x) : f32[3,2]", "node 'transpose' (%a): missing required attribute 'perm' (ints)"),
    ("%a = concat(%x, %x) {axis=1.5} : f32[2,6]", "node 'concat' (%a): attribute 'axis' = 1.5 is not a valid int"),
    ('%a = gelu(%x) {approximate="erf"} : f32[2,3]',
     "node 'gelu' (%a): attribute 'approximate' = 'erf' is not a valid str in ['none', 'tanh']"),
    ("%a = softmax(%x) {axes=1} : f32[2,3]",
     "node 'softmax' (%a): unknown attribute 'axes' for op 'softmax' (did you mean 'axis'?)"),
])
def test_operands_and_attributes_follow_the_op_declaration(line, message):
    assert error_of(graph(line)) == message


def test_pass_decisions_and_opaque_ops_are_not_schema_checked():
    verify(graph('%a = relu(%x) {origin="conv1", q.bits=4, q.method="mse"} : f32[2,3]',
                 "%b = onnx.NonZero(%x) {anything=1} : i64[2,?]"))


# --- types and shapes ----------------------------------------------------------------------

@pytest.mark.parametrize("line, message", [
    ("%a = relu(%x) : f16[2,3]", "node 'relu' (%a): result %a has type f16[2,3], but the op infers f32[2,3]"),
    ("%a = relu(%x) : f32[2,3,1]", "node 'relu' (%a): result %a has type f32[2,3,1], but the op infers f32[2,3]"),
    ("%a = add(%x, %y) : f32[2,3]", "node 'add' (%a): shapes [2, 3] and [4] do not broadcast"),
    ("%a = transpose(%x) {perm=[0]} : f32[2,3]", "node 'transpose' (%a): transpose: perm [0] is not a permutation of 2 axes"),
    ("%a = split(%x) {axis=1, sizes=[1, 2]} : f32[2,1]", "node 'split' (%a): op infers 2 results, node has 1"),
    ("%a, %b = relu(%x) : f32[2,3], f32[2,3]", "node 'relu' (%a, %b): op 'relu' has 1 results, node has 2"),
])
def test_result_types_must_match_inference(line, message):
    assert error_of(graph(line)) == message


def test_symbolic_dims_match_any_size():
    verify(graph("%a = relu(%x) : f32[N,3]"))


def test_a_type_must_be_an_ir_type():
    g = chain()
    g.find("m").type = "f32[2,3]"
    assert error_of(g) == "node 'mul' (%m) result %m: 'f32[2,3]' is not an IR type"


# --- quantized types -------------------------------------------------------------------------

def q(params: str, shape: str = "[2,3]", storage: str = "i8:f32") -> str:
    return f"%a = relu(%x) : q<{storage}, {params}>{shape}"


def dense(values: str, dtype: str, shape: str) -> str:
    return f"dense<{values}> : {dtype}{shape}"


@pytest.mark.parametrize("line, message", [
    (q("scale=0.0, zp=0"), "quantization scales must be finite and > 0"),
    (q("scale=nan, zp=0"), "quantization scales must be finite and > 0"),
    (q("scale=0.5, zp=300", storage="u8:f32"), "zero point outside the u8 range [0, 255]"),
    (q(f"axis=0, scale={dense('[0.5, 0.5]', 'f32', '[2]')}, zp={dense('[0, 0, 0]', 'i32', '[3]')}"),
     "scale shape (2,) != zero point shape (3,)"),
    (q(f"scale={dense('[0.5, 0.5]', 'f32', '[2]')}, zp={dense('[0, 0]', 'i32', '[2]')}"),
     "per-tensor quantization needs one scale, got 2"),
    (q(f"axis=2, scale={dense('[0.5, 0.5]', 'f32', '[2]')}, zp={dense('[0, 0]', 'i32', '[2]')}"),
     "quantization axis 2 out of range for rank 2"),
    (q(f"axis=0, scale={dense('[0.5, 0.5, 0.5]', 'f32', '[3]')}, zp={dense('[0, 0, 0]', 'i32', '[3]')}"),
     "per-channel scale has 3 entries for axis 0 of size 2"),
    (q(f"axis=1, group=2, scale={dense('[[0.5], [0.5]]', 'f32', '[2,1]')}, zp={dense('[[0], [0]]', 'i32', '[2,1]')}"),
     "axis 1 of size 3 is not a multiple of group 2"),
    (q(f"axis=1, group=0, scale={dense('[[0.5], [0.5]]', 'f32', '[2,1]')}, zp={dense('[[0], [0]]', 'i32', '[2,1]')}"),
     "group size must be positive, got 0"),
])
def test_quantization_parameters_are_checked_on_results(line, message):
    assert error_of(graph(line)) == f"node 'relu' (%a) result %a: {message}"


def test_quantization_parameters_are_checked_on_graph_inputs():
    g = graph(signature="(%x: f32[2,3], %w: q<i4:f32, scale=0.5, zp=8>[3]) -> (f32[2,3])")
    assert error_of(g) == "graph input %w: zero point outside the i4 range [-8, 7]"


@pytest.mark.parametrize("value, message", [
    ("dense<[1.5, 2.0]> : f32[2]", "quantized constant must store integers, got float32"),
    ("dense<[1, 9]> : i8[2]", "constant values outside the i4 range [-8, 7]"),
    ("dense<[1, 2, 3]> : i8[3]", "constant of shape [3] declared as [2]"),
])
def test_quantized_constants_hold_storage_integers(value, message):
    g = graph(f"%c = const() {{value={value}}} : q<i4:f32, scale=0.5, zp=0>[2]")
    assert error_of(g) == f"node 'const' (%c): {message}"
    verify(graph("%c = const() {value=dense<[-8, 7]> : i8[2]} : q<i4:f32, scale=0.5, zp=0>[2]"))


def test_a_quantized_result_refines_the_float_type_the_op_infers():
    verify(graph("%a = relu(%x) : q<u8:f32, scale=0.5, zp=0>[2,3]"))
    assert error_of(graph("%a = relu(%x) : q<i8:f16, scale=0.5, zp=0>[2,3]")) == (
        "node 'relu' (%a): result %a has type q<i8:f16, scale=0.5, zp=0>[2,3], but the op infers f32[2,3]")


def test_integer_ops_check_their_operand_types():
    assert error_of(graph("%a = dequantize(%x) : f32[2,3]")) == (
        "node 'dequantize' (%a): dequantize: operand must be quantized (q<...>), got f32[2,3]")
