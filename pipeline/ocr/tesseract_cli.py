"""The ``tesseract`` command as the OCR engine: one process per reading (via pytesseract).

The fallback when the in-process library (tesserocr) is not installed, and the
engine bare-Tesseract comparisons run. Each call starts Tesseract and loads the
model again (about 60 ms) and hands the page over as a BMP file.
"""

from __future__ import annotations

import functools

import numpy as np

from pipeline.config import OcrConfig
from pipeline.errors import OcrError
from pipeline.ocr import tessdata


@functools.cache
def version() -> str:
    """``tesseract 5.3.0``; cached per process because it spawns Tesseract."""
    import pytesseract

    return f"tesseract {pytesseract.get_tesseract_version()}"


def read_tsv(gray: np.ndarray, dpi: float, cfg: OcrConfig, psm: int) -> str:
    """Tesseract's TSV for the gray page; single-threaded (the executor sets OMP_THREAD_LIMIT)."""
    import pytesseract
    from PIL import Image

    img = Image.fromarray(gray)
    img.format = "BMP"  # pytesseract's hand-over file: PNG would cost 0.1 s per page to pack
    model = tessdata.resolve(cfg)
    config = f"--oem {cfg.oem} --psm {psm} --dpi {round(dpi)}"
    if model.directory:
        config += f' --tessdata-dir "{model.directory}"'
    try:
        return pytesseract.image_to_data(
            img, lang=model.lang, config=config, timeout=cfg.timeout_seconds
        )
    except pytesseract.TesseractError as exc:  # a subclass of RuntimeError: catch it first
        raise OcrError(f"Tesseract failed: {exc.message or exc}") from exc
    except RuntimeError as exc:  # pytesseract's timeout is a bare RuntimeError
        raise OcrError(f"Tesseract timed out after {cfg.timeout_seconds:.0f} s") from exc
