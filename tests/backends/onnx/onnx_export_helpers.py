"""Shared by the ONNX export tests: building small IR graphs, running exported models in
onnxruntime, reading intermediate ONNX values."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import onnx
import onnxruntime as ort

from qcompiler.ir.core import Graph
from qcompiler.ir.types import tensor_type_of
from qcompiler.ir.verifier import verify


def graph_of(body: Callable, *arrays: np.ndarray, shapes: Sequence = None) -> Graph:
    """A graph with one input per array (x0, x1, ...; `shapes` may make dims symbolic)
    whose outputs are what `body(graph, *inputs)` returns (a value or a list)."""
    g = Graph("case")
    inputs = [g.add_input(f"x{i}", tensor_type_of(a) if shapes is None else tensor_type_of(a).with_shape(shapes[i]))
              for i, a in enumerate(arrays)]
    outs = body(g, *inputs)
    g.set_outputs(outs if isinstance(outs, (list, tuple)) else [outs])
    verify(g)
    return g


def session(model: onnx.ModelProto, optimize: bool = True) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run_onnx(model: onnx.ModelProto, feeds: dict, extra_outputs: Sequence[str] = (), optimize: bool = True) -> dict:
    """Run `model` in onnxruntime (without its graph optimizations unless `optimize`);
    `extra_outputs` names intermediate ONNX values to read too. Returns {name: array}."""
    if extra_outputs:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in extra_outputs)
    s = session(model, optimize)
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(None, feeds)))
