"""smooth-quant{alpha=0.5, samples=32}: SmoothQuant (Xiao et al. 2023) outlier migration.
Trained transformers carry a few residual-stream channels 50-100x larger than the rest;
one per-tensor activation scale then spends most of its levels on them. For every
layer_norm whose result feeds linear layers, each input channel j of those linears gets
s_j = max|X_j|^alpha / max|W_j|^(1-alpha) (max|X_j| over the calibration data, max|W_j|
over the column j of every reading linear's weight), and X_j / s_j, W[:, j] * s_j
compute the same function with flatter activations (alpha moves difficulty from the
activations, 1, to the weights, 0).

The division goes into the LayerNorm's gamma and beta when linears are its only readers
(pre-LN blocks); when something else reads it too (BERT's post-LN residual add), a
`mul` by 1/s (`<value>_smoothed`, kept float) feeds the linears alone, so the residual
keeps its values and the linears' quantize reads smoothed ones. The float function is unchanged up to float rounding; run it before calibrate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from threadpoolctl import threadpool_limits

from qcompiler.ir.core import Graph, Node, Value
from qcompiler.ir.types import is_float, numpy_dtype
from qcompiler.passmanager import Pass, PassResult, register_pass
from qcompiler.runtime.reference import release_plan, stream_graph

from ..calibration.data import calibration_batches
from ..quantize.keep_float import KEEP_FLOAT
from .errors import TransformerRecipeError

TINY = 1e-5  # floor of max|X_j| and max|W_j|: a dead channel keeps s_j finite


@dataclass
class Site:
    norm: Node
    value: Value
    linears: list


def smoothing_sites(graph: Graph) -> list:
    """layer_norm results read as input 0 by linears with constant float weights."""
    sites = []
    for node in graph.nodes:
        if node.op != "layer_norm" or not is_float(node.output.type):
            continue
        linears = [n for n, i in node.output.uses if i == 0 and n.op == "linear"
                   and graph.const_value(n.inputs[1]) is not None and is_float(n.inputs[1].type)]
        if linears:
            sites.append(Site(node, node.output, list(dict.fromkeys(linears))))
    return sites


def channel_absmax(graph: Graph, values: list, data, samples: int) -> dict:
    """id(value) -> max |x| per last-axis channel over the calibration data."""
    wanted = {id(v) for v in values}
    found: dict = {}

    def observe(v, array):
        if id(v) in wanted:
            m = np.abs(array.reshape(-1, array.shape[-1])).max(axis=0)
            found[id(v)] = m if id(v) not in found else np.maximum(found[id(v)], m)

    batches, _ = calibration_batches(data, graph, samples=samples)
    plan = release_plan(graph)
    with threadpool_limits(limits=1, user_api="blas"):  # small products: as calibrate runs them
        for batch in batches:
            stream_graph(graph, batch, observe, plan)
    return found


def smoothing_scales(x_max: np.ndarray, weights: list, alpha: float) -> np.ndarray:
    w_max = np.max([np.abs(w).max(axis=0) for w in weights], axis=0)
    s = np.maximum(x_max, TINY) ** alpha / np.maximum(w_max, TINY) ** (1 - alpha)
    return s.astype(np.float32)


def replace_const(graph: Graph, node: Node, i: int, array: np.ndarray) -> None:
    """Give `node` operand i a new constant (the old one may have other readers)."""
    old = node.inputs[i]
    origin = old.producer.attrs.get("origin")
    node.set_input(i, graph.constant(array.astype(numpy_dtype(old.type.dtype)), origin=origin))
    if not old.uses and not any(o is old for o in graph.outputs):
        graph.erase(old.producer)


def smooth(graph: Graph, site: Site, s: np.ndarray) -> str:
    """Apply the scales of one site; returns how ('gamma' or 'mul')."""
    for linear in site.linears:
        replace_const(graph, linear, 1, graph.const_value(linear.inputs[1]) * s[None, :])
    norm = site.norm
    folds = len(site.value.users) == len(site.linears) and not any(o is site.value for o in graph.outputs)
    params = [norm.inputs[i] if i < len(norm.inputs) else None for i in (1, 2)]
    if folds and params[0] is not None and all(p is None or graph.const_value(p) is not None for p in params):
        for i, p in zip((1, 2), params):
            if p is not None:
                replace_const(graph, norm, i, graph.const_value(p) / s)
        return "gamma"
    first = min(site.linears, key=graph.nodes.index)
    # float, so the linears' quantize reads the smoothed values, not the outliers
    scaled = graph.add("mul", [site.value, graph.constant(1.0 / s)], {KEEP_FLOAT: "smooth-quant"},
                       name=f"{site.value.name}_smoothed", before=first).output
    for linear in site.linears:
        linear.set_input(0, scaled)
    return "mul"


@register_pass
@dataclass(frozen=True)
class SmoothQuant(Pass):
    name: ClassVar[str] = "smooth-quant"
    alpha: float = 0.5
    samples: int = 32

    def __post_init__(self):
        if not 0.0 <= self.alpha <= 1.0:
            raise TransformerRecipeError(f"smooth-quant: alpha={self.alpha} is not in [0, 1]")
        if self.samples < 1:
            raise TransformerRecipeError(f"smooth-quant: samples={self.samples} must be at least 1")

    def run(self, graph, ctx) -> PassResult:
        sites = smoothing_sites(graph)
        if not sites:
            return PassResult(False, {"sites": 0})
        maxima = channel_absmax(graph, [s.value for s in sites], ctx.calibration, self.samples)
        how = {"gamma": 0, "mul": 0}
        for site in sites:
            weights = [graph.const_value(n.inputs[1]) for n in site.linears]
            how[smooth(graph, site, smoothing_scales(maxima[id(site.value)], weights, self.alpha))] += 1
        return PassResult(True, {"sites": len(sites), "folded_into_layer_norm": how["gamma"],
                                 "smoothing_muls": how["mul"]})
