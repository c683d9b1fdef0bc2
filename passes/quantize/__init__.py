"""Stage 2 of the post-training pipeline: quantize (fake-quant graph) and bias-correct."""
from . import bias_correction, minifloat_sensitivity, quantize, residual  # noqa: F401
