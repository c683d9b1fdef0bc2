"""The typed graph IR: values, nodes, graphs, types, the op registry, text form, verifier."""
from .core import Graph, Node, Value
from .dense import Dense
from .errors import FrontendError, ParseError, QIRError, UnknownOpError, VerifyError
from .registry import Attr, OpDef, all_ops, get_op, has_op, infer_types, is_opaque, op, run_reference, torch_impl
from .types import CodebookType, MinifloatType, QuantType, TensorType, Type
from . import ops  # noqa: F401,E402  (the op definitions register themselves in the registry)
from .verifier import verify
from .printer import print_graph
from .parser import parse
from .equality import graph_diff, graphs_equal
from .serialize import load_qir, save_qir

__all__ = [
    "Graph", "Node", "Value", "Dense", "Type", "TensorType", "QuantType", "MinifloatType", "CodebookType",
    "QIRError", "VerifyError", "ParseError", "UnknownOpError", "FrontendError",
    "Attr", "OpDef", "op", "get_op", "has_op", "all_ops", "infer_types", "is_opaque", "run_reference", "torch_impl", "verify",
    "print_graph", "parse", "graphs_equal", "graph_diff", "save_qir", "load_qir",
]
