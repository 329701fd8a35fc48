"""Tesseract in process (tesserocr): the model loaded once per worker, pixels handed over as bytes.

Starting the ``tesseract`` command costs a model load and a BMP round trip per
reading, twice a page with the second look; in process the engine stays loaded
in each worker and reads the numpy page directly (bench/throughput.py measures the
difference). The library never decodes a file here: it gets raw gray pixels, so its
bundled image decoders are not exposed to what scanners deliver.

One engine per worker process and per (tessdata, language, OEM): pages of a worker
are read one after another, never concurrently, so no locking is needed. A worker
forked from a parent that already holds an engine builds its own (the cache is keyed
by process id).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from pipeline.config import OcrConfig
from pipeline.errors import OcrError
from pipeline.ocr import tessdata


def available() -> bool:
    """True when tesserocr can be imported (it is a wheel with its own libtesseract)."""
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def version() -> str:
    """``tesseract 5.5.4 (in process)``: the library's version, not the system binary's."""
    import tesserocr

    first = tesserocr.tesseract_version().split()[1]
    return f"tesseract {first} (in process)"


def _data_dir(model: tessdata.Model) -> str:
    if model.directory:
        return model.directory
    found = tessdata.find(f"{model.lang.split('+')[0]}.traineddata")
    if found is None:
        raise OcrError(f"Tesseract language data {model.lang!r} not found in any tessdata dir")
    return str(found)


@functools.cache
def _engine(pid: int, path: str, lang: str, oem: int) -> Any:
    import tesserocr

    try:
        return tesserocr.PyTessBaseAPI(path=path, lang=lang, oem=oem)
    except RuntimeError as exc:
        raise OcrError(f"Tesseract could not load language {lang!r} from {path}: {exc}") from exc


def warm_up(cfg: OcrConfig) -> None:
    """Build this process's engine for ``cfg`` (see :func:`pipeline.ocr.tesseract.warm_up`)."""
    model = tessdata.resolve(cfg)
    _engine(os.getpid(), _data_dir(model), model.lang, cfg.oem)


def read_tsv(gray: np.ndarray, dpi: float, cfg: OcrConfig, psm: int) -> str:
    """Tesseract's TSV for the gray page, within ``ocr.timeout_seconds``."""
    model = tessdata.resolve(cfg)
    api = _engine(os.getpid(), _data_dir(model), model.lang, cfg.oem)
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    height, width = gray.shape[:2]
    api.SetPageSegMode(psm)
    api.SetImageBytes(gray.tobytes(), width, height, 1, width)
    api.SetSourceResolution(max(1, round(dpi)))
    try:
        done = api.Recognize(timeout=max(1, round(cfg.timeout_seconds * 1000)))
        if not done:
            raise OcrError(f"Tesseract timed out after {cfg.timeout_seconds:.0f} s")
        return api.GetTSVText(0)
    finally:
        api.Clear()
