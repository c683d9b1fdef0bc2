"""Fusions that keep numerics: batch-norm folding, activation fusion."""
from . import fold_bn, fuse_activations  # noqa: F401
