"""Data-free calibration (docs/datafree.md): calibration inputs synthesised from the
BatchNorm statistics of the float model, by ZeroQ distillation or a ZS-CGAN generator."""
from .errors import DataFreeError
from .source import GENERATORS, SyntheticCalibration, check_data_options, synthetic_for_pass, synthetic_source
from .statistics import batch_norm_targets, statistics_loss

__all__ = ["DataFreeError", "GENERATORS", "SyntheticCalibration", "check_data_options", "synthetic_for_pass",
           "synthetic_source", "batch_norm_targets", "statistics_loss"]
