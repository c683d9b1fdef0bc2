"""transformer-recipe{alpha=0.5, smooth=true}: the targets' default pipelines run it before
calibrate; it changes nothing unless the graph is a transformer encoder (a layer_norm and
an attention softmax: `softmax` or `masked_softmax` over a product of two activations,
q·kᵀ). On one, it

- keeps the residual stream and LayerNorm float (`q.keep_float` on every layer_norm and
  on the adds whose results reach a layer_norm through adds only): the outlier channels
  of the stream cost a per-tensor 8-bit add most of its levels, and no target lists a
  16-bit activation storage (a target that did would take the stream there instead);
- keeps GELU float (`q.keep_float`): on 8-bit values it would lower to a 256-entry table
  lookup, exact but a per-element Gather in onnxruntime (six times the float Gelu's time
  on the 6-layer BERT of bench/bert_w8a8.py);
- folds the attention scale that multiplies queries and keys into their linears
  (attention_scale.py): no requantizing mul between a projection and q·kᵀ;
- migrates activation outliers into the weights of the linears the LayerNorms feed
  (smooth-quant, `alpha`; `smooth=false` skips it), so their 8-bit inputs resolve the
  ordinary channels;
- gives the vocabulary table the fewest bits (4-8, packed in the ONNX export) keeping
  `embedding_sqnr` dB (default 35: 7 bits on the BERT of bench/bert_w8a8.py, which takes
  the model from 25.7 to 24.0 % of fp32; `embedding_sqnr=none` keeps 8 bits): the
  lookups get `q.embedding_sqnr`, which quantize's own `embedding_sqnr` overrides
  (passes/quantize/embedding.py).

- with `integer=[softmax, gelu, layer_norm]` (any of them; default none, so float),
  marks the attention softmaxes, the GELUs and the LayerNorms `q.integer = "ibert"`:
  `lower` then runs them as I-BERT's int32 kernels (passes/lowering/ibert.py). An
  integer GELU is quantized like any activation instead of kept float.

Linear weights stay per-channel int8 and the linears' inputs static per-tensor, as
`quantize` makes them; softmax and masked_softmax stay float unless `integer` names
them. Per-token dynamic activations are `quantize{acts=dynamic, act_granularity=token}`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from qcompiler.ir.core import Graph
from qcompiler.passmanager import PassResult, Pass, register_pass

from ..lowering.ibert import IBERT
from ..quantize.embedding import EMBEDDING_SQNR, NARROWED_MIN_VALUES, lookup_table
from ..quantize.keep_float import KEEP_FLOAT
from .attention_scale import fold_attention_scales
from .errors import TransformerRecipeError
from .smooth_quant import SmoothQuant

ATTENTION = ("softmax", "masked_softmax")
INTEGER_KERNELS = ("softmax", "gelu", "layer_norm")


def _attention_scores(graph: Graph, value) -> bool:
    """True when `value` is a product of two activations (q·kᵀ), possibly scaled or
    shifted: a softmax over class logits is not attention."""
    for _ in range(4):
        node = value.producer
        if node is None:
            return False
        if node.op == "matmul":
            return all(graph.const_value(v) is None for v in node.inputs[:2])
        if node.op not in ("mul", "div", "add", "sub", "transpose", "reshape"):
            return False
        value = node.inputs[0]
    return False


def _vocabulary(graph: Graph, table) -> bool:
    array = graph.const_value(table)
    return array is not None and array.ndim == 2 and array.size >= NARROWED_MIN_VALUES


def is_transformer(graph: Graph) -> bool:
    has_norm = any(n.op == "layer_norm" for n in graph.nodes)
    return has_norm and any(n.op in ATTENTION and _attention_scores(graph, n.inputs[0]) for n in graph.nodes)


def residual_stream(graph: Graph) -> list:
    """The layer_norms and the adds whose results reach one through adds only."""
    chosen = [n for n in graph.nodes if n.op == "layer_norm"]
    frontier = [n.inputs[0].producer for n in chosen]
    seen = set()
    while frontier:
        node = frontier.pop()
        if node is None or node.op != "add" or id(node) in seen:
            continue
        if all(user.op in ("add", "layer_norm") for user in node.output.users):
            seen.add(id(node))
            chosen.append(node)
            frontier.extend(v.producer for v in node.inputs if v is not None)
    return chosen


@register_pass
@dataclass(frozen=True)
class TransformerRecipe(Pass):
    name: ClassVar[str] = "transformer-recipe"
    alpha: float = 0.5
    smooth: bool = True
    samples: int = 32
    integer: tuple = ()  # of INTEGER_KERNELS: run as I-BERT integer kernels instead of float
    embedding_sqnr: Optional[float] = 35.0  # dB kept by the vocabulary table's narrowed rows; None: 8 bits

    def __post_init__(self):
        SmoothQuant(alpha=self.alpha, samples=self.samples)  # checks the options
        # a pipeline string gives one name or a list; the option holds a tuple
        spelled = (self.integer,) if isinstance(self.integer, str) else self.integer
        object.__setattr__(self, "integer", tuple(k for k in spelled if k))
        if self.embedding_sqnr is not None and not 0 < self.embedding_sqnr < float("inf"):
            raise TransformerRecipeError(f"transformer-recipe{{embedding_sqnr={self.embedding_sqnr}}}: give a "
                                         f"positive number of dB, or none to keep the tables at 8 bits")
        unknown = [k for k in self.integer if k not in INTEGER_KERNELS]
        if unknown:
            raise TransformerRecipeError(f"transformer-recipe{{integer=...}}: unknown {', '.join(map(str, unknown))}; "
                                         f"it takes any of {', '.join(INTEGER_KERNELS)}")

    def run(self, graph, ctx) -> PassResult:
        if not is_transformer(graph):
            return PassResult(False, {"transformer": 0})
        stream = residual_stream(graph)
        gelus = [n for n in graph.nodes if n.op == "gelu"]
        for node in stream + ([] if "gelu" in self.integer else gelus):
            node.attrs.setdefault(KEEP_FLOAT, self.name)
        stats = {"transformer": 1, "float_residual_stream": len(stream),
                 "float_gelu": 0 if "gelu" in self.integer else len(gelus)}
        chosen = {"softmax": [n for n in graph.nodes if n.op in ATTENTION and _attention_scores(graph, n.inputs[0])],
                  "gelu": gelus, "layer_norm": [n for n in stream if n.op == "layer_norm"]}
        for kind in self.integer:
            for node in chosen[kind]:
                node.attrs["q.integer"] = IBERT
            stats[f"integer_{kind}"] = len(chosen[kind])
        stats["folded_attention_scales"] = fold_attention_scales(graph)
        if self.embedding_sqnr is not None:
            lookups = [n for n in graph.nodes if _vocabulary(graph, lookup_table(n))]
            for node in lookups:
                node.attrs.setdefault(EMBEDDING_SQNR, float(self.embedding_sqnr))
            stats["embedding_sqnr_lookups"] = len(lookups)
        if self.smooth:
            stats.update(SmoothQuant(alpha=self.alpha, samples=self.samples).run(graph, ctx).stats)
        return PassResult(True, stats)
