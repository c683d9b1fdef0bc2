"""Errors of data-free calibration; each names the graph, node or option at fault."""
from ..calibration.errors import CalibrationError


class DataFreeError(CalibrationError):
    """Synthetic calibration data cannot be made for this model (no BatchNorm statistics,
    no class output for the conditional generator, an input shape left open)."""
