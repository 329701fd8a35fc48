"""One page through load → cleanup → OCR → one-page PDF: the unit of parallel work.

The page function decodes only its own page and writes a one-page PDF; what
comes back is a small :class:`PageResult`, never pixels, so memory stays bounded
whatever the page count of the document. It knows nothing about where the job
came from or where the result goes (see :mod:`pipeline.flow.page_task`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline import dossier, faults, ocr
from pipeline.cleanup import CleanPage, cleanup_page, measure, ocr_copy
from pipeline.config import OcrConfig
from pipeline.lang import correct
from pipeline.lang.syllables import invalid_share
from pipeline.lang.textnorm import has_diacritics
from pipeline.model import PageJob, PageOptions, PageResult
from pipeline.ocr import judge, reread
from pipeline.output.page_pdf import write_page_pdf
from pipeline.read import pages, textlayer


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


def _geometry_kept(clean: CleanPage, loaded: pages.PageImage, dpi: float) -> bool:
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
    source: Path,
    clean: CleanPage,
    loaded: pages.PageImage,
    dpi: float,
    result: ocr.OcrResult,
) -> tuple[tuple[ocr.Word, ...], str, int]:
    """The page's words: our OCR after syllable correction, spelt as the PDF's own text
    layer where that layer is good and says what the page shows (textlayer.reconcile)."""
    words = ocr.drop_junk_lines(result.words)
    corrections: list[correct.Correction] = []
    if job.options.ocr.correct:
        words, corrections = correct.correct_words(words)
    if job.has_text_layer and _geometry_kept(clean, loaded, dpi):
        layer = textlayer.read_words(source, job.index, dpi, job.options.ingest)
        seen = textlayer.reconcile(layer, words)
        if seen.layer and textlayer.keep_existing(ocr.words_to_text(seen.layer), result.text):
            fixed = sum(1 for c in corrections if c.index in seen.ocr_kept)
            return seen.words, "pdf", fixed
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


def _read(clean: CleanPage, dpi: float, cfg: PageOptions) -> ocr.OcrResult:
    """Tesseract on the OCR image; word boxes in that image's pixels."""
    return ocr.ocr_page(clean.ocr_image, dpi * clean.ocr_scale, cfg.ocr)


def as_scanned(clean: CleanPage) -> np.ndarray | None:
    """The OCR copy without the tone filters: the cleaned page's gray, enlarged as the OCR
    copy was, so the same word boxes fit both; None for a bilevel page (nothing filtered)."""
    if clean.image.ndim == 2 and measure.is_bilevel(clean.image):
        return None
    gray = ocr_copy.enlarge(measure.to_gray(clean.image), clean.ocr_scale)
    if gray.shape != clean.ocr_image.shape:
        return None
    return np.ascontiguousarray(gray)


def _filled(gray: np.ndarray, raw: ocr.OcrResult, dpi: float, cfg: PageOptions) -> ocr.OcrResult:
    """``raw`` with the ink it left unread read again (see reread), when that is on."""
    if cfg.ocr.reread_missed:
        return reread.fill_gaps(gray, raw, dpi, cfg.ocr)
    return raw


def keep_better(
    clean: CleanPage, raw: ocr.OcrResult, dpi: float, cfg: PageOptions
) -> ocr.OcrResult:
    """``raw`` (a complete reading of the OCR copy), or the page read as scanned when ``raw``
    is doubtful and that reading, completed the same way, scores better (ocr.judge)."""
    limit = cfg.ocr.compare_below_confidence
    if limit <= 0 or raw.mean_confidence is None or raw.mean_confidence >= limit:
        return raw
    gray = as_scanned(clean)
    if gray is None:
        return raw
    ocr_dpi = dpi * clean.ocr_scale
    other = _filled(gray, ocr.ocr_page(gray, ocr_dpi, cfg.ocr), ocr_dpi, cfg)
    if judge.clearly_better(other.words, raw.words, cfg.ocr.compare_margin):
        return other
    return raw


def _complete(
    clean: CleanPage, raw: ocr.OcrResult, dpi: float, cfg: PageOptions
) -> tuple[CleanPage, ocr.OcrResult]:
    """The chosen reading completed (see reread), or a better one as scanned; boxes on the page."""
    raw = _filled(clean.ocr_image, raw, dpi * clean.ocr_scale, cfg)
    raw = keep_better(clean, raw, dpi, cfg)
    return clean, ocr.scale_boxes(raw, 1.0 / clean.ocr_scale)


def clean_and_read(
    image: np.ndarray, dpi: float, cfg: PageOptions, *, enlarged: bool = False
) -> tuple[CleanPage, ocr.OcrResult]:
    """Cleanup and OCR, asking Tesseract's orientation detection only when it can matter.

    OSD costs about as much as reading the page, and almost every scan is upright.
    So the page is first turned the way its own ink says (line direction and the
    marks above vs below the lines: see orientation.ink_orientation) and read; only
    when that reading is poor (a page the wrong way up reads as low-confidence
    junk) is OSD asked, and its turn is kept only if the page then reads clearly
    better: a wrong rotation is worse than none. ``enlarged``: see cleanup_page.
    """
    clean = cleanup_page(image, dpi, cfg.cleanup, osd_first=False, enlarged=enlarged)
    faults.crash_point("during_ocr")
    result = _read(clean, dpi, cfg)
    if not clean.orientation_deferred or _reads_well(result, cfg.ocr):
        return _complete(clean, result, dpi, cfg)
    turned = cleanup_page(image, dpi, cfg.cleanup, osd_first=True, enlarged=enlarged)
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


def enlarge_small_print(
    image: np.ndarray, dpi: float, cfg: PageOptions
) -> tuple[np.ndarray, float]:
    """The page enlarged before cleanup when its letters are small (ocr_copy.work_upscale_factor).

    Decided from the letters the page has, never from the DPI it declares: a forwarded
    JPEG says 72 or 96 dpi or nothing. A bilevel page stays bilevel.
    """
    gray, bilevel = measure.normalize_input(image)
    factor = ocr_copy.work_upscale_factor(
        measure.letter_height(measure.to_gray(gray)),
        cfg.cleanup.low_res_letter_px,
        cfg.cleanup.work_letter_px,
    )
    if factor > 1.0 and dpi > 0:  # once enlarged, to the archive's resolution at least:
        factor = min(ocr_copy.OCR_MAX_UPSCALE, max(factor, cfg.pdf.min_output_dpi / dpi))
    h, w = gray.shape[:2]  # the image is not resampled twice
    factor = min(factor, math.sqrt(cfg.ingest.max_page_pixels / (h * w)))
    if factor <= 1.0:
        return image, dpi
    out = ocr_copy.enlarge(gray, factor)
    if bilevel:
        _, out = cv2.threshold(out, 127, 255, cv2.THRESH_BINARY)
    return out, dpi * factor


def archive_image(
    clean: CleanPage, words: tuple[ocr.Word, ...], dpi: float, cfg: PageOptions
) -> tuple[np.ndarray, float, tuple[ocr.Word, ...]]:
    """The page image for the PDF at the archive's minimum resolution, and the words on it.

    Cleanup and OCR ran at the page's own resolution (its enlarged OCR copy aside);
    only the archived image is brought up to ``pdf.min_output_dpi``, last, so no
    filter or warp pays for pixels that add nothing. A bilevel page stays bilevel.
    """
    image, new_dpi = upscale_to(
        clean.image, dpi, cfg.pdf.min_output_dpi, cfg.ingest.max_page_pixels
    )
    if image is clean.image:
        return image, dpi, words
    if clean.image.ndim == 2 and measure.is_bilevel(clean.image):
        _, image = cv2.threshold(image, 127, 255, cv2.THRESH_BINARY)
    factor = image.shape[1] / clean.image.shape[1]
    scaled = ocr.scale_boxes(ocr.OcrResult(words, "", None, "", ""), factor).words
    return image, new_dpi, scaled


def process_page(job: PageJob, source: Path, out: Path) -> PageResult:
    """Run page ``job.index`` of ``source`` and write its one-page PDF to ``out``.

    The result's ``pdf_key`` is empty: the caller stores the PDF and names it.
    """
    started = time.monotonic()
    cfg = job.options
    loaded = pages.load_page(source, job.source.media_type, job.index, cfg.ingest)
    codes: tuple[str, ...] = ()
    if job.want_codes:  # as scanned, before cleanup: see pipeline.dossier.qr
        codes = tuple(dossier.decode_codes(loaded.image, loaded.dpi))
    image, dpi = enlarge_small_print(loaded.image, loaded.dpi, cfg)
    clean, result = clean_and_read(image, dpi, cfg, enlarged=dpi != loaded.dpi)
    del image  # the enlarged copy, when there is one: cleanup made its own
    words, text_source, n_corrected = choose_words(job, source, clean, loaded, dpi, result)
    image, dpi, words = archive_image(clean, words, dpi, cfg)
    write_page_pdf(image, dpi, words, out, jpeg_quality=cfg.pdf.jpeg_quality)
    h, w = image.shape[:2]
    invalid_ocr = invalid_share([x.text for x in result.words])
    invalid = invalid_share([x.text for x in words])
    return PageResult(
        index=job.index,
        pdf_key="",
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
        text_source=text_source,
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
        word_boxes=word_boxes(words),
    )


def word_boxes(
    words: tuple[ocr.Word, ...],
) -> tuple[tuple[str, int, int, int, int, float, int, int, int], ...]:
    """The words as plain tuples for the result (see ``PageResult.word_boxes``)."""
    return tuple(
        (
            w.text,
            int(w.left),
            int(w.top),
            int(w.left + w.width),
            int(w.top + w.height),
            round(float(w.conf), 1),
            int(w.block),
            int(w.par),
            int(w.line),
        )
        for w in words
    )
