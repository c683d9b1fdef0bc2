"""Ties: concat operands share parameters, pass-through results keep their operand's,
relu joins its operand only over a non-negative range; find_ties for the allocator."""
import numpy as np

from quantize_graphs import data_for, params, quantized
from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32
from qcompiler.passes.quantize.ties import find_ties
from qcompiler.passmanager import PassContext, run_pipeline


def tied_graph() -> Graph:
    """Two 1x1 convs of x concatenated, split, transposed and reshaped; a fused-relu
    conv followed by a relu; and an add of two conv results."""
    rng = np.random.default_rng(3)
    g = Graph("ties")
    x = g.add_input("x", f32("N", 3, 4, 4))

    def conv(name, **attrs):
        w = g.constant(rng.normal(size=(3, 3, 1, 1)).astype(np.float32), name=f"{name}_w")
        return g.add("conv2d", [x, w], attrs, name=name).output

    r1 = g.add("relu", [conv("c1", activation="relu")], name="r1").output
    cat = g.add("concat", [r1, conv("c2")], {"axis": 1}, name="cat").output
    parts = g.add("split", [cat], {"axis": 1, "sizes": [3, 3]}, name="sp").outputs
    t = g.add("transpose", [parts[0]], {"perm": [0, 1, 3, 2]}, name="t").output
    shape = g.constant(np.array([-1, 48], np.int64), name="shape")
    rs = g.add("reshape", [parts[1], shape], name="rs").output
    r3 = g.add("relu", [conv("c3", activation="relu")], name="r3").output
    a = g.add("add", [r3, conv("c4")], name="a").output
    g.set_outputs([t, rs, a])
    return g


def calibrated() -> Graph:
    g = tied_graph()
    run_pipeline(g, "calibrate", PassContext(calibration=data_for(g)))
    return g


def names(groups) -> list:
    return [[v.name for v in group] for group in groups]


def test_find_ties_groups_concat_pass_through_and_non_negative_relu():
    assert names(find_ties(calibrated())) == [
        ["r1", "c2", "cat", "sp", "sp_1", "t", "rs"],  # c1 stays out: the group holds negative c2 values
        ["c3", "r3"],  # a fused-relu conv's result is non-negative: the relu is the identity on storage
    ]


def test_add_operands_do_not_tie():
    assert not any("a" in group for group in names(find_ties(calibrated())))


def test_symmetric_activations_never_tie_relu():
    assert ["c3", "r3"] not in names(find_ties(calibrated(), activation_symmetric=True))


def test_without_ranges_relu_does_not_tie():
    assert names(find_ties(tied_graph())) == [["r1", "c2", "cat", "sp", "sp_1", "t", "rs"]]


def test_quantize_gives_each_group_one_set_of_parameters_from_the_union_of_ranges():
    g = calibrated()
    members = ["r1", "c2", "cat", "sp", "sp_1", "t", "rs"]
    ranges = [g.find(n).producer.attrs["q.range"] for n in ("r1", "c2")]  # the others lie inside
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    quantized(g, "quantize")
    shared = {params(g.find(n)) for n in members}
    assert len(shared) == 1
    scale = g.find("cat").type.scale.array
    assert np.isclose(scale, (hi - lo) / 255, rtol=1e-6)
    assert params(g.find("c3")) == params(g.find("r3"))
    assert params(g.find("c1")) != params(g.find("r1"))
    # add keeps separate parameters on the generic target: the integer add rescales
    assert len({params(g.find(n)) for n in ("r3", "c4", "a")}) == 3


def test_a_pass_through_of_a_float_value_stays_float():
    g = Graph("passthrough")
    x = g.add_input("x", f32("N", 6))
    f = g.add("flatten", [x], name="f").output
    w = g.constant(np.eye(6, dtype=np.float32), name="w")
    g.set_outputs([g.add("linear", [f, w], name="y").output])
    g, _ = quantized(g)
    assert g.find("f").type.dtype == "f32"
    convert = g.find("y").producer.inputs[0].producer
    assert convert.op == "quantize" and convert.inputs[0].name == "f"
    # the conversion still uses the tied parameters of x and its flatten
    assert np.isclose(convert.output.type.scale.array, np.ptp(data_for(g)) / 255, rtol=1e-5)
