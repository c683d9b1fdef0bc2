"""The storage width each activation will be quantized to, known before `quantize` runs, so
that width-dependent methods (kl, mse) search a value's clipping range for the width it is
stored in: a 2-bit MSE range clips far more than an 8-bit one, and the reverse keeps
outliers 2 bits cannot afford (the activation counterpart of `q.range_bits` on weights).

- A layer's `q.act_bits` (allocate-bits, or by hand) sets the width of the value it reads.
- Edge layers under sub-4-bit activations: the first layers (their data operand comes from
  a graph input without passing another layer) and the last ones (a graph output follows
  without another layer) keep 8-bit input activations and weights, as is standard for
  binary / ternary / 2-bit networks (XNOR-Net, DoReFa, LSQ): the image and the logits are
  where one or two bits cost the most, and those layers hold few of the products.
- The logits (values a graph output follows from without another layer) keep EDGE_BITS
  too under sub-4-bit activations.
- Under binary (1-bit) activations, values an op without a binary kernel makes or reads (an
  add, an average pool: everything but conv / linear and the ops that keep stored values,
  KEEPS_BINARY) keep EDGE_BITS too, as Bi-Real Net keeps its shortcuts real-valued: a b1
  residual stream would run float between dequantize and quantize.
- A value read through ops that are not layers (relu, pools, reshapes, adds) takes the
  widest width of the layers it reaches; values no layer reads keep the default.
"""
from __future__ import annotations

from qcompiler.ir.core import Graph, Node, Value

LAYER_OPS = ("conv1d", "conv2d", "conv_transpose2d", "linear", "gemm", "matmul")
BINARY_LAYER_OPS = ("conv1d", "conv2d", "linear")  # the products with binary (bit-serial) kernels
# ops whose result holds stored values unchanged (a relu of a binary ReLU output, levels 0 / 2s, too)
KEEPS_BINARY = ("max_pool1d", "max_pool2d", "global_max_pool", "reshape", "flatten", "transpose", "squeeze",
                "unsqueeze", "identity", "slice", "split", "dropout", "relu")
EDGE_BITS = 8       # what edge layers keep
LOW_ACT_BITS = 4    # activations narrower than this make the edge layers keep EDGE_BITS


def is_layer(graph: Graph, node: Node) -> bool:
    """A product with a constant weight: what a bit width is chosen for."""
    return node.op in LAYER_OPS and any(
        v is not None and graph.const_value(v) is not None for v in node.inputs[1:2])


def edge_layers(graph: Graph) -> list:
    """The first and last layers (module doc), in graph order."""
    from_input: dict = {id(v): True for v in graph.inputs}
    for node in graph.nodes:
        reaches = not is_layer(graph, node) and any(from_input.get(id(v), False) for v in node.inputs if v is not None)
        for r in node.outputs:
            from_input[id(r)] = reaches
    to_output = output_side(graph)
    return [n for n in graph.nodes if is_layer(graph, n)
            and (from_input.get(id(n.inputs[0]), False) or any(id(r) in to_output for r in n.outputs))]


def output_side(graph: Graph) -> set:
    """ids of the values a graph output follows from without another layer (the logits and
    what a softmax or reshape makes of them)."""
    to_output = {id(v) for v in graph.outputs}
    for node in reversed(graph.nodes):
        if not is_layer(graph, node) and any(id(r) in to_output for r in node.outputs):
            to_output.update(id(v) for v in node.inputs if v is not None)
    return to_output


def not_binary(graph: Graph) -> set:
    """ids of the values that stay EDGE_BITS under binary activations (module doc)."""
    blocked = set()
    for node in graph.nodes:
        if node.op == "const" or node.op in KEEPS_BINARY or (node.op in BINARY_LAYER_OPS and is_layer(graph, node)):
            continue
        blocked.update(id(v) for v in (*node.inputs, *node.outputs) if v is not None)
    changed = True
    while changed:  # through the ops that keep stored values, both ways: they share one type
        changed = False
        for node in graph.nodes:
            if node.op in KEEPS_BINARY and node.inputs and node.inputs[0] is not None:
                ends = {id(node.inputs[0]), *(id(r) for r in node.outputs)}
                if ends & blocked and not ends <= blocked:
                    blocked |= ends
                    changed = True
    return blocked


def requested_bits(graph: Graph, default_bits: int) -> dict:
    """id(layer node) -> the input-activation width it asks for: its `q.act_bits`, or
    EDGE_BITS for an edge layer when `default_bits` is below LOW_ACT_BITS."""
    asked = {id(n): n.attrs["q.act_bits"] for n in graph.nodes if isinstance(n.attrs.get("q.act_bits"), int)}
    if default_bits < LOW_ACT_BITS:
        for node in edge_layers(graph):
            asked.setdefault(id(node), EDGE_BITS)
    return asked


def planned_bits(graph: Graph, default_bits: int) -> dict:
    """id(value) -> the width its range is searched for (module doc)."""
    asked = requested_bits(graph, default_bits)
    readers: dict = {}
    for node in graph.nodes:
        for v in node.inputs:
            if v is not None:
                readers.setdefault(id(v), []).append(node)
    bits: dict = {}

    def width(v: Value) -> int:
        if id(v) not in bits:
            bits[id(v)] = None  # a cycle cannot occur (SSA, topological); this guards recursion depth
            widths = []
            for node in readers.get(id(v), []):
                if id(node) in asked and node.inputs[0] is v:
                    widths.append(asked[id(node)])
                elif not is_layer(graph, node):
                    widths += [w for w in (width(r) for r in node.outputs) if w is not None]
            bits[id(v)] = max(widths, default=default_bits)
        return bits[id(v)] if bits[id(v)] is not None else default_bits

    if default_bits < LOW_ACT_BITS:  # the logits are stored in EDGE_BITS
        bits.update(dict.fromkeys(output_side(graph) - {id(v) for v in graph.inputs}, EDGE_BITS))
    if default_bits == 1:
        bits.update(dict.fromkeys(not_binary(graph) - {id(v) for v in graph.inputs}, EDGE_BITS))
    for node in reversed(graph.nodes):  # readers first: no deep recursion on long chains
        for r in node.outputs:
            width(r)
    for v in graph.inputs:
        width(v)
    return bits
