"""Errors of the Numba backend; each names the node it is about."""
from qcompiler.ir.errors import QIRError


class NumbaBackendError(QIRError):
    """A node the Numba backend cannot run as given (inconsistent types, bad operands)."""
