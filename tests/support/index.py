"""Search-index calls in the shape the tests read best: plain functions over an index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.archive import reindex as reindex_mod
from pipeline.storage.index import Hit, IndexedDocument, SearchRequest, SqliteIndex


def open_index(path: Path | str) -> SqliteIndex:
    return SqliteIndex(Path(path))


def search(index: SqliteIndex, query: str, **filters: Any) -> list[Hit]:
    return index.search(SearchRequest.build(query, **filters))


def index_document(index: SqliteIndex, meta: dict[str, Any], texts: list[str]) -> None:
    index.index_document(meta, texts)


def counts(index: SqliteIndex) -> tuple[int, int, int]:
    return index.counts()


def dossier_documents(index: SqliteIndex, code: str) -> list[IndexedDocument]:
    return index.dossier_documents(code)


def reindex(target: SqliteIndex | Path | str, store: Any, progress: Any = None) -> int:
    """Rebuild ``target`` (an index or the path of one) from ``store``'s archive bucket."""
    index = target if isinstance(target, SqliteIndex) else open_index(target)
    try:
        return reindex_mod.reindex(store, index, progress)
    finally:
        if index is not target:
            index.close()
