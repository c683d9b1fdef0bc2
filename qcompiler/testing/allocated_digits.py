"""The deep digits CNN with per-layer weight and input-activation widths chosen by
allocate-bits under a BOPs budget, quantized and lowered: a mixed 4/8-bit integer graph
for the quantizer, lowering and backend tests. Deterministic per budget."""
from __future__ import annotations

from ..passmanager import PassContext, PassManager
from .deep_digits import deep_digits_setup


def allocated_digits_graph(bops_budget: str = "40%", target: str = "generic") -> tuple:
    """(lowered graph, pass context, allocate-bits' stats, test images as numpy):
    sensitivity{metric=sqnr, acts=[4,8]}, then allocate-bits{choices=[4,8],
    act_choices=[4,8], budget.bops=...} before calibrate-weights, quantize and lower."""
    from ..passes import allocation, lowering, quantize, sensitivity  # noqa: F401  (register the passes)

    graph, calibration, x_test, _ = deep_digits_setup()
    pipeline = ("fold-bn,fuse-activations,calibrate{method=mse,samples=256},"
                "sensitivity{metric=sqnr,samples=128,acts=[4,8]},"
                f"allocate-bits{{choices=[4,8],act_choices=[4,8],budget.bops={bops_budget}}},"
                "calibrate-weights{method=mse},quantize,lower")
    ctx = PassContext(target=target, calibration=calibration)
    manager = PassManager(pipeline)
    manager.run(graph, ctx)
    allocation_stats = next(record.stats for record in manager.history if record.name == "allocate-bits")
    return graph, ctx, allocation_stats, x_test
