"""dynamic_pad: ONNX Pad whose pads are an operand computed at run time (timm's
`pad_same` reads the size with Shape and pads for a strided SAME window), where `pad`
takes them as an attribute. The padded dims are unknown ("?"), except the axes listed
in `unpadded`, which the importer proved get no padding (the batch and channels in
practice) and which are checked at run time."""
from __future__ import annotations

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import TensorType
from .dtypes import require_int
from .infer import norm_axis, plain
from .resize import pad, pad_torch
from .shape_operands import UNKNOWN, to_ints

ATTRS = {
    "mode": Attr("str", "constant", choices=("constant", "reflect", "edge")),
    "value": Attr("float", 0.0),
    "unpadded": Attr("ints", None, doc="axes the pads leave alone (checked at run time); their dims are kept"),
}


def _unpadded(attrs, rank: int, where: str) -> set:
    return {norm_axis(a, rank, f"{where}: ") for a in attrs.get("unpadded") or ()}


def _dynamic_pad_type(types, attrs, consts):
    x, pads = plain(types[0]), plain(types[1])
    require_int(pads, "pads", "dynamic_pad")
    if pads.shape != (2 * x.rank,):
        raise VerifyError(f"dynamic_pad: pads must be 1-D of length {2 * x.rank} (begins then ends) for rank "
                          f"{x.rank}, got shape {list(pads.shape)}")
    kept = _unpadded(attrs, x.rank, "dynamic_pad")
    return [TensorType(x.dtype, tuple(d if i in kept else UNKNOWN for i, d in enumerate(x.shape)))]


def _pads(x_rank: int, pads, unpadded) -> list:
    pads = to_ints(pads)
    moved = [a for a in sorted(_unpadded({"unpadded": unpadded}, x_rank, "dynamic_pad"))
             if pads[a] or pads[a + x_rank]]
    if moved:
        raise VerifyError(f"dynamic_pad: pads {pads} pad axis {moved[0]}, which the graph declares unpadded")
    return pads


@op("dynamic_pad", inputs=["x", "pads"], attrs=ATTRS, infer=_dynamic_pad_type)
def dynamic_pad(x, pads, mode="constant", value=0.0, unpadded=None):
    """ONNX Pad with a run-time pads operand ([x1_begin, ..., x1_end, ...]; negative crops)."""
    return pad(x, _pads(x.ndim, pads, unpadded), mode, value)


@torch_impl("dynamic_pad")
def dynamic_pad_torch(x, pads, mode="constant", value=0.0, unpadded=None):
    return pad_torch(x, _pads(x.dim(), pads, unpadded), mode, value)
