"""Tesseract (``vie``) on one gray page image, single-threaded, words with boxes and confidence."""

from __future__ import annotations

import functools

import numpy as np

from pipeline.config import OcrConfig
from pipeline.errors import OcrError
from pipeline.lang.textnorm import nfc
from pipeline.ocr.words import OcrResult, Word, words_to_text


def _tesseract_config(cfg: OcrConfig) -> str:
    parts = [f"--oem {cfg.oem}", f"--psm {cfg.psm}"]
    if cfg.tessdata_dir:
        parts.append(f'--tessdata-dir "{cfg.tessdata_dir}"')
    # Keep inter-word spaces as Tesseract saw them; preserve_interword_spaces is not
    # wanted (it pads with many spaces), but a stable DPI hint avoids its guessing.
    return " ".join(parts)


@functools.cache
def engine_version() -> str:
    """``tesseract 5.3.0``; cached per process because it spawns Tesseract."""
    import pytesseract

    return f"tesseract {pytesseract.get_tesseract_version()}"


def ocr_page(gray: np.ndarray, dpi: float, cfg: OcrConfig) -> OcrResult:
    """Recognise one page; Tesseract runs single-threaded (the executor sets OMP_THREAD_LIMIT)."""
    import pytesseract
    from PIL import Image

    img = Image.fromarray(gray)
    img.format = "BMP"  # pytesseract's hand-over file: PNG would cost 0.1 s per page to pack
    config = f"{_tesseract_config(cfg)} --dpi {round(dpi)}"
    try:
        data = pytesseract.image_to_data(
            img,
            lang=cfg.lang,
            config=config,
            output_type=pytesseract.Output.DICT,
            timeout=cfg.timeout_seconds,
        )
    except pytesseract.TesseractError as exc:  # a subclass of RuntimeError: catch it first
        raise OcrError(f"Tesseract failed: {exc.message or exc}") from exc
    except RuntimeError as exc:  # pytesseract's timeout is a bare RuntimeError
        raise OcrError(f"Tesseract timed out after {cfg.timeout_seconds:.0f} s") from exc
    words = tuple(_words(data))
    confs = [w.conf for w in words if w.conf >= 0]
    mean = round(sum(confs) / len(confs), 2) if confs else None
    return OcrResult(
        words=words,
        text=words_to_text(words),
        mean_confidence=mean,
        engine=engine_version(),
        lang=cfg.lang,
    )


def _words(data: dict[str, list]) -> list[Word]:
    out: list[Word] = []
    for i, raw in enumerate(data.get("text", [])):
        text = nfc(str(raw)).strip()
        if not text:
            continue
        try:
            conf = float(data["conf"][i])
        except (TypeError, ValueError):
            conf = -1.0
        out.append(
            Word(
                text=text,
                left=int(data["left"][i]),
                top=int(data["top"][i]),
                width=int(data["width"][i]),
                height=int(data["height"][i]),
                conf=conf,
                block=int(data["block_num"][i]),
                par=int(data["par_num"][i]),
                line=int(data["line_num"][i]),
            )
        )
    return out
