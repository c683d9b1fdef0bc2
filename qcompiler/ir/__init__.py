"""The typed graph IR: values, nodes, graphs, types, the op registry, text form, verifier."""
from .core import Graph, Node, Value
from .dense import Dense
from .errors import FrontendError, ParseError, QIRError, UnknownOpError, VerifyError
from .registry import Attr, OpDef, all_ops, get_op, has_op, infer_types, is_opaque, op, run_reference, torch_impl
from .types import CodebookType, MinifloatType, QuantType, TensorType, Type
from .verifier import verify

__all__ = [
    "Graph", "Node", "Value", "Dense", "Type", "TensorType", "QuantType", "MinifloatType", "CodebookType",
    "QIRError", "VerifyError", "ParseError", "UnknownOpError", "FrontendError",
    "Attr", "OpDef", "op", "get_op", "has_op", "all_ops", "infer_types", "is_opaque", "run_reference", "torch_impl", "verify",
]
