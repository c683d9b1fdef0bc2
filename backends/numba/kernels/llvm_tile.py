"""What the LLVM-IR tile kernels (`tile16`, `vnni_tile`, `bitserial_tile`) share: byte
addresses into Numba arrays, unaligned vector loads and stores, a broadcast, and a counted
loop whose accumulators are phi nodes, so they stay in registers over the whole loop.

The tiles are written in IR because Numba's loop vectorizer keeps such reductions in
memory or picks one-product-per-lane instructions; this module only builds the loop
and the address arithmetic, each tile keeps its own step.
"""
from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils

I32, I64 = ir.IntType(32), ir.IntType(64)


def const(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


class ArrayArg:
    """Argument `index` of an intrinsic that is a Numba array: its data address as an i64
    and its byte strides."""

    def __init__(self, context, builder, signature, args, index):
        array = context.make_array(signature.args[index])(context, builder, args[index])
        self.builder = builder
        self.base = builder.ptrtoint(array.data, I64)
        self.strides = array.strides

    def stride(self, dim: int):
        return self.builder.extract_value(self.strides, dim)

    def at(self, *offsets):
        """The base address plus i64 byte offsets (ints become constants)."""
        address = self.base
        for offset in offsets:
            address = self.builder.add(address, const(offset) if isinstance(offset, int) else offset)
        return address


def load(builder, address, type_, align: int):
    return builder.load(builder.inttoptr(address, type_.as_pointer()), align=align)


def store(builder, value, address, align: int):
    builder.store(value, builder.inttoptr(address, value.type.as_pointer()), align=align)


def splat(builder, scalar, vector_type):
    """The vector with every lane `scalar` (insert + zero shuffle: LLVM makes it a broadcast)."""
    lane0 = builder.insert_element(ir.Constant(vector_type, ir.Undefined), scalar, ir.Constant(I32, 0))
    return builder.shuffle_vector(lane0, ir.Constant(vector_type, ir.Undefined),
                                  ir.Constant(ir.VectorType(I32, vector_type.count), [0] * vector_type.count))


def declare(builder, name: str, result, arguments: list):
    """The LLVM intrinsic `name` of that signature, declared once per module."""
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(result, arguments), name)


def store_rows(builder, out: ArrayArg, values: list, rows: int, column) -> None:
    """values[r·V + j] (V = len(values) / rows lane vectors per row) -> out[r, column + j·lanes ...]:
    a tile of accumulators whose lanes are outputs, stored as rows of a 2-D array with contiguous rows."""
    element_bytes, lanes = values[0].type.element.width // 8, values[0].type.count
    vectors = len(values) // rows
    first = builder.mul(column, const(element_bytes))
    for r in range(rows):
        for j in range(vectors):
            address = out.at(builder.mul(out.stride(0), const(r)), first, element_bytes * lanes * j)
            store(builder, values[r * vectors + j], address, element_bytes)


def counted_loop(builder, count, initial: list, body, name: str) -> list:
    """for step in [0, count): values = body(step, values), starting from `initial`; returns the
    final values (`initial` when count <= 0). The values are phi nodes of the loop block, so
    LLVM keeps them in registers; `body` may emit blocks of its own (an inner loop)."""
    pre = builder.block
    loop, done = builder.append_basic_block(f"{name}.loop"), builder.append_basic_block(f"{name}.done")
    builder.cbranch(builder.icmp_signed(">", count, const(0)), loop, done)

    builder.position_at_end(loop)
    step = builder.phi(I64)
    carried = [builder.phi(value.type) for value in initial]
    updated = body(step, carried)
    following = builder.add(step, const(1))
    body_end = builder.block
    step.add_incoming(const(0), pre)
    step.add_incoming(following, body_end)
    for phi, first, value in zip(carried, initial, updated):
        phi.add_incoming(first, pre)
        phi.add_incoming(value, body_end)
    builder.cbranch(builder.icmp_signed("<", following, count), loop, done)

    builder.position_at_end(done)
    final = []
    for first, value in zip(initial, updated):  # phi nodes first: LLVM wants them at the top of the block
        phi = builder.phi(value.type)
        phi.add_incoming(first, pre)
        phi.add_incoming(value, body_end)
        final.append(phi)
    return final
