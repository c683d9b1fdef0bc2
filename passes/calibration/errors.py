"""Errors of the calibration stage; each names the input, node or option at fault."""
from qcompiler.ir.errors import QIRError


class CalibrationError(QIRError):
    """Calibration data is missing or malformed, or an observed value is not finite."""
