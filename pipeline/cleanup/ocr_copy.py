"""The gray copy Tesseract reads: enlarged to the letter size it reads best, then the tone filters.

It shows the same page as the archived image, ``ocr_scale`` times larger, so OCR
word boxes divided by ``ocr_scale`` land on the PDF page image.

How large to make it is decided from the letters the page actually has
(:func:`~pipeline.cleanup.measure.letter_height`), never from the DPI the file
declares: a forwarded JPEG may say 72 dpi, 96 or nothing. The enlargement comes
first and the tone filters work on the enlarged copy, at the resolution they were
made for: run on a 70-100 dpi page, the speckle filter takes tone marks for dust
(measured on the development set, bench/realset: 0.96 of the words read after
enlarging first, 0.89 when filtering first; 0.95 without any filter).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.cleanup.measure import letter_height, to_gray
from pipeline.cleanup.tone import (
    normalize_illumination,
    remove_speckle,
    stretch_contrast,
    suppress_colour_ink,
)
from pipeline.config import CleanupConfig

OCR_MIN_TEXT_PX = 22.0  # letter height (letter_height) below which Tesseract gets an enlarged copy


OCR_MAX_UPSCALE = 4.0  # a 70-dpi forwarded letter needs about 3x


OCR_MIN_UPSCALE = 1.2  # smaller enlargements cost Tesseract time for no measured gain


LOW_RES_LETTER_PX = 13.0  # letters shorter than this: a low-resolution page (70-100 dpi copy)


WORK_LETTER_PX = 22.0  # a low-resolution page is enlarged before cleanup to letters this tall


def to_ocr_gray(image: np.ndarray) -> np.ndarray:
    """The image Tesseract reads: gray, same geometry. Tesseract binarises by itself."""
    return np.ascontiguousarray(to_gray(image))


def ocr_upscale_factor(
    height: float | None, min_px: float = OCR_MIN_TEXT_PX, max_factor: float = OCR_MAX_UPSCALE
) -> float:
    """How much to enlarge the OCR image so letters reach ``min_px`` (1.0: not at all)."""
    if height is None or min_px <= 0 or height * OCR_MIN_UPSCALE > min_px:
        return 1.0
    return min(max_factor, min_px / height)


def ocr_downscale_factor(height: float | None, max_px: float) -> float:
    """How much smaller the OCR copy may be when its letters are over ``max_px`` (1.0: not).

    Tesseract's line recogniser scales every line to one height anyway; what a taller
    letter costs is the layout analysis over more pixels. Off by default
    (``cleanup.ocr_max_text_px: 0``): measured with bench/accuracy.py on the 16 generated
    profiles (300 dpi, 32-38 px letters), 30 px gives 6 % more pages/min for mean CER
    0.0047 → 0.0050 and 24 px 15 % for 0.0056; the real scans (18-28 px) do not change.
    """
    if height is None or max_px <= 0 or height <= OCR_MIN_UPSCALE * max_px:
        return 1.0
    return max_px / height


def work_upscale_factor(
    height: float | None,
    low_px: float = LOW_RES_LETTER_PX,
    target_px: float = WORK_LETTER_PX,
    max_factor: float = OCR_MAX_UPSCALE,
) -> float:
    """How much to enlarge a page before any cleanup, from its measured letter height.

    A page whose letters are under ``low_px`` (a forwarded 70-100 dpi JPEG: 6-12 px
    on the development set, where 200-dpi scans measure 15-20 and 300-dpi ones 18-28)
    is brought up until they are ``target_px`` tall, so orientation, deskew, crop and
    the tone filters all work at the resolution they were tuned for; every other page
    is left as it is (1.0). Measured on bench/realset: enlarging the low-resolution
    letters first reads 0.981-0.994 of their words (folded) per kind of damage, enlarging
    only the OCR copy after cleanup at 80 dpi 0.937-0.989.
    """
    if height is None or height >= low_px or height <= 0:
        return 1.0
    return max(1.0, min(max_factor, target_px / height))


def enlarge(gray: np.ndarray, factor: float) -> np.ndarray:
    """``gray`` ``factor`` times larger (bicubic: smooth strokes for Tesseract's threshold);
    smaller by area averaging when a factor under 1 keeps a huge page within its budget."""
    if factor == 1.0:
        return gray
    size = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
    interpolation = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
    return cv2.resize(gray, size, interpolation=interpolation)


def make_ocr_image(
    image: np.ndarray, dpi: float, bilevel: bool, cfg: CleanupConfig | None = None
) -> tuple[np.ndarray, float]:
    """(gray OCR image, ocr_scale): letters big enough, seals out, light even, dust gone.

    Seals are found on the colour page at its own resolution (they are big); the
    other filters run on the enlarged gray copy. A bilevel page has no colour and
    no shading to fix, and its dots are exactly what the scanner's own threshold
    left, so it only gets the enlargement.
    """
    cfg = cfg or CleanupConfig()
    gray = to_gray(image)
    height = letter_height(gray)
    factor = ocr_upscale_factor(height, cfg.ocr_min_text_px)
    if factor == 1.0:
        factor = ocr_downscale_factor(height, cfg.ocr_max_text_px)
    # Tesseract and the second look cost ~16 bytes per OCR pixel: past the budget the
    # OCR copy is made smaller (its letters are big at such sizes), never the PDF's.
    factor = min(factor, math.sqrt(cfg.max_ocr_pixels / gray.size))
    if bilevel:
        return np.ascontiguousarray(enlarge(gray, factor)), factor
    if cfg.remove_colour_ink:
        gray = suppress_colour_ink(image, dpi, gray)
    gray = enlarge(gray, factor)
    work_dpi = dpi * factor
    if cfg.normalize_light:
        gray = normalize_illumination(gray, work_dpi)
    if cfg.despeckle:
        gray = remove_speckle(gray, work_dpi)
    if cfg.stretch_contrast:
        gray = stretch_contrast(gray, work_dpi)
    return np.ascontiguousarray(gray), factor
