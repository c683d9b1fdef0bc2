"""Issue rates of the AVX-512 instructions the low-bit kernels can be built from, on this host:
what bounds any W2A2 tile against the VNNI int8 one (issue 14, item 3).

    python bench/lowbit_instruction_rates.py [--repeats 7]

Each instruction runs in a loop over twelve independent zmm accumulators (acc = op(acc, ...)),
so latency is hidden and the rate is the issue limit; median over repeats of instructions per
CPU second, one thread. Printed only (the RESULTS section quotes it).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from qcompiler.backends.numba.kernels.llvm_tile import I32, I64, ArrayArg, counted_loop, declare, load, store

ACCUMULATORS = 12
I8 = ir.IntType(8)
V16, V8, B64 = ir.VectorType(I32, 16), ir.VectorType(I64, 8), ir.VectorType(I8, 64)
# name -> (LLVM intrinsic, its vector type, arity, what one instruction does for the kernels)
INSTRUCTIONS = {
    "vpdpbusd": ("llvm.x86.avx512.vpdpbusd.512", V16, 3, "64 u8×s8 products (the int8 kernel)"),
    "vpdpwssd": ("llvm.x86.avx512.vpdpwssd.512", V16, 3, "32 s16 products; 64 W2A2 ones paired (lowbit_pairs)"),
    "vpopcntq": ("llvm.ctpop.v8i64", V8, 1, "512 bits of one plane pair; +AND +add per W2A2 128"),
    "vpermb": ("llvm.x86.avx512.permvar.qi.512", B64, 2, "64 lookups of a 64-entry table (T-MAC style)"),
    "vpermi2b": ("llvm.x86.avx512.vpermi2var.qi.512", B64, 3, "64 lookups of a 128-entry table (two registers)"),
    "vpshufb": ("llvm.x86.avx512.pshuf.b.512", B64, 2, "64 lookups of 16-entry tables"),
}


def _loop(name):
    intrinsic_name, vector, arity, _ = INSTRUCTIONS[name]

    def codegen(context, builder, signature, args):
        data, out = ArrayArg(context, builder, signature, args, 0), ArrayArg(context, builder, signature, args, 2)
        fn = declare(builder, intrinsic_name, vector, [vector] * arity)
        operands = [builder.bitcast(load(builder, data.at(64 * j), V16, 4), vector) for j in range(2)]

        def step(_, acc):
            return [builder.call(fn, [a, *operands][:arity]) for a in acc]

        initial = [builder.bitcast(load(builder, data.at(64 * (2 + r)), V16, 4), vector) for r in range(ACCUMULATORS)]
        final = counted_loop(builder, args[1], initial, step, name)
        for r, value in enumerate(final):  # stored, so the loop is live
            store(builder, builder.bitcast(value, V16), out.at(64 * r), 4)
        return context.get_dummy_value()

    @intrinsic
    def run_loop(typingctx, data, steps, out):
        return types.void(data, steps, out), codegen

    @njit
    def timed(data, steps, out):
        run_loop(data, steps, out)
    return timed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5_000_000)
    args = parser.parse_args()
    data = np.random.default_rng(0).integers(0, 2**31, 16 * (2 + ACCUMULATORS)).astype(np.int32)
    out = np.empty(16 * ACCUMULATORS, np.int32)
    loops = {name: _loop(name) for name in INSTRUCTIONS}
    samples = {name: [] for name in INSTRUCTIONS}
    for loop in loops.values():
        loop(data, 1000, out)
    for _ in range(args.repeats):  # interleaved: each repeat times every instruction once
        for name, loop in loops.items():
            started = time.process_time()
            loop(data, args.steps, out)
            samples[name].append(ACCUMULATORS * args.steps / (time.process_time() - started) / 1e9)
    print(f"load average {open('/proc/loadavg').read().split()[:3]}\n")
    print("| instruction (zmm) | G per CPU s | vs vpdpbusd | one instruction |\n|---|---:|---:|---|")
    unit = np.median(samples["vpdpbusd"])
    for name, rates in samples.items():
        print(f"| {name} | {np.median(rates):.2f} | {np.median(rates) / unit:.2f} | {INSTRUCTIONS[name][3]} |")


if __name__ == "__main__":
    main()
