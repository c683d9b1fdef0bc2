"""CompiledModel: what `qcompiler.compile` returns — the compiled graph, the float graph
it came from, and how to run, export, report and save it."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..ir.core import Graph
from ..ir.errors import QIRError
from ..targets import Target


class CompiledModel:
    """`cm(x)` runs the Numba integer kernels (numpy in, numpy out; torch in, torch out);
    `cm.graph` is the compiled graph, `cm.float_graph` the float graph it was quantized
    from (folded and calibrated, same value names), `cm.fake_quant_graph` the quantized
    graph before lowering (float ops on quantized types), `cm.diagnostics` what the passes
    reported (fallbacks, warnings).

    `cm(x)` refuses NaN/Inf inputs (the integer model would clip them to finite, wrong
    outputs), complex numbers, out-of-range embedding/gather indices and 0 rows for a
    fixed batch (qcompiler/model/input_checks.py); `cm(x, check_inputs=False)` skips the
    NaN/Inf scan, a full pass over the data."""

    def __init__(self, graph: Graph, float_graph: Optional[Graph], target: Target, pipeline: str,
                 diagnostics: Sequence = (), sample_inputs: Optional[list] = None, *,
                 fake_quant_graph: Optional[Graph] = None, pass_log: Sequence = ()):
        self.graph = graph
        self.float_graph = float_graph
        self.fake_quant_graph = fake_quant_graph
        self.target = target
        self.pipeline = pipeline
        self.diagnostics = list(diagnostics)
        self.sample_inputs = sample_inputs  # arrays in graph-input order, for the report's SQNR
        self.pass_log = list(pass_log)  # instruments.PassRecord per pass run (not saved with the model)
        self._executor = None

    def __call__(self, *inputs, check_inputs: bool = True):
        from .input_checks import check_inputs as check

        if len(inputs) == 1 and isinstance(inputs[0], dict):
            inputs = self._by_name(inputs[0])
        if len(inputs) != len(self.graph.inputs):
            names = ", ".join("%" + v.name for v in self.graph.inputs)
            raise QIRError(f"the compiled model takes {len(self.graph.inputs)} inputs ({names}), got {len(inputs)}")
        torch_like = next((x for x in inputs if hasattr(x, "detach")), None)
        arrays = [_numpy(x) for x in inputs]
        check(self.graph, arrays, self._static_batch(), finite=check_inputs)
        outs = [np.asarray(o) for o in self._run_batched(arrays)]
        if torch_like is not None:
            import torch

            outs = [torch.from_numpy(np.ascontiguousarray(o)) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _by_name(self, feeds: dict) -> list:
        """Inputs keyed by the source model's names (as the exported ONNX model takes them)
        or by the IR's, in graph order."""
        names = list(zip(self.graph.source_input_names(), (v.name for v in self.graph.inputs)))
        known = {n for pair in names for n in pair}
        unknown = sorted(set(feeds) - known)
        missing = [source for source, ir_name in names if source not in feeds and ir_name not in feeds]
        if unknown or missing:
            raise QIRError(f"the compiled model takes inputs {', '.join(repr(s) for s, _ in names)}; "
                           + (f"unknown: {', '.join(map(repr, unknown))}" if unknown else
                              f"missing: {', '.join(map(repr, missing))}"))
        return [feeds[source] if source in feeds else feeds[ir_name] for source, ir_name in names]

    def _run_batched(self, arrays: list) -> list:
        """Graphs imported with a fixed batch size run any multiple of it, chunk by chunk."""
        batch = self._static_batch()
        given = arrays[0].shape[0] if arrays and arrays[0].ndim else None
        if batch is None or given in (None, batch) or given % batch or any(
                a.ndim == 0 or a.shape[0] != given for a in arrays):
            return self.executor(arrays)
        chunks = [self.executor([a[s:s + batch] for a in arrays]) for s in range(0, given, batch)]
        return [np.concatenate(parts) for parts in zip(*chunks)]

    def _static_batch(self) -> Optional[int]:
        dims = {v.type.shape[0] if v.type.shape else None for v in [*self.graph.inputs, *self.graph.outputs]}
        return dims.pop() if len(dims) == 1 and isinstance(next(iter(dims)), int) else None

    @property
    def executor(self):
        """The Numba executor of the compiled graph, built (and JIT-compiled) on first use."""
        if self._executor is None:
            from ..backends.numba.executor import NumbaExecutor

            self._executor = NumbaExecutor(self.graph)
        return self._executor

    def export_onnx(self, path, form: str = "qoperator", codebook: str = "gather", opset: Optional[int] = None,
                    channels_last: Optional[bool] = None):
        """Write the compiled graph as a standard ONNX model (`form`: qoperator | qdq |
        integer, see docs/quantization.md) and return the path. `qdq` is written from the
        fake-quant graph (before `lower`), the others from the lowered graph. Codebook
        weights are spelled as `codebook`: gather | int8 (docs/codebook.md). `opset`: the
        default-domain opset (default: the source's, raised to what the form needs).
        `channels_last` (qoperator form; docs/onnx-export.md): None runs the 2-D convolutions
        channels-last where ONNX Runtime then runs no Transpose, True wherever they can, False
        never; True with another form is an error."""
        from ..backends.onnx import export

        # without a `lower` pass there is no graph before it: the compiled graph is the fake-quant one
        graph = self.fake_quant_graph if form == "qdq" and self.fake_quant_graph is not None else self.graph
        export(graph, path, form=form, opset=opset, codebook=codebook, channels_last=channels_last)  # all or nothing
        return path

    def report(self, format: str = "table", path=None, pareto=None):
        """The per-layer Report (`format="table"`: print it, or `.to_markdown()`), or
        with `format="html"` one self-contained HTML page (tables, SVG plots, pass
        timings, IR diffs between passes; `pareto`: a ParetoResult to plot) returned as
        text and written to `path` when given."""
        from ..report.layers import report

        if format not in ("table", "html"):
            raise QIRError(f"report format {format!r}: expected 'table' or 'html'")
        if format == "table":
            if path is not None or pareto is not None:
                raise QIRError("report(path=, pareto=) apply to format='html' only")
            return report(self)
        from ..report.html import write_html

        return write_html(report(self), self.pass_log, path=path, pareto=pareto)

    def save(self, directory) -> None:
        from .saving import save_compiled

        save_compiled(self, directory)

    def __repr__(self) -> str:
        return (f"<CompiledModel @{self.graph.name} for {self.target.name}: {len(self.graph.nodes)} nodes, "
                f"pipeline {self.pipeline!r}>")


def _numpy(x) -> np.ndarray:
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
