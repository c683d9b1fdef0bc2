"""Test helpers for the tensor ops: run one op through the numpy reference (inside a
verified one-node graph), its torch implementation, and ONNX Runtime on a one-node model."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper

from qcompiler.ir import Graph, TensorType, get_op, verify
from qcompiler.ir.types import dtype_of_numpy, numpy_dtype
from qcompiler.runtime.reference import run_graph


def one_node_graph(op: str, arrays, attrs=None, *, const=(), shapes=None):
    """A verified graph with one `op` node. Operands whose index is in `const` become
    const nodes; the others are graph inputs, declared with `shapes[i]` when given (for
    symbolic dims) and with the array's shape otherwise."""
    g = Graph("t")
    operands = []
    for i, a in enumerate(arrays):
        if i in const:
            operands.append(g.constant(a))
        else:
            shape = shapes[i] if shapes and shapes[i] is not None else a.shape
            operands.append(g.add_input(f"in{i}", TensorType(dtype_of_numpy(a.dtype), shape)))
    node = g.add(op, operands, dict(attrs or {}))
    g.set_outputs(node.outputs)
    verify(g)
    return g, node


def assert_has_type(array: np.ndarray, t: TensorType, what: str) -> None:
    assert array.dtype == numpy_dtype(t.dtype), f"{what}: dtype {array.dtype}, inferred {t.dtype}"
    assert array.ndim == t.rank, f"{what}: shape {array.shape}, inferred {t.shape}"
    for got, want in zip(array.shape, t.shape):
        assert not isinstance(want, int) or got == want, f"{what}: shape {array.shape}, inferred {t.shape}"


def run_torch(op: str, arrays, attrs) -> list:
    d = get_op(op)
    kwargs = {k: v for k, v in d.with_defaults(attrs).items() if k in d.attrs}
    out = d.torch(*[torch.from_numpy(np.array(a)) for a in arrays], **kwargs)
    out = list(out) if isinstance(out, (tuple, list)) else [out]
    return [t.detach().float().numpy() if t.dtype == torch.bfloat16 else t.detach().numpy() for t in out]


def run_both(op: str, arrays, attrs=None, *, const=(), shapes=None):
    """(node, numpy results, torch results) after checking that both implementations
    agree with the inferred result types and with each other."""
    arrays = [np.asarray(a) for a in arrays]
    g, node = one_node_graph(op, arrays, attrs, const=const, shapes=shapes)
    ref = run_graph(g, [a for i, a in enumerate(arrays) if i not in const])
    tor = run_torch(op, arrays, node.attrs)
    assert len(ref) == len(tor) == len(node.outputs)
    for v, r, t in zip(node.outputs, ref, tor):
        assert_has_type(r, v.type, f"{op} numpy reference")
        if v.type.dtype != "bf16":
            assert_has_type(t, v.type, f"{op} torch")
        close(t, r)
    return node, ref, tor


def close(got, want, tol=1e-6) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(got, want)


def run_onnx(op_type: str, arrays, attrs=None, *, outputs: int = 1, opset: int = 18) -> list:
    """Run one ONNX node in ONNX Runtime; a None operand is an absent optional input."""
    names = ["" if a is None else f"i{k}" for k, a in enumerate(arrays)]
    feeds = {n: np.asarray(a) for n, a in zip(names, arrays) if a is not None}
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in feeds.items()]
    outs = [f"o{k}" for k in range(outputs)]
    node = helper.make_node(op_type, names, outs, **(attrs or {}))
    graph = helper.make_graph([node], "t", inputs, [onnx.ValueInfoProto(name=o) for o in outs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def i64(*values) -> np.ndarray:
    return np.array(values, dtype=np.int64)
