"""Bad input to `quantize`: missing calibration, malformed ranges and options."""
import pytest

from quantize_graphs import quantized, small_cnn
from qcompiler.passes.quantize.choices import QuantizeOptionError
from qcompiler.passes.quantize.errors import QuantizeError
from qcompiler.passes.quantize.quantize import Quantize
from qcompiler.passmanager import PassContext, PassError, PipelineError, run_pipeline


def _quantize(graph, pipeline="quantize"):
    run_pipeline(graph, pipeline, PassContext())


def test_an_uncalibrated_graph_names_a_weight_and_says_to_calibrate():
    with pytest.raises(PassError, match=r"%w.*no q.range: run calibrate first"):
        _quantize(small_cnn())


def test_a_missing_graph_input_range_names_the_input():
    g, _ = quantized(small_cnn(), "calibrate")
    del g.input_attrs["x"]["q.range"]
    with pytest.raises(PassError, match=r"%x, the graph input \(it feeds 'conv2d' \(%c\)\).*run calibrate first"):
        _quantize(g)


def test_a_missing_activation_range_names_the_value():
    g, _ = quantized(small_cnn(), "calibrate")
    del g.find("c").producer.attrs["q.range"]
    with pytest.raises(PassError, match=r"%c, the result of 'conv2d' \(%c\).*run calibrate first"):
        _quantize(g)


def test_a_tied_value_may_borrow_its_group_range():
    g, _ = quantized(small_cnn(), "calibrate")
    del g.find("f").producer.attrs["q.range"]  # flatten shares the max-pool's parameters
    _quantize(g)
    assert g.find("f").type.scale == g.find("p").type.scale


def test_a_malformed_range_is_reported():
    g, _ = quantized(small_cnn(), "calibrate")
    g.find("r").producer.attrs["q.range"] = [2.0, 1.0]
    with pytest.raises(PassError, match=r"%r: q.range = \[2.0, 1.0\] is not a finite \[lo, hi\] pair"):
        _quantize(g)


def test_a_weight_range_with_the_wrong_channel_count_is_reported():
    g, _ = quantized(small_cnn(), "calibrate")
    w = g.find("w").producer
    w.attrs["q.range"] = type(w.attrs["q.range"])(w.attrs["q.range"].array[:3])
    with pytest.raises(PassError, match=r"weight %w: q.range has 3 channels, the weight has 4"):
        _quantize(g)


@pytest.mark.parametrize("options, message", [
    ("weights=i9", "weights='i9' is not a weight width"),
    ("weights=u8", "weights='u8' is not a weight width"),
    ("acts=f8", "acts='f8' is not an activation storage type"),
    ("granularity=group:0", "granularity 'group:0' is not one of tensor, channel, group:N"),
    ("granularity=row", "granularity 'row' is not one of"),
    ("symmetric=maybe", "option 'symmetric' expects bool, got 'maybe'"),  # the pipeline parser checks types
])
def test_bad_options_are_pipeline_errors(options, message):
    with pytest.raises(PipelineError, match=message):
        run_pipeline(small_cnn(), f"quantize{{{options}}}")


def test_bad_options_from_python_are_qir_errors():
    with pytest.raises(QuantizeError):
        Quantize(weights="i16")
    with pytest.raises(QuantizeError, match="symmetric='maybe' is not true, false or unset"):
        Quantize(symmetric="maybe")
    assert issubclass(QuantizeOptionError, QuantizeError)


def test_a_bad_q_bits_attribute_names_the_node():
    g, _ = quantized(small_cnn(), "calibrate")
    g.find("c").producer.attrs["q.bits"] = "four"
    with pytest.raises(PassError, match=r"'conv2d' \(%c\): q.bits = 'four' is not a bit width"):
        _quantize(g)


def test_an_unknown_target_is_reported():
    g, _ = quantized(small_cnn(), "calibrate")
    with pytest.raises(PassError, match="unknown target 'armv9'"):
        run_pipeline(g, "quantize", PassContext(target="armv9"))
