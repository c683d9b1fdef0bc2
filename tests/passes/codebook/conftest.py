"""The codebook passes register on import (the .qir cases here run them by name)."""
import qcompiler.passes.codebook  # noqa: F401
