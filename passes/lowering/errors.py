"""Errors of the lowering stage."""
from qcompiler.ir.errors import QIRError


class LoweringError(QIRError):
    """A layer cannot be lowered safely (accumulator overflow, target rule); names the layer."""
