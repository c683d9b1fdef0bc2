"""Retraining where the compiler removes capacity (issue 13): magnitude pruning and
AutoQB channel-level binarization, each measured after PTQ and after a short `qat`
fine-tune that keeps the pruned weights at zero and the binary channels binary
(passes/qat/training_module.py), on the digits residual CNN (bench/_mnist_resnet.py).

    python bench/retraining.py [--data PATH] [--rows prune-element prune-channel binary]
                               [--sparsity 0.5] [--scope layer] [--binary-budget 15%] [--group 8]
                               [--keep-outputs] [--qat-epochs 2] [--train-samples 2048] [--lr 3e-4]
                               [--scale-lr 3] [--schedule constant] [--variants frozen live recal-frozen recal-live]
                               [--seed 0] [--model-cache PATH] [--write]

Every row starts from the same float model (3 epochs, seed 0) and
`fold-bn,...` with calibrate{method=mse} on 256 training digits, activations u8:
- prune-element / prune-channel: prune{sparsity, granularity, scope, keep_outputs} on
  the float weights before calibrate, weights i8;
- binary: sensitivity{metric=hessian} on the 256 digits with labels,
  allocate-bits{granularity=channel-group:G, choices=[1,2,4,8], budget.size} (groups of G
  output channels take their own widths, binary included), calibrate-weights, quantize;
then qat{method=lsq} (cross-entropy on the first `--train-samples` training digits, Adam)
on that graph, with the folded BatchNorm frozen (qat{bn=frozen}) or live (qat{bn=live}:
batch statistics while training, folded back after: passes/qat/live_norm.py); the recal-
variants prune with recalibrate=true (each pruned layer's channel statistics matched to
the unpruned model's on the 256 calibration digits: BatchNorm recalibration on the folded
graph, passes/compression/recalibrate.py; prune rows only). Top-1 of the fake-quant graph (torch executor) on the 1,000 test digits;
"zeros kept" and "binary kept" check the masks on the trained graph; "numba = ref" runs
the lowered trained graph in Numba and the numpy reference on the test digits.
"""
from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_description, markdown_table, write_section  # noqa: E402
from _mnist_resnet import SmallResNet, load_mnist5k, train_resnet  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist5k.npz"
PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce"
ROWS = ("prune-element", "prune-channel", "binary")
VARIANTS = ("frozen", "live", "recal-frozen", "recal-live")


def ptq_pipeline(row: str, args, recalibrate: bool) -> str:
    if row.startswith("prune"):
        granularity = row.split("-")[1]
        return (f"{PREPARE},prune{{sparsity={args.sparsity},granularity={granularity},scope={args.scope},"
                f"keep_outputs={str(args.keep_outputs).lower()},recalibrate={str(recalibrate).lower()}}},"
                "calibrate{method=mse},quantize{weights=i8,acts=u8}")
    return (f"{PREPARE},calibrate{{method=mse}},sensitivity{{metric=hessian}},allocate-bits{{granularity="
            f"channel-group:{args.group},choices=[1,2,4,8],budget.size={args.binary_budget}}},"
            "calibrate-weights{method=mse},quantize{acts=u8}")


def top1(graph, x, y) -> float:
    from qcompiler.runtime.torch import run_torch

    return 100.0 * float((run_torch(graph, [x])[0].argmax(1) == y).mean())


def layer_weights(graph) -> dict:
    """layer -> (type, integers, the real values they stand for, quantize's float weights) of
    every quantized conv/linear weight."""
    from qcompiler.ir.types import QuantType
    from qcompiler.numerics.affine import dequantize

    weights = {}
    for n in graph.nodes:
        if n.op in ("conv2d", "linear") and isinstance(n.inputs[1].type, QuantType):
            t, q = n.inputs[1].type, np.asarray(n.inputs[1].producer.attrs["value"].array)
            weights[n.outputs[0].name] = (t, q, dequantize(q, t), n.inputs[1].producer.meta.get("float_value"))
    return weights


def describe(weights: dict) -> dict:
    """Weight size in bytes, the fraction of zero weights, binary channels."""
    size = sum(int(t.storage[1:]) * q.size / 8 for t, q, _, _ in weights.values())
    zeros = sum(int((w == 0).sum()) for _, _, w, _ in weights.values())
    binary = sum(q.shape[0] for t, q, _, _ in weights.values() if t.storage == "b1")
    return {"size": size, "zeros": zeros / sum(q.size for _, q, _, _ in weights.values()), "binary_channels": binary}


def masks_held(before: dict, after: dict) -> tuple:
    """(every pruned weight, a float zero before quantize, is zero after qat; every binary
    weight is still ±1). Weights that round to zero without being pruned may move."""
    zeros = all(not after[k][2][pruned == 0].any() for k, (_, _, _, pruned) in before.items())
    binary = all(after[k][0].storage == "b1" and set(np.unique(after[k][1])) <= {-1, 1}
                 for k, (t, _, _, _) in before.items() if t.storage == "b1")
    return zeros, binary


def run_row(row: str, variant: str, args, model, d) -> dict:
    from qcompiler.backends.numba.executor import NumbaExecutor
    from qcompiler.ir.clone import clone
    from qcompiler.model.loading import load_model
    from qcompiler.passes.qat import QAT
    from qcompiler.passmanager import PassContext, PassManager
    from qcompiler.runtime.reference import run_graph

    graph = load_model(model, torch.from_numpy(d["x_test"][:1]), dynamic_batch=True)
    ctx = PassContext(target="generic", calibration=d["x_train"][:256], options={"labels": d["y_train"][:256]},
                      seed=args.seed)
    start = time.perf_counter()
    PassManager(ptq_pipeline(row, args, variant.startswith("recal"))).run(graph, ctx)
    ptq_seconds = time.perf_counter() - start
    before = layer_weights(graph)
    result = {"ptq": top1(graph, d["x_test"], d["y_test"]), **describe(before), "ptq_seconds": ptq_seconds}
    train = (d["x_train"][:args.train_samples], d["y_train"][:args.train_samples])
    start = time.perf_counter()
    qat = QAT(method="lsq", epochs=args.qat_epochs, lr=args.lr, scale_lr=args.scale_lr, schedule=args.schedule,
              data=train, bn=variant.split("-")[-1])
    PassManager([qat]).run(graph, ctx)
    result["qat_seconds"] = time.perf_counter() - start
    result["qat"] = top1(graph, d["x_test"], d["y_test"])
    result["zeros_kept"], result["binary_kept"] = masks_held(before, layer_weights(graph))
    lowered = clone(graph)
    PassManager("lower").run(lowered, PassContext(target="generic"))
    result["numba_equal"] = bool(np.array_equal(NumbaExecutor(lowered)([d["x_test"]])[0],
                                                run_graph(lowered, [d["x_test"]])[0]))
    return result


def float_channel_retraining(model, d, args, live_bn: bool) -> float:
    """Top-1 after retraining the float model in torch with the output channels prune{granularity=channel,
    scope=layer} removes (the lowest RMS of each folded conv weight; the classifier kept) held at zero, with
    the BatchNorm statistics frozen (what qat trains: fold-bn ran before prune) or live (batch statistics).
    Adam at --lr for --qat-epochs on the same digits, --schedule as qat's."""
    model = copy.deepcopy(model)
    pairs = [(model.stem[0], model.stem[1])]
    for block in model.stages:
        pairs += [(block.conv1, block.bn1), (block.conv2, block.bn2)]
        pairs += [] if isinstance(block.shortcut, torch.nn.Identity) else [(block.shortcut[0], block.shortcut[1])]
    masks = []
    for conv, bn in pairs:
        folded = conv.weight.detach() * (bn.weight / (bn.running_var + bn.eps).sqrt()).detach()[:, None, None, None]
        rms = folded.reshape(folded.shape[0], -1).square().mean(1).sqrt()
        keep = torch.ones(folded.shape[0])
        keep[rms.argsort(stable=True)[:math.floor(args.sparsity * len(rms) + 0.5)]] = 0.0
        masks.append((conv.weight, keep[:, None, None, None]))
    x, y = torch.from_numpy(d["x_train"][:args.train_samples]), torch.from_numpy(d["y_train"][:args.train_samples])
    steps = args.qat_epochs * -(-len(x) // 64)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if args.schedule == "cosine" else None
    order = torch.Generator().manual_seed(0)
    for _ in range(args.qat_epochs):
        model.train(live_bn)
        for batch in torch.randperm(len(x), generator=order).split(64):
            with torch.no_grad():
                for weight, keep in masks:
                    weight.mul_(keep)
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if decay is not None:
                decay.step()
    with torch.no_grad():
        for weight, keep in masks:
            weight.mul_(keep)
        model.eval()
        return 100.0 * float((model(torch.from_numpy(d["x_test"])).argmax(1).numpy() == d["y_test"]).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rows", nargs="*", default=list(ROWS), choices=ROWS, help="none: only --float-bn-check")
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--scope", default="layer", choices=("layer", "global"))
    parser.add_argument("--keep-outputs", action="store_true", help="prune leaves the classifier (graph outputs) dense")
    parser.add_argument("--binary-budget", default="15%", help="weight size budget (of every layer at 8 bits)")
    parser.add_argument("--group", type=int, default=8, help="output channels per channel group")
    parser.add_argument("--qat-epochs", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=2048)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--scale-lr", type=float, default=3.0)
    parser.add_argument("--schedule", default="constant", choices=("constant", "cosine"), help="qat's lr schedule")
    parser.add_argument("--variants", nargs="+", default=["frozen"], choices=VARIANTS,
                        help="qat{bn=frozen|live}, recal-: prune{recalibrate=true} first (prune rows only)")
    parser.add_argument("--seed", type=int, default=0, help="the pipeline's seed (qat's batch order, Hessian probes)")
    parser.add_argument("--float-bn-check", action="store_true",
                        help="also retrain the channel-pruned float model in torch, BatchNorm frozen and live")
    parser.add_argument("--model-cache", type=Path, default=None)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a shared machine: one core per training run
    from qcompiler.model.loading import load_model

    d = load_mnist5k(args.data)
    if args.model_cache is not None and args.model_cache.exists():
        model = SmallResNet()
        model.load_state_dict(torch.load(args.model_cache))
        model.eval()
    else:
        model = train_resnet(d["x_train"], d["y_train"], epochs=3)
        if args.model_cache is not None:
            torch.save(model.state_dict(), args.model_cache)
    fp32 = top1(load_model(model, torch.from_numpy(d["x_test"][:1]), dynamic_batch=True), d["x_test"], d["y_test"])
    print(f"fp32 {fp32:.1f}%", flush=True)
    rows = [["fp32", "-", "-", "-", "-", "-", f"{fp32:.1f}", "-", "-", "-", "-"]]
    for row, variant in ((r, v) for r in args.rows for v in args.variants):
        if variant.startswith("recal") and not row.startswith("prune"):
            continue
        r = run_row(row, variant, args, model, d)
        print(row, variant, r, flush=True)
        rows.append([row, variant, f"{r['size']:.0f}", f"{100 * r['zeros']:.1f}", str(r["binary_channels"]),
                     f"{r['ptq']:.1f}", f"{r['qat']:.1f}", "yes" if r["zeros_kept"] and r["binary_kept"] else "NO",
                     "yes" if r["numba_equal"] else "NO", f"{r['ptq_seconds']:.0f}", f"{r['qat_seconds']:.0f}"])
    table = markdown_table(["row", "variant", "weight B", "zero weights %", "binary channels", "PTQ top-1 %",
                            "after qat top-1 %", "masks held", "numba = ref", "PTQ s", "qat s"], rows, "llrrrrrllrr")
    command = (f"python bench/retraining.py --rows {' '.join(args.rows)} --sparsity {args.sparsity} "
               f"--scope {args.scope}{' --keep-outputs' if args.keep_outputs else ''} --binary-budget "
               f"{args.binary_budget} --group {args.group} --qat-epochs {args.qat_epochs} --train-samples "
               f"{args.train_samples} --lr {args.lr} --scale-lr {args.scale_lr} --schedule {args.schedule} "
               f"--variants {' '.join(args.variants)} --seed {args.seed}")
    body = (f"`{command}` ({cpu_description()})\n\nDigits residual CNN (3 float epochs, seed 0); qat (LSQ, "
            f"{args.schedule} lr {args.lr}, step sizes at {args.lr * args.scale_lr:g}) for {args.qat_epochs} epochs on "
            f"{args.train_samples} labelled training digits; top-1 on the 1,000 test digits.\n\n" + table)
    if args.float_bn_check:
        frozen, live = (float_channel_retraining(model, d, args, live) for live in (False, True))
        body += (f"\n\nThe same channel masks retrained in float (torch, Adam, the same lr, epochs, schedule and "
                 f"digits): BatchNorm statistics frozen {frozen:.1f}%, live (batch statistics) {live:.1f}%.")
    print(body)
    if args.write:
        write_section("Retraining after pruning and channel-level binarization (qat with masks)", body)


if __name__ == "__main__":
    main()
