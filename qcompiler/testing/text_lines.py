"""Rendered English text lines with their ground truth, for measuring a CTC text
recognizer (rapidocr's PP-OCR rec model) without downloading a data set.

Lines mix words in several cases, integers, decimals, percentages, prices, dates and
punctuation; they are drawn with the DejaVu faces matplotlib ships, at 24-40 px, in gray
levels, rotated by up to one degree and cropped to the ink. Every character of a line is
checked against the model's dictionary, so a line the model cannot spell never counts
as its error."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

WORDS = ("invoice total amount balance payment order number customer account service delivery "
         "address street city north market price tax discount quantity item product report "
         "summary annual growth sales revenue profit margin budget meeting schedule office "
         "station platform train ticket window coffee water bread apple orange green yellow "
         "black white light heavy small large quick brown jumps over lazy river mountain").split()


@dataclass(frozen=True)
class TextLine:
    text: str
    image: np.ndarray  # HxWx3 uint8, dark ink on a light background (or the reverse)


def dejavu_fonts() -> list[Path]:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    # the Display faces hold only a few glyphs
    fonts = sorted(f for f in folder.glob("DejaVu*.ttf") if "Display" not in f.name)
    if not fonts:
        raise FileNotFoundError(f"no DejaVu fonts under {folder}")
    return fonts


def _word(rng: np.random.Generator) -> str:
    w = str(rng.choice(WORDS))
    case = rng.integers(3)
    return w.upper() if case == 0 else w.capitalize() if case == 1 else w


def _token(rng: np.random.Generator) -> str:
    kind = rng.choice(["word", "word", "word", "int", "decimal", "percent", "price", "date", "punct"])
    if kind == "word":
        return _word(rng)
    if kind == "int":
        return str(rng.integers(0, 100000))
    if kind == "decimal":
        return f"{rng.uniform(0, 1000):.{rng.integers(1, 4)}f}"
    if kind == "percent":
        return f"{rng.uniform(0, 100):.1f}%"
    if kind == "price":
        return f"${rng.uniform(1, 5000):,.2f}"
    if kind == "date":
        y, m, d = rng.integers(1990, 2030), rng.integers(1, 13), rng.integers(1, 29)
        return f"{y}-{m:02d}-{d:02d}" if rng.integers(2) else f"{d:02d}/{m:02d}/{y}"
    return _word(rng) + str(rng.choice([",", ".", ":", ";", "!", "?", ")"]))


def random_text(rng: np.random.Generator, max_chars: int = 28) -> str:
    tokens = [_token(rng) for _ in range(rng.integers(1, 6))]
    text = " ".join(tokens)
    return text[:max_chars].strip() or _word(rng)


def render(text: str, font: Path, size: int, ink: int, paper: int, angle: float) -> np.ndarray:
    """`text` drawn at `size` px, rotated by `angle` degrees, cropped to the ink plus a
    small margin; HxWx3 uint8."""
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(str(font), size)
    left, top, right, bottom = face.getbbox(text)
    pad = size // 2
    canvas = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), paper)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), text, font=face, fill=ink)
    canvas = canvas.rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=paper)
    pixels = np.asarray(canvas, dtype=np.int16)
    rows, cols = np.nonzero(np.abs(pixels - paper) > 24)
    margin = max(2, size // 8)
    r0, r1 = max(rows.min() - margin, 0), min(rows.max() + margin + 1, pixels.shape[0])
    c0, c1 = max(cols.min() - margin, 0), min(cols.max() + margin + 1, pixels.shape[1])
    gray = pixels[r0:r1, c0:c1].astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def text_lines(count: int, seed: int, dictionary: Sequence[str]) -> list[TextLine]:
    """`count` lines, reproducible from `seed`, spelled only with `dictionary`'s characters."""
    rng = np.random.default_rng(seed)
    fonts, allowed = dejavu_fonts(), set(dictionary)
    lines: list[TextLine] = []
    while len(lines) < count:
        text = random_text(rng)
        if not set(text) <= allowed:
            continue
        dark = int(rng.integers(0, 90))
        light = int(rng.integers(170, 256))
        ink, paper = (dark, light) if rng.random() < 0.85 else (light, dark)
        image = render(text, fonts[rng.integers(len(fonts))], int(rng.integers(24, 41)), ink, paper,
                       float(rng.uniform(-1.0, 1.0)))
        lines.append(TextLine(text, image))
    return lines


def stroke_lines(count: int, seed: int) -> np.ndarray:
    """Unreadable stand-ins for text lines in the PP-OCR classifier's input layout
    ([count, 3, 48, 192]): dark strokes on a light page, normalized like rapidocr,
    (x/255 - 0.5)/0.5. Cheap calibration and test data where no ground truth is needed."""
    rng = np.random.default_rng(seed)
    page = np.full((count, 48, 192), 230.0)
    for i in range(count):
        for _ in range(12):
            r, c = rng.integers(8, 40), rng.integers(4, 180)
            page[i, r - 2:r + 2, c:c + rng.integers(4, 12)] = rng.uniform(0, 60)
    return np.repeat(((page / 255.0 - 0.5) / 0.5)[:, None], 3, axis=1).astype(np.float32)
