"""The ledger in PostgreSQL, for an office: every station and worker on one set of tables.

The rules are :class:`~pipeline.storage.ledger.rules.SqlLedger`'s, the same as on
SQLite; this module is the PostgreSQL side of their seam (:mod:`pipeline.storage.ledger.sql`):

- each read and write is one :meth:`Database.run` transaction, run again on a fresh
  connection after a broken one (``tx.attempt`` says so; the rules make a repeat
  harmless), READ COMMITTED with row locks (``FOR UPDATE``) where a row is read and
  then changed: the document moving, the batch numbering its documents, the
  dossier's ``ordinals`` row while the next number is chosen;
- the schema is the ``ledger`` component of :mod:`~pipeline.storage.postgres.migrations`.

The ``documents`` table is derived from the :class:`Document` record
(:func:`records.document_columns`): a field added there becomes a column here at
the next start, with no migration to write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from pipeline.config import Config
from pipeline.storage.ledger.records import document_columns
from pipeline.storage.ledger.rules import SqlLedger
from pipeline.storage.ledger.sql import Dialect, LedgerTx, UniqueConflict
from pipeline.storage.ledger.states import LIVE_STATES
from pipeline.storage.postgres.db import Connection, Database
from pipeline.storage.postgres.migrations import Migration, migrate

T = TypeVar("T")

_PG_TYPES = {str: "TEXT", int: "BIGINT", float: "DOUBLE PRECISION", bytes: "BYTEA", bool: "BOOLEAN"}
LIVE_SHA_INDEX = "documents_live_sha"


def _documents_table() -> list[str]:
    cols = []
    for name, kind, required in document_columns():
        if name == "id":
            cols.append("id TEXT PRIMARY KEY")
        elif name == "batch_id":
            cols.append("batch_id TEXT NOT NULL REFERENCES batches(id)")
        else:
            cols.append(f"{name} {_PG_TYPES[kind]}{' NOT NULL' if required else ''}")
    live = ", ".join(f"'{s}'" for s in LIVE_STATES)
    return [
        "CREATE TABLE batches (id TEXT PRIMARY KEY, station TEXT, origin TEXT,"
        " created_at TEXT NOT NULL, actor TEXT NOT NULL)",
        f"CREATE TABLE documents ({', '.join(cols)})",
        "CREATE INDEX documents_sha ON documents (sha256)",
        "CREATE INDEX documents_state ON documents (state)",
        "CREATE INDEX documents_batch ON documents (batch_id, seq)",
        "CREATE INDEX documents_created ON documents (created_at)",
        "CREATE UNIQUE INDEX documents_ordinal ON documents (dossier_code, ordinal)"
        " WHERE ordinal IS NOT NULL",
        f"CREATE UNIQUE INDEX {LIVE_SHA_INDEX} ON documents (sha256) WHERE state IN ({live})",
        "CREATE TABLE ordinals (dossier_code TEXT PRIMARY KEY, last BIGINT NOT NULL)",
        "CREATE TABLE events (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " document_id TEXT, batch_id TEXT, at TEXT NOT NULL, actor TEXT NOT NULL,"
        " from_state TEXT, to_state TEXT, stage TEXT, reason TEXT)",
        "CREATE INDEX events_document ON events (document_id, id)",
        "CREATE INDEX events_batch ON events (batch_id, id)",
    ]


# The ledger's migrations; a later schema change is appended here, never edited in.
def _signature_index() -> list[str]:
    # A ledger made before signing gains its column here (reconcile runs after migrations).
    return [
        "ALTER TABLE documents ADD COLUMN IF NOT EXISTS signature TEXT",
        "CREATE INDEX IF NOT EXISTS documents_signature ON documents (signature)"
        " WHERE signature IS NOT NULL",
    ]


def _stack_indexes() -> list[str]:
    # The further documents of a split stack share their source's bytes: one live document
    # per SHA-256 among the rows that stand for a file, and one row per segment of a stack.
    live = ", ".join(f"'{s}'" for s in LIVE_STATES)
    return [
        *(
            f"ALTER TABLE documents ADD COLUMN IF NOT EXISTS {name} {kind}"
            for name, kind in (
                ("parent_id", "TEXT"),
                ("segment", "BIGINT"),
                ("first_page", "BIGINT"),
                ("last_page", "BIGINT"),
                ("segment_info", "TEXT"),
            )
        ),
        f"DROP INDEX IF EXISTS {LIVE_SHA_INDEX}",
        f"CREATE UNIQUE INDEX {LIVE_SHA_INDEX} ON documents (sha256)"
        f" WHERE parent_id IS NULL AND state IN ({live})",
        "CREATE UNIQUE INDEX documents_segment ON documents (parent_id, segment)"
        " WHERE parent_id IS NOT NULL",
    ]


def _outbox() -> list[str]:
    # The events a one-stop system is told of, and their deliveries to each webhook
    # (pipeline/storage/ledger/outbox.py). The trigger keeps every event true to the ledger
    # as the inserting transaction sees it: the document exists, is in the state (or has
    # the signature) its type says, in that dossier, with those hashes. The web and operator
    # roles may insert (an operator's decision can settle a duplicate), so none of them can
    # announce what did not happen.
    refuse = (
        "RAISE EXCEPTION 'outbox event % does not match document %', NEW.type,"
        " NEW.document_id USING ERRCODE = 'insufficient_privilege';"
    )
    return [
        "CREATE TABLE outbox (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " event_key TEXT NOT NULL UNIQUE, type TEXT NOT NULL, occurred_at TEXT NOT NULL,"
        " dossier_code TEXT, document_id TEXT NOT NULL, data TEXT NOT NULL)",
        "CREATE TABLE outbox_cursors (webhook TEXT PRIMARY KEY, last_event_id BIGINT NOT NULL)",
        "CREATE TABLE outbox_deliveries (webhook TEXT NOT NULL,"
        " event_id BIGINT NOT NULL REFERENCES outbox(id), dossier_key TEXT NOT NULL,"
        " document_id TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
        " next_at DOUBLE PRECISION NOT NULL, holder TEXT, lease_until DOUBLE PRECISION,"
        " last_status INTEGER, last_error TEXT, delivered_at TEXT, updated_at TEXT NOT NULL,"
        " PRIMARY KEY (webhook, event_id))",
        "CREATE INDEX outbox_deliveries_due ON outbox_deliveries (webhook, event_id)"
        " WHERE state = 'pending'",
        "CREATE INDEX outbox_deliveries_open_dossier ON outbox_deliveries"
        " (webhook, dossier_key, event_id) WHERE state <> 'delivered'",
        "CREATE INDEX outbox_deliveries_open_document ON outbox_deliveries"
        " (webhook, document_id, event_id) WHERE state <> 'delivered'",
        "CREATE INDEX outbox_deliveries_state ON outbox_deliveries (state, event_id)",
        "CREATE TABLE outbox_replays (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " event_id BIGINT NOT NULL, webhook TEXT, actor TEXT NOT NULL,"
        " requested_at TEXT NOT NULL, applied_at TEXT)",
        "CREATE INDEX outbox_replays_open ON outbox_replays (id) WHERE applied_at IS NULL",
        "CREATE FUNCTION sohoa_outbox_true() RETURNS trigger LANGUAGE plpgsql AS $body$"
        " DECLARE d documents%ROWTYPE; facts jsonb := NEW.data::jsonb; BEGIN"
        " SELECT * INTO d FROM documents WHERE id = NEW.document_id;"
        f" IF NOT FOUND THEN {refuse} END IF;"
        " IF NEW.type = 'document.signed' THEN"
        "  IF d.signature IS NULL OR d.signature = 'pending' THEN"
        f"   {refuse} END IF;"
        " ELSIF NEW.type = 'document.archived' THEN"
        "  IF d.state NOT IN ('archived', 'indexed') THEN"
        f"   {refuse} END IF;"
        f" ELSIF NEW.type <> 'document.' || d.state THEN {refuse}"
        " END IF;"
        " IF NEW.dossier_code IS DISTINCT FROM d.dossier_code"
        " OR facts->>'state' IS DISTINCT FROM d.state"
        " OR facts->>'sha256' IS DISTINCT FROM d.sha256"
        " OR facts->>'signature_level' IS DISTINCT FROM d.signature"
        " OR (facts->>'pdf_sha256' IS NOT NULL AND facts->>'pdf_sha256' IS DISTINCT FROM"
        "  d.pdf_sha256)"
        f" THEN {refuse} END IF; RETURN NEW; END $body$",
        "CREATE TRIGGER sohoa_outbox_true BEFORE INSERT ON outbox"
        " FOR EACH ROW EXECUTE FUNCTION sohoa_outbox_true()",
    ]


MIGRATIONS = (
    Migration(1, "batches, documents, ordinals, events", _documents_table),
    Migration(2, "documents by signature state (sign --pending)", _signature_index),
    Migration(3, "split stacks: one live source row per SHA-256, segments", _stack_indexes),
    Migration(
        4,
        "the raw original's version id, recorded at custody",
        lambda: ["ALTER TABLE documents ADD COLUMN IF NOT EXISTS raw_version TEXT"],
    ),
    Migration(5, "the outbox: events, deliveries to webhooks, replays", _outbox),
)


def _reconcile(conn: Connection) -> None:
    """Add a column for every ``Document`` field the table does not have yet."""
    have = {
        r["column_name"]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = 'documents'"
        )
    }
    for name, kind, _ in document_columns():
        if name not in have:
            conn.execute(
                sql.SQL("ALTER TABLE documents ADD COLUMN IF NOT EXISTS {} {}").format(
                    sql.Identifier(name), sql.SQL(_PG_TYPES[kind])
                )
            )


DIALECT = Dialect(
    name="postgresql",
    for_update=" FOR UPDATE",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    same="IS NOT DISTINCT FROM",
    bytewise=' COLLATE "C"',  # the same order as SQLite's, whatever the database's locale
    like="ILIKE",
    greatest="GREATEST",
)
# Locks taken by the rules (``tx.lock``): this class id and a hash of their key, apart
# from the migrations' one-number lock and the access stores' class.
_LOCK_CLASS = 0x6C656467  # "ledg"


def _pg(query: str) -> str:
    """The rules' ``?`` placeholders in psycopg's style (their SQL has no ``%`` or ``?`` else)."""
    if "%" in query:
        raise ValueError("ledger SQL must not contain %")
    return query.replace("?", "%s")


class _PgTx:
    """:class:`~pipeline.storage.ledger.sql.LedgerTx` on one connection inside ``Database.run``."""

    dialect = DIALECT

    def __init__(self, conn: Connection, attempt: int) -> None:
        self.conn = conn
        self.attempt = attempt

    def execute(self, query: str, args: Sequence[Any] = ()) -> Any:
        return self.conn.execute(_pg(query), tuple(args))

    def clock(self) -> float:
        """The server's time: every machine's leases are measured on one clock."""
        row = self.conn.execute("SELECT extract(epoch FROM clock_timestamp()) AS t").fetchone()
        return float(row["t"])

    def lock(self, key: str) -> None:
        self.conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, key)
        ).fetchone()


class PostgresLedger(SqlLedger):
    """The ``Ledger`` interface over PostgreSQL (``SOHOA_DATABASE_URL=postgresql://…``)."""

    def __init__(self, db: Database, *, owns_db: bool = True) -> None:
        self.db = db
        self._owns_db = owns_db
        self.backend = self
        self.dialect = DIALECT
        self.created = migrate(db, "ledger", MIGRATIONS, _reconcile)

    @classmethod
    def from_config(cls, cfg: Config) -> PostgresLedger:
        return cls(Database.from_config(cfg, "ledger"))

    def close(self) -> None:
        if self._owns_db:
            self.db.close()

    # -- the seam --------------------------------------------------------------------------
    def _run(self, fn: Callable[[LedgerTx], T]) -> T:
        try:
            return self.db.run(lambda conn, attempt: fn(_PgTx(conn, attempt)))
        except psycopg.errors.UniqueViolation as exc:
            live = exc.diag.constraint_name == LIVE_SHA_INDEX
            raise UniqueConflict(str(exc).strip(), live_sha=live) from exc

    # Reads and writes alike are one transaction, retried whole after a broken connection.
    read = _run
    write = _run
