"""`report(compiled) -> Report`: per layer, what was decided and what it costs.

For every computing node of the compiled graph: its types (weight storage and
granularity, activation storage), bit widths, the calibration method, the SQNR of its
output against the same value of the float graph (both graphs run in the numpy
reference interpreter on the model's sample inputs; values match by name), parameters,
bytes at storage width, MACs, BOPs (MACs · operand bits · operand bits) and its share
of the latency the target's cost model predicts, and how many of its stored integers
differ from the fake-quant simulation (graph before `lower`) — float rounding of a sum
can land a value one step away. Layers whose widths the bit allocator
chose (they carry `q.sens`) also show the chosen widths and their sensitivity score.
In a lowered graph, every layer that still computes in float says why (`float_reason`:
the `q.float` the lowering wrote, opaque, or not quantized at all).
Totals compare with the same model in fp32. Counts with a dynamic batch dimension are
per sample.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from threadpoolctl import threadpool_limits

from ..analysis import element_bits, macs, storage_bytes, stored_bytes, type_label
from ..analysis.agreement import integer_agreement
from ..ir.core import Graph, Node
from ..ir.errors import QIRError
from ..ir.registry import get_op, is_opaque
from ..ir.types import CodebookType, is_float
from ..numerics.sqnr import sqnr_db
from ..runtime.reference import run_graph

FP32_BITS = 32


@dataclass
class Report:
    graph: str
    target: str
    pipeline: str
    rows: list                 # one dict per computing node, in graph order
    totals: dict
    outputs_db: list           # SQNR of each graph output vs the float graph (empty: not measured)
    diagnostics: list = field(default_factory=list)  # what the passes reported, as lines
    opaque_ops: list = field(default_factory=list)   # onnx.* ops that run through ONNX Runtime
    notes: list = field(default_factory=list)        # about the report itself (e.g. why no SQNR)
    lowered: bool = False                            # rows carry why a layer stays float

    def __str__(self) -> str:
        from .table import render_text

        return render_text(self)

    def to_markdown(self) -> str:
        from .table import render_markdown

        return render_markdown(self)


def report(compiled) -> Report:
    graph = compiled.graph
    notes: list = []
    # one BLAS thread, as in calibrate: the interpreter's products are small, and on a
    # loaded 2-core machine a second thread's spinning made the BERT's report 17 s
    # instead of 11 (2.7 s of CPU time with one thread, 4.3 with two)
    with threadpool_limits(limits=1, user_api="blas"):
        quant_values, float_values, outputs_db = _measure(compiled, notes)
        agreement = _agreement(compiled, notes)
    float_nodes = {v.name: n for n in compiled.float_graph.nodes for v in n.outputs} if compiled.float_graph else {}
    layers = [node for node in graph.nodes if node.op not in ("const", "zero_run_weight")]  # weights, not layers
    rows = [_row(node, quant_values, float_values, float_nodes, compiled.target) for node in layers]
    reasons = _float_reasons(graph)
    for row in rows:
        row["differ_from_sim"] = agreement[row["layer"]].differing if row["layer"] in agreement else None
        row["float_reason"] = reasons.get(row["layer"])
    totals = _totals(rows, [_constants(node) for node in layers])
    for row in rows:
        row["latency_share"] = row["latency_ns"] / totals["latency_ns"] if totals["latency_ns"] else 0.0
    opaque = sorted({n.op for n in graph.nodes if is_opaque(n.op)})
    return Report(graph.name, compiled.target.name, compiled.pipeline, rows, totals, outputs_db,
                  [str(d) for d in compiled.diagnostics], opaque, notes, lowered=_lowered(graph))


def _measure(compiled, notes: list) -> tuple:
    """(compiled values, float values, output SQNRs) on the sample inputs, by value name."""
    if compiled.float_graph is None or compiled.sample_inputs is None:
        notes.append("SQNR not measured: " + ("no float graph" if compiled.float_graph is None else "no sample inputs"))
        return {}, {}, []
    try:
        float_outs, float_values = run_graph(compiled.float_graph, compiled.sample_inputs, keep=True)
        quant_outs, quant_values = run_graph(compiled.graph, compiled.sample_inputs, keep=True)
    except QIRError as e:
        notes.append(f"SQNR not measured: {e}")
        return {}, {}, []
    batch = compiled.sample_inputs[0].shape[0] if compiled.sample_inputs and compiled.sample_inputs[0].ndim else 1
    notes.append(f"SQNR of each layer's output vs the float graph on {batch} sample(s)")
    return quant_values, float_values, [sqnr_db(f, q) for f, q in zip(float_outs, quant_outs)]


def _agreement(compiled, notes: list) -> dict:
    """Per value name: how each integer layer agrees with the fake-quant simulation."""
    if compiled.fake_quant_graph is None or compiled.sample_inputs is None:
        return {}
    try:
        rows = integer_agreement(compiled.graph, compiled.fake_quant_graph, compiled.sample_inputs)
    except QIRError as e:
        notes.append(f"integer vs fake-quant agreement not measured: {e}")
        return {}
    differing = [r for r in rows if not r.exact]
    notes.append(f"integer layers vs fake-quant simulation (each on the simulation's inputs): "
                 f"{sum(r.differing for r in rows):,} of {sum(r.elements for r in rows):,} stored values differ "
                 f"(at most {max((r.max_steps for r in rows), default=0)} step) in {len(differing)} of {len(rows)} values")
    return {r.value: r for r in rows}


def _row(node: Node, quant_values: dict, float_values: dict, float_nodes: dict, target) -> dict:
    out = node.outputs[0] if node.outputs else None
    consts = _constants(node)
    weight = next((v for v in node.inputs[1:] if v is not None and _is_stored(v)), None)
    data = next((v for v in node.inputs if v is not None and not _is_stored(v)), None)
    n_macs = macs(node)
    # the two multiplied operands; a product of two activations (matmul) has no weight
    factors = [v for v in node.inputs[:2] if v is not None] if n_macs else []
    bits = [element_bits(v.type) for v in factors]
    a_bits = element_bits(data.type) if data is not None else None
    w_bits = element_bits(weight.type) if weight is not None else None
    moved = sum(storage_bytes(v.type) for v in [*node.inputs, *node.outputs] if v is not None)
    latency = target.cost.layer_latency_ns(n_macs, max(bits or [a_bits or FP32_BITS]), moved)
    name = out.name if out is not None else ""
    float_node = float_nodes.get(name)
    method = node.attrs.get("q.method") or (float_node.attrs.get("q.method") if float_node is not None else None)
    sqnr = None
    if name in quant_values and name in float_values:
        sqnr = sqnr_db(float_values[name], quant_values[name])
    return {
        "layer": name, "origin": _origin(weight) or node.attrs.get("origin"), "op": node.op,
        "shape": ",".join(str(d) for d in out.type.shape) if out is not None else "",
        "weights": type_label(weight.type) if weight is not None else None,
        "acts": type_label(out.type) if out is not None else None,
        "w_bits": w_bits, "a_bits": a_bits, **_weight_storage(node, weight), "method": method, "sqnr_db": sqnr, **_allocation(node),
        "params": sum(v.type.numel() or 0 for v in consts),
        "bytes": sum(stored_bytes(v) for v in consts),
        "macs": n_macs, "bops": n_macs * math.prod(bits) if len(bits) == 2 else 0,
        "latency_ns": latency,
    }


def _weight_storage(node: Node, weight) -> dict:
    """Stored bits per weight element (a codebook's indices and codewords spread over the
    elements of the kernels they stand for) and, for a codebook, the label the bits
    column shows instead of its codewords' width."""
    if node.op == "qcodebook_conv2d":  # lowered: codewords [K, kh, kw] and one index per kernel
        codebook, indices = node.inputs[1].type, node.inputs[2].type
        kernel = codebook.shape[1:]
        index_bits = max(1, math.ceil(math.log2(codebook.shape[0])))
        stored = indices.numel() * index_bits + codebook.numel() * element_bits(codebook)
        return {"w_bits_per_weight": stored / (indices.numel() * math.prod(kernel)),
                "w_codebook": f"cb{index_bits}:{'x'.join(map(str, kernel))}"}
    if weight is None or not weight.type.numel():
        return {"w_bits_per_weight": None, "w_codebook": None}
    t = weight.type
    label = f"cb{t.index_bits}:{'x'.join(map(str, t.kernel_shape))}" if isinstance(t, CodebookType) else None
    return {"w_bits_per_weight": 8 * stored_bytes(weight) / t.numel(), "w_codebook": label}


def _is_integer(node: Node) -> bool:
    return not is_opaque(node.op) and get_op(node.op).integer


def _lowered(graph: Graph) -> bool:
    return any(_is_integer(n) and n.op != "quantize" for n in graph.nodes)


def _float_reasons(graph: Graph) -> dict:
    """Per layer computing a float result in a lowered graph, why it stays float; {} when
    the graph was not lowered (a fake-quant graph computes every layer in float)."""
    if not _lowered(graph):
        return {}
    reasons = {}
    for node in graph.nodes:
        if node.op == "const" or _is_integer(node) or not any(is_float(v.type) for v in node.outputs):
            continue  # pass-throughs on storage and shape computations are not float layers
        reasons[node.outputs[0].name] = node.attrs.get("q.float") or (
            "opaque ONNX op: runs through ONNX Runtime" if is_opaque(node.op)
            else "not quantized: its operands and result are float")
    return reasons


def _allocation(node: Node) -> dict:
    """The widths allocate-bits / search chose for the layer (`q.bits`, `q.act_bits`) and
    the sensitivity score of that choice (what the allocator summed); None elsewhere."""
    scores = node.attrs.get("q.sens")
    if not scores:
        return {"alloc_bits": None, "alloc_act_bits": None, "sens": None}
    bits, act_bits = node.attrs.get("q.bits"), node.attrs.get("q.act_bits")
    sens = scores.get(str(bits))
    if sens is not None and act_bits is not None:
        act = (node.attrs.get("q.sens_act") or {}).get(str(act_bits))
        sens = None if act is None else sens + act
    return {"alloc_bits": bits, "alloc_act_bits": act_bits, "sens": sens}


def _is_stored(v) -> bool:
    """A constant, or a weight stored in zero-run code (sized by `stored_bytes`)."""
    return Graph.const_value(v) is not None or (v.producer is not None and v.producer.op == "zero_run_weight")


def _constants(node: Node) -> list:
    return [v for v in node.inputs if v is not None and _is_stored(v)]


def _origin(weight) -> Optional[str]:
    """`features.0.weight` -> `features.0`: the module a weight belongs to."""
    if weight is None:
        return None
    origin = weight.producer.attrs.get("origin")
    return origin.rsplit(".", 1)[0] if origin and origin.endswith((".weight", ".w")) else origin


def _totals(rows: list, constants: list) -> dict:
    # a constant used by several layers is stored once
    unique = {id(v): v for consts in constants for v in consts}.values()
    params = sum(v.type.numel() or 0 for v in unique)
    size = sum(stored_bytes(v) for v in unique)
    n_macs = sum(r["macs"] for r in rows)
    bops = sum(r["bops"] for r in rows)
    fp32_bytes = params * FP32_BITS / 8
    fp32_bops = n_macs * FP32_BITS * FP32_BITS
    return {
        "params": params, "bytes": size, "fp32_bytes": fp32_bytes,
        "size_ratio": fp32_bytes / size if size else math.nan,
        "macs": n_macs, "bops": bops, "fp32_bops": fp32_bops,
        "bops_ratio": fp32_bops / bops if bops else math.nan,
        "latency_ns": sum(r["latency_ns"] for r in rows),
    }
