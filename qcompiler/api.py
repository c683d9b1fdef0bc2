"""`qcompiler.compile` and `qcompiler.load`: post-training quantization in one call.

    cm = qcompiler.compile(model, target="armv8", example_inputs=x, calibration=data)
    y = cm(x); cm.export_onnx("m.onnx"); print(cm.report()); cm.save("out/")
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .instruments import DumpIR, VerifyEach
from .instruments.keep_before import KeepBefore
from .instruments.keep_float import KeepFloat
from .instruments.pass_log import PassLog
from .ir.clone import clone
from .ir.core import Graph
from .ir.errors import QIRError
from .model.compiled import CompiledModel
from .model.load_compiled import load_compiled
from .model.loading import load_model
from .passmanager import PassContext, PassManager, PipelineError, Progress
from .pipelines import to_string
from .targets import get_target

# the report measures SQNR on at most this many samples, of at most this many bytes in
# all (the reference interpreter is slow, and the samples are saved with the model)
SAMPLES_FOR_REPORT = 16
SAMPLE_BYTES_FOR_REPORT = 4 << 20


def compile(model: Any, target: str = "generic", example_inputs: Any = None, calibration: Any = None,
            pipeline: Any = None, dump_ir: Any = None, seed: int = 0, progress: bool = True,
            dynamic_batch: bool = True, dynamic_dims: Any = None, validation: Any = None,
            max_drop: float = 0.01) -> CompiledModel:
    """Import `model` (torch.nn.Module, .onnx/.qir path, ONNX ModelProto or Graph), run
    `pipeline` (default: the target's, see qcompiler.pipelines) with the verifier after
    every pass, and return the CompiledModel.

    `calibration` is anything the `calibrate` pass accepts (an array of samples, a list of
    batches, a DataLoader), or "synthetic": inputs made from the model's BatchNorm
    statistics (docs/datafree.md). `example_inputs` (default: the first calibration sample when
    `calibration` is an array) are what a torch model is traced on; an ONNX model keeps
    the dims its file declares (symbolic ones stay symbolic; the examples must fit the
    static ones, but for a fixed batch, which runs larger batches in chunks). `dynamic_dims={"x": {0: "N", 3: "W"}}` (inputs by name or position)
    makes those dims symbolic, so the compiled model and its exports run at any size
    there; `dynamic_batch` (default) is the shortcut for dim 0 of every input, and
    `dynamic_batch=False` fixes dim 0 to the examples'. A Graph is copied, never changed.
    `dump_ir` names a directory that receives the IR before and after every pass.
    `validation=(data, metric)`, metric(model, data) -> float (higher is better), adds
    accuracy-control before quantize: layers stay float until the metric is within
    `max_drop` of the float model's (docs/quantization.md, "Accuracy control")."""
    chosen = get_target(target)
    passes = pipeline if pipeline is not None else chosen.default_pipeline
    if validation is not None:
        from .pipelines import with_accuracy_control

        passes = with_accuracy_control(passes, max_drop)
    keep, before_lowering, log = KeepFloat(), KeepBefore("lower"), PassLog()
    instruments = [VerifyEach(), keep, before_lowering, log] + ([DumpIR(dump_ir)] if dump_ir is not None else [])
    manager = PassManager(passes, instruments)  # a bad pipeline fails before the import
    if not manager.passes:  # an empty pipeline would return the float model as if compiled
        raise PipelineError(f"pipeline {pipeline!r} names no pass; leave it out for the target's default pipeline")
    trace_inputs = calibration[:1] if example_inputs is None and _is_array(calibration) else example_inputs
    model = clone(model) if isinstance(model, Graph) else model
    graph = load_model(model, _as_torch(trace_inputs), dynamic_batch=dynamic_batch, dynamic_dims=dynamic_dims)
    from .passes.datafree import synthetic_source

    calibration = synthetic_source(calibration, graph, manager.passes, seed=seed, example_inputs=example_inputs,
                                   progress=Progress(progress))
    _check_calibration(graph, calibration)
    ctx = PassContext(target=chosen, calibration=calibration, example_inputs=example_inputs, seed=seed,
                      progress=Progress(progress), validation=validation)
    manager.run(graph, ctx)
    return CompiledModel(graph, keep.graph, chosen, to_string(passes), ctx.diagnostics,
                         _sample_inputs(keep.graph or graph, example_inputs, ctx.calibration),
                         fake_quant_graph=before_lowering.graph, pass_log=log.records)


def load(directory) -> CompiledModel:
    """A CompiledModel saved with `cm.save(directory)`."""
    return load_compiled(directory)


def _is_array(x) -> bool:
    return isinstance(x, np.ndarray) or hasattr(x, "detach")


def _as_torch(example_inputs):
    """The torch frontend traces on tensors; numpy examples are converted."""
    if example_inputs is None:
        return None
    items = example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    if not any(isinstance(x, np.ndarray) for x in items):
        return example_inputs
    import torch

    converted = tuple(torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x for x in items)
    return converted if isinstance(example_inputs, (tuple, list)) else converted[0]


def _check_calibration(graph, calibration) -> None:
    """Calibration arrays are checked against the graph inputs (count, shape, dtype,
    finite values) before any pass runs: a mistake costs no time and its error is the
    data's, not the pipeline's. Streams (loaders, generators) are checked as they run."""
    from .passes.calibration.data import calibration_batches

    if _is_array(calibration) or (isinstance(calibration, dict) and all(map(_is_array, calibration.values()))):
        batches, _ = calibration_batches(calibration, graph)
        for _ in batches:
            pass


def _sample_inputs(graph, example_inputs, calibration) -> Optional[list]:
    """A few inputs (graph-input order) to compare the float and compiled graphs on: the
    first calibration batch (real data, where example inputs are often random tensors
    made for tracing), else the example inputs; None when neither fits the graph."""
    from .runtime.reference import bind_inputs

    candidates = []
    if calibration is not None:
        candidates.append(_first_calibration_batch(graph, calibration))
    if example_inputs is not None:
        items = example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
        candidates.append([np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x) for x in items])
    for arrays in candidates:
        if arrays is None:
            continue
        arrays = _few(graph, arrays)
        try:
            bind_inputs(graph, arrays)
        except QIRError:
            continue
        return arrays
    return None


def _few(graph, arrays: list) -> list:
    """The first samples of a batch, within the count and size budgets (a graph with a
    fixed batch size keeps its whole batch)."""
    if not arrays or any(not v.type.shape or isinstance(v.type.shape[0], int) for v in graph.inputs):
        return arrays
    if any(a.ndim == 0 or a.shape[0] != arrays[0].shape[0] for a in arrays):
        return arrays
    per_sample = sum(a[:1].nbytes for a in arrays) or 1
    keep = max(1, min(SAMPLES_FOR_REPORT, SAMPLE_BYTES_FOR_REPORT // per_sample))
    return [a[:keep] for a in arrays]


def _first_calibration_batch(graph, calibration) -> Optional[list]:
    from .passes.calibration.data import calibration_batches

    try:
        batches, _ = calibration_batches(calibration, graph, samples=SAMPLES_FOR_REPORT, batch=SAMPLES_FOR_REPORT)
        first = next(iter(batches))
    except (QIRError, StopIteration):  # e.g. a generator the calibrate pass used up
        return None
    return [first[v.name] for v in graph.inputs]
