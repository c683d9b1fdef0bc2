"""Errors of the qat pass; each names the option, value or node at fault."""
from qcompiler.ir.errors import QIRError


class QATError(QIRError):
    """qat got an option, training data or a graph it cannot work with."""
