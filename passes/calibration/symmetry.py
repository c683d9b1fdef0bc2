"""Whether weights and activations are quantized symmetrically: the target decides;
without one, the common choice (symmetric weights, asymmetric activations)."""
from __future__ import annotations

from qcompiler.targets.target import get_target


def target_symmetry(ctx) -> tuple:
    """(weights symmetric, activations symmetric) for the PassContext's target."""
    if ctx.target is None:
        return True, False
    target = get_target(ctx.target)
    return target.weight_symmetric, target.activation_symmetric
