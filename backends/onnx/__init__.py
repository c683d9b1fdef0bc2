"""ONNX export of IR graphs: float, QDQ, QOperator and exact-integer forms (export.py)."""
from .errors import OnnxExportError
from .export import default_form, export, to_onnx

__all__ = ["OnnxExportError", "default_form", "export", "to_onnx"]
