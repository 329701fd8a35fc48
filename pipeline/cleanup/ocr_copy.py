"""The gray copy Tesseract reads: the tone filters in order, enlarged when the print is small.

It shows the same page as the archived image, ``ocr_scale`` times larger, so OCR
word boxes divided by ``ocr_scale`` land on the PDF page image.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.cleanup.measure import text_height, to_gray
from pipeline.cleanup.tone import (
    normalize_illumination,
    remove_speckle,
    stretch_contrast,
    suppress_colour_ink,
)
from pipeline.config import CleanupConfig

OCR_MIN_TEXT_PX = 22.0  # median letter height below which Tesseract gets an enlarged copy


OCR_MAX_UPSCALE = 2.0


OCR_MIN_UPSCALE = 1.2  # smaller enlargements cost Tesseract time for no measured gain


def to_ocr_gray(image: np.ndarray) -> np.ndarray:
    """The image Tesseract reads: gray, same geometry. Tesseract binarises by itself."""
    return np.ascontiguousarray(to_gray(image))


def ocr_upscale_factor(height: float | None, min_px: float = OCR_MIN_TEXT_PX) -> float:
    """How much to enlarge the OCR image so letters reach ``min_px`` (1.0: not at all)."""
    if height is None or min_px <= 0 or height * OCR_MIN_UPSCALE > min_px:
        return 1.0
    return min(OCR_MAX_UPSCALE, min_px / height)


def make_ocr_image(
    image: np.ndarray, dpi: float, bilevel: bool, cfg: CleanupConfig | None = None
) -> tuple[np.ndarray, float]:
    """(gray OCR image, ocr_scale): seals out, light even, dust gone, letters big enough.

    A bilevel page has no colour and no shading to fix, and its dots are exactly
    what the scanner's own threshold left, so it only gets the upscale.
    """
    cfg = cfg or CleanupConfig()
    if bilevel:
        gray = to_ocr_gray(image)
    else:
        gray = suppress_colour_ink(image, dpi) if cfg.remove_colour_ink else to_gray(image)
        if cfg.normalize_light:
            gray = normalize_illumination(gray, dpi)
        if cfg.despeckle:
            gray = remove_speckle(gray, dpi)
        if cfg.stretch_contrast:
            gray = stretch_contrast(gray, dpi)
    factor = ocr_upscale_factor(text_height(gray), cfg.ocr_min_text_px)
    h, w = gray.shape
    # Tesseract and the second look cost ~16 bytes per OCR pixel: past the budget the
    # OCR copy is made smaller (its letters are big at such sizes), never the PDF's.
    factor = min(factor, math.sqrt(cfg.max_ocr_pixels / (h * w)))
    if factor == 1.0:
        return np.ascontiguousarray(gray), 1.0
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    interpolation = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
    return cv2.resize(gray, size, interpolation=interpolation), factor
