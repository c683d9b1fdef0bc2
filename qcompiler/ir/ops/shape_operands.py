"""Reading shape-like operands (reshape's `shape`, expand's `shape`, resize's `sizes`,
tile's `repeats`, ...): exact values when constant, otherwise only their length."""
from __future__ import annotations

from typing import Optional

from ..errors import VerifyError
from .dtypes import require_int
from .infer import plain

UNKNOWN = "?"  # a dim no inference can name: fresh and unrelated to any other dim


def shape_operand(types: list, consts: list, i: int, what: str, where: str) -> tuple[Optional[list], int]:
    """(values, length) of 1-D integer operand `i`; values is None when it is not constant."""
    t = plain(types[i])
    require_int(t, what, where)
    if t.rank != 1:
        raise VerifyError(f"{where}: {what} must be 1-D, got shape {list(t.shape)}")
    if consts[i] is not None:
        return to_ints(consts[i]), t.shape[0]
    n = t.shape[0]
    if not isinstance(n, int):
        raise VerifyError(f"{where}: {what} has symbolic length {n!r}, so the result rank is unknown")
    return None, n


def to_ints(x) -> list:
    """Python ints from a numpy array or torch tensor holding a shape (or a scalar)."""
    return [int(v) for v in x.reshape(-1).tolist()]


def scalar_operand(types: list, consts: list, i: int, what: str, where: str):
    """The value of a scalar (0-d or one-element) operand when constant, else None."""
    t = plain(types[i])
    if t.is_static and t.numel() != 1:
        raise VerifyError(f"{where}: {what} must be a scalar, got shape {list(t.shape)}")
    return None if consts[i] is None else consts[i].reshape(-1)[0].item()
