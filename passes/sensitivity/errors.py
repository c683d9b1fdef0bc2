"""Errors of the sensitivity passes."""
from qcompiler.ir.errors import QIRError


class SensitivityError(QIRError):
    """Sensitivity cannot be measured: no data, malformed labels, an op without gradients,
    or a score that is not finite (the message names the node or option)."""
