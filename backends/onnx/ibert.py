"""The I-BERT integer kernels (ibert_softmax, ibert_gelu, ibert_layer_norm) have no ONNX
spelling here: ONNX's BitShift takes unsigned integers only and integer Div truncates
where the kernels shift and divide with floor, so an exact decomposition needs more
than one node per step and is not built. The export refuses them by name, before any
node is written."""
from __future__ import annotations

from qcompiler.ir.core import Graph

from .errors import OnnxExportError

IBERT_OPS = ("ibert_softmax", "ibert_gelu", "ibert_layer_norm")


def refuse_ibert_kernels(graph: Graph) -> None:
    for node in graph.nodes:
        if node.op in IBERT_OPS:
            raise OnnxExportError(f"node {node.label()}: {node.op} (an I-BERT integer kernel, chosen by "
                                  f"transformer-recipe{{integer=...}}) has no ONNX export; compile without the "
                                  f"'integer' option to export (softmax, GELU and LayerNorm then stay float), or "
                                  f"run it with the Numba backend")
