"""Canonicalization: dead code, common subexpressions, constant folding, one spelling
per computation."""
from . import canonicalize, cse, dce, fold_constants  # noqa: F401
