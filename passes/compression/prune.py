"""prune: magnitude pruning of conv1d / conv2d / linear weights.

Options: `sparsity` (fraction of units set to zero, hit exactly: round(sparsity · units)),
`granularity` (element: single weights by |w|; channel: whole output channels by the
RMS of their weights), `scope` (layer: every layer loses that fraction; global: the
smallest units of the whole model go, so layers end up with different sparsities),
`keep_outputs` (leave dense the layers whose results are graph outputs: a classifier's
output channels are its classes, and pruning one deletes a class) and `recalibrate` (after
pruning, give every pruned layer's output channels back the mean and spread they had
before, measured on the calibration data: BatchNorm recalibration on the folded graph,
recalibrate.py). Each layer records the fraction of zeros in its weight as `q.sparsity`.
Stats give, per layer, the sparsity and the bytes of the weight with 8-bit values, dense
and in the zero-run coding of numerics/zero_runs.py (4-bit runs), and the layers
recalibrated.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qcompiler.ir.dense import Dense
from qcompiler.numerics.zero_runs import sparse_encoding_bytes
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass

from .errors import CompressionOptionError
from .layers import layer_weights
from .magnitude import GRANULARITIES, apply_mask, keep_masks, unit_scores
from .recalibrate import channel_statistics, recalibrate, recalibration_layers

SPARSITY_ATTR = "q.sparsity"
SCOPES = ("layer", "global")
REPORT_VALUE_BITS = 8


@register_pass
@dataclass(frozen=True)
class Prune(Pass):
    name: ClassVar[str] = "prune"
    sparsity: float = 0.5
    granularity: str = "element"
    scope: str = "layer"
    keep_outputs: bool = False
    recalibrate: bool = False

    def __post_init__(self):
        if not 0.0 <= self.sparsity <= 1.0:
            raise CompressionOptionError(f"prune: sparsity={self.sparsity} must be in [0, 1]")
        if self.granularity not in GRANULARITIES:
            raise CompressionOptionError(f"prune: granularity='{self.granularity}' is not one of "
                                         f"{', '.join(GRANULARITIES)}")
        if self.scope not in SCOPES:
            raise CompressionOptionError(f"prune: scope='{self.scope}' is not one of {', '.join(SCOPES)}")

    def run(self, graph, ctx: PassContext) -> PassResult:
        weights = layer_weights(graph)
        outputs = {id(v) for v in graph.outputs}
        if self.keep_outputs:
            weights = [w for w in weights if not any(id(n.outputs[0]) in outputs for n in w.layers)]
        if not weights:
            ctx.note("no float conv/linear weights to prune")
            return PassResult(False, {"layers": {}})
        scores = [unit_scores(w.array, self.granularity) for w in weights]
        if self.scope == "global":
            masks = keep_masks(scores, self.sparsity)
        else:
            masks = [keep_masks([s], self.sparsity)[0] for s in scores]
        recalibrated = recalibration_layers(graph, [n for w in weights for n in w.layers], ctx) \
            if self.recalibrate else []
        targets = channel_statistics(graph, recalibrated, ctx.calibration) if recalibrated else []
        changed, layers = False, {}
        for w, keep in zip(weights, masks):
            pruned = apply_mask(w.array, keep, self.granularity)
            changed |= not np.array_equal(pruned, w.array)
            if not keep.any():
                ctx.warn(f"every output channel of weight %{w.value.name} is pruned: the layer outputs only its bias",
                         node=w.name)
            elif self.granularity == "channel" and not keep.all() and any(id(n.outputs[0]) in outputs for n in w.layers):
                ctx.warn(f"{int(keep.size - keep.sum())} of {keep.size} output channels of weight %{w.value.name} "
                         "are pruned, and its result is a graph output (a classifier loses classes); "
                         "prune{keep_outputs=true} leaves such layers dense", node=w.name)
            w.const.attrs["value"] = Dense(pruned)
            sparsity = float(np.mean(pruned == 0)) if pruned.size else 0.0
            for node in w.layers:
                node.attrs[SPARSITY_ATTR] = sparsity
            layers[w.name] = {"sparsity": sparsity, "dense_bytes": pruned.size * REPORT_VALUE_BITS // 8,
                              "sparse_bytes": sparse_encoding_bytes(pruned, value_bits=REPORT_VALUE_BITS)}
        recalibrate(graph, recalibrated, targets, ctx.calibration)
        return PassResult(changed, {"layers": layers, "recalibrated": [n.outputs[0].name for n in recalibrated]})
