"""Malformed text gives a ParseError at the right line:column saying what was expected."""
import numpy as np
import pytest

from qcompiler.ir import Graph, ParseError, TensorType, VerifyError, parse, print_graph


def error_of(text: str, blobs=None) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(text, blobs, source="t.qir")
    return info.value


def body(*lines: str, signature: str = "(%x: f32[2,3]) -> (f32[2,3])") -> str:
    return "\n".join([f"graph @g{signature} {{", *lines, "}"])


@pytest.mark.parametrize("text, line, column, message", [
    # a cycle: %b is used by the node that defines %a, before %b's own definition
    (body("  %a = add(%x, %b) : f32[2,3]", "  %b = relu(%a) : f32[2,3]", "  return %b"),
     2, 16, "value %b is used before its definition at 3:3"),
    (body("  %a = relu(%a) : f32[2,3]", "  return %a"), 2, 13, "value %a is used before its definition at 2:3"),
    (body("  %a = relu(%y) : f32[2,3]", "  return %a"), 2, 13, "use of undefined value %y"),
    (body("  %a = relu(%x) : f32[2,3]", "  return %z"), 3, 10, "use of undefined value %z"),
    (body("  %x = relu(%x) : f32[2,3]", "  return %x"), 2, 3, "redefinition of value %x (first defined at 1:10)"),
    (body("  %a = rleu(%x) : f32[2,3]", "  return %a"), 2, 8, "unknown op 'rleu'; did you mean 'relu'"),
    (body("  %a = relu(%x) : f33[2,3]", "  return %a"), 2, 19, "unknown dtype 'f33'"),
    (body("  %a = relu(%x) {q.bits=4} f32[2,3]", "  return %a"), 2, 28, "expected ':' after the attributes, got 'f32'"),
    (body("  %a = relu(%x) f32[2,3]", "  return %a"), 2, 17, "expected ':' after the operand list, got 'f32'"),
    (body("  %a = relu(%x %x) : f32[2,3]", "  return %a"), 2, 16, "expected ',' or ')' in the operand list, got '%x'"),
    (body("  %a = relu(%x) {q.b=1, q.b=2} : f32[2,3]", "  return %a"), 2, 25, "attribute 'q.b' given twice"),
    (body("  %a, %b = relu(%x) : f32[2,3]", "  return %a"), 2, 21, "1 result type(s)"),
    (body("  %a = relu(%x) : f32[2,3]", "  return %a, %a"), 3, 3, "declares 1 result(s) but returns 2"),
    (body("  %a = relu(%x) : f32[2,3]", "  return %a", signature="(%x: f32[2,3]) -> (f32[3])"),
     3, 3, "returned value %a has type f32[2,3], but the graph declares f32[3]"),
    (body("  %a = relu(%x) {q.s=\"abc} : f32[2,3]", "  return %a"), 2, 22, "unterminated string literal"),
    (body("  %a = relu(%x) # f32[2,3]", "  return %a"), 2, 17, "unexpected character '#'"),
    (body("  %a = relu(%x) : q<i5:f32, scale=0.5, zp=0>[2,3]", "  return %a"), 2, 19, "unknown storage type 'i5'"),
    (body("  %a = relu(%x) : q<i8:f32, scale=0.5>[2,3]", "  return %a"), 2, 39, "q<...> type needs 'zp='"),
    (body("  %a = relu(%x) : q<i8:f32, scale=0.5, zp=0, color=1>[2,3]", "  return %a"), 2, 46, "unknown parameter 'color'"),
    (body("  %a = relu(%x) : cb<cb6:f32, kernel=[3, 3]>[2,3]", "  return %a"), 2, 29, "expected ':' after the index width"),
    (body("  %c = const() {value=dense<[1, 2, 3]> : i64[2]} : i64[2]", "  return %x"), 2, 23, "dense literal has shape [3], the type says [2]"),
    (body("  %c = const() {value=dense<[300]> : i8[1]} : i8[1]", "  return %x"), 2, 23, "do not fit dtype i8"),
    (body("  %c = const() {value=dense<[1.5]> : i32[1]} : i32[1]", "  return %x"), 2, 23, "do not fit dtype i32"),
    (body("  %c = const() {value=dense<[[1], [2, 3]]> : i64[2]} : i64[2]", "  return %x"), 2, 23, "ragged"),
    (body("  %c = const() {value=dense<blob:0> : f32[2]} : f32[2]", "  return %x"), 2, 34, "needs the blobs"),
    (body("  return %x") + "\n}", 4, 1, "expected end of input after the graph, got '}'"),
    (body("  return %x", signature="(%x: f32[2,3]) -> (f32[2,3]) attributes {colour=1}"), 1, 38, "unknown graph attribute 'colour'"),
    ("graf @g() -> () {\n  return\n}", 1, 1, "expected 'graph' at the start of the text, got 'graf'"),
])
def test_malformed_text_is_located(text, line, column, message):
    e = error_of(text)
    assert message in str(e)
    assert (e.line, e.column) == (line, column), str(e)
    assert str(e).startswith(f"t.qir:{line}:{column}: ")


@pytest.mark.parametrize("lines, column, message", [
    (("  %a = add(%x, %y) : f32[2,3]",), 3, "shapes [2, 3] and [4] do not broadcast"),
    (("  %a = relu(%x) : f32[3,2]",), 3, "result %a has type f32[3,2], but the op infers f32[2,3]"),
    (("  %a = relu(%x) {alpha=0.5} : f32[2,3]",), 3, "unknown attribute 'alpha' for op 'relu'"),
    (("  %a = relu(%x, %y) : f32[2,3]",), 3, "takes 1 inputs"),
])
def test_verifier_errors_point_at_the_node(lines, column, message):
    text = body("  %r = relu(%x) : f32[2,3]", *lines, "  return %r", signature="(%x: f32[2,3], %y: f32[4]) -> (f32[2,3])")
    e = error_of(text)
    assert isinstance(e, VerifyError) and message in str(e)
    assert (e.line, e.column) == (3, column), str(e)
    assert parse(text, verify=False).find("a").producer.op in ("add", "relu")


def test_verifier_errors_on_graph_inputs_point_at_the_argument():
    e = error_of(body("  return %x", signature="(%y: f32[2], %x: q<i8:f32, scale=-1.0, zp=0>[2]) -> (q<i8:f32, scale=-1.0, zp=0>[2])"))
    assert "scales must be finite and > 0" in str(e) and (e.line, e.column) == (1, 22)


def test_every_truncation_of_a_valid_text_is_a_parse_error():
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", ("N", 4)))
    w = g.constant(np.ones((4,), np.float32), name="w")
    y = g.add("mul", [x, w], {"q.range": [-1.0, 1.0], "q.method": "mse"}, name="y")
    g.set_outputs([y.output])
    text = print_graph(g)
    parse(text)
    for cut in range(len(text.rstrip())):
        prefix = text[:cut]
        with pytest.raises(ParseError) as info:
            parse(prefix)
        if prefix.endswith(" : "):
            assert "end of input" in str(info.value)


def test_blob_must_match_its_declared_type():
    text = body("  %c = const() {value=dense<blob:0> : f32[2]} : f32[2]", "  return %x")
    e = error_of(text, blobs=[np.zeros(3, np.float32)])
    assert "blob holds float32[3], the text says f32[2]" in str(e) and (e.line, e.column) == (2, 39)
    assert "past the 0 blobs" in str(error_of(text, blobs=[]))
