"""qcompiler: a quantization compiler.

    import qcompiler
    cm = qcompiler.compile(model, target="armv8", example_inputs=x, calibration=data)
"""
from .version import __version__  # noqa: F401
from .ir import Graph, QIRError, verify  # noqa: F401
from .api import compile, load  # noqa: F401,E402
from . import passes  # noqa: F401,E402  (the pass library registers its passes by name)
