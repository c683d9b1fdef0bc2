"""dce: erase nodes whose results nobody reads (neither a node nor a graph output)."""
from __future__ import annotations

from qcompiler.passmanager import PassResult, graph_pass


@graph_pass("dce")
def dce(graph, ctx) -> PassResult:
    """Dead code elimination in one backward walk: users come after their producers, so
    by the time a producer is visited every dead user of it is already gone."""
    outputs = {id(v) for v in graph.outputs}
    erased = 0
    for node in reversed(graph.nodes):
        if not any(v.uses or id(v) in outputs for v in node.outputs):
            graph.erase(node)
            erased += 1
    return PassResult(erased > 0, {"erased": erased} if erased else {})
