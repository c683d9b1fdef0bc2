"""Compression from the literature: low-rank factorization, magnitude pruning with a
zero-run-length size report, and incremental quantization with re-training (SLQ/MLQ)."""
from . import low_rank, mlq, prune, slq  # noqa: F401
