"""The qcompiler side of the PTQ benchmark: compile with a chosen calibration method
(`cm(x)` then runs the Numba backend), export ONNX for ONNX Runtime in a chosen form and layout."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch

import qcompiler
from qcompiler.ir.serialize import save_qir
from qcompiler.pipelines import default_pipeline, replace


def target_for(cpu_flags: str) -> str:
    """VNNI multiplies u8×s8 without saturating int16 pair sums; plain AVX2 needs the
    7-bit weight restriction of the x86-avx2 target."""
    return "x86-vnni" if "avx512_vnni=yes" in cpu_flags else "x86-avx2"


def pipeline_with(target: str, method: str) -> str:
    """The target's default pipeline with its calibration method replaced."""
    return ",".join(replace(default_pipeline(target), "calibrate", f"calibrate{{method={method}}}"))


def compile_int8(model: torch.nn.Module, target: str, method: str, calibration: np.ndarray,
                 example: np.ndarray):
    return qcompiler.compile(model, target=target, example_inputs=torch.from_numpy(example[:1]),
                             calibration=calibration, pipeline=pipeline_with(target, method), progress=False)


def export_layout(cm, path: Path, form: str, channels_last) -> tuple:
    """(path, "channels-last" or "channels-first"): `cm` exported in `form` with the
    `channels_last` choice (None: the exporter's default; the qoperator form's only), and
    the layout its convolutions ended up in."""
    cm.export_onnx(path, form=form, channels_last=channels_last)
    nodes = onnx.load(str(path), load_external_data=False).graph.node
    last = any(a.name == "channels_last" and a.i == 1 for n in nodes if n.op_type == "QLinearConv" for a in n.attribute)
    return path, "channels-last" if last else "channels-first"


def graph_bytes(cm, directory: Path) -> int:
    """Size of the compiled graph as the Numba backend loads it (.qir text + .npz arrays)."""
    directory.mkdir(parents=True, exist_ok=True)
    save_qir(cm.graph, directory / "model.qir")
    return sum(p.stat().st_size for p in directory.iterdir())
