"""The ONNX Runtime side of the PTQ benchmark: sessions, and `quantize_static` as its
documentation recommends it (pre-processing, then calibration on a data reader)."""
from __future__ import annotations

import collections
import contextlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

CALIBRATION_METHODS = {"MinMax": CalibrationMethod.MinMax, "Entropy": CalibrationMethod.Entropy,
                       "Percentile": CalibrationMethod.Percentile}
FORMATS = {"QDQ": QuantFormat.QDQ, "QOperator": QuantFormat.QOperator}


def session(path: Path, threads: int, spinning: bool = True) -> ort.InferenceSession:
    """`threads=0` is ORT's default (one intra-op thread per physical core). Without
    `spinning` the intra-op workers sleep between runs instead of busy-waiting, so sessions
    can take turns and their process CPU time is the work done, not the wait."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def predictor(sess: ort.InferenceSession):
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


class _Batches(CalibrationDataReader):
    """`images` is one array (cut into batches of `batch`) or a list of ready batches
    (which may differ in shape, e.g. text lines of several widths)."""

    def __init__(self, input_name: str, images, batch: int):
        chunks = images if isinstance(images, list) else [images[i:i + batch] for i in range(0, len(images), batch)]
        self._feeds = iter([{input_name: chunk} for chunk in chunks])

    def get_next(self):
        return next(self._feeds, None)


def preprocess(fp32: Path, out: Path, symbolic_shapes: bool = True) -> Path:
    """ORT's recommended step before quantize_static: shape inference and graph optimization.
    Its symbolic shape inference gives up on some dynamic-shape models (PP-OCR rec):
    `symbolic_shapes=False` keeps ONNX's own inference only."""
    quant_pre_process(str(fp32), str(out), skip_symbolic_shape=not symbolic_shapes)
    return out


def quantize_u8s8(prepared: Path, out: Path, fmt: str, method: str, calibration,
                  batch: int = 64) -> Path:
    """Activations u8 (asymmetric), weights s8 per channel: the combination that runs ORT's
    integer kernels fastest on x86 (its default S8S8 QDQ fell back to slower paths here)."""
    input_name = onnx.load(str(prepared), load_external_data=False).graph.input[0].name
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print progress
            quantize_static(str(prepared), str(out), _Batches(input_name, calibration, batch),
                            quant_format=FORMATS[fmt], per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=CALIBRATION_METHODS[method])
    finally:
        logging.getLogger().setLevel(quiet)
    return out


def quantization_parameters(path: Path) -> dict:
    """Every scale / zero-point initializer of a quantized model, by name."""
    model = onnx.load(str(path))
    return {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer
            if t.name.endswith(("_scale", "_zero_point"))}


def differing_parameters(a: Path, b: Path) -> list:
    """Names of the quantization parameters on which two quantized models disagree."""
    pa, pb = quantization_parameters(a), quantization_parameters(b)
    return sorted(n for n in pa.keys() | pb.keys() if n not in pa or n not in pb or not np.array_equal(pa[n], pb[n]))


def kernel_ms_by_op(path: Path, x: np.ndarray, runs: int = 20, threads: int = 1) -> dict:
    """Where the time goes: {op type: (mean kernel ms per run, nodes)} from ORT's profiler
    (`threads` intra-op threads; more than one without spinning, as `session(..., spinning=False)`),
    largest first. The node count is of the graph ORT runs, after its fusions. The trace file
    lands next to the model."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if threads > 1:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.enable_profiling = True
    options.profile_file_prefix = str(path.with_suffix(f".profile{threads}"))
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    run = predictor(sess)
    for _ in range(runs):
        run(x)
    totals, nodes = collections.Counter(), collections.defaultdict(set)
    for event in json.loads(Path(sess.end_profiling()).read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"]
            nodes[event["args"]["op_name"]].add(event["name"])
    return {op: (us / runs / 1e3, len(nodes[op])) for op, us in totals.most_common()}
