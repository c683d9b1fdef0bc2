"""Converters for ONNX convolutions, pooling, normalization and matrix products."""
from __future__ import annotations

from ..ir.ops.same_pad import depends_on_size, same_pads
from .onnx_ops import OnnxNode, Unsupported, converter

CONV_BY_RANK = {3: "conv1d", 4: "conv2d"}
MAX_POOL_BY_RANK = {3: "max_pool1d", 4: "max_pool2d"}
AVG_POOL_BY_RANK = {3: "avg_pool1d", 4: "avg_pool2d"}


def explicit_pads(n: OnnxNode, kernel, strides, dilations) -> list:
    """The node's pads in ONNX order, resolving auto_pad on static sizes (SAME_* with a
    stride needs the size along that axis; at stride 1 the padding is the window's extent
    less one); None when a dynamic dim makes them depend on the run-time size."""
    k = len(kernel)
    auto = n.attr("auto_pad", "NOTSET")
    if auto == "NOTSET":
        return list(n.attr("pads", [0] * 2 * k))
    if auto == "VALID":
        return [0] * 2 * k
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise Unsupported(f"auto_pad {auto!r}")
    spatial = n.input(0).type.shape[2:]
    if any(not isinstance(size, int) and depends_on_size(kk, s) for size, kk, s in zip(spatial, kernel, strides)):
        return None
    # a dynamic dim here has a one-element window or stride 1: its pads do not depend on the size
    sizes = [size if isinstance(size, int) else s for size, s in zip(spatial, strides)]
    begin, end = same_pads(sizes, kernel, strides, dilations, lower=auto == "SAME_LOWER")
    return list(begin) + list(end)


def padded_input(n: OnnxNode, kernel, strides, dilations, mode: str = "constant") -> tuple:
    """(input, pads) of a window op: SAME padding that depends on a dynamic size becomes a
    same_pad node computing it at run time, and the window op then pads nothing."""
    pads = explicit_pads(n, kernel, strides, dilations)
    if pads is not None:
        return n.input(0), pads
    attrs = {"kernel": list(kernel), "stride": list(strides), "dilation": list(dilations),
             "lower": n.attr("auto_pad") == "SAME_LOWER", "mode": mode}
    return n.add("same_pad", [n.input(0)], attrs, helper=True), [0] * 2 * len(kernel)


def _kernel(n: OnnxNode) -> list:
    kernel = n.attr("kernel_shape") or list(n.input(1).type.shape[2:])
    if not all(isinstance(d, int) for d in kernel):
        raise Unsupported(f"kernel size is not static: {kernel}")
    return list(kernel)


@converter("Conv")
def conv(n: OnnxNode):
    op = CONV_BY_RANK.get(n.rank(1))
    if op is None:
        raise Unsupported(f"{n.rank(1) - 2}-D convolution")
    kernel = _kernel(n)
    k = len(kernel)
    strides, dilations = n.attr("strides", [1] * k), n.attr("dilations", [1] * k)
    x, pads = padded_input(n, kernel, strides, dilations)
    attrs = {"stride": strides, "pad": pads, "dilation": dilations, "groups": n.attr("group", 1)}
    return [n.add(op, [x, n.input(1), n.input(2)], attrs)]


@converter("ConvTranspose")
def conv_transpose(n: OnnxNode):
    if n.rank(1) != 4:
        raise Unsupported(f"{n.rank(1) - 2}-D transposed convolution")
    if n.attr("output_shape") is not None or n.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise Unsupported("output_shape / auto_pad SAME_* on a transposed convolution")
    pads = n.attr("pads", [0] * 4) if n.attr("auto_pad", "NOTSET") == "NOTSET" else [0] * 4
    attrs = {"stride": n.attr("strides", [1, 1]), "pad": pads, "output_padding": n.attr("output_padding", [0, 0]),
             "dilation": n.attr("dilations", [1, 1]), "groups": n.attr("group", 1)}
    return [n.add("conv_transpose2d", [n.input(0), n.input(1), n.input(2)], attrs)]


@converter("Gemm")
def gemm(n: OnnxNode):
    attrs = {"alpha": n.attr("alpha", 1.0), "beta": n.attr("beta", 1.0),
             "trans_a": bool(n.attr("transA", 0)), "trans_b": bool(n.attr("transB", 0))}
    return [n.add("gemm", [n.input(0), n.input(1), n.input(2)], attrs)]


@converter("MatMul")
def matmul(n: OnnxNode):
    return [n.add("matmul", [n.input(0), n.input(1)])]


@converter("BatchNormalization")
def batch_norm(n: OnnxNode):
    n.only_first_output()
    if n.attr("training_mode", 0):
        raise Unsupported("training_mode is set")
    return [n.add("batch_norm", n.inputs[:5], {"eps": n.attr("epsilon", 1e-5)})]


@converter("LayerNormalization")
def layer_norm(n: OnnxNode):
    n.only_first_output()
    return [n.add("layer_norm", [n.input(0), n.input(1), n.input(2)],
                  {"axis": n.attr("axis", -1), "eps": n.attr("epsilon", 1e-5)})]


@converter("InstanceNormalization")
def instance_norm(n: OnnxNode):
    return [n.add("instance_norm", [n.input(0), n.input(1), n.input(2)], {"eps": n.attr("epsilon", 1e-5)})]


@converter("LRN")
def lrn(n: OnnxNode):
    if n.rank() < 3:
        raise Unsupported(f"LRN over a rank-{n.rank()} input")
    return [n.add("lrn", [n.input(0)], {"size": n.attr("size"), "alpha": n.attr("alpha", 1e-4),
                                        "beta": n.attr("beta", 0.75), "bias": n.attr("bias", 1.0)})]


def _pool(n: OnnxNode, mode: str) -> tuple:
    """(input, attributes) of a pool; `mode` fills run-time SAME padding."""
    kernel = list(n.attr("kernel_shape"))
    k = len(kernel)
    strides, dilations = n.attr("strides", [1] * k), n.attr("dilations", [1] * k)
    x, pads = padded_input(n, kernel, strides, dilations, mode)
    return x, {"kernel": kernel, "stride": strides, "pad": pads, "dilation": dilations,
               "ceil_mode": bool(n.attr("ceil_mode", 0))}


def _same_on_a_dynamic_dim(n: OnnxNode) -> bool:
    kernel, k = n.attr("kernel_shape"), len(n.attr("kernel_shape"))
    return explicit_pads(n, kernel, n.attr("strides", [1] * k), n.attr("dilations", [1] * k)) is None


@converter("MaxPool")
def max_pool(n: OnnxNode):
    n.only_first_output()
    op = MAX_POOL_BY_RANK.get(n.rank())
    if op is None:
        raise Unsupported(f"max pooling over a rank-{n.rank()} input")
    if _same_on_a_dynamic_dim(n) and any(d != 1 for d in n.attr("dilations", [])):
        # a copied border element may lie outside a dilated window, and must not win its max
        raise Unsupported("dilated max pooling with auto_pad SAME over a dynamic dim")
    x, attrs = _pool(n, "edge")
    return [n.add(op, [x], attrs)]


@converter("AveragePool")
def avg_pool(n: OnnxNode):
    op = AVG_POOL_BY_RANK.get(n.rank())
    if op is None:
        raise Unsupported(f"average pooling over a rank-{n.rank()} input")
    # ONNX excludes padding from the average by default, the catalog (like torch) includes it
    include_pad = bool(n.attr("count_include_pad", 0))
    if _same_on_a_dynamic_dim(n) and not include_pad:
        raise Unsupported("auto_pad SAME over a dynamic dim with the padding excluded from the average")
    x, attrs = _pool(n, "constant")
    if any(d != 1 for d in attrs.pop("dilation")):
        raise Unsupported("dilated average pooling")
    attrs["count_include_pad"] = include_pad
    return [n.add(op, [x], attrs)]


@converter("GlobalAveragePool")
def global_avg_pool(n: OnnxNode):
    return [n.add("global_avg_pool", [n.input(0)])]


@converter("GlobalMaxPool")
def global_max_pool(n: OnnxNode):
    return [n.add("global_max_pool", [n.input(0)])]
