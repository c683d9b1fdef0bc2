"""qcompiler: a quantization compiler.

    import qcompiler
    cm = qcompiler.compile(model, target="armv8", example_inputs=x, calibration=data)
"""
__version__ = "0.1.0"

from .ir import Graph, QIRError, verify  # noqa: F401
from .api import compile, load  # noqa: F401,E402
