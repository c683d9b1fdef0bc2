"""Quantization-aware training after quantize: qat (LSQ / FAT step sizes, BR-QAT)."""
from . import qat  # noqa: F401
from .qat import QAT  # noqa: F401
