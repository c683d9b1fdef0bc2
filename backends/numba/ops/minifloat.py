"""Minifloat conv2d / linear on the Numba backend: the defined arithmetic of
numerics/minifloat_products.py (exact float64 products of decoded codes summed in index
order, one multiply by the scales, bias and fused activation in float32), with the
compiled kernel (kernels/minifloat.py) doing the sum. The reference interpreter runs
the same rule with its numpy statement, so the two agree bit for bit
(tests/backends/numba/test_minifloat_kernels.py). Other nodes stay on the reference
fallback.
"""
from __future__ import annotations

from typing import Optional

from qcompiler.ir.core import Node
from qcompiler.ir.types import MinifloatType
from qcompiler.numerics.minifloat_products import follows_minifloat_products, prepare_minifloat_products
from qcompiler.runtime.reference import to_runtime

from ..kernels.minifloat import minifloat_product
from .common import Step


def prepare_minifloat(node: Node) -> Optional[Step]:
    if not follows_minifloat_products(node):
        return None
    run = prepare_minifloat_products(node, minifloat_product)
    out_type = node.outputs[0].type

    def step(args):
        y = run(args)
        return [to_runtime(y, out_type) if isinstance(out_type, MinifloatType) else y]
    return step
