"""One page through load → cleanup → OCR → one-page PDF.

This is the unit of parallel work: a :class:`PageJob` is small and picklable,
the worker decodes only its own page, and the result carries a path to a
one-page PDF on disk rather than pixels, so memory stays bounded whatever the
page count of the document.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline import faults
from pipeline.cleanup import page as cleanup
from pipeline.config import Config, OcrConfig
from pipeline.dossier import codes as dossier
from pipeline.lang import correct
from pipeline.lang.syllables import invalid_share
from pipeline.lang.textnorm import has_diacritics
from pipeline.ocr import reread
from pipeline.ocr import tesseract as ocr
from pipeline.output import pdf
from pipeline.read import pages, textlayer


@dataclass(frozen=True)
class PageJob:
    source: Path
    media_type: str
    index: int
    workdir: Path
    cfg: Config
    want_codes: bool = False
    has_text_layer: bool = False


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
    text_source: str = "ocr"
    corrections: int = 0
    invalid_share_ocr: float = 0.0
    invalid_share: float = 0.0
    needs_review: bool = False
    perspective_corrected: bool = False

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
            "text_source": self.text_source,
            "corrections": self.corrections,
            "invalid_syllable_share_ocr": round(self.invalid_share_ocr, 4),
            "invalid_syllable_share": round(self.invalid_share, 4),
            "needs_review": self.needs_review,
            "perspective_corrected": self.perspective_corrected,
        }


def upscale_to(
    image: np.ndarray, dpi: float, min_dpi: float, max_pixels: int
) -> tuple[np.ndarray, float]:
    """Bring a low-resolution page up to ``min_dpi`` (archive rule: ≥ 200 dpi; helps OCR too).

    Never beyond the pixel budget: a page too large to reach ``min_dpi`` within it
    (a poster, a 35000-pixel mono sheet) is kept at the resolution the budget allows.
    """
    if dpi >= min_dpi:
        return image, dpi
    h, w = image.shape[:2]
    factor = min(min_dpi / dpi, math.sqrt(max_pixels / (h * w)))
    if factor <= 1.0:
        return image, dpi
    resized = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    return resized, dpi * factor


def _geometry_kept(clean: cleanup.CleanPage, loaded: pages.PageImage, dpi: float) -> bool:
    """True when the cleaned image has the rendered page's exact geometry (no turn, crop, scale)."""
    return (
        clean.rotation == 0
        and clean.skew_angle == 0.0
        and clean.crop_box is None
        and clean.page_quad is None
        and dpi == loaded.dpi
        and clean.image.shape[:2] == loaded.image.shape[:2]
    )


def choose_words(
    job: PageJob,
    clean: cleanup.CleanPage,
    loaded: pages.PageImage,
    dpi: float,
    result: ocr.OcrResult,
) -> tuple[tuple[ocr.Word, ...], str, int]:
    """The page's words: its own good text layer, else our OCR after syllable correction."""
    if job.has_text_layer and _geometry_kept(clean, loaded, dpi):
        layer = textlayer.read_words(job.source, job.index, dpi, job.cfg.ingest)
        if layer and textlayer.keep_existing(ocr.words_to_text(layer), result.text):
            return tuple(layer), "pdf", 0
    words = ocr.drop_junk_lines(result.words)
    if not job.cfg.ocr.correct:
        return words, "ocr", 0
    words, corrections = correct.correct_words(words)
    return words, "ocr", len(corrections)


def looks_vietnamese(words: list[str], min_marked: float = 0.15) -> bool:
    """Vietnamese prose marks most syllables; an English or French page marks few or none."""
    letters = [w for w in words if any(ch.isalpha() for ch in w)]
    if not letters:
        return False
    return sum(1 for w in letters if has_diacritics(w)) / len(letters) >= min_marked


def needs_review(
    mean_confidence: float | None, invalid: float, vietnamese: bool, blank: bool, cfg: OcrConfig
) -> bool:
    """Flag a page for an operator: low Tesseract confidence or many impossible syllables.

    The syllable test only applies to pages that read as Vietnamese: on a page in
    another language every word would count as an impossible syllable.
    """
    if blank:
        return False
    if mean_confidence is not None and mean_confidence < cfg.review_min_confidence:
        return True
    return vietnamese and invalid > cfg.review_max_invalid_share


def _read(clean: cleanup.CleanPage, dpi: float, cfg: Config) -> ocr.OcrResult:
    """Tesseract on the OCR image; word boxes in that image's pixels."""
    return ocr.ocr_page(clean.ocr_image, dpi * clean.ocr_scale, cfg.ocr)


def _complete(
    clean: cleanup.CleanPage, raw: ocr.OcrResult, dpi: float, cfg: Config
) -> tuple[cleanup.CleanPage, ocr.OcrResult]:
    """The chosen reading, the ink it left unread read again (see reread), boxes on the page."""
    if cfg.ocr.reread_missed:
        raw = reread.fill_gaps(clean.ocr_image, raw, dpi * clean.ocr_scale, cfg.ocr)
    return clean, ocr.scale_boxes(raw, 1.0 / clean.ocr_scale)


def clean_and_read(
    image: np.ndarray, dpi: float, cfg: Config
) -> tuple[cleanup.CleanPage, ocr.OcrResult]:
    """Cleanup and OCR, asking Tesseract's orientation detection only when it can matter.

    OSD costs about as much as reading the page, and almost every scan is upright.
    So the page is first turned the way its own ink says (line direction and the
    marks above vs below the lines: see cleanup.ink_orientation) and read; only
    when that reading is poor (a page the wrong way up reads as low-confidence
    junk) is OSD asked, and its turn is kept only if the page then reads clearly
    better: a wrong rotation is worse than none.
    """
    clean = cleanup.cleanup_page(image, dpi, cfg.cleanup, osd_first=False)
    faults.crash_point("during_ocr")
    result = _read(clean, dpi, cfg)
    if not clean.orientation_deferred or _reads_well(result, cfg.ocr):
        return _complete(clean, result, dpi, cfg)
    turned = cleanup.cleanup_page(image, dpi, cfg.cleanup, osd_first=True)
    if turned.rotation == clean.rotation:
        return _complete(clean, result, dpi, cfg)
    second = _read(turned, dpi, cfg)
    if _better(second, result):
        return _complete(turned, second, dpi, cfg)
    return _complete(clean, result, dpi, cfg)


def _reads_well(result: ocr.OcrResult, cfg: OcrConfig) -> bool:
    conf = result.mean_confidence
    return conf is not None and conf >= cfg.orientation_recheck_confidence


def _better(candidate: ocr.OcrResult, current: ocr.OcrResult, margin: float = 10.0) -> bool:
    """Clearly more confident, and not by reading only a few words."""
    if candidate.mean_confidence is None:
        return False
    if current.mean_confidence is None:
        return True
    return candidate.mean_confidence >= current.mean_confidence + margin and len(
        candidate.words
    ) >= 0.5 * len(current.words)


def process_page(job: PageJob) -> PageResult:
    started = time.monotonic()
    cfg = job.cfg
    loaded = pages.load_page(job.source, job.media_type, job.index, cfg.ingest)
    image, dpi = upscale_to(
        loaded.image, loaded.dpi, cfg.pdf.min_output_dpi, cfg.ingest.max_page_pixels
    )
    clean, result = clean_and_read(image, dpi, cfg)
    del image
    words, source, n_corrected = choose_words(job, clean, loaded, dpi, result)
    codes: tuple[str, ...] = ()
    if job.want_codes:
        codes = tuple(dossier.decode_codes(clean.image))
    out = job.workdir / f"page-{job.index:05d}.pdf"
    pdf.write_page_pdf(clean.image, dpi, words, out, jpeg_quality=cfg.pdf.jpeg_quality)
    h, w = clean.image.shape[:2]
    invalid_ocr = invalid_share([x.text for x in result.words])
    invalid = invalid_share([x.text for x in words])
    return PageResult(
        index=job.index,
        pdf_path=out,
        text=ocr.words_to_text(words),
        words=len(words),
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
        text_source=source,
        corrections=n_corrected,
        invalid_share_ocr=invalid_ocr,
        invalid_share=invalid,
        perspective_corrected=clean.page_quad is not None,
        needs_review=needs_review(
            result.mean_confidence,
            invalid,
            looks_vietnamese([x.text for x in words]),
            clean.blank,
            cfg.ocr,
        ),
    )
