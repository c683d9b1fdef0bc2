"""Errors of the compression passes; each names the pass, option, node or value at fault."""
from qcompiler.ir.errors import QIRError


class CompressionError(QIRError):
    """A compression pass got a graph, data or node attribute it cannot work with."""


class CompressionOptionError(CompressionError, ValueError):
    """A malformed pass option (a ValueError too, so pipelines report it as a PipelineError)."""
