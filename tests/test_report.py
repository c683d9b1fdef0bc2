"""The per-layer report of a compiled digits CNN: one row per layer with sane numbers,
totals against fp32, pass diagnostics and opaque ops."""
import math

import numpy as np

import pytest
from onnx import helper

import qcompiler
from qcompiler.api import compile
from qcompiler.report.layers import report
from qcompiler.testing.onnx_models import make_model, tensor

from digits_fixtures import digits, digits_model  # noqa: F401 (fixtures)

# (value name, module, MACs per sample: Cout·H·W · Cin·kh·kw, or out · in)
LAYERS = [("features_2", "features.0", 8 * 8 * 8 * 1 * 9), ("features_5", "features.3", 16 * 8 * 8 * 8 * 9),
          ("classifier", "classifier", 10 * 256)]
MIN_LAYER_SQNR_DB = 30.0  # int8 per channel with MSE ranges measures 39-44 dB here


@pytest.fixture(scope="module")
def compiled(digits_model, digits):
    return compile(digits_model, "armv8", calibration=digits[0], progress=False)


@pytest.fixture(scope="module")
def rep(compiled):
    return report(compiled)


def test_a_row_per_conv_and_linear_with_sane_numbers(rep, compiled):
    rows = {r["layer"]: r for r in rep.rows if r["op"] in ("qconv2d", "qlinear")}
    assert list(rows) == [name for name, _, _ in LAYERS]
    for name, origin, n_macs in LAYERS:
        r = rows[name]
        node = next(n for n in compiled.graph.nodes if n.outputs[0].name == name)
        weight, bias = (v.type.numel() for v in node.inputs[1:3])
        assert r["origin"] == origin and r["weights"] == "i8/channel" and r["acts"] == "i8"
        assert (r["w_bits"], r["a_bits"], r["method"]) == (8, 8, "mse")
        assert r["params"] == weight + bias
        assert r["bytes"] == weight + 4 * bias  # i8 weights, i32 biases
        assert r["macs"] == n_macs and r["bops"] == n_macs * 8 * 8
        assert MIN_LAYER_SQNR_DB < r["sqnr_db"] < math.inf
        assert 0 < r["latency_share"] < 1


def test_totals_against_fp32(rep):
    t = rep.totals
    assert t["params"] == sum(r["params"] for r in rep.rows)
    assert t["fp32_bytes"] == 4 * t["params"]
    assert 3.8 < t["size_ratio"] < 4.0  # ~4x: int8 weights, int32 biases
    assert t["macs"] == sum(m for _, _, m in LAYERS) and t["bops_ratio"] == 16.0
    assert sum(r["latency_share"] for r in rep.rows) == pytest.approx(1.0)
    assert len(rep.outputs_db) == 1 and rep.outputs_db[0] > MIN_LAYER_SQNR_DB


def test_text_and_markdown(rep):
    text = str(rep)
    assert "qcompiler report: @DigitsCNN for armv8" in text
    assert "features_5 (features.3)  qconv2d" in text and "i8/channel" in text
    assert f"{rep.totals['size_ratio']:.2f}x smaller than fp32" in text
    assert "diagnostics: none" in text and "opaque ops (run through ONNX Runtime): none" in text
    md = rep.to_markdown()
    assert sum(line.startswith("|") for line in md.splitlines()) == len(rep.rows) + 2
    assert "| features_5 (features.3) | qconv2d |" in md


def test_same_report_after_save_and_load(compiled, rep, tmp_path):
    compiled.save(tmp_path)
    assert qcompiler.load(tmp_path).report().rows == rep.rows


def test_pass_fallbacks_are_listed(digits_model, digits):
    # armv8 has no binary weights: quantize falls back and says so
    cm = compile(digits_model, "armv8", calibration=digits[0][:64], pipeline="fold-bn,calibrate,quantize{weights=b1}",
                 progress=False)
    text = str(cm.report())
    assert "warning [quantize]" in text and "b1" in text
    assert "diagnostics: none" not in text


def test_opaque_ops_are_listed_and_missing_samples_noted():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Hardmax", ["r"], ["y"], axis=1)]
    cm = compile(make_model(nodes, [tensor("x", [2, 6])], [tensor("y", [2, 6])], 17), pipeline="canonicalize",
                 progress=False)
    rep = cm.report()
    assert rep.opaque_ops == ["onnx.Hardmax"]
    assert "opaque ops (run through ONNX Runtime): onnx.Hardmax" in str(rep)
    assert rep.notes == ["SQNR not measured: no sample inputs"] and all(r["sqnr_db"] is None for r in rep.rows)


def test_integer_results_agree_with_the_fake_quant_simulation(rep, compiled):
    """Each quantized layer reports how many stored integers differ from the fake-quant
    graph; the integer kernels are within one step everywhere and exact almost always."""
    from qcompiler.analysis.agreement import integer_agreement

    rows = {r["layer"]: r for r in rep.rows if r["op"] in ("qconv2d", "qlinear")}
    assert all(r["differ_from_sim"] is not None for r in rows.values())
    agreement = integer_agreement(compiled.graph, compiled.fake_quant_graph, compiled.sample_inputs)
    assert agreement and max(a.max_steps for a in agreement) <= 1
    assert sum(a.differing for a in agreement) <= 0.01 * sum(a.elements for a in agreement)
    by_name = {a.value: a.differing for a in agreement}
    assert all(rows[name]["differ_from_sim"] == by_name[name] for name in rows)
    assert "≠sim" in str(rep) and any("vs fake-quant simulation" in n for n in rep.notes)


def test_agreement_is_per_layer_on_a_deep_real_model():
    """On the PP-OCR classifier (dozens of layers) one-step differences would compound if
    the graphs ran end to end; checked layer by layer every integer layer stays within one
    step of its simulation."""
    from pathlib import Path

    import rapidocr_onnxruntime

    from qcompiler.analysis.agreement import integer_agreement

    model = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    x = np.random.default_rng(0).uniform(-1, 1, (4, 3, 48, 192)).astype(np.float32)
    cm = compile(str(model), "armv8", calibration=x, progress=False)
    rows = integer_agreement(cm.graph, cm.fake_quant_graph, [x[:2]])
    assert len(rows) > 40
    assert max(r.max_steps for r in rows) <= 1, [(r.value, r.max_steps) for r in rows if r.max_steps > 1]
