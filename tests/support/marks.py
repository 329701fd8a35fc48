"""Checking the conversion mark by rendering: which pixels are the mark's, which are ink.

Shared by tests/test_sign_mark.py and bench/sign_mark.py. A page is made page 1 of an
archived PDF/A the way the pipeline makes one; after signing, the same file is rendered
with and without its annotations (the mark is the signature widget's appearance), so the
mark's pixels and the page's ink sit on one pixel grid whatever room was added above.
"""

from __future__ import annotations

import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.output.page_pdf import write_page_pdf
from pipeline.output.pdfa import PdfInfo, assemble_pdfa

RENDER_DPI = 144
CHANGED = 40  # a channel differing by more than this between the two renders: the mark's pixel


def archived_page(image: Image.Image, dpi: int, out: Path) -> Path:
    """A one-page PDF/A-2b of ``image`` as the pipeline writes it (no words needed here)."""
    bgr = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
    page = out.with_suffix(".page.pdf")
    write_page_pdf(bgr, dpi, [], page)
    info = PdfInfo(
        title="bench", created=datetime(2025, 1, 1), document_id="uuid:00000000-0000-4000-8000-0"
    )
    assemble_pdfa([page], out, info)
    page.unlink()
    return out


def render(pdf: Path, dpi: int = RENDER_DPI, *, annotations: bool = True) -> np.ndarray:
    """Page 1 of ``pdf`` as RGB; without ``annotations`` the mark (a widget) is left out."""
    with tempfile.TemporaryDirectory() as tmp:
        stem = Path(tmp) / "r"
        hide = [] if annotations else ["-hide-annotations"]
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-f", "1", "-l", "1", *hide, "-singlefile", pdf, stem],
            check=True,
            capture_output=True,
        )
        with Image.open(f"{stem}.ppm") as im:
            return np.asarray(im.convert("RGB"), dtype=np.int32)


def ink_pixels(rgb: np.ndarray) -> np.ndarray:
    """Ink as a reader sees it, a little more generous than the placement's own threshold."""
    rgb = rgb.astype(np.int32)  # the weighted sum overflows 16 bits
    lum = (rgb[..., 0] * 299 + rgb[..., 1] * 587 + rgb[..., 2] * 114) // 1000
    paper = float(np.percentile(lum, 90))
    chroma = rgb.max(axis=2) - rgb.min(axis=2)
    return (lum < paper - 40) | ((chroma > 40) & (lum < paper - 10))


def overlap(signed: Path, dpi: int = RENDER_DPI) -> tuple[int, int]:
    """(mark pixels, mark pixels on ink) of page 1 of a signed copy.

    The same file rendered twice, with and without its annotations: the pixels that differ
    are the mark's (it is the signature widget's appearance), on exactly the pixel grid of
    the page's own ink, whatever room was added above the page.
    """
    page = render(signed, dpi, annotations=False)
    shown = render(signed, dpi)
    mark = (np.abs(shown - page) > CHANGED).any(axis=2)
    return int(mark.sum()), int((mark & ink_pixels(page)).sum())
