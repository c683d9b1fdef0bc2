"""Frontends: import torch modules (fx.py) and ONNX models (onnx.py) into the IR."""
