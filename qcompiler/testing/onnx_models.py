"""Helpers for tests that build small ONNX models with onnx.helper and compare what
qcompiler computes with onnxruntime on the original model."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_model(nodes, inputs, outputs, opset: int, inits=(), value_info=(), ir_version=None,
               domains: Sequence[str] = ()) -> onnx.ModelProto:
    """A one-graph model; extra `domains` are imported at version 1."""
    graph = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits), value_info=list(value_info))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    m = helper.make_model(graph, opset_imports=opsets)
    # onnxruntime lags the newest IR version; 10 is enough for every opset used in tests
    m.ir_version = ir_version or min(m.ir_version, 10)
    return m


def tensor(name: str, shape, dtype=TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def untyped(name: str) -> onnx.ValueInfoProto:
    return helper.make_empty_tensor_value_info(name)


def ints(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def floats(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)


def run_onnxruntime(model: onnx.ModelProto, feeds: dict) -> list:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def import_and_compare(model: onnx.ModelProto, feeds: dict, tol: float = 1e-5, **import_options):
    """Import `model`, verify it, run it with the numpy reference interpreter and assert
    every output matches onnxruntime (same shape and dtype, within `tol`). Returns the graph."""
    from ..frontends.onnx import import_onnx
    from ..ir.verifier import verify
    from ..runtime.reference import run_graph

    graph = import_onnx(model, **import_options)
    verify(graph)
    ours = run_graph(graph, feeds)
    theirs = run_onnxruntime(model, feeds)
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape == b.shape and a.dtype == b.dtype, f"output {i}: {a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}"
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=f"output {i}")
    return graph


def opaque_ops(graph) -> list:
    return sorted(n.op for n in graph.nodes if n.op.startswith("onnx."))
