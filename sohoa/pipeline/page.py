"""One page through load → cleanup → OCR → one-page PDF.

This is the unit of parallel work: a :class:`PageJob` is small and picklable,
the worker decodes only its own page, and the result carries a path to a
one-page PDF on disk rather than pixels, so memory stays bounded whatever the
page count of the document.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sohoa.pipeline import cleanup, dossier, faults, ocr, pages, pdf
from sohoa.pipeline.config import Config


@dataclass(frozen=True)
class PageJob:
    source: Path
    media_type: str
    index: int
    workdir: Path
    cfg: Config
    want_codes: bool = False


@dataclass(frozen=True)
class PageResult:
    index: int
    pdf_path: Path
    text: str
    words: int
    mean_confidence: float | None
    dpi: float
    dpi_source: str
    colour: str
    width_px: int
    height_px: int
    rotation: int
    skew_angle: float
    blank: bool
    codes: tuple[str, ...]
    seconds: float

    def summary(self) -> dict[str, object]:
        """Per-page facts kept in the metadata JSON."""
        return {
            "page": self.index + 1,
            "dpi": round(self.dpi, 1),
            "dpi_source": self.dpi_source,
            "colour": self.colour,
            "width_px": self.width_px,
            "height_px": self.height_px,
            "rotation": self.rotation,
            "skew_angle": round(self.skew_angle, 2),
            "blank": self.blank,
            "words": self.words,
            "mean_confidence": self.mean_confidence,
        }


def upscale_to(image: np.ndarray, dpi: float, min_dpi: float) -> tuple[np.ndarray, float]:
    """Bring a low-resolution page up to ``min_dpi`` (archive rule: ≥ 200 dpi; helps OCR too)."""
    if dpi >= min_dpi:
        return image, dpi
    factor = min_dpi / dpi
    resized = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    return resized, float(min_dpi)


def process_page(job: PageJob) -> PageResult:
    started = time.monotonic()
    cfg = job.cfg
    loaded = pages.load_page(job.source, job.media_type, job.index, cfg.ingest)
    image, dpi = upscale_to(loaded.image, loaded.dpi, cfg.pdf.min_output_dpi)
    clean = cleanup.cleanup_page(image, dpi, cfg.cleanup)
    del image
    faults.crash_point("during_ocr")
    result = ocr.ocr_page(clean.ocr_image, dpi, cfg.ocr)
    codes: tuple[str, ...] = ()
    if job.want_codes:
        codes = tuple(dossier.decode_codes(clean.image))
    out = job.workdir / f"page-{job.index:05d}.pdf"
    pdf.write_page_pdf(clean.image, dpi, result.words, out, jpeg_quality=cfg.pdf.jpeg_quality)
    h, w = clean.image.shape[:2]
    return PageResult(
        index=job.index,
        pdf_path=out,
        text=result.text,
        words=len(result.words),
        mean_confidence=result.mean_confidence,
        dpi=dpi,
        dpi_source=loaded.dpi_source,
        colour=loaded.colour,
        width_px=w,
        height_px=h,
        rotation=clean.rotation,
        skew_angle=clean.skew_angle,
        blank=clean.blank,
        codes=codes,
        seconds=round(time.monotonic() - started, 3),
    )
