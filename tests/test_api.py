"""qcompiler.compile / CompiledModel / qcompiler.load on the bundled digits CNN."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import qcompiler
from qcompiler.api import compile
from qcompiler.cli.demo import load_demo_model
from qcompiler.ir import graph_diff
from qcompiler.ir.types import QuantType, is_quantized
from qcompiler.passes.calibration import CalibrationError
from qcompiler.passmanager import PassResult, PipelineError, graph_pass
from qcompiler.pipelines import default_pipeline, insert_after
from qcompiler.model.saving import CompiledModelFileError
from qcompiler.targets import TargetError
from qcompiler.testing.cpu import has_vnni

from digits_fixtures import digits, digits_model  # noqa: F401 (fixtures)

ACCURACY_DROP = 0.005  # int8 per channel keeps test accuracy within half a point of fp32


@graph_pass("test-count-nodes")
def count_nodes(graph, ctx):
    """A user pass: notes the node count, changes nothing."""
    ctx.note(f"{len(graph.nodes)} nodes")
    return PassResult(False)


@pytest.fixture(scope="module", params=["armv8", "generic"])
def compiled(request, digits_model, digits):
    x_train, _, _, _ = digits
    return compile(digits_model, request.param, calibration=x_train, progress=False)


def test_accuracy_within_half_a_point_of_fp32(compiled, digits_model, digits):
    _, _, x_test, y_test = digits
    with torch.no_grad():
        fp32 = (digits_model(x_test).argmax(1) == y_test).float().mean().item()
    int8 = float(np.mean(compiled(x_test.numpy()).argmax(1) == y_test.numpy()))
    assert int8 >= fp32 - ACCURACY_DROP, (compiled.target.name, fp32, int8)


def test_weights_are_int8_per_channel_and_ops_are_integer(compiled):
    ops = {n.op for n in compiled.graph.nodes}
    assert {"qconv2d", "qlinear"} <= ops and not ops & {"conv2d", "linear"}
    weights = [n.inputs[1].type for n in compiled.graph.nodes if n.op in ("qconv2d", "qlinear")]
    assert len(weights) == 3
    assert all(isinstance(t, QuantType) and t.storage == "i8" and t.granularity == "channel" for t in weights)


def test_torch_in_torch_out_numpy_in_numpy_out(compiled, digits):
    x = digits[2][:5]
    y_torch, y_numpy = compiled(x), compiled(x.numpy())
    assert isinstance(y_torch, torch.Tensor) and isinstance(y_numpy, np.ndarray)
    np.testing.assert_array_equal(y_torch.numpy(), y_numpy)


def test_float_graph_is_folded_calibrated_and_float(compiled, digits_model, digits):
    fg = compiled.float_graph
    assert not any(is_quantized(v.type) for v in fg.values())
    assert [n.op for n in fg.nodes if n.op != "const"] == ["conv2d", "conv2d", "max_pool2d", "flatten", "linear"]
    assert all("q.range" in n.attrs for n in fg.nodes if n.op == "conv2d")
    from qcompiler.runtime.reference import run_graph

    x = digits[2][:8]
    with torch.no_grad():
        np.testing.assert_allclose(run_graph(fg, [x.numpy()])[0], digits_model(x).numpy(), atol=1e-4)


def test_save_load_gives_identical_outputs(compiled, digits, tmp_path):
    compiled.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"model.qir", "model.npz", "float.qir", "float.npz",
                                                    "fakequant.qir", "fakequant.npz", "samples.npz", "meta.json"}
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["target"] == compiled.target.name and meta["qcompiler_version"] == qcompiler.__version__
    assert meta["pipeline"] == compiled.target.default_pipeline
    loaded = qcompiler.load(tmp_path)
    assert graph_diff(loaded.graph, compiled.graph) is None
    assert graph_diff(loaded.float_graph, compiled.float_graph) is None
    assert graph_diff(loaded.fake_quant_graph, compiled.fake_quant_graph) is None
    x = digits[2].numpy()
    np.testing.assert_array_equal(loaded(x), compiled(x))


def test_user_pass_inserted_into_the_default_pipeline(digits_model, digits):
    pipeline = insert_after(default_pipeline("generic"), "fold-bn", "test-count-nodes")
    cm = compile(digits_model, "generic", calibration=digits[0][:64], pipeline=pipeline, progress=False)
    notes = [d for d in cm.diagnostics if d.pass_name == "test-count-nodes"]
    assert len(notes) == 1 and notes[0].severity == "note"
    assert "fold-bn,test-count-nodes,fuse-activations" in cm.pipeline


def test_fixed_batch_graph_runs_any_multiple_of_its_batch(digits_model, digits, compiled):
    cm = compile(digits_model, compiled.target, calibration=digits[0][:32], pipeline="fold-bn,calibrate,quantize,lower",
                 dynamic_batch=False, progress=False)
    assert cm.graph.inputs[0].type.shape == (1, 1, 8, 8)
    x = digits[2][:6].numpy()
    assert cm(x).shape == (6, 10)
    np.testing.assert_array_equal(cm(x)[2:3], cm(x[2:3]))


def test_dump_ir_writes_every_step(digits_model, digits, tmp_path):
    compile(digits_model, "armv8", calibration=digits[0][:32], dump_ir=tmp_path, progress=False,
            pipeline="fold-bn,calibrate,quantize,lower")
    assert sorted(p.name for p in tmp_path.glob("*.qir")) == [
        "000_input.qir", "001_fold-bn.qir", "002_calibrate.qir", "003_quantize.qir", "004_lower.qir"]


def test_unknown_target_lists_the_valid_ones(digits_model):
    with pytest.raises(TargetError, match=r"unknown target 'armv9'.*valid targets: armv7, armv8, .*x86-vnni"):
        compile(digits_model, "armv9")


def test_bad_pipeline_fails_before_the_import():
    with pytest.raises(PipelineError, match="unknown pass 'quantise'"):
        compile("no-such-model.onnx", pipeline="fold-bn,quantise")


@pytest.mark.parametrize("bad, message", [
    (lambda x: x[:, :, :4], r"has shape \[32, 1, 4, 8\], expected \['N', 1, 8, 8\]"),
    (lambda x: np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x), "contains NaN"),
    (lambda x: x.astype(bool), "has dtype bool, expected f32"),
])
def test_calibration_data_checked_before_any_pass(digits_model, digits, bad, message):
    with pytest.raises(CalibrationError, match=message):
        compile(digits_model, "armv8", example_inputs=digits[2][:1], calibration=bad(digits[0].numpy()[:64]))


def test_load_rejects_what_is_not_a_saved_model(tmp_path):
    with pytest.raises(CompiledModelFileError, match="no such directory"):
        qcompiler.load(tmp_path / "nothing")
    with pytest.raises(CompiledModelFileError, match="no meta.json"):
        qcompiler.load(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"format": "qcompiler-compiled-model", "target": "armv8",
                                                    "pipeline": "lower"}))
    with pytest.raises(CompiledModelFileError, match="missing model.qir"):
        qcompiler.load(tmp_path)


@pytest.mark.parametrize("edit, message", [
    ({"diagnostics": [{"sev": "warning"}]}, "meta.json: .*unexpected keyword argument 'sev'"),
    ({"target": "armv99"}, "meta.json: unknown target 'armv99'"),
    ({"format_version": "1"}, "meta.json: format_version '1' is not a number"),
])
def test_load_names_the_meta_file_a_bad_edit_broke(compiled, tmp_path, edit, message):
    compiled.save(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, **edit}))
    with pytest.raises(CompiledModelFileError, match=message):
        qcompiler.load(tmp_path)


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    code = readme.split("## Ten lines of Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    # the bundled weights were made by train_digits_cnn() (scripts/train_demo_model.py): skip the training
    monkeypatch.setattr("qcompiler.testing.zoo.train_digits_cnn", load_demo_model)
    exec(code, {})
    out = capsys.readouterr().out
    assert float(out.split("tensor(", 1)[1].split(")", 1)[0]) > 0.95  # the printed int8 accuracy
    assert "qcompiler report: @DigitsCNN for armv8" in out and (tmp_path / "digits.int8.onnx").is_file()


def test_report_samples_stay_within_the_size_budget_and_graphs_are_copied():
    from qcompiler.api import SAMPLE_BYTES_FOR_REPORT
    from qcompiler.ir import Graph
    from qcompiler.ir.types import f32

    g = Graph("big")
    x = g.add_input("x", f32("N", 3, 256, 256))
    g.set_outputs([g.add("relu", [x]).output])
    g.add("sigmoid", [x])  # dead
    data = np.zeros((20, 3, 256, 256), np.float32)
    cm = compile(g, calibration=data, pipeline="dce", progress=False)
    assert len(cm.sample_inputs[0]) == SAMPLE_BYTES_FOR_REPORT // data[0].nbytes == 5
    assert [n.op for n in cm.graph.nodes] == ["relu"]
    assert [n.op for n in g.nodes] == ["relu", "sigmoid"]  # a Graph is copied, not changed


@pytest.mark.skipif(not has_vnni(), reason="ONNX Runtime's u8 x s8 pair sums saturate on this x86 CPU (no VNNI)")
@pytest.mark.parametrize("form", ["qdq", "qoperator", "integer"])
def test_every_onnx_form_exports_and_agrees_with_the_numba_backend(compiled, digits, tmp_path, form):
    """QDQ is written from the fake-quant graph, the others from the lowered one; all run in
    ONNX Runtime and classify the test digits like our integer kernels."""
    import onnxruntime as ort

    path = compiled.export_onnx(tmp_path / f"digits.{form}.onnx", form=form)
    x = digits[2].numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {session.get_inputs()[0].name: x})[0]
    ours = compiled(x)
    assert (theirs.argmax(1) == ours.argmax(1)).mean() >= 0.99


def test_a_pipeline_without_lower_exports_its_fake_quant_graph_as_qdq(digits_model, digits, tmp_path):
    import onnxruntime as ort

    cm = compile(digits_model, "armv8", calibration=digits[0][:64], pipeline="fold-bn,calibrate,quantize",
                 progress=False)
    path = cm.export_onnx(tmp_path / "digits.qdq.onnx", form="qdq")
    x = digits[2].numpy()[:64]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs, ours = session.run(None, {session.get_inputs()[0].name: x})[0], cm(x)
    assert (theirs.argmax(1) == ours.argmax(1)).mean() >= 0.99  # float rounding may move a logit one step
