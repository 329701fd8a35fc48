"""Copies of the real pages damaged by other people's tools, for scoring fields on them.

Why: the real documents are few (see README.md), and a rule tuned on them as scanned
can still break on the copies an office actually receives. The damage here is made
by tools sohoa does not use for its own test pages (Poppler's renderer at another
resolution, GraphicsMagick, Pillow's own resampling and JPEG writer),
with settings chosen once, before any scoring, and never tuned:

- ``orig``: the PDF page as the pipeline receives it (the file itself);
- ``pdftoppm-150g``: Poppler at 150 dpi in grey;
- ``gm-blur-jpeg``: GraphicsMagick, Gaussian blur sigma 1.2 px, JPEG quality 55;
- ``gm-turn``: GraphicsMagick, turned 1.8° (white background);
- ``gm-dark``: GraphicsMagick, darkened (gamma 0.6, paper at 80 %), then 150 dpi;
- ``pil-100-jpeg``: Pillow, Lanczos to 100 dpi, JPEG quality 40 (4:2:0).

Each copy is one image per page, written once under the cache folder; the file name
carries the variant, the page and a digest of the recipe, so a changed recipe is a
new file.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

from PIL import Image

Image.MAX_IMAGE_PIXELS = 200_000_000

VARIANTS = ("orig", "pdftoppm-150g", "gm-blur-jpeg", "gm-turn", "gm-dark", "pil-100-jpeg")


def _render(pdf: Path, page: int, dpi: int, out: Path, grey: bool = False) -> Path:
    """One page (1-based) rendered by pdftoppm as PNG (with its annotations: a copy
    printed from the file shows a signing stamp's appearance too)."""
    stem = out.with_suffix("")
    cmd = ["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile"]
    cmd += ["-png", *(["-gray"] if grey else []), str(pdf), str(stem)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return stem.with_suffix(".png")


def _magick(tool: list[str], src: Path, args: list[str], out: Path) -> Path:
    subprocess.run([*tool, str(src), *args, str(out)], check=True, capture_output=True, timeout=300)
    return out


def _blur_jpeg(src: Path, out: Path, dpi: int) -> Path:
    args = ["-gaussian", "0x1.2", "-density", str(dpi), "-quality", "55"]
    return _magick(["gm", "convert"], src, args, out)


def _turn(src: Path, out: Path, dpi: int) -> Path:
    args = ["-background", "white", "-rotate", "1.8", "-density", str(dpi)]
    return _magick(["gm", "convert"], src, args, out)


def _dark(src: Path, out: Path, dpi: int) -> Path:
    scale = f"{100 * 150 / dpi:.2f}%"
    args = ["-gamma", "0.6", "-operator", "All", "Multiply", "0.8", "-resize", scale]
    return _magick(["gm", "convert"], src, [*args, "-density", "150"], out)


def _pil_small_jpeg(src: Path, out: Path, dpi: int) -> Path:
    with Image.open(src) as im:
        im = im.convert("RGB")
        k = 100 / dpi
        small = im.resize((round(im.width * k), round(im.height * k)), Image.Resampling.LANCZOS)
        small.save(out, "JPEG", quality=40, subsampling=2, dpi=(100, 100))
    return out


_RECIPES: dict[str, tuple[str, Callable[[Path, Path, int], Path]]] = {
    "gm-blur-jpeg": ("jpg", _blur_jpeg),
    "gm-turn": ("png", _turn),
    "gm-dark": ("png", _dark),
    "pil-100-jpeg": ("jpg", _pil_small_jpeg),
}


def media_type(path: Path) -> str:
    return {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg"}[path.suffix]


def copy_of(pdf: Path, page: int, dpi: int, variant: str, folder: Path) -> tuple[Path, int]:
    """(file, page index in it) of ``variant`` of page ``page`` (1-based) of ``pdf``."""
    if variant == "orig":
        return pdf, page - 1
    folder.mkdir(parents=True, exist_ok=True)
    recipe = hashlib.sha256(f"{variant}|{dpi}|{__doc__}".encode()).hexdigest()[:8]
    stem = folder / f"{pdf.stem}-p{page}-{variant}-{recipe}"
    if variant == "pdftoppm-150g":
        out = stem.with_suffix(".png")
        if not out.is_file():
            _render(pdf, page, 150, out, grey=True)
        return out, 0
    ext, make = _RECIPES[variant]
    out = stem.with_suffix(f".{ext}")
    if not out.is_file():
        base = folder / f"{pdf.stem}-p{page}-base{dpi}.png"
        if not base.is_file():
            _render(pdf, page, dpi, base)
        make(base, out, dpi)
    return out, 0
