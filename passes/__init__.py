"""The pass library (`qcompiler.passes`); importing it registers every pass."""
from . import calibration, canonicalize, fusion, lowering, quantize  # noqa: F401
