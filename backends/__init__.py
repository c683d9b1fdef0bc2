"""Backends (`qcompiler.backends`): Numba integer kernels and ONNX export."""
