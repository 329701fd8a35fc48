"""Search: the query grammar, snippets, and the index behind one interface (``SearchIndex``)."""

from __future__ import annotations

from pipeline.config import Config
from pipeline.storage.index.base import SearchIndex
from pipeline.storage.index.query import SearchRequest
from pipeline.storage.index.records import Hit, IndexedDocument
from pipeline.storage.index.sqlite import SqliteIndex


def open_index(cfg: Config) -> SearchIndex:
    """The configured index: SQLite FTS5 under ``SOHOA_HOME`` unless a database URL is set."""
    url = cfg.database.url
    if url and url.startswith(("postgresql:", "postgres:")):
        from pipeline.storage.postgres.index import PostgresIndex

        return PostgresIndex.from_config(cfg)
    return SqliteIndex(cfg.index_path)


__all__ = ["Hit", "IndexedDocument", "SearchIndex", "SearchRequest", "SqliteIndex", "open_index"]
