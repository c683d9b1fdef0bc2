"""accuracy-control on the digits CNN at W4A4 (a real drop of a few points):
the drop is brought within max_drop by keeping layers float, the quantize that follows
honours the marks, an out-of-reach bound is reported with the best drop, and bad
validation is refused by name."""
import numpy as np
import pytest
import torch

import qcompiler
from qcompiler.frontends.fx import import_module
from qcompiler.ir.clone import clone
from qcompiler.passmanager import PassContext, PassError, PassManager
from qcompiler.runtime.torch import run_torch
from qcompiler.testing.zoo import digits_data, train_digits_cnn

W4A4 = "quantize{weights=i4,acts=i4}"
TRIAL = f"trial=[{W4A4}]"


def accuracy(run, data) -> float:
    x, y = data
    return float((np.asarray(run(x)).argmax(1) == y).mean())


@pytest.fixture(scope="module")
def digits():
    """(calibrated float graph, calibration samples, (x_test, y_test), fp32 accuracy)."""
    torch.set_num_threads(1)
    x_train, _, x_test, y_test = digits_data()
    graph = import_module(train_digits_cnn(), x_train[:4], dynamic_batch=True)
    PassManager("fold-bn,fuse-activations,calibrate{samples=256}").run(graph, PassContext(calibration=x_train.numpy()))
    test = (x_test.numpy(), y_test.numpy())
    return graph, x_train.numpy()[:64], test, accuracy(lambda x: run_torch(graph, [x])[0], test)


def controlled(digits, options: str, metric=accuracy):
    graph, calibration, test, _ = digits
    g = clone(graph)
    manager = PassManager(f"accuracy-control{{{options},{TRIAL}}},{W4A4}")
    ctx = PassContext(calibration=calibration, validation=(test, metric))
    manager.run(g, ctx)
    return g, ctx, manager.history[0].stats


def kept_layers(graph) -> list:
    return [n.outputs[0].name for n in graph.nodes if n.attrs.get("q.keep_float")]


def test_the_drop_is_brought_within_max_drop_by_keeping_layers_float(digits):
    _, _, test, fp32 = digits
    g, ctx, stats = controlled(digits, "max_drop=0.005")
    assert stats["drop_before"] > 0.005 and stats["drop_after"] <= 0.005
    kept = kept_layers(g)
    assert 1 <= len(kept) == stats["layers_kept_float"] < stats["candidates"]
    measured = accuracy(lambda x: run_torch(g, [x])[0], test)  # the real quantize's graph, scored here
    assert measured >= fp32 - 0.005
    for name in kept:  # honoured: float weights and result
        node = next(n for n in g.nodes if n.outputs[0].name == name)
        assert node.outputs[0].type.__class__.__name__ == "TensorType"
        assert all(v.type.__class__.__name__ == "TensorType" for v in node.inputs[1:2] if v is not None)
    assert any("kept float" in d.message for d in ctx.diagnostics if d.severity == "note")


def test_no_layer_is_kept_float_when_int8_is_within_bounds(digits):
    graph, calibration, test, _ = digits
    g = clone(graph)
    manager = PassManager("accuracy-control{max_drop=0.05},quantize")
    manager.run(g, PassContext(calibration=calibration, validation=(test, accuracy)))
    assert kept_layers(g) == [] and manager.history[0].stats["layers_kept_float"] == 0


def test_an_out_of_reach_drop_reports_the_best_drop_and_its_layers(digits):
    g, ctx, stats = controlled(digits, "max_drop=0.0,max_layers=1")
    assert stats["drop_after"] > 0 and len(kept_layers(g)) <= 1 and stats["trials"] == 2
    [warning] = [d for d in ctx.diagnostics if d.severity == "warning" and d.pass_name == "accuracy-control"]
    assert "max_drop 0 is out of reach with the 1 layer(s) max_layers allows" in warning.message
    assert f"the best drop reached is {stats['drop_after']:.4g}" in warning.message


def test_strict_raises_when_the_drop_is_out_of_reach(digits):
    with pytest.raises(PassError, match="out of reach"):
        controlled(digits, "max_drop=0.0,max_layers=1,strict=true")


def per_sample_accuracy(run, data):
    x, y = data
    return (np.asarray(run(x)).argmax(1) == y).astype(np.float64)


def test_a_drop_within_the_validation_noise_keeps_every_layer_quantized(digits):
    # W4A4's drop and its noise (2 standard errors of the paired per-sample differences),
    # measured with a bound it meets; then a max_drop that the drop exceeds by half the
    # noise: per-sample scores show the excess is noise, a point estimate chases it
    _, _, free = controlled(digits, "max_drop=1.0", metric=per_sample_accuracy)
    drop, noise = free["drop_before"], free["noise_after"]
    max_drop = drop - noise / 2
    assert free["layers_kept_float"] == 0 and noise > 0 and max_drop > 0.005
    g, ctx, stats = controlled(digits, f"max_drop={max_drop}", metric=per_sample_accuracy)
    assert stats["drop_before"] == drop > max_drop and kept_layers(g) == []
    assert any("(+" in d.message and "validation noise" in d.message for d in ctx.diagnostics)
    _, _, point = controlled(digits, f"max_drop={max_drop},significance=0", metric=per_sample_accuracy)
    assert point["drop_before"] == drop and point["layers_kept_float"] >= 1


def test_a_max_drop_below_one_samples_weight_is_warned_about(digits):
    graph, calibration, (x, y), _ = digits
    manager = PassManager(f"accuracy-control{{max_drop=0.005,{TRIAL}}},{W4A4}")
    ctx = PassContext(calibration=calibration, validation=((x[:100], y[:100]), per_sample_accuracy))
    manager.run(clone(graph), ctx)
    [warning] = [d.message for d in ctx.diagnostics if d.severity == "warning"]
    assert "max_drop 0.005 is below what one of the 100 validation samples moves the metric (0.01)" in warning


def test_a_metric_returning_one_number_is_told_about_per_sample_scores(digits):
    _, ctx, _ = controlled(digits, "max_drop=0.05")
    assert any("return one score per sample" in d.message for d in ctx.diagnostics if d.severity == "note")


def test_the_ranking_measures_each_units_gain_and_tries_the_largest_first(digits):
    from qcompiler.passes.accuracy.ranking import OutputError, candidate_layers, rank_layers, units
    from qcompiler.passes.accuracy.trials import Trials
    from qcompiler.passes.accuracy.validation import Validation
    from qcompiler.passmanager import Progress

    graph, calibration, test, _ = digits
    ctx = PassContext(calibration=calibration)
    error = OutputError(Trials(graph, [W4A4], Validation(test, accuracy), ctx), calibration, samples=8)
    candidates = candidate_layers(graph)
    by_layer = units(graph, candidates)
    assert [unit[0] for unit in by_layer] == candidates and any(len(unit) > 1 for unit in by_layer)
    ranked = rank_layers(error, by_layer, Progress(False))
    assert sorted(name for name, _ in ranked) == sorted(candidates)
    gains = [gain for _, gain in ranked if gain is not None]
    assert gains and gains == sorted(gains, reverse=True) and gains[0] > 0
    # the unit of the largest gain (measured alone: its error is cached) is tried first, whole
    [top] = [u for u in by_layer if frozenset(u) in error.errors and error(()) - error(u) == gains[0]]
    assert {name for name, _ in ranked[:len(top)]} == set(top)


@pytest.mark.parametrize("validation, message", [
    (None, "accuracy-control needs validation=\\(data, metric\\)"),
    ((1, 2, 3), "must be a pair \\(data, metric\\)"),
    (([], "accuracy"), "metric must be callable as metric\\(model, data\\) -> float, got str"),
    (([], lambda model, data: float("nan")), "returned nan, not a finite number"),
])
def test_bad_validation_is_refused_by_name(digits, validation, message):
    graph, calibration, _, _ = digits
    with pytest.raises(PassError, match=message):
        PassManager("accuracy-control,quantize").run(clone(graph), PassContext(calibration=calibration,
                                                                             validation=validation))


def test_a_used_up_calibration_stream_is_named(digits):
    graph, _, test, _ = digits
    with pytest.raises(PassError, match="pass 'accuracy-control' failed.*calibration data is empty"):
        PassManager(f"accuracy-control{{max_drop=0.0,{TRIAL}}},{W4A4}").run(
            clone(graph), PassContext(calibration=iter([]), validation=(test, accuracy)))


def test_bad_options_are_refused():
    from qcompiler.passmanager import parse_pipeline

    with pytest.raises(Exception, match="max_drop and significance must be >= 0, got -1.0 and 2.0"):
        parse_pipeline("accuracy-control{max_drop=-1}")
    with pytest.raises(Exception, match="max_drop and significance must be >= 0, got 0.01 and -1.0"):
        parse_pipeline("accuracy-control{significance=-1}")
    with pytest.raises(Exception, match="max_layers must be >= 0 and samples >= 1, got -1 and 4"):
        parse_pipeline("accuracy-control{max_layers=-1}")
    with pytest.raises(Exception, match="pass 'bogus' is not registered|bogus"):
        parse_pipeline("accuracy-control{trial=[bogus]}")


@pytest.fixture(scope="module")
def compiled(digits):
    _, calibration, test, _ = digits
    pipeline = f"fold-bn,fuse-activations,calibrate{{samples=256}},{W4A4},lower"
    return qcompiler.compile(train_digits_cnn(), example_inputs=torch.from_numpy(calibration[:4]),
                             calibration=calibration, pipeline=pipeline, progress=False,
                             validation=(test, accuracy), max_drop=0.005)


def test_compile_inserts_the_pass_and_the_report_shows_the_layers_kept_float(digits, compiled):
    _, _, test, fp32 = digits
    assert "accuracy-control{max_drop=0.005" in compiled.pipeline and f"trial=[{W4A4}]" in compiled.pipeline
    kept = kept_layers(compiled.graph)
    assert kept
    report = str(compiled.report())
    for name in kept:
        assert f"%{name} " in report and "kept float by accuracy control" in report
    assert accuracy(compiled, test) >= fp32 - 0.01  # the lowered integer model, within a step of the simulation


def test_the_qdq_export_keeps_the_layers_float_and_scores_like_the_compiled_model(digits, compiled, tmp_path):
    import onnx
    import onnxruntime as ort

    _, _, test, fp32 = digits
    compiled.export_onnx(tmp_path / "m.onnx", form="qdq")
    nodes = onnx.load(str(tmp_path / "m.onnx")).graph.node
    dequantized = {out for n in nodes if n.op_type == "DequantizeLinear" for out in n.output}
    float_weights = [n for n in nodes if n.op_type in ("Conv", "Gemm", "MatMul") and n.input[1] not in dequantized]
    assert len(float_weights) == len(kept_layers(compiled.graph)) >= 1
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    assert accuracy(lambda x: session.run(None, {name: x})[0], test) >= fp32 - 0.01
