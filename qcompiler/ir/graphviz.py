"""Graph views for analysis and pictures: a networkx DiGraph, DOT text, an SVG."""
from __future__ import annotations

import json

import networkx as nx

from ..atomic_write import atomic_file
from .core import Graph


def to_networkx(graph: Graph, *, include_consts: bool = False) -> nx.DiGraph:
    """Nodes are IR nodes (by index) and graph inputs/outputs; edges carry value names."""
    g = nx.DiGraph()
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    for v in graph.inputs:
        g.add_node(f"in:{v.name}", label=f"%{v.name}", kind="input")
    for i, n in enumerate(graph.nodes):
        if n.op == "const" and not include_consts:
            continue
        g.add_node(i, label=n.op, kind="op")
        for v in n.inputs:
            if v is None:
                continue
            if v.producer is None:
                g.add_edge(f"in:{v.name}", i, value=v.name)
            elif v.producer.op != "const" or include_consts:
                g.add_edge(index[id(v.producer)], i, value=v.name)
    for k, v in enumerate(graph.outputs):
        g.add_node(f"out:{k}", label=f"return %{v.name}", kind="output")
        src = f"in:{v.name}" if v.producer is None else index[id(v.producer)]
        if src not in g:  # a constant returned as it is stays in the picture
            g.add_node(src, label=v.producer.op, kind="op")
        g.add_edge(src, f"out:{k}", value=v.name)
    return g


def to_dot(graph: Graph) -> str:
    g = to_networkx(graph)
    ids = {n: f"n{i}" for i, n in enumerate(g.nodes)}
    lines = [f"digraph {json.dumps(graph.name)} {{", "  node [shape=box, fontname=monospace];"]
    for n, data in g.nodes(data=True):
        shape = "" if data["kind"] == "op" else ", shape=ellipse"
        lines.append(f"  {ids[n]} [label={json.dumps(data['label'])}{shape}];")
    for a, b, data in g.edges(data=True):
        lines.append(f"  {ids[a]} -> {ids[b]} [label={json.dumps('%' + data['value'])}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def save_svg(graph: Graph, path: str) -> None:
    """Draw with matplotlib (no graphviz binary needed): layered top-down layout."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = to_networkx(graph)
    for layer, nodes in enumerate(nx.topological_generations(g)):
        for n in nodes:
            g.nodes[n]["layer"] = layer
    pos = nx.multipartite_layout(g, subset_key="layer", align="horizontal")
    pos = {n: (x, -y) for n, (x, y) in pos.items()}
    height = max(4, 0.5 * (max(d["layer"] for _, d in g.nodes(data=True)) + 1)) if len(g) else 4
    fig, ax = plt.subplots(figsize=(8, height))
    nx.draw_networkx(g, pos, ax=ax, labels=nx.get_node_attributes(g, "label"), node_size=300, font_size=7,
                     node_color="#dde8f5", arrowsize=8)
    ax.set_axis_off()
    try:
        with atomic_file(path) as partial:  # a failed drawing leaves the old file
            fig.savefig(partial, format="svg", bbox_inches="tight")
    finally:
        plt.close(fig)
