"""The pass library (`qcompiler.passes`); importing it registers every pass."""
from . import allocation, calibration, canonicalize, compression, fusion, lowering, quantize, sensitivity  # noqa: F401
