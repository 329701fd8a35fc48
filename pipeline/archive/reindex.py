"""Rebuild the search index from the archive bucket, the system of record.

Documents are re-indexed one at a time with the same ``index_document`` the
pipeline calls, so the result equals incremental indexing and readers keep a
usable index throughout; documents no longer in the archive are dropped at the
end, sparing any archived while the rebuild ran.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from pipeline.archive.layout import metadata_keys, split_pages
from pipeline.storage.index import SearchIndex
from pipeline.storage.objects import ObjectStore

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


def load_archived(objects: ObjectStore, metadata_key: str) -> tuple[dict[str, Any], list[str]]:
    """An archived document's metadata and page texts (no text object: no pages)."""
    bucket = objects.archive_bucket
    meta = json.loads(objects.get_bytes(bucket, metadata_key).decode("utf-8"))
    if not isinstance(meta, dict):
        raise ValueError("metadata is not a JSON object")
    txt_key = metadata_key[: -len(".json")] + ".txt"
    if objects.stat(bucket, txt_key) is None:
        log.warning("%s has no %s; indexing its metadata only", metadata_key, txt_key)
        return meta, []
    text = objects.get_bytes(bucket, txt_key).decode("utf-8", errors="replace")
    return meta, split_pages(text, meta.get("number_of_page"))


def reindex(objects: ObjectStore, index: SearchIndex, progress: Progress | None = None) -> int:
    """Index every archived document; returns how many were indexed."""
    keys = metadata_keys(objects)
    if progress:
        progress(0, len(keys))
    seen: set[str] = set()
    for done, key in enumerate(keys, start=1):
        try:
            meta, pages = load_archived(objects, key)
            index.index_document(meta, pages)
            seen.add(meta["doc_id"])
        except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
            log.warning("skipping %s: %s", key, exc)
        if progress:
            progress(done, len(keys))
    for doc_id, code in index.documents():
        if (
            doc_id not in seen
            and objects.stat(objects.archive_bucket, f"{code}/{doc_id}.json") is None
        ):
            index.remove_document(doc_id)
    index.optimize()
    return len(seen)
