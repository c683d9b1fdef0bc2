"""HFP8 training simulation: E4M3 forward, E5M2 gradients, chunked low-precision
accumulation and stochastically rounded low-precision weight updates (docs/hfp8.md)."""
from .chunked_matmul import rounded_matmul
from .formats import resolve_format
from .layers import HFP8Conv2d, HFP8Linear, HFP8Numerics, convert_to_hfp8
from .low_precision_sgd import LowPrecisionSGD
from .rounding import round_nearest, round_stochastic
from .train import EpochLog, make_numerics, train

__all__ = ["rounded_matmul", "resolve_format", "HFP8Conv2d", "HFP8Linear", "HFP8Numerics",
           "convert_to_hfp8", "LowPrecisionSGD", "round_nearest", "round_stochastic", "EpochLog",
           "make_numerics", "train"]
