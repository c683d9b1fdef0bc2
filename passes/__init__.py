"""The pass library (`qcompiler.passes`); importing it registers every pass."""
from . import (accuracy, allocation, calibration, canonicalize, codebook, compression, fusion, lowering,  # noqa: F401
               qat, quantize, rounding, sensitivity, transformer)
