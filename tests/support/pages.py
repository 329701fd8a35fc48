"""Tiny synthetic page renderer for the cleanup tests: Vietnamese text with known geometry.

The tests need pages whose skew, rotation and borders are known exactly, so they
render their own: Noto Serif (it covers Vietnamese), lines taken from a law in
the shared corpus, then a known distortion applied with Pillow.
"""

from __future__ import annotations

import random
import subprocess
import textwrap
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.lang.textnorm import nfc

CORPUS_FILE = Path("vi-corpus") / "underthesea-vietnamese-legal-corpus" / "hien-phap.txt"
A4_INCHES = (8.27, 11.69)


@cache
def _font_path() -> str:
    out = subprocess.run(
        ["fc-match", "-f", "%{file}", "Noto Serif"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@cache
def corpus_paragraphs(shared_data: Path) -> tuple[str, ...]:
    """Non-trivial paragraphs of the Constitution text, NFC."""
    text = nfc((shared_data / CORPUS_FILE).read_text(encoding="utf-8"))
    return tuple(p.strip() for p in text.split("\n") if len(p.strip()) > 40)


def render_page(
    shared_data: Path,
    seed: int = 0,
    dpi: int = 150,
    n_lines: int | None = None,
    size_pt: float = 12.0,
) -> np.ndarray:
    """An upright A4 gray page of justified-looking Vietnamese text, uint8, white paper.

    ``n_lines`` limits the body (``0`` gives a title only; ``None`` fills the page).
    """
    rng = random.Random(seed)
    width, height = round(A4_INCHES[0] * dpi), round(A4_INCHES[1] * dpi)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(_font_path(), round(size_pt * dpi / 72))
    title_font = ImageFont.truetype(_font_path(), round(size_pt * 1.4 * dpi / 72))
    margin = round(0.9 * dpi)
    line_h = round(size_pt * 1.5 * dpi / 72)
    y = margin
    draw.text((margin, y), "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", font=title_font, fill=0)
    y += 2 * line_h
    paragraphs = corpus_paragraphs(shared_data)
    chars_per_line = max(20, int((width - 2 * margin) / (font.getlength("abcdefghij") / 10)))
    written = 0
    while y + line_h < height - margin and (n_lines is None or written < n_lines):
        for line in textwrap.wrap(rng.choice(paragraphs), chars_per_line - 2):
            if y + line_h >= height - margin or (n_lines is not None and written >= n_lines):
                break
            draw.text((margin, y), line, font=font, fill=rng.randint(0, 40))
            y += line_h
            written += 1
        y += line_h // 2
    return np.asarray(page).copy()


def skew(page: np.ndarray, degrees_ccw: float, fill: int | tuple[int, ...] = 255) -> np.ndarray:
    """Rotate counter-clockwise as seen on screen (lines then rise to the right), expanding."""
    img = Image.fromarray(page)
    out = img.rotate(degrees_ccw, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)
    return np.asarray(out).copy()


def rotate_cw(page: np.ndarray, degrees: int) -> np.ndarray:
    """Turn a page by a multiple of 90 degrees clockwise, as a scanner would deliver it."""
    return np.ascontiguousarray(np.rot90(page, k=-(degrees // 90) % 4))


def on_dark_frame(page: np.ndarray, border: int, level: int = 25) -> np.ndarray:
    """Paste the page onto a dark scanner background ``border`` pixels wide all round."""
    h, w = page.shape[:2]
    shape = (h + 2 * border, w + 2 * border, *page.shape[2:])
    framed = np.full(shape, level, dtype=np.uint8)
    framed[border : border + h, border : border + w] = page
    return framed


def speckle(page: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Scatter isolated dark pixels, like dust on the scanner glass."""
    rng = np.random.default_rng(seed)
    out = page.copy()
    ys = rng.integers(0, page.shape[0], count)
    xs = rng.integers(0, page.shape[1], count)
    out[ys, xs] = 0
    return out
