"""Scanned stacks for the split tests: cover sheets, receipts and documents as one PDF.

Pages are small (150 dpi) and damaged the way feeders and copiers damage them:
skewed, photocopied (blur and speckle), fed upside down.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import img2pdf
import numpy as np
import segno
from PIL import Image, ImageFilter

from pipeline.dossier.cover import render_cover

DPI = 150


def cover_page(code: str, doc_type: str | None = None, damage: str = "clean") -> Image.Image:
    """A cover sheet as a 150-dpi gray scan: ``clean``, ``skew``, ``photocopy`` or ``upside``."""
    img = render_cover(code, doc_type).reduce(2)  # 300 → 150 dpi
    return damaged(img, damage)


def damaged(img: Image.Image, damage: str) -> Image.Image:
    img = img.convert("L")
    if "skew" in damage:
        img = img.rotate(2.5, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    if "photocopy" in damage:
        img = img.filter(ImageFilter.GaussianBlur(0.8))
        arr = np.asarray(img).astype(np.int16)
        rng = np.random.default_rng(7)
        arr = np.clip(arr + rng.normal(0, 18, arr.shape), 0, 255).astype(np.uint8)
        arr[rng.random(arr.shape) < 0.002] = 0
        img = Image.fromarray(arr)
    if "upside" in damage:
        img = img.rotate(180)
    return img


def blank_page() -> Image.Image:
    return Image.new("L", (round(8.27 * DPI), round(11.69 * DPI)), 250)


def with_qr(page: Image.Image, text: str) -> Image.Image:
    """A page with a QR code holding ``text`` stuck at its top right (not a dossier code)."""
    qr = segno.make(text, error="m")
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=4, border=4)
    buf.seek(0)
    out = page.convert("RGB").copy()
    sticker = Image.open(buf).convert("RGB")
    out.paste(sticker, (out.width - sticker.width - 40, 40))
    return out


def write_stack(pages: Sequence[Image.Image], path: Path) -> Path:
    """The pages as one PDF at 150 dpi, as a feeder scanner writes a stack."""
    blobs = []
    for page in pages:
        buf = io.BytesIO()
        page.convert("RGB" if page.mode not in ("L", "RGB") else page.mode).save(
            buf, format="PNG", dpi=(DPI, DPI)
        )
        blobs.append(buf.getvalue())
    path.write_bytes(img2pdf.convert(blobs))
    return path
