"""Errors raised by the IR layer; each names the place (node, value, line) it is about."""


class QIRError(Exception):
    """Base class of every error qcompiler raises on purpose."""


class VerifyError(QIRError):
    """The graph breaks an IR invariant (SSA, order, types, attributes, quantization)."""


class ParseError(QIRError):
    """Malformed `.qir` text; the message starts with `line:column`."""

    def __init__(self, message: str, line: int = 0, column: int = 0, source: str = "<qir>"):
        self.line, self.column, self.source = line, column, source
        super().__init__(f"{source}:{line}:{column}: {message}")


class UnknownOpError(QIRError):
    """An op name that is not in the registry and not an opaque `onnx.*` op."""


class FrontendError(QIRError):
    """A model could not be imported; the message names the module/node and the op."""
