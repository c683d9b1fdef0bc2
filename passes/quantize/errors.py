"""Errors of the quantization stage; each names the value, node or option at fault."""
from qcompiler.ir.errors import QIRError


class QuantizeError(QIRError):
    """A quantization pass got a graph or an option it cannot work with (missing
    calibration ranges, an unknown storage type or granularity, no float weights)."""
