"""Errors of the executors (reference interpreter, opaque nodes, torch, Numba)."""
from __future__ import annotations

from ..ir.errors import QIRError


class ExecutionError(QIRError):
    """An op failed at run time; the message names the node."""
