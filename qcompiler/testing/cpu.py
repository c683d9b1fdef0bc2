"""What the CPU running the tests can do exactly."""
from __future__ import annotations


def has_vnni() -> bool:
    """Whether ONNX Runtime's u8 x s8 kernels add products exactly on this CPU: not on x86
    with AVX2 but no VNNI, where pairs of products saturate at int16."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return True
    x86 = " avx2" in flags
    return not x86 or "avx512_vnni" in flags or "avx_vnni" in flags
