"""The error the ONNX exporter raises on purpose."""
from qcompiler.ir.errors import QIRError


class OnnxExportError(QIRError):
    """A graph (or one of its nodes) cannot be written in the requested ONNX form or
    opset; the message names the node, the form and what would be needed instead."""
