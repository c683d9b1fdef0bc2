"""The pass library (`qcompiler.passes`); importing it registers every pass."""
from . import calibration, canonicalize, compression, fusion, lowering, quantize, sensitivity  # noqa: F401
from .allocation import allocate  # noqa: F401
