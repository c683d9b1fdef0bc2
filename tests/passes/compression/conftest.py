"""The compression passes register on import; the .qir cases here run them by name."""
import qcompiler.passes.compression  # noqa: F401
