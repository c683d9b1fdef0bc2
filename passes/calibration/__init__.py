"""Calibration (docs/quantization.md, stage 1): streaming observers that turn a stream
of activations into clipping ranges, and the `calibrate` / `calibrate-weights` passes
that record them as `q.range` attributes."""
from .calibrate import Calibrate
from .calibrate_weights import CalibrateWeights, annotate_weight_ranges
from .errors import CalibrationError
from .histogram import StreamingHistogram
from .kl import KLObserver
from .minmax import MinMaxObserver
from .mse import MSEObserver, mse_range_exact
from .observer import Observer
from .observers import METHODS, make_observer
from .percentile import PercentileObserver
from .weight_ranges import weight_range

__all__ = ["Calibrate", "CalibrateWeights", "annotate_weight_ranges", "CalibrationError", "StreamingHistogram",
           "KLObserver", "MinMaxObserver", "MSEObserver", "mse_range_exact", "Observer", "METHODS",
           "make_observer", "PercentileObserver", "weight_range"]
from . import output_aware  # noqa: E402,F401  (registers clip-search; it builds on quantize)
