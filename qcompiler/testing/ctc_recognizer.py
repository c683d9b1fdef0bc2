"""What rapidocr does around its PP-OCR recognition model, reproduced so any runner
(onnxruntime, a compiled model, a quantized ONNX file) can be scored the same way:
the dictionary from the model's metadata, batch preprocessing, CTC greedy decoding,
exact-line accuracy and character error rate."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

HEIGHT, MIN_WIDTH = 48, 320


def rec_model_path() -> Path:
    import rapidocr_onnxruntime

    return Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_rec_infer.onnx"


def dictionary(model_path: Path) -> list[str]:
    """Class index -> character: CTC blank at 0, the 'character' metadata entry, then ' '
    (rapidocr's CTCLabelDecode)."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    if "character" not in meta:
        raise ValueError(f"{model_path}: no 'character' entry in the ONNX metadata")
    return ["<blank>"] + meta["character"].splitlines() + [" "]


def preprocess(images: Sequence[np.ndarray]) -> np.ndarray:
    """rapidocr's resize_norm_img for one batch: height 48, aspect ratio kept, /255, -0.5,
    /0.5, right-padded with zeros to the batch's widest line (at least 320 px)."""
    import cv2

    ratio = max([MIN_WIDTH / HEIGHT] + [im.shape[1] / im.shape[0] for im in images])
    width = int(HEIGHT * ratio)
    batch = np.zeros((len(images), 3, HEIGHT, width), dtype=np.float32)
    for i, im in enumerate(images):
        resized_w = min(width, int(math.ceil(HEIGHT * im.shape[1] / im.shape[0])))
        resized = cv2.resize(im, (resized_w, HEIGHT)).astype(np.float32)
        batch[i, :, :, :resized_w] = (resized.transpose(2, 0, 1) / 255 - 0.5) / 0.5
    return batch


def batches(images: Sequence[np.ndarray], batch_size: int = 8) -> list[tuple[np.ndarray, list[int]]]:
    """Lines sorted by aspect ratio (as rapidocr does, so padding stays small), grouped:
    (preprocessed batch, the lines' original indices)."""
    order = sorted(range(len(images)), key=lambda i: images[i].shape[1] / images[i].shape[0])
    groups = [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
    return [(preprocess([images[i] for i in group]), group) for group in groups]


def ctc_decode(probs: np.ndarray, characters: Sequence[str]) -> list[str]:
    """Greedy CTC: argmax per step, repeats merged, blanks dropped."""
    best = probs.argmax(axis=2)
    texts = []
    for row in best:
        keep = np.ones(len(row), dtype=bool)
        keep[1:] = row[1:] != row[:-1]
        keep &= row != 0
        texts.append("".join(characters[k] for k in row[keep]))
    return texts


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def score(predicted: Sequence[str], truth: Sequence[str]) -> dict:
    """Exact-line accuracy and character error rate (edits / reference characters)."""
    exact = sum(p == t for p, t in zip(predicted, truth))
    edits = sum(edit_distance(p, t) for p, t in zip(predicted, truth))
    return {"line_acc": exact / len(truth), "cer": edits / max(1, sum(len(t) for t in truth))}


def recognize(run: Callable[[np.ndarray], np.ndarray], images: Sequence[np.ndarray], characters: Sequence[str],
              batch_size: int = 8) -> list[str]:
    """Texts read by `run` (a [B,3,48,W] float batch -> [B,T,classes] probabilities)."""
    texts = [""] * len(images)
    for batch, indices in batches(images, batch_size):
        for i, text in zip(indices, ctc_decode(np.asarray(run(batch)), characters)):
            texts[i] = text
    return texts
