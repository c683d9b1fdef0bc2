"""Errors of the codebook passes; each names the option, node or value at fault."""
from qcompiler.ir.errors import QIRError


class CodebookError(QIRError):
    """A codebook pass got an option or a graph it cannot work with."""
