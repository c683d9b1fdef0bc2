"""Errors of the transformer passes; each names the option or node at fault."""
from qcompiler.ir.errors import QIRError


class TransformerRecipeError(QIRError):
    """A transformer pass got an option or a graph it cannot work with."""
