"""Compression from the literature: low-rank factorization, magnitude pruning with a
zero-run-length size report, zero-run storage of lowered sparse weights, and
incremental quantization with re-training (SLQ/MLQ)."""
from . import low_rank, mlq, prune, slq, zero_runs  # noqa: F401
