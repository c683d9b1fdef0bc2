"""Kernel codebooks (KQ): codebook-quantize and codebook-finetune; sizes in size.py."""
from . import finetune, quantize  # noqa: F401
