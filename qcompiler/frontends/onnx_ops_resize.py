"""Converter for ONNX Resize (opset 11+) onto the catalog's 4-D `resize`.

Resize gained inputs and attributes across opsets: 11 has (X, roi, scales, sizes), 13
makes roi and scales optional, 18 adds `axes`, `antialias` and
`keep_aspect_ratio_policy`. Cases the catalog cannot express stay opaque: cubic
interpolation, antialiasing, tf_crop_and_resize (it reads roi), aspect-ratio policies and
scales that are computed at run time.
"""
from __future__ import annotations

from .onnx_ops import OnnxNode, Unsupported, converter, normalize_axis


@converter("Resize")
def resize(n: OnnxNode):
    if n.opset < 11:
        raise Unsupported("opset-10 Resize (no coordinate transformation mode)")
    rank = n.rank()
    if rank != 4:
        raise Unsupported(f"resizing a rank-{rank} tensor (the catalog's resize is 4-D NCHW)")
    mode = n.attr("mode", "nearest")
    coord_mode = n.attr("coordinate_transformation_mode", "half_pixel")
    if mode not in ("nearest", "linear"):
        raise Unsupported(f"mode {mode!r}")
    if coord_mode == "tf_crop_and_resize":
        raise Unsupported("coordinate_transformation_mode 'tf_crop_and_resize'")
    if n.attr("antialias", 0):
        raise Unsupported("antialias")
    if n.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise Unsupported(f"keep_aspect_ratio_policy {n.attr('keep_aspect_ratio_policy')!r}")
    axes = [normalize_axis(a, rank, n.where) for a in n.attr("axes", range(rank))]
    sizes = n.input(3)
    scales = None
    if n.input(2) is not None:
        value = n.require_const(2, "scales")
        if value.size:
            scales = [1.0] * rank
            for a, s in zip(axes, value.reshape(-1)):
                scales[a] = float(s)
    if scales is not None and scales[:2] != [1.0, 1.0]:
        raise Unsupported(f"scales {scales} resize N or C")
    if sizes is not None and axes != list(range(rank)):
        raise Unsupported("sizes for a subset of axes")
    if scales is None and sizes is None:
        raise Unsupported("neither scales nor sizes")
    attrs = {"scales": None if sizes is not None else scales, "mode": mode, "coord_mode": coord_mode,
             "nearest_mode": n.attr("nearest_mode", "round_prefer_floor")}
    return [n.add("resize", [n.input(0), sizes], attrs)]
