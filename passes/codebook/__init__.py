"""Kernel codebooks (KQ): codebook-quantize, codebook-finetune, codebook-expand; sizes in size.py."""
from . import expand, finetune, quantize  # noqa: F401
