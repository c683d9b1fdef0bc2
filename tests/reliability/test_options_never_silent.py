"""Options that used to be accepted with no effect: each now takes effect with a warning
naming it, or is an error naming it."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import qcompiler
from qcompiler.passmanager import PassError, PipelineError, parse_pipeline
from qcompiler.passes.sensitivity.bit_gradient import bit_gradient_scores
from qcompiler.model.saving import CompiledModelFileError


@pytest.mark.parametrize("pipeline, message", [
    ("calibrate{bits=16}", "pass 'calibrate': bits=16: activations are stored in 8, 4, 2 or 1 bits"),
    ("calibrate{method=minmax,percentile=99}", "percentile=99 needs method=percentile .* method=minmax would ignore"),
    ("calibrate{method=mse,percentile=99.9}", "method=mse would ignore it"),
    ("quantize,lower{target=armv9}", "pass 'lower': option 'target': unknown target 'armv9'"),
])
def test_options_without_effect_are_pipeline_errors(pipeline, message):
    with pytest.raises(PipelineError, match=message):
        parse_pipeline(pipeline)


@pytest.mark.parametrize("pipeline", ["calibrate{bits=4}", "calibrate{method=percentile,percentile=99}",
                                      "calibrate{weight_method=percentile,percentile=99}",
                                      "clip-search{methods=[mse,percentile],percentile=99}"])
def test_options_with_effect_still_parse(pipeline):
    assert parse_pipeline(pipeline)


@pytest.mark.parametrize("pipeline", ["", []])
def test_an_empty_pipeline_is_refused_not_the_float_model_returned(model_files, pipeline):
    with pytest.raises(PipelineError, match="names no pass; leave it out for the target's default pipeline"):
        qcompiler.compile(model_files / "digits.qir", "armv8", pipeline=pipeline)


def compile_digits(files, target: str, pipeline: str):
    return qcompiler.compile(files / "digits.qir", target, calibration=np.load(files / "train.npy"),
                             pipeline=pipeline, progress=False)


def test_asymmetric_weights_on_a_symmetric_target_take_effect_with_a_warning(model_files):
    cm = compile_digits(model_files, "cortex-m", "fold-bn,calibrate{method=minmax},quantize{symmetric=false},lower")
    weights = [n.output.type for n in cm.fake_quant_graph.nodes
               if n.op == "const" and getattr(n.output.type, "storage", "") == "i8"]
    zero_points = [np.asarray(getattr(t.zero_point, "array", t.zero_point)) for t in weights]  # Dense per channel
    assert zero_points and any(np.any(zp != 0) for zp in zero_points)
    assert any(d.severity == "warning" and "quantize{symmetric=false}: target 'cortex-m' runs symmetric weights"
               in d.message for d in cm.diagnostics)


def test_lowering_weights_the_target_cannot_run_is_refused(model_files):
    with pytest.raises(PassError, match=r"'conv2d' \(%\w+\): i4 weights, which target 'cortex-m' cannot run"):
        compile_digits(model_files, "generic", "fold-bn,calibrate{method=minmax},quantize{weights=i4},"
                                               "lower{target=cortex-m}")


def test_a_meta_json_pipeline_that_is_not_text_is_refused(compiled, tmp_path):
    compiled.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    (tmp_path / "m" / "meta.json").write_text(json.dumps({**meta, "pipeline": 42}))
    with pytest.raises(CompiledModelFileError, match="pipeline is 42, expected a string"):
        qcompiler.load(tmp_path / "m")


def test_bit_gradient_scores_are_never_negative():
    """A loss falling along the quantization step (here L = -sum(W), Q_b(W) = W + 1/b)
    gives a negative trapezoid estimate; the score says "no increase", not "helps"."""
    w = torch.linspace(-1, 1, 12)
    m = SimpleNamespace(layers=[SimpleNamespace(name="fc")], bits=(2, 4, 8), fractions=lambda: [1.0],
                        loss=lambda k, leaves: -sum(t.sum() for t in leaves.values()),
                        float_weights=lambda layer: {"w": w}, quantized=lambda layer, b: {"w": w + 1.0 / b})
    scores, _ = bit_gradient_scores(m)
    assert scores == {"fc": {2: 0.0, 4: 0.0, 8: 0.0}}
    m.loss = lambda k, leaves: sum((t ** 2).sum() for t in leaves.values())  # rises: the estimate is kept
    scores, _ = bit_gradient_scores(m)
    assert scores["fc"][2] > scores["fc"][4] > scores["fc"][8] > 0


@pytest.mark.parametrize("pipeline, warned", [
    ("fold-bn,calibrate{method=mse,bits=4},quantize,lower", "calibrate{method=mse,bits=4} searched activation "
     "ranges for 4-bit storage, but quantize stores activations as"),
    ("fold-bn,calibrate{method=mse,bits=4},quantize{acts=u4},lower", None),
    ("fold-bn,calibrate{method=minmax,bits=4},quantize,lower", None),  # min/max ranges do not depend on the width
])
def test_activation_ranges_searched_for_another_width_are_a_warning(model_files, pipeline, warned):
    cm = compile_digits(model_files, "generic", pipeline)
    warnings = [d.message for d in cm.diagnostics if d.severity == "warning" and "searched activation ranges" in d.message]
    assert len(warnings) == (warned is not None) and all(warned in w for w in warnings)
