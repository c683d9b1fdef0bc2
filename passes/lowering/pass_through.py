"""Pass-through ops move or select stored values without arithmetic, so they run on
storage unchanged when their quantized operands and results share parameters. Where an
operand's parameters differ from the result's, a requantize brings it onto them first."""
from __future__ import annotations

from qcompiler.ir.core import Node
from qcompiler.ir.types import is_float
from qcompiler.rewrite import Op, Rule
from qcompiler.targets import Target

from .quant_params import is_quant, per_tensor, requant_attrs, same_params, scale_of, with_params

PASS_THROUGH = ("identity", "dropout", "reshape", "flatten", "transpose", "squeeze", "unsqueeze", "expand", "tile",
                "slice", "split", "concat", "gather", "max_pool1d", "max_pool2d", "global_max_pool", "same_pad")


def data_operands(node: Node) -> list:
    """The operands carrying tensor data (quantized or float), not shapes or indices."""
    return [(i, v) for i, v in enumerate(node.inputs) if v is not None and (is_quant(v.type) or is_float(v.type))]


def runs_on_storage(node: Node) -> bool:
    """A pass-through whose data operands and results all share one per-tensor parameter set."""
    if node.op not in PASS_THROUGH or not node.outputs:
        return False
    params = node.outputs[0].type
    values = [v for _, v in data_operands(node)] + list(node.outputs)
    return per_tensor(params, 32) and all(same_params(v.type, params) for v in values)


def _needs_requantize(m) -> bool:
    node = m.root
    out = node.output.type
    operands = [v for _, v in data_operands(node)]
    return (per_tensor(out) and bool(operands) and all(per_tensor(v.type) for v in operands)
            and not all(same_params(v.type, out) for v in operands))


def _requantize_operands(target: Target):
    def replace(b, m):
        node = m.root
        out = node.output.type
        inputs = list(node.inputs)
        for i, v in data_operands(node):
            if not same_params(v.type, out):
                attrs = {**requant_attrs(scale_of(v.type) / scale_of(out)), "rounding": target.rounding}
                inputs[i] = b.op("requantize", [v], attrs, output_types=[with_params(out, v.type.shape)])
                b.graph.rename(inputs[i], f"{v.name}_requantized")
        return b.op(node.op, inputs, dict(node.attrs), output_types=[out])

    return replace


def pass_through_rules(target: Target) -> list:
    return [Rule("requantize", Op(PASS_THROUGH), _requantize_operands(target), condition=_needs_requantize)]
