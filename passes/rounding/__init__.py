"""Learned weight rounding after quantize: adaround (AdaRound / BRECQ)."""
from . import adaround  # noqa: F401
