"""qat: quantization-aware training of the quantized graph with learned step sizes
(LSQ) or learned threshold factors (FAT), optionally with BR-QAT's block replacement.

Where it runs: after `quantize`, in the same pipeline (it starts from the types quantize
built from the calibrated ranges, and from the float weights quantize caches), before
`lower`. Learning scales before quantize and handing them over as `q.range` would let
quantize re-derive them (a range's scale is (hi - lo) / levels, then bias fitting,
width-dependent re-calibration and tie unions move it again); learning the scales in
the types themselves makes the learned scale exactly the one lowered.

It trains the float weights (fake-quantized with their learned step; binary weights as
sign x mean magnitude, pruned weights held at zero), the per-tensor
activation step sizes (one per tie group), and the float biases, through the torch
executor with straight-through estimators (step_sizes.py, training_module.py), then
writes the learned scales into the types and the weights as integers (write_back.py).

Options: `method` (lsq | fat), `epochs`, `lr` (weights), `scale_lr` (step sizes, a
multiple of lr), `schedule` (constant | cosine: both lrs decay to zero over the run),
`batch` (for (x, y) arrays and calibration data), `optimizer` (adam | sgd),
`weight_decay`, `loss` (auto | ce | mse | kl, or a callable from Python), `data`
(Python only: (x, y) arrays or a DataLoader; default: the calibration data, distilled),
`block_replacement` (BR-QAT), `block_layers` (most layers in a BR-QAT block, as
adaround's blocks), `bn` (frozen: the folded BatchNorm as it is; live: every trained conv
normalizes its outputs with batch statistics, folded back after training, for retraining
after prune{recalibrate=true} or binary channels: live_norm.py), `seed` (default: the
context's); bit reallocation during training (bit_reallocation.py): `bitopt` (none |
qbitopt | bmpq), `budget` (budget.size=...), `every` (steps between QBitOpt's
reallocations, and the warm-up batches), `choices` (weight widths), `freeze_after` (the
fraction of the training steps during which widths may change, default 1/3: the widths
reached then train for the rest of the run), `plot` (a PNG path for the widths over time).
Stats: `epochs` (per epoch: loss, accuracy or agreement, lr), `scales` (per learned
value, its first scale before and after), `bits` (with bitopt: each reallocation's
step, widths per layer, size and budget; `bits_fixed_after`, the last step widths could
change at), `binary_weights` (b1 weights trained as
sign x mean magnitude), `pruned_zeros` (weights of pruned layers held at zero) and
`live_norms` (convs trained with bn=live).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import torch

from qcompiler.ir.core import Graph
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass
from qcompiler.runtime.torch import to_torch

from ..rounding.unit_graph import float_graph
from .bit_reallocation import BitReallocation, check_options, last_reallocation_step
from .bits_plot import plot_bits
from .block_replacement import MixedModels
from .data import TrainingData
from .errors import QATError
from .live_norm import fold, reestimate, start_at_float_statistics
from .losses import check_loss
from .train import Settings, train
from .trained_weights import is_binary, trained_weights
from .training_module import TrainingModule
from .write_back import write_back

METHODS = ("lsq", "fat")
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")
BN_MODES = ("frozen", "live")


@register_pass
@dataclass(frozen=True)
class QAT(Pass):
    name: ClassVar[str] = "qat"
    method: str = "lsq"
    epochs: int = 3
    lr: float = 1e-4
    scale_lr: float = 1.0
    schedule: str = "constant"
    batch: int = 64
    optimizer: str = "adam"
    weight_decay: float = 0.0
    loss: Any = "auto"
    data: Any = None
    block_replacement: bool = False
    block_layers: int = 4
    bn: str = "frozen"
    seed: Optional[int] = None
    bitopt: str = "none"
    budget: dict = field(default_factory=dict)
    every: int = 50
    choices: tuple = (2, 4, 8)
    freeze_after: float = 1 / 3
    plot: Optional[str] = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise QATError(f"qat: method={self.method!r}; expected one of {', '.join(METHODS)}")
        if self.schedule not in SCHEDULES:
            raise QATError(f"qat: schedule={self.schedule!r}; expected one of {', '.join(SCHEDULES)}")
        if self.optimizer not in OPTIMIZERS:
            raise QATError(f"qat: optimizer={self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
        for option in ("epochs", "batch", "block_layers"):
            if getattr(self, option) < 1:
                raise QATError(f"qat: {option}={getattr(self, option)} must be at least 1")
        for option in ("lr", "scale_lr"):
            if not getattr(self, option) > 0:
                raise QATError(f"qat: {option}={getattr(self, option)} must be > 0")
        if not self.weight_decay >= 0:
            raise QATError(f"qat: weight_decay={self.weight_decay} must be >= 0")
        check_loss(self.loss)
        if self.bn not in BN_MODES:
            raise QATError(f"qat: bn={self.bn!r}; expected one of {', '.join(BN_MODES)}")
        if self.bn == "live" and (self.block_replacement or self.bitopt != "none"):
            raise QATError("qat: bn=live trains one backbone at fixed widths; it does not combine with "
                           "block_replacement or bitopt")
        object.__setattr__(self, "choices", tuple(self.choices))  # a pipeline string gives a list
        check_options(self.bitopt, self.budget, self.every, self.choices, self.freeze_after)

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        weights = trained_weights(graph, ctx)
        if not weights:
            raise QATError("qat: no quantized weights to train: run quantize first, in the same pipeline")
        seed = ctx.seed if self.seed is None else self.seed
        torch.manual_seed(seed)
        data = TrainingData(self.data, graph, ctx.calibration, self.batch, torch.Generator().manual_seed(seed))
        trained = TrainingModule(graph, weights, self.method, live_bn=self.bn == "live")
        start_at_float_statistics(trained.norms, graph, weights, ctx)
        teacher = to_torch(float_graph(graph, weights)).eval().requires_grad_(False)
        mixed = MixedModels(graph, weights, self.method, trained, self.block_layers, self.loss) \
            if self.block_replacement else None
        settings = Settings(self.epochs, self.lr, self.scale_lr, self.optimizer, self.weight_decay, self.loss,
                            self.schedule)
        bits = None
        if self.bitopt != "none":
            last_step = last_reallocation_step(self.freeze_after, self.epochs * data.batches_per_epoch())
            bits = BitReallocation(graph, trained, self.bitopt, self.budget, self.every, self.choices, last_step, ctx)
            bits.warm_up(teacher, data, self.loss)
        log = train(trained, teacher, data, settings, ctx, mixed, schedule=bits)
        if bits is not None:
            bits.finish()
            if self.plot:
                plot_bits(bits.history, self.plot, self.bitopt)
        if trained.norms:
            reestimate(trained.module, trained.norms, (inputs for inputs, _ in data.epoch()))
            fold(trained.norms, trained.weight_steps, trained.floats)
        scales = write_back(graph, trained, self.method)
        return PassResult(True, {"method": self.method, "epochs": log, "scales": scales,
                                 "mixed_models": 0 if mixed is None else len(mixed.models),
                                 "live_norms": len(trained.norms),
                                 "binary_weights": sum(is_binary(w) for w in weights),
                                 "pruned_zeros": sum(int((keep == 0).sum()) for _, keep in trained.masks.values()),
                                 **({} if bits is None else {"bits": bits.history, "bits_fixed_after": bits.last_step})})
