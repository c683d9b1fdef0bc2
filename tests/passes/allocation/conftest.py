"""Register allocate-bits for the .qir cases here, whether or not qcompiler.passes
imports it yet."""
import qcompiler.passes.allocation.allocate  # noqa: F401
