"""Target descriptions (data in *.toml) and their cost models."""
from .target import CostModel, Target, TargetError, available_targets, get_target

__all__ = ["CostModel", "Target", "TargetError", "available_targets", "get_target"]
