"""Where things live in the buckets: the one place that knows the object key layout.

``raw``: ``sha256/<hex>`` — every original, content-addressed, written once.
``archive``: ``<code>/<code>.<n>.pdf|.txt|.words.json|.json`` — a dossier's
documents (``.words.json``: every page's OCR words and boxes, which the web view
draws around matches); the ``.json`` is written last and is the commit marker: a
document whose JSON is there (with the right source hash) was archived whole. Beside the dossiers,
``sources/sha256/<hex>.json`` records which documents came from which original, so
the same bytes dropped again are known as a duplicate even when the ledger is lost.
Dossier codes are upper-case, so no dossier folder can be called ``sources``.
``work``: ``<document>/<digest>/page-<n>.pdf|.json`` — finished pages in flight.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.errors import StorageUnavailable
from pipeline.storage.objects import ObjectStore

SOURCES_PREFIX = "sources/sha256/"
_ARCHIVE_JSON_RE = re.compile(r"(?P<code>[^/]+)/(?P=code)\.(?P<n>\d+)\.json")


@dataclass(frozen=True)
class ArchiveKeys:
    pdf: str
    metadata: str
    text: str
    words: str = ""


def raw_key(sha256: str) -> str:
    return f"sha256/{sha256}"


def archive_keys(code: str, ordinal: int) -> ArchiveKeys:
    base = f"{code}/{code}.{ordinal}"
    return ArchiveKeys(f"{base}.pdf", f"{base}.json", f"{base}.txt", f"{base}.words.json")


def words_key(metadata_key: str) -> str:
    """The words object beside an archived document's metadata JSON."""
    return metadata_key[: -len(".json")] + ".words.json"


def source_marker_key(sha256: str) -> str:
    return f"{SOURCES_PREFIX}{sha256}.json"


def is_metadata_key(key: str) -> bool:
    """``<code>/<code>.<n>.json``: an archived document's metadata (not a source marker)."""
    return _ARCHIVE_JSON_RE.fullmatch(key) is not None


def metadata_keys(objects: ObjectStore, prefix: str = "") -> list[str]:
    return [
        k for k in objects.list_keys(objects.archive_bucket, prefix, ".json") if is_metadata_key(k)
    ]


def highest_ordinal(objects: ObjectStore, code: str) -> int:
    """The largest ``<n>`` already present under ``<code>/`` in the archive bucket."""
    best = 0
    for key in metadata_keys(objects, prefix=f"{code}/"):
        match = _ARCHIVE_JSON_RE.fullmatch(key)
        if match and match["code"] == code:
            best = max(best, int(match["n"]))
    return best


def split_pages(text: str, expected: int | None = None) -> list[str]:
    """Split an archive ``.txt`` into pages (form feed between pages).

    A trailing form feed (Tesseract ends every page with one) is dropped, so
    ``"a\\fb\\f"`` and ``"a\\fb"`` are both two pages.
    """
    parts = text.split("\f")
    if len(parts) > 1 and parts[-1] == "" and (expected is None or len(parts) == expected + 1):
        parts.pop()
    return parts


def join_pages(texts: Iterable[str]) -> str:
    return "\f".join(texts)


# ------------------------------------------------------------------- source markers


def archived_from(objects: ObjectStore, sha256: str) -> list[dict[str, Any]]:
    """The documents archived from the original with this hash (empty when none)."""
    return _marker(objects, sha256)[1]


def _marker(objects: ObjectStore, sha256: str) -> tuple[str | None, list[dict[str, Any]]]:
    """The source marker's version (ETag, None when absent) and its documents."""
    key = source_marker_key(sha256)
    info = objects.stat(objects.archive_bucket, key)
    if info is None:
        return None, []
    try:
        data = json.loads(objects.get_bytes(objects.archive_bucket, key))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return info.etag, []
    docs = data.get("documents") if isinstance(data, dict) else None
    return info.etag, [d for d in docs or [] if isinstance(d, dict) and d.get("pdf_key")]


MARKER_ATTEMPTS = 50


def record_source(objects: ObjectStore, sha256: str, entry: dict[str, Any]) -> None:
    """Add one archived document to its original's marker (idempotent by ``pdf_key``).

    The documents of one scanned stack are archived by several runs at once (a retry
    runs them side by side, and other machines take stalled ones over), each adding
    its own entry: the write is conditional on the version read, and redone on a clash.
    """
    for _ in range(MARKER_ATTEMPTS):
        etag, docs = _marker(objects, sha256)
        docs = [d for d in docs if d.get("pdf_key") != entry["pdf_key"]]
        body = {"sha256": sha256, "documents": [*docs, entry]}
        if objects.replace_bytes(
            objects.archive_bucket,
            source_marker_key(sha256),
            json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8"),
            etag=etag,
            content_type="application/json; charset=utf-8",
        ):
            return
        time.sleep(random.uniform(0.01, 0.1))
    raise StorageUnavailable(
        f"the source marker {source_marker_key(sha256)} kept changing while"
        f" {entry['pdf_key']} was added ({MARKER_ATTEMPTS} attempts)"
    )


def source_entry(
    document_id: str,
    code: str,
    ordinal: int,
    pages: int | None,
    archived_at: str | None = None,
    *,
    source_document_id: str | None = None,
    segment: int | None = None,
    source_pages: list[int] | None = None,
) -> dict[str, Any]:
    """One line of a source marker: which document these bytes became.

    A split stack's documents all name the source's row (``source_document_id``) and
    their segment, so a re-run of that stack knows its own documents from a duplicate.
    """
    keys = archive_keys(code, ordinal)
    return {
        "document_id": document_id,
        "source_document_id": source_document_id or document_id,
        "segment": segment,
        "source_pages": source_pages,
        "dossier_code": code,
        "doc_ordinal": ordinal,
        "pdf_key": keys.pdf,
        "metadata_key": keys.metadata,
        "text_key": keys.text,
        "pages": pages,
        "archived_at": archived_at or datetime.now(UTC).isoformat(timespec="seconds"),
    }
