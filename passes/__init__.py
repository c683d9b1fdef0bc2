"""The pass library (`qcompiler.passes`); importing it registers every pass."""
from . import canonicalize, fusion  # noqa: F401
