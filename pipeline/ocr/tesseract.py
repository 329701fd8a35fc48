"""Tesseract (``vie``) on one gray page image: words with boxes and confidence.

Two engines read the page the same way and give the same TSV (pipeline.ocr.tsv):
the library in process (tesseract_api, the default when tesserocr is installed) and
the ``tesseract`` command (tesseract_cli). ``ocr.engine`` chooses: ``auto``, ``api``
or ``cli``.
"""

from __future__ import annotations

import numpy as np

from pipeline.config import OcrConfig
from pipeline.errors import OcrError
from pipeline.lang.textnorm import vietnamese_letters
from pipeline.ocr import tessdata, tesseract_api, tesseract_cli
from pipeline.ocr.tsv import result_from_tsv
from pipeline.ocr.words import OcrResult


def engine_for(cfg: OcrConfig) -> str:
    """``api`` or ``cli``: what ``ocr.engine`` resolves to on this machine."""
    if cfg.engine == "cli":
        return "cli"
    if tesseract_api.available():
        return "api"
    if cfg.engine == "auto":
        return "cli"
    raise OcrError("ocr.engine is 'api' but tesserocr is not installed (pip install tesserocr)")


def engine_version(cfg: OcrConfig | None = None) -> str:
    """The engine as recorded in each document's metadata (``tesseract 5.5.4 (in process)``)."""
    if engine_for(cfg or OcrConfig()) == "api":
        return tesseract_api.version()
    return tesseract_cli.version()


def ocr_page(gray: np.ndarray, dpi: float, cfg: OcrConfig) -> OcrResult:
    """Recognise one page with ``cfg.psm``; single-threaded (the executor sets OMP_THREAD_LIMIT)."""
    engine = engine_for(cfg)
    module = tesseract_api if engine == "api" else tesseract_cli
    tsv = module.read_tsv(gray, dpi, cfg, cfg.psm)
    model = tessdata.resolve(cfg)
    if {"vie", "Vietnamese", tessdata.SHIPPED_LANG} & set(model.lang.split("+")):
        tsv = vietnamese_letters(tsv)
    return result_from_tsv(tsv, module.version(), model.label)


def warm_up(cfg: OcrConfig) -> None:
    """Load the in-process engine now, in a worker's set-up, not on its first page.

    Never raises: a worker whose set-up fails breaks its whole pool, while a missing
    language or library is a page's clear error (``OcrError``) when it is read.
    """
    try:
        if engine_for(cfg) == "api":
            tesseract_api.warm_up(cfg)
    except OcrError:
        pass
