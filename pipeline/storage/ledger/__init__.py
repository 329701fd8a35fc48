"""The ledger: batches, documents, states and events, behind one interface (:class:`Ledger`)."""

from __future__ import annotations

from pipeline.config import Config
from pipeline.storage.ledger.base import Ledger, batch_rows, cli_actor, mark_duplicate
from pipeline.storage.ledger.records import Document, Owner, owner_gone, this_process
from pipeline.storage.ledger.sqlite import SqliteLedger


def open_ledger(cfg: Config) -> Ledger:
    """The configured ledger: SQLite under ``SOHOA_HOME`` unless a database URL is set."""
    url = cfg.database.url
    if url and url.startswith(("postgresql:", "postgres:")):
        from pipeline.storage.postgres.ledger import PostgresLedger

        return PostgresLedger.from_config(cfg)
    return SqliteLedger(cfg.ledger_path, wait_seconds=cfg.database.retry_seconds)


__all__ = [
    "Document",
    "Ledger",
    "Owner",
    "SqliteLedger",
    "batch_rows",
    "cli_actor",
    "mark_duplicate",
    "open_ledger",
    "owner_gone",
    "this_process",
]
