"""Accuracy part of bench/codebook_conv.py: kernel codebooks on the mnist5k ResNet's 3×3
convolutions against uniform int2 weights on the same layers (1×1 shortcuts and the
classifier stay float in every row), before and after the same distillation budget."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.utils.parametrize as parametrize

from qcompiler.backends.onnx import to_onnx
from qcompiler.frontends.fx import import_module
from qcompiler.ir.clone import clone
from qcompiler.passes.calibration.weight_ranges import weight_range
from qcompiler.passes.codebook.finetune import softmax_kl
from qcompiler.passes.codebook.quantize import conv_weights
from qcompiler.passes.codebook.size import codebook_size
from qcompiler.passes.quantize.weights import params_in
from qcompiler.passmanager import PassContext, PassManager, run_pipeline
from qcompiler.runtime.fake_quant import fake_quantize
from qcompiler.runtime.torch import to_torch

EPOCHS, ROUNDS = 10, 2  # codebook-finetune's defaults; int2 QAT gets EPOCHS·ROUNDS epochs


def float_graph(model, x):
    g = import_module(model, (torch.from_numpy(x[:1]),), dynamic_batch=True)
    run_pipeline(g, "fold-bn,canonicalize")
    return g


def accuracy(g, x, y) -> float:
    with torch.no_grad():
        return float((to_torch(g)(torch.from_numpy(x))[0].argmax(1).numpy() == y).mean())


def codebook_rows(g, data, index_bits=(4, 6, 8)) -> list:
    """(method, bits/weight, Huffman bits/weight, accuracy, graph) per setting."""
    rows = []
    for bits in index_bits:
        for finetune in (False, True):
            kq = clone(g)
            pipeline = f"codebook-quantize{{index_bits={bits}}}" + (",codebook-finetune{loss=kl}" if finetune else "")
            pm = PassManager(pipeline)
            pm.run(kq, PassContext(calibration=data["x_train"]))
            size = codebook_size(kq)
            rows.append((f"KQ cb6 idx{bits}" + (" + fine-tune" if finetune else ""), size.bits_per_weight(),
                         size.bits_per_weight("huffman"), accuracy(kq, data["x_test"], data["y_test"]), kq))
    return rows


def _int2(g, symmetric, method):
    """(per-channel int2 parameters per weight value name, bits/weight) of the 3x3 conv weights."""
    params = {}
    for w in conv_weights(g, (3, 3)):
        scale, zp = params_in(*weight_range(g.const_value(w), method, 2, symmetric, axis=0), "i2", symmetric)
        params[w.name] = (np.asarray(scale, np.float32), np.asarray(zp, np.float32))
    weights = sum(int(np.prod(w.type.shape)) for w in conv_weights(g, (3, 3)))
    channels = sum(w.type.shape[0] for w in conv_weights(g, (3, 3)))
    return params, (2 * weights + 40 * channels) / weights  # f32 scale + 8-bit zero point per channel


class _FakeInt2(torch.nn.Module):
    def __init__(self, scale, zero_point):
        super().__init__()
        self.scale = torch.from_numpy(scale).view(-1, 1, 1, 1)
        self.zero_point = torch.from_numpy(zero_point).view(-1, 1, 1, 1)

    def forward(self, w):
        return fake_quantize(w, self.scale, self.zero_point, -2, 1)


def _int2_module(g, params):
    module = to_torch(g)
    for name, (scale, zp) in params.items():
        attr = g.find(name).producer.attrs["origin"].replace(".", "_")
        parametrize.register_parametrization(module, attr, _FakeInt2(scale, zp))
    return module


def int2_rows(g, data) -> list:
    """Uniform int2 per channel: the best of symmetric/asymmetric × minmax/mse ranges,
    then that one trained with the same distillation (KL, T=2) as codebook-finetune,
    all its conv weights free (straight-through estimator)."""
    x, y = torch.from_numpy(data["x_test"]), data["y_test"]
    best = None
    for symmetric in (True, False):
        for method in ("minmax", "mse"):
            params, bits = _int2(g, symmetric, method)
            with torch.no_grad():
                acc = float((_int2_module(g, params)(x)[0].argmax(1).numpy() == y).mean())
            if best is None or acc > best[3]:
                best = (f"uniform int2/channel ({'sym' if symmetric else 'asym'} {method})", bits, bits, acc, params)
    student, teacher = _int2_module(g, best[4]), to_torch(g)
    latent = [p for n, p in student.named_parameters() if n.endswith("original")]
    batches = [torch.from_numpy(data["x_train"][i:i + 64]) for i in range(0, len(data["x_train"]), 64)]
    optimizer = torch.optim.Adam(latent, lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, EPOCHS * ROUNDS * len(batches))
    for _ in range(EPOCHS * ROUNDS):
        for batch in batches:
            with torch.no_grad():
                target = teacher(batch)[0]
            optimizer.zero_grad()
            softmax_kl(student(batch)[0], target, 2.0).backward()
            optimizer.step()
            schedule.step()
    with torch.no_grad():
        trained = float((student(x)[0].argmax(1).numpy() == y).mean())
    return [best[:4], (best[0] + " + QAT", best[1], best[2], trained)]


def onnx_check(kq, data) -> dict:
    """The fine-tuned codebook model exported both ways: ORT accuracy and weight bytes."""
    import onnxruntime as ort

    out = {}
    for weights in ("gather", "int8"):
        model = to_onnx(kq, codebook=weights)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        logits = session.run(None, {kq.inputs[0].name: data["x_test"]})[0]
        out[weights] = (float((logits.argmax(1) == data["y_test"]).mean()), len(model.SerializeToString()))
    return out
