"""What a bit configuration costs, measured on the model as it will be compiled: the
widths written as `q.bits` on a copy of the calibrated graph, `quantize` run on it (so
activations are quantized at their calibrated ranges, weights per channel at their
widths, ties and the target's storage as in the real pipeline), optionally a short
quantization-aware fine-tuning (`qat`, LSQ; distilling the float model's softmax when
the trials are scored with class labels) of that copy, and the fake-quant graph run
by the torch executor on the validation batches (BOMP-NAS measures each candidate after
a short QAT; MeasuredLoss, the cheaper default before, keeps activations in float)."""
from __future__ import annotations

from typing import Sequence

from qcompiler.ir.clone import clone
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.runtime.torch import to_torch

from ..sensitivity.layers import quantizable_layers
from .errors import AllocationError
from .layer_options import write_choices
from .measured_loss import Measurement, float_reference, score


class QuantizedLoss:
    def __init__(self, graph, batches: list, ctx: PassContext, finetune_epochs: int = 0, finetune_lr: float = 1e-4):
        unranged = [layer.node.label() for layer in quantizable_layers(graph) if "q.range" not in layer.node.attrs]
        if unranged:
            raise AllocationError(f"search{{activations=quantized}} quantizes each trial at the calibrated ranges, "
                                  f"but {unranged[0]} has no q.range: run calibrate before search "
                                  f"(or measure with activations=float)")
        self.graph, self.batches = graph, batches
        self.ctx = ctx
        # with class labels a trial is scored by cross entropy: fine-tune it by distilling the float
        # model's softmax (kl), which lowers that score; qat's default distils the logits by squared
        # error, which on the deep digits CNN raised it (0.24 -> 0.31; kl: 0.10). Else qat's default.
        classes = all(b.labels is not None and not b.labels.is_floating_point() for b in batches)
        finetune = f"qat{{epochs={finetune_epochs},lr={finetune_lr}{',loss=kl' if classes else ''}}}"
        self.pipeline = "quantize" + (f",{finetune}" if finetune_epochs else "")
        float_model = to_torch(graph).eval()
        self.reference = float_reference(lambda inputs: float_model(*inputs), batches)

    def __call__(self, bits: Sequence) -> Measurement:
        trial = clone(self.graph)
        write_choices(quantizable_layers(trial), bits, False)
        run_pipeline(trial, self.pipeline, PassContext(target=self.ctx.target, calibration=self.ctx.calibration,
                                                       seed=self.ctx.seed))
        model = to_torch(trial).eval()
        return score(lambda inputs: model(*inputs), self.batches, self.reference)
