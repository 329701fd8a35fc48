"""What crosses a process or machine boundary: page jobs, page results, document references.

Everything here is plain data that round-trips through JSON: no secrets (no
``Config`` with its MinIO keys), no paths another machine cannot see, no pixels.
A page job names its source by object key and content hash (plus, as a hint for
the machine that took custody, the spool copy's document id); its result names
the page PDF by its key in the work store, so a Celery worker on another host can
run a page and the broker never carries bulk data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from pipeline import __version__
from pipeline.config import CleanupConfig, Config, IngestConfig, OcrConfig, PdfConfig, section
from pipeline.errors import TaskRefused


@dataclass(frozen=True)
class SourceRef:
    """The original a page is read from."""

    raw_key: str
    sha256: str
    size: int
    media_type: str
    spool_id: str | None = None  # the document's spool copy, on the machine that took custody
    raw_version: str | None = None  # the raw object's version recorded at custody (read that one)


@dataclass(frozen=True)
class PageOptions:
    """The settings a page needs (and only those), as plain data."""

    ingest: IngestConfig
    cleanup: CleanupConfig
    ocr: OcrConfig
    pdf: PdfConfig

    @classmethod
    def from_config(cls, cfg: Config) -> PageOptions:
        return cls(cfg.ingest, cfg.cleanup, cfg.ocr, cfg.pdf)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PageOptions:
        return cls(
            section(IngestConfig, data.get("ingest", {})),
            section(CleanupConfig, data.get("cleanup", {})),
            section(OcrConfig, data.get("ocr", {})),
            section(PdfConfig, data.get("pdf", {})),
        )

    def digest(self) -> str:
        """Changes whenever a setting (or the program) that shapes a page's result changes."""
        text = json.dumps([__version__, self.to_dict()], sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class PageJob:
    """One page to run: which source, which page, with which options, where its result goes."""

    document_id: str
    source: SourceRef
    index: int
    options: PageOptions
    work_key: str  # the document's folder in the work store (see storage.work)
    work: str = "local"  # which work store: "local" (this machine) or "objects" (work bucket)
    want_codes: bool = False
    has_text_layer: bool = False

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PageJob:
        data = json.loads(text)
        return cls(
            document_id=data["document_id"],
            source=SourceRef(**data["source"]),
            index=int(data["index"]),
            options=PageOptions.from_dict(data["options"]),
            work_key=data["work_key"],
            work=data.get("work", "local"),
            want_codes=bool(data.get("want_codes", False)),
            has_text_layer=bool(data.get("has_text_layer", False)),
        )


WordBox = tuple[str, int, int, int, int, float, int, int, int]


@dataclass(frozen=True)
class PageResult:
    """What a page came out as; the one-page PDF itself is in the work store at ``pdf_key``."""

    index: int
    pdf_key: str
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
    worker: str | None = None  # the host whose worker ran the page (operators see it)
    # The page's words with their boxes, for the document's fields (header columns) and for
    # the boxes drawn around matches in the web view: (text, x0, y0, x1, y1, confidence,
    # block, paragraph, line), in pixels of the page image as written to the PDF (at
    # ``dpi``, ``width_px`` x ``height_px``). Empty for results written before it existed.
    word_boxes: tuple[WordBox, ...] = ()

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

    def to_dict(self) -> dict[str, Any]:
        """Every field as it is (all immutable): ``dataclasses.asdict`` deep-copied each of
        a page's word boxes, a measurable share of the parent's time per page."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PageResult:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["codes"] = tuple(values.get("codes") or ())
        values["word_boxes"] = tuple(tuple(w) for w in values.get("word_boxes") or ())
        return cls(**values)


@dataclass(frozen=True)
class DocumentRef:
    """A document to run, as a task message carries it: an id, and a code an operator gave."""

    document_id: str
    explicit_code: str | None = None


# ------------------------------------------------------------ names a job may carry
# A job comes off the broker, so every name in it that becomes a path or a key is
# checked against what sohoa itself makes: ids (``d`` + hex), SHA-256 digests and work
# keys built from them. No dot, no leading slash, no backslash: nothing can leave the
# spool, the source cache or the work store.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_WORK_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,64}(?:/[A-Za-z0-9_-]{1,64}){0,3}")
_PDF_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,64}(?:/[A-Za-z0-9_-]{1,64}){0,3}/page-\d{5}\.pdf")
MAX_PAGES = 100_000
WORK_KINDS = ("local", "objects")


def is_id(text: object) -> bool:
    """A document id (or a spool copy's name): what the ledger hands out."""
    return isinstance(text, str) and _ID_RE.fullmatch(text) is not None


def is_work_key(text: object) -> bool:
    """A work-store folder: ``<document id>/<digests>``, only the characters ids use."""
    return isinstance(text, str) and _WORK_KEY_RE.fullmatch(text) is not None


def is_page_pdf_key(text: object) -> bool:
    """A page PDF's key in the work store (``<work key>/page-00001.pdf``)."""
    return isinstance(text, str) and _PDF_KEY_RE.fullmatch(text) is not None


def checked_job(job: PageJob) -> PageJob:
    """``job`` if every name in it is one sohoa makes; :class:`TaskRefused` otherwise.

    The message names the field, never its value (a refused job is logged).
    """
    src = job.source
    checks = (
        ("document_id", is_id(job.document_id)),
        ("work_key", is_work_key(job.work_key)),
        ("work", job.work in WORK_KINDS),
        ("index", isinstance(job.index, int) and 0 <= job.index < MAX_PAGES),
        ("source.sha256", isinstance(src.sha256, str) and bool(_SHA256_RE.fullmatch(src.sha256))),
        ("source.raw_key", src.raw_key == f"sha256/{src.sha256}"),
        ("source.size", isinstance(src.size, int) and src.size >= 0),
        ("source.spool_id", src.spool_id is None or is_id(src.spool_id)),
    )
    for name, ok in checks:
        if not ok:
            raise TaskRefused(f"page job refused: {name} is not a name sohoa makes")
    return job


def checked_ref(ref: DocumentRef) -> DocumentRef:
    """``ref`` if its document id is an id and its code a short string; else refused."""
    code_ok = ref.explicit_code is None or (
        isinstance(ref.explicit_code, str) and len(ref.explicit_code) <= 64
    )
    if not is_id(ref.document_id) or not code_ok:
        raise TaskRefused("document task refused: not a document id and dossier code")
    return ref
