"""Writing generated pages as the files scanners make: PNG, JPEG-in-PDF, multi-page TIFF."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import img2pdf
import numpy as np
import pikepdf
from PIL import Image

from samples.layouts import GeneratedPage


def write_png(page: GeneratedPage, path: str | Path, *, colors: int | None = None) -> Path:
    """PNG with its DPI recorded (pHYs); ``colors`` makes a small palette PNG."""
    path = Path(path)
    image = page.image
    if colors:
        image = image.quantize(colors, dither=Image.Dither.NONE)
    image.save(path, format="PNG", dpi=(page.dpi, page.dpi), optimize=True)
    return path


def _jpeg(page: GeneratedPage, quality: int, grey: bool = False) -> bytes:
    buf = io.BytesIO()
    page.image.convert("L" if grey else "RGB").save(
        buf, "JPEG", quality=quality, dpi=(page.dpi, page.dpi), optimize=True, subsampling=2
    )
    return buf.getvalue()


def write_pdf(
    pages: Sequence[GeneratedPage], path: str | Path, *, quality: int = 50, grey: bool = False
) -> Path:
    """Multi-page PDF of JPEG images, each page sized by its DPI (as a scanner writes)."""
    path = Path(path)
    data = img2pdf.convert([_jpeg(p, quality, grey) for p in pages], nodate=True)
    with pikepdf.open(io.BytesIO(data)) as pdf:  # a content-derived /ID: same pages, same bytes
        if "/ID" in pdf.trailer:
            del pdf.trailer["/ID"]
        pdf.save(path, deterministic_id=True)
    return path


def write_tiff(
    pages: Sequence[GeneratedPage],
    path: str | Path,
    *,
    quality: int = 50,
    grey: bool = False,
    lossless: bool = False,
) -> Path:
    """Multi-page TIFF, JPEG-compressed (or deflated with ``lossless``); one DPI for all pages.

    Colour JPEG-in-TIFF is written without chroma subsampling (about 3x the size of a
    JPEG), so scanner-like greyscale (``grey=True``) is the way to keep files small.
    """
    dpis = {p.dpi for p in pages}
    if len(dpis) != 1:
        raise ValueError(f"a TIFF here carries one DPI for all pages, got {sorted(dpis)}")
    path = Path(path)
    # fresh images: JPEG-damaged pages carry JFIF/EXIF info that libtiff rejects
    images = [Image.fromarray(np.asarray(p.image.convert("L" if grey else "RGB"))) for p in pages]
    codec = (
        {"compression": "tiff_deflate"}
        if lossless
        else {"compression": "tiff_jpeg", "quality": quality}
    )
    images[0].save(
        path,
        format="TIFF",
        save_all=True,
        append_images=images[1:],
        dpi=(pages[0].dpi, pages[0].dpi),
        **codec,
    )
    return path


def write_pages(pages: Sequence[GeneratedPage], path: str | Path, **options) -> Path:
    """Write by suffix: .png/.jpg (one page), .pdf, .tif/.tiff; options go to the writer."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return write_pdf(pages, path, **options)
    if suffix in (".tif", ".tiff"):
        return write_tiff(pages, path, **options)
    if len(pages) != 1:
        raise ValueError(f"{suffix} holds one page, got {len(pages)}")
    if suffix == ".png":
        return write_png(pages[0], path, **options)
    if suffix in (".jpg", ".jpeg"):
        path.write_bytes(_jpeg(pages[0], 75))
        return path
    raise ValueError(f"unsupported output type {suffix!r}")


def truth_text(pages: Sequence[GeneratedPage]) -> str:
    """Ground truth of a file: pages separated by form feed, like the archive's .txt."""
    return "\f".join(p.text for p in pages)
