"""Errors of the rounding passes; each names the weight, node or option at fault."""
from qcompiler.ir.errors import QIRError


class RoundingError(QIRError):
    """adaround got a graph or an option it cannot work with (no calibration data, the
    float weights gone or stale, an unknown scope)."""
