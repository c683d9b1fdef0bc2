"""Canonicalization: dead code, common subexpressions, constant folding, one spelling
per computation."""
from . import canonicalize, cse, dce, fold_constants, refine_types, resolve_reshapes  # noqa: F401
