"""The OCR stage: Tesseract on a page, its words as plain records, a second look at missed ink."""

from pipeline.ocr.tesseract import engine_version, ocr_page, warm_up
from pipeline.ocr.words import (
    OcrResult,
    Word,
    drop_junk_lines,
    is_junk,
    scale_boxes,
    words_to_text,
)

__all__ = [
    "OcrResult",
    "Word",
    "drop_junk_lines",
    "engine_version",
    "is_junk",
    "ocr_page",
    "scale_boxes",
    "warm_up",
    "words_to_text",
]
