"""The lowering package registers `lower` on import; qcompiler.passes does not import it
yet, so the tests here (and the .qir cases next to them) import it themselves."""
import qcompiler.passes.lowering  # noqa: F401
