"""Where the installed Tesseract keeps its language data (and its glyph-less ``pdf.ttf``).

The in-process engine and the PDF text layer both need the directory the system's
``tesseract`` uses, so both find it the same way: ``TESSDATA_PREFIX``, the
distribution's usual places, and last the binary's own answer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.config import OcrConfig
from pipeline.errors import OcrError

SHIPPED_DIR = Path(__file__).resolve().parent / "data"
SHIPPED_LANG = "sohoa_vie"  # `vie` fine-tuned for office copies (scripts/train_vie.sh)


def candidates() -> list[Path]:
    """Directories that may hold tessdata, most specific first."""
    found: list[Path] = []
    if prefix := os.environ.get("TESSDATA_PREFIX"):
        found += [Path(prefix), Path(prefix) / "tessdata"]
    for share in (Path("/usr/share/tesseract-ocr"), Path("/usr/local/share/tesseract-ocr")):
        found += sorted(share.glob("*/tessdata"), reverse=True)
    found += [Path("/usr/share/tessdata"), Path("/usr/local/share/tessdata")]
    return found


@lru_cache(maxsize=8)
def find(name: str) -> Path | None:
    """The first tessdata directory holding the file ``name`` (``vie.traineddata``, ``pdf.ttf``)."""
    for directory in candidates():
        if (directory / name).is_file():
            return directory
    asked = from_tesseract()
    if asked and (asked / name).is_file():
        return asked
    return None


def from_tesseract() -> Path | None:
    """Ask the tesseract binary where its data lives (its first output line names the dir)."""
    exe = shutil.which("tesseract")
    if not exe:
        return None
    try:
        out = subprocess.run(
            [exe, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = (out.stdout or out.stderr).splitlines()[:1]
    if first and '"' in first[0]:
        return Path(first[0].split('"')[1])
    return None


@dataclass(frozen=True)
class Model:
    """Which language data Tesseract loads: its directory (None: the engine's own search)
    and the language name(s) in it; ``label`` is what a document's metadata records."""

    directory: str | None
    lang: str
    label: str


def resolve(cfg: OcrConfig) -> Model:
    """The model ``ocr.model`` names (see pipeline.config.OcrConfig).

    ``auto`` prefers the shipped fine-tuned model for plain ``vie``; a configured
    ``tessdata_dir`` or another language means the operator chose, and is kept.
    """
    if cfg.model == "auto":
        shipped = SHIPPED_DIR / f"{SHIPPED_LANG}.traineddata"
        if cfg.lang == "vie" and not cfg.tessdata_dir and shipped.is_file():
            return Model(str(SHIPPED_DIR), SHIPPED_LANG, f"{SHIPPED_LANG} (sohoa)")
        return Model(cfg.tessdata_dir, cfg.lang, cfg.lang)
    if cfg.model == "system":
        return Model(cfg.tessdata_dir, cfg.lang, cfg.lang)
    path = Path(cfg.model)
    if path.suffix != ".traineddata" or not path.is_file():
        raise OcrError(f"ocr.model {cfg.model!r} is not auto, system or a .traineddata file")
    return Model(str(path.parent), path.name.removesuffix(".traineddata"), path.name)
