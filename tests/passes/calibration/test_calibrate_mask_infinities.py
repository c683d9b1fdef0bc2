"""-inf is legal only where an op defines it: an attention mask folded into masked_softmax
calibrates, while the same -inf mask in a value that would be quantized (added to scores
that something else reads too, or fed to a matmul) still stops calibrate, naming the node."""
import numpy as np
import pytest

from qcompiler.ir.parser import parse
from qcompiler.passes.calibration.errors import CalibrationError
from qcompiler.passmanager import PassContext, PassManager

HEADER = "graph @g(%s: f32[N,6], %keep: bool[N,6]) -> ({outs}) {{\n"
MASK = """  %zero = const() {value=dense<0.0> : f32[]} : f32[]
  %ninf = const() {value=dense<-inf> : f32[]} : f32[]
  %mask = where(%keep, %zero, %ninf) : f32[N,6]
  %a = add(%s, %mask) : f32[N,6]
"""


def calibrate(body: str, outs: str):
    graph = parse(HEADER.format(outs=outs) + MASK + body + "\n}")
    rng = np.random.default_rng(0)
    keep = np.ones((8, 6), bool)
    keep[1:, 4:] = False
    data = {"s": rng.standard_normal((8, 6)).astype(np.float32), "keep": keep}
    PassManager(["canonicalize", "dce", "calibrate"]).run(graph, PassContext(calibration=data))
    return graph


def test_a_mask_folded_into_masked_softmax_calibrates():
    graph = calibrate("  %p = softmax(%a) {axis=-1} : f32[N,6]\n  return %p", "f32[N,6]")
    (node,) = [n for n in graph.nodes if n.op == "masked_softmax"]
    lo, hi = node.attrs["q.range"]
    assert lo == 0.0 and 0 < hi <= 1


@pytest.mark.parametrize("body, outs", [
    # the masked scores are a graph output as well: the add stays, and holds -inf
    ("  %p = softmax(%a) {axis=-1} : f32[N,6]\n  return %p, %a", "f32[N,6], f32[N,6]"),
    # a masked value that is no softmax operand at all
    ("  %t = transpose(%a) {perm=[1, 0]} : f32[6,N]\n  %y = matmul(%a, %t) : f32[N,N]\n  return %y", "f32[N,N]"),
])
def test_an_infinity_in_a_value_that_would_be_quantized_is_an_error_naming_the_node(body, outs):
    with pytest.raises(Exception, match=r"node 'where' \(%mask\) produced Inf in %mask") as error:
        calibrate(body, outs)
    assert isinstance(error.value, CalibrationError) or isinstance(error.value.__cause__, CalibrationError)
