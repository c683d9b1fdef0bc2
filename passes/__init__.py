"""The pass library (`qcompiler.passes`); importing it registers every pass."""
from . import calibration, canonicalize, fusion, quantize  # noqa: F401
