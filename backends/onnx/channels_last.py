"""The `qoperator` form with its 2-D integer convolutions channels-last (NHWC): each
QLinearConv becomes ONNX Runtime's com.microsoft QLinearConv with `channels_last=1`,
QLinearGlobalAveragePool / QLinearAveragePool get `channels_last=1`, and the ops between
them that do not care about the layout (QLinearAdd / QLinearMul of equal shapes, Clip) or
only name axes (constant Pad, Concat: their axes are renumbered) follow them, as do 8-bit
MaxPool (ORT's NhwcMaxPool) and a Flatten into QGemms (their weight columns permuted to
read H, W, C). A conv over few input channels (a grey stem, narrow layers) reads 2 or 4
pixels of a row as one pixel of 2 or 4 times the channels (width_blocked_conv.py).

Why: ONNX Runtime's NHWC transformer does this itself, but wraps the int8 stretch in two
Transposes, and at two threads those grew from 0.08 to 0.57 ms of the digits ResNet's
3.65 ms kernel time (bench/RESULTS.md, "Where two threads go"). Done at export, where the
layout changes a value whose moved dimension has size 1 (a 1-channel input, a 1×1 pooled
map) the change is a Reshape of the same bytes, so a grey-image CNN runs with no Transpose.

Where the layout meets the rest of the graph a Reshape (the permutation moves only
size-1 dimensions and the other sizes are known) or else a Transpose converts. Ops that
follow join the channels-last region only where that removes a Transpose. The integer
results are those of the channels-first model: the same kernels, reading the same bytes
in another order.

`channels_last=None` (the default) keeps the rewrite only when it needs no Transpose at
all, the case measured faster; with Transposes left it does what ONNX Runtime's own
transformer does, so the channels-first model is kept. True forces it, False never.
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np
import onnx_ir as ir

from .errors import OnnxExportError
from .graph_additions import GraphAdditions
from .opsets import MICROSOFT
from .width_blocked_conv import onnx_conv_block, width_block

TO_NHWC, TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)
NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}  # where an NCHW axis sits in NHWC
CHANNELS_LAST_POOLS = ("QLinearGlobalAveragePool", "QLinearAveragePool")


def _int_const(value: Optional[ir.Value]) -> Optional[np.ndarray]:
    if value is None or value.const_value is None:
        return None
    return np.asarray(value.const_value.numpy())


def _layout_inputs(node: ir.Node, shapes: Mapping[str, tuple], anchor: bool) -> Optional[list]:
    """The input positions of `node` that carry its 4-D activation (its results are the
    same layout), or None when `node` cannot run channels-last. `anchor`: the kernels
    that have a channels-last form; otherwise the ops that follow a neighbour's layout."""
    op = (node.domain or "", node.op_type)
    if anchor:
        if op == ("", "QLinearConv") and node.inputs[3].shape is not None and len(node.inputs[3].shape) == 4:
            return [0]
        if op in ((MICROSOFT, p) for p in CHANNELS_LAST_POOLS) and _rank(node.inputs[0], shapes) == 4:
            return [0]
        return None
    if op in ((MICROSOFT, "QLinearAdd"), (MICROSOFT, "QLinearMul")):
        a, b = (shapes.get(node.inputs[i].name) for i in (0, 3))
        return [0, 3] if a is not None and len(a) == 4 and a == b else None
    if op == ("", "Clip"):
        return [0]
    if op == ("", "Pad"):
        pads = _int_const(node.inputs[1])
        constant = node.attributes.get_string("mode", "constant") == "constant"
        return [0] if constant and pads is not None and pads.size == 8 and len(node.inputs) < 4 else None
    if op == ("", "Concat"):
        return list(range(len(node.inputs)))
    if op == ("", "MaxPool") and len(node.outputs) == 1 and len(node.attributes.get_ints("kernel_shape", [])) == 2:
        return [0]  # next to the region its input is 8-bit: ORT's NhwcMaxPool
    if op == ("", "Flatten") and _flattens_into_gemm(node, shapes):
        return [0]
    return None


def _flattens_into_gemm(node: ir.Node, shapes: Mapping[str, tuple]) -> bool:
    """Whether Flatten `node` turns a known [N, C, H, W] into the rows of QGemms only, with
    constant transposed weights of C·H·W columns (which can be permuted to read H, W, C)."""
    shape = shapes.get(node.inputs[0].name)
    if node.attributes.get_int("axis", 1) != 1 or shape is None or len(shape) != 4 or not all(
            isinstance(d, int) for d in shape[1:]) or node.outputs[0].is_graph_output():
        return False
    columns = int(np.prod(shape[1:]))
    return all(user.op_type == "QGemm" and i == 0 and user.attributes.get_int("transB", 0) == 1
               and user.inputs[3].const_value is not None and list(user.inputs[3].shape)[1:] == [columns]
               for user, i in node.outputs[0].uses())


def _rank(value: ir.Value, shapes: Mapping[str, tuple]) -> Optional[int]:
    shape = shapes.get(value.name)
    return None if shape is None else len(shape)


def _reshape_target(shape: Optional[tuple], perm: tuple) -> Optional[list]:
    """The Reshape shape ([0, ...]: batch kept) that moves `shape`'s dims by `perm`, when
    the permutation moves only size-1 dims and all but the batch are known; else None."""
    if shape is None or not all(isinstance(d, int) for d in shape[1:]):
        return None
    if [axis for axis in perm if shape[axis] != 1] != [axis for axis in range(len(shape)) if shape[axis] != 1]:
        return None
    return [0, *(shape[axis] for axis in perm[1:])]


class _Region:
    """The channels-last nodes of a graph and the conversions their boundary needs."""

    def __init__(self, shapes: Mapping[str, tuple]):
        self.shapes = shapes
        self.slots: dict[int, list] = {}  # id(node) -> its layout input positions
        self.nodes: dict[int, ir.Node] = {}

    def add(self, node: ir.Node, slots: list) -> None:
        self.slots[id(node)], self.nodes[id(node)] = slots, node

    def remove(self, node: ir.Node) -> None:
        del self.slots[id(node)], self.nodes[id(node)]

    def inside(self, node: Optional[ir.Node]) -> bool:
        return node is not None and id(node) in self.slots

    def boundary(self) -> tuple[dict, dict]:
        """({value name: (value, [(consumer, position)])} to convert to NHWC for the region,
        the same for region results converted back to NCHW for readers outside)."""
        into, out_of = {}, {}
        for node in self.nodes.values():
            for i in self.slots[id(node)]:
                v = node.inputs[i]
                if not self.inside(v.producer()):
                    into.setdefault(v.name, (v, []))[1].append((node, i))
            for v in [] if node.op_type == "Flatten" else node.outputs:  # a flatten's rows have no layout
                readers = [(user, i) for user, i in v.uses()
                           if not self.inside(user) or i not in self.slots[id(user)]]
                if readers:
                    out_of[v.name] = (v, readers)
        return into, out_of

    def transposes(self) -> int:
        """How many boundary values a Reshape cannot convert (either way round: a
        permutation moves size-1 dims only if its inverse does)."""
        into, out_of = self.boundary()
        return sum(_reshape_target(self.shapes.get(n), TO_NHWC) is None for n in [*into, *out_of])


def _grow(region: _Region, graph: ir.Graph) -> None:
    """Add the layout-following ops next to the region while that removes a Transpose:
    each alone, or with the followers after it (a max pool then the flatten that reads it
    only gain together). (Not Slice: the taps narrow_conv.py slices out of a one-channel
    map, concatenated channels-last, interleave single bytes, slower than the Transpose
    they save.)"""
    changed = True
    while changed:
        changed = False
        for node in graph:
            if region.inside(node) or _follows(node, region) is None:
                continue
            if _add_if_fewer_transposes(region, [node]) or _add_if_fewer_transposes(region, _chain(node, region)):
                changed = True


def _follows(node: ir.Node, region: _Region) -> Optional[list]:
    """The layout inputs of a follower outside the region (None if it is none): only
    4-D maps have a layout (a Clip or Concat of rows or of shape values has none)."""
    slots = None if _writes_graph_output(node) else _layout_inputs(node, region.shapes, anchor=False)
    return slots if slots and all(_rank(node.inputs[i], region.shapes) == 4 for i in slots) else None


def _chain(node: ir.Node, region: _Region) -> list:
    """`node` and the followers outside the region that read it, and those that read them."""
    chain, todo = {}, [node]
    while todo:
        n = todo.pop()
        if id(n) in chain or region.inside(n) or _follows(n, region) is None:
            continue
        chain[id(n)] = n
        todo.extend(user for v in n.outputs for user, _ in v.uses())
    return list(chain.values())


def _add_if_fewer_transposes(region: _Region, nodes: list) -> bool:
    before = region.transposes()
    for n in nodes:
        region.add(n, _follows(n, region))
    if region.transposes() < before:
        return True
    for n in nodes:
        region.remove(n)
    return False


def _writes_graph_output(node: ir.Node) -> bool:
    """Graph outputs keep their layout (they are float, so this is a corner case)."""
    return any(v.is_graph_output() for v in node.outputs)


def channels_last_region(graph: ir.Graph, shapes: Mapping[str, tuple]) -> _Region:
    """The 2-D QLinearConvs and QLinear pools, and the ops that follow them where that
    removes a Transpose."""
    region = _Region(shapes)
    for node in graph:
        slots = _layout_inputs(node, shapes, anchor=True)
        if slots is not None and not _writes_graph_output(node):
            region.add(node, slots)
    if region.nodes:
        _grow(region, graph)
    return region


def to_channels_last(model: ir.Model, shapes: Mapping[str, tuple], channels_last: Optional[bool]) -> bool:
    """Rewrite `model` (qoperator form) in place as the module says; `shapes`: the
    channels-first shapes of the values whose shape is known (from the IR). Returns
    whether it did."""
    if channels_last is False:
        return False
    graph = model.graph
    region = channels_last_region(graph, shapes)
    if not region.nodes:
        if channels_last:
            raise OnnxExportError("channels_last=True: the model has no 2-D QLinearConv or QLinear pool to run "
                                  "channels-last")
        return False
    if channels_last is None and region.transposes():
        return False
    names = GraphAdditions(graph)
    used = {name for name, v in graph.initializers.items() if v.uses()}
    # shapes by the inputs' names before the rewrite (a blocked conv's reader then reads a Reshape)
    x_shapes = {id(node): shapes.get(node.inputs[0].name) for node in region.nodes.values()}
    for node in list(region.nodes.values()):
        x_shape = x_shapes[id(node)]
        _relayout(node, x_shape, names)
        block = onnx_conv_block(node, x_shape) if node.op_type == "QLinearConv" else 0
        if block:
            for reshape in width_block(node, x_shape, block, names):
                region.add(reshape, [0])
    into, out_of = region.boundary()
    for name, (value, readers) in into.items():
        converted = _convert(graph, value, shapes.get(name), TO_NHWC, names)
        for reader, i in readers:
            reader.replace_input_with(i, converted)
    for name, (value, readers) in out_of.items():
        converted = _convert(graph, value, shapes.get(name), TO_NCHW, names)
        for reader, i in readers:
            reader.replace_input_with(i, converted)
    for name in used:  # the pads, axes and weights replaced by rewritten copies
        if not graph.initializers[name].uses():
            graph.initializers.pop(name)
    graph.sort()
    return True


def _relayout(node: ir.Node, x_shape: Optional[tuple], names: GraphAdditions) -> None:
    """Make `node` (channels-first shape of its first input: `x_shape`) read and write NHWC."""
    op = node.op_type
    if op == "QLinearConv" or op in CHANNELS_LAST_POOLS:
        node.domain = MICROSOFT
        node.attributes["channels_last"] = ir.AttrInt64("channels_last", 1)
    elif op == "Pad":
        pads = _int_const(node.inputs[1]).reshape(2, 4)
        node.replace_input_with(1, names.ints(pads[:, list(TO_NHWC)].reshape(-1), f"{node.name}:pads_nhwc"))
    elif op == "Concat":
        node.attributes["axis"] = ir.AttrInt64("axis", NHWC_AXIS[node.attributes.get_int("axis") % 4])
    elif op == "MaxPool":
        node.domain, node.op_type = MICROSOFT, "NhwcMaxPool"
    elif op == "Flatten":  # rows now read H, W, C: the weights' columns follow
        _, channels, height, width = x_shape
        for gemm, _ in list(node.outputs[0].uses()):
            w = np.asarray(gemm.inputs[3].const_value.numpy())
            permuted = w.reshape(-1, channels, height, width).transpose(0, 2, 3, 1).reshape(w.shape)
            gemm.replace_input_with(3, names.array(permuted, f"{gemm.inputs[3].name}:nhwc_columns"))


def _convert(graph: ir.Graph, value: ir.Value, shape: Optional[tuple], perm: tuple,
             names: GraphAdditions) -> ir.Value:
    """`value` in the other layout: a Reshape where `perm` moves only size-1 dims of a
    known shape (`shape` is channels-first; `perm` TO_NHWC or TO_NCHW), else a Transpose."""
    what = "nhwc" if perm == TO_NHWC else "nchw"
    target = _reshape_target(shape, TO_NHWC)
    if target is not None and perm == TO_NCHW:
        target = [0, *shape[1:]]
    if target is not None:
        node = ir.Node("", "Reshape", [value, names.ints(target, f"{value.name}:{what}_shape")])
    else:
        node = ir.Node("", "Transpose", [value], [ir.AttrInt64s("perm", list(perm))])
    node.name = node.outputs[0].name = names.fresh(f"{value.name}:{what}")
    graph.append(node)
    return node.outputs[0]
