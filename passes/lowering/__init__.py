"""Lowering the fake-quant graph into integer ops (docs/quantization.md, stage 3)."""
from . import lower  # noqa: F401
