"""The ledger in one SQLite file (WAL), for a single machine.

Every change of state is checked by :func:`states.check_transition` and written
together with its event row in one IMMEDIATE transaction, so the trail can never
disagree with the current state, and writers from several processes (watcher,
CLI, page workers' parents) serialise up front instead of failing at commit.
Each thread gets its own connection: sqlite3 connections must not be shared
across threads mid-transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from pipeline.errors import DatabaseUnavailable, DuplicateContent, NotFound, TransitionError
from pipeline.private import private_file
from pipeline.storage.ledger.records import (
    ANY_OWNER,
    DOCUMENT_FIELDS,
    Document,
    SegmentRow,
    document_columns,
    new_id,
    now,
    segment_event,
    segment_row,
    split_event,
)
from pipeline.storage.ledger.states import LIVE_STATES, RECEIVED, STORED_RAW, check_transition
from pipeline.storage.sqlite_util import ThreadConnections, immediate

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    station TEXT,
    origin TEXT,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL REFERENCES batches(id),
    seq INTEGER NOT NULL,
    station TEXT,
    folder_name TEXT,
    source_name TEXT NOT NULL,
    source_path TEXT,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    media_type TEXT,
    raw_key TEXT,
    dossier_hint TEXT,
    dossier_code TEXT,
    dossier_source TEXT,
    ordinal INTEGER,
    state TEXT NOT NULL,
    stage TEXT,
    reason TEXT,
    pages INTEGER,
    pdf_key TEXT,
    metadata_key TEXT,
    text_key TEXT,
    mean_confidence REAL,
    duplicate_of TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    review TEXT,
    source_name_bytes BLOB,
    owner TEXT,
    lease_until TEXT,
    parent_id TEXT,
    segment INTEGER,
    first_page INTEGER,
    last_page INTEGER,
    segment_info TEXT,
    signature TEXT
);
CREATE INDEX IF NOT EXISTS documents_sha ON documents(sha256);
CREATE INDEX IF NOT EXISTS documents_state ON documents(state);
CREATE INDEX IF NOT EXISTS documents_batch ON documents(batch_id);
CREATE UNIQUE INDEX IF NOT EXISTS documents_ordinal
    ON documents(dossier_code, ordinal) WHERE ordinal IS NOT NULL;
CREATE TABLE IF NOT EXISTS ordinals (
    dossier_code TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT,
    batch_id TEXT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    stage TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS events_document ON events(document_id);
"""
_SQLITE_TYPES = {str: "TEXT", int: "INTEGER", float: "REAL", bytes: "BLOB", bool: "INTEGER"}


def _added_columns() -> list[tuple[str, str]]:
    """Every ``Document`` field as a column, so ledgers made by older versions gain new ones."""
    return [(name, _SQLITE_TYPES[kind]) for name, kind, _ in document_columns()]


# Created after the columns exist. One live document per SHA-256 among the rows that
# stand for a file (the further documents of a split stack share their source's bytes);
# one row per segment of a stack.
_LIVE_SHA_INDEX = f"""
CREATE UNIQUE INDEX IF NOT EXISTS documents_live_sha2
    ON documents(sha256) WHERE parent_id IS NULL
    AND state IN ({", ".join(f"'{s}'" for s in LIVE_STATES)})
"""
_SEGMENT_INDEX = """
CREATE UNIQUE INDEX IF NOT EXISTS documents_segment
    ON documents(parent_id, segment) WHERE parent_id IS NOT NULL
"""


class SqliteLedger:
    """The ``Ledger`` interface over one SQLite file."""

    def __init__(self, path: Path, wait_seconds: float = 0.0) -> None:
        self.path = Path(path)
        self.wait_seconds = wait_seconds  # a file locked by another process is waited for
        self.created = not self.path.exists()
        self._conns = ThreadConnections(self._open)
        # One transaction, so a process opening the ledger at the same moment never
        # sees half a schema.
        with self._tx() as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            have = {row["name"] for row in conn.execute("PRAGMA table_info(documents)")}
            for column, kind in _added_columns():
                if column not in have:
                    conn.execute(f"ALTER TABLE documents ADD COLUMN {column} {kind}")
            conn.execute("DROP INDEX IF EXISTS documents_live_sha")  # before split stacks
            conn.execute(_LIVE_SHA_INDEX)
            conn.execute(_SEGMENT_INDEX)
            # after the columns, which an older ledger only has once altered
            conn.execute(
                "CREATE INDEX IF NOT EXISTS documents_signature ON documents(signature)"
                " WHERE signature IS NOT NULL"
            )

    def _open(self) -> sqlite3.Connection:
        try:
            private_file(self.path)  # 0600 whatever the umask
            conn = sqlite3.connect(
                str(self.path), timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseUnavailable(f"cannot open the ledger {self.path}: {exc}") from None
        return conn

    def _conn(self) -> sqlite3.Connection:
        return self._conns.get()

    def close(self) -> None:
        self._conns.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate(self._conns.get(), self.wait_seconds)

    @staticmethod
    def _event(
        conn: sqlite3.Connection,
        actor: str,
        document_id: str | None,
        batch_id: str | None,
        from_state: str | None,
        to_state: str | None,
        stage: str | None = None,
        reason: str | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO events(document_id, batch_id, at, actor, from_state, to_state, stage,"
            " reason) VALUES (?,?,?,?,?,?,?,?)",
            (document_id, batch_id, now(), actor, from_state, to_state, stage, reason),
        )

    # -- writing ---------------------------------------------------------------------------
    def create_batch(self, station: str | None, origin: str, actor: str) -> str:
        batch_id = new_id("b")
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO batches(id, station, origin, created_at, actor) VALUES (?,?,?,?,?)",
                (batch_id, station, origin, now(), actor),
            )
            self._event(conn, actor, None, batch_id, None, None, "batch", f"batch from {origin}")
        return batch_id

    def add_document(
        self,
        batch_id: str,
        *,
        actor: str,
        source_name: str,
        source_path: str | None,
        sha256: str,
        size: int,
        station: str | None,
        folder_name: str | None,
        dossier_hint: str | None,
        owner: str | None = None,
        source_name_bytes: bytes | None = None,
    ) -> Document:
        """Record a newly seen file as ``received`` (before anything is uploaded)."""
        doc_id = new_id("d")
        stamp = now()
        with self._tx() as conn:
            seq = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM documents WHERE batch_id = ?", (batch_id,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO documents(id, batch_id, seq, station, folder_name, source_name,"
                " source_path, sha256, size, dossier_hint, state, created_at, updated_at, owner,"
                " source_name_bytes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    doc_id,
                    batch_id,
                    seq,
                    station,
                    folder_name,
                    source_name,
                    source_path,
                    sha256,
                    size,
                    dossier_hint,
                    RECEIVED,
                    stamp,
                    stamp,
                    owner,
                    source_name_bytes,
                ),
            )
            self._event(
                conn,
                actor,
                doc_id,
                batch_id,
                None,
                RECEIVED,
                "ingest",
                f"file {source_name} ({size} bytes)",
            )
        return self.get_document(doc_id)

    def transition(
        self,
        doc_id: str,
        to_state: str,
        *,
        actor: str,
        stage: str | None = None,
        reason: str | None = None,
        expect: Sequence[str] | None = None,
        expect_owner: str | object | None = ANY_OWNER,
        **fields: Any,
    ) -> Document:
        """Move a document to ``to_state``, updating ``fields`` and writing the event atomically.

        ``expect`` guards against races: the move happens only if the current state is one
        of them. Raises :class:`DuplicateContent` when another live document already holds
        the same bytes.
        """
        bad = set(fields) - DOCUMENT_FIELDS
        if bad or fields.keys() & {"id", "state"}:
            raise TransitionError(
                f"cannot set fields {sorted(bad | (fields.keys() & {'id', 'state'}))}"
            )
        try:
            with self._tx() as conn:
                row = conn.execute(
                    "SELECT state, batch_id, owner FROM documents WHERE id = ?", (doc_id,)
                ).fetchone()
                if row is None:
                    raise NotFound(f"no document {doc_id}")
                current = row["state"]
                if expect_owner is not ANY_OWNER and row["owner"] != expect_owner:
                    raise TransitionError(f"document {doc_id} was taken by {row['owner']}")
                check_transition(doc_id, current, to_state, tuple(expect) if expect else None)
                assignments = {
                    **fields,
                    "state": to_state,
                    "stage": stage,
                    "reason": reason,
                    "updated_at": now(),
                }
                cols = ", ".join(f"{k} = ?" for k in assignments)
                conn.execute(
                    f"UPDATE documents SET {cols} WHERE id = ?", (*assignments.values(), doc_id)
                )
                self._event(conn, actor, doc_id, row["batch_id"], current, to_state, stage, reason)
        except sqlite3.IntegrityError as exc:
            if "sha256" not in str(exc):
                raise
            prior = self.live_twin(self.get_document(doc_id))
            if prior is None:
                raise
            raise DuplicateContent(prior) from None
        return self.get_document(doc_id)

    def update_fields(self, doc_id: str, **fields: Any) -> Document:
        """Change bookkeeping fields without a state change (media type, pages, lease…)."""
        if not fields or fields.keys() & {"id", "state"} or set(fields) - DOCUMENT_FIELDS:
            raise TransitionError("use transition() to change state; fields must be known")
        with self._tx() as conn:
            cols = ", ".join(f"{k} = ?" for k in fields)
            conn.execute(
                f"UPDATE documents SET {cols}, updated_at = ? WHERE id = ?",
                (*fields.values(), now(), doc_id),
            )
        return self.get_document(doc_id)

    def claim(
        self,
        doc_id: str,
        *,
        states: Sequence[str],
        owner: str | None,
        lease_until: str | None,
        expect_owner: str | object | None = ANY_OWNER,
        expect_lease: str | object | None = ANY_OWNER,
    ) -> bool:
        """Set the holder and lease of a document in one of ``states``, only if the holder
        (and lease) are still the ones the caller read: of many processes claiming or
        renewing at once, exactly one wins. No event: a claim is bookkeeping, not a change
        of state."""
        clauses, params = [f"state IN ({','.join('?' * len(states))})"], list(states)
        if expect_owner is not ANY_OWNER:
            clauses.append("owner IS ?")
            params.append(expect_owner)
        if expect_lease is not ANY_OWNER:
            clauses.append("lease_until IS ?")
            params.append(expect_lease)
        with self._tx() as conn:
            cur = conn.execute(
                f"UPDATE documents SET owner = ?, lease_until = ? WHERE id = ? AND"
                f" {' AND '.join(clauses)}",
                (owner, lease_until, doc_id, *params),
            )
            return cur.rowcount == 1

    def allocate_ordinal(self, doc_id: str, dossier_code: str, floor: int = 0) -> int:
        """Give a document its number ``<n>`` in the dossier, once and atomically.

        A document that already has a number for this dossier keeps it, so a re-run
        after a crash writes to the same keys. ``floor`` is the highest number already
        seen in the archive bucket, which protects numbering even if the ledger was lost.
        """
        with self._tx() as conn:
            row = conn.execute(
                "SELECT dossier_code, ordinal FROM documents WHERE id = ?", (doc_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no document {doc_id}")
            if row["ordinal"] is not None and row["dossier_code"] == dossier_code:
                return int(row["ordinal"])
            last = conn.execute(
                "SELECT last FROM ordinals WHERE dossier_code = ?", (dossier_code,)
            ).fetchone()
            used = conn.execute(
                "SELECT COALESCE(MAX(ordinal), 0) FROM documents WHERE dossier_code = ?",
                (dossier_code,),
            ).fetchone()[0]
            n = max(int(last[0]) if last else 0, int(used), floor) + 1
            conn.execute(
                "INSERT INTO ordinals(dossier_code, last) VALUES (?, ?)"
                " ON CONFLICT(dossier_code) DO UPDATE SET last = excluded.last",
                (dossier_code, n),
            )
            conn.execute(
                "UPDATE documents SET dossier_code = ?, ordinal = ?, updated_at = ? WHERE id = ?",
                (dossier_code, n, now(), doc_id),
            )
        return n

    def record_split(
        self, parent_id: str, segments: Sequence[SegmentRow], *, actor: str
    ) -> list[Document]:
        """Record how a stack splits, once: the source's row takes the first segment, each
        further segment gets a row of its own (``stored_raw``: its bytes are in raw already).

        Idempotent: when the split is already recorded, the recorded family is returned
        unchanged, so a re-run after a crash never makes a document twice or cuts the
        stack differently.
        """
        if not segments:
            raise TransitionError("a split needs at least one segment")
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM documents WHERE id = ?", (parent_id,)).fetchone()
            if row is None:
                raise NotFound(f"no document {parent_id}")
            parent = self._doc(row)
            if parent.parent_id is not None:
                raise TransitionError(f"document {parent_id} is itself a segment of a stack")
            recorded = (
                parent.segment is not None
                or conn.execute(
                    "SELECT 1 FROM documents WHERE parent_id = ? LIMIT 1", (parent_id,)
                ).fetchone()
            )
            if not recorded:
                first, rest = segments[0], segments[1:]
                conn.execute(
                    "UPDATE documents SET segment = ?, first_page = ?, last_page = ?,"
                    " segment_info = ?, updated_at = ? WHERE id = ?",
                    (
                        first.segment,
                        first.first_page,
                        first.last_page,
                        first.info,
                        now(),
                        parent_id,
                    ),
                )
                stamp = now()
                for seg in rest:
                    child = new_id("d")
                    seq = conn.execute(
                        "SELECT COALESCE(MAX(seq), 0) + 1 FROM documents WHERE batch_id = ?",
                        (parent.batch_id,),
                    ).fetchone()[0]
                    values = segment_row(parent, seg, child, seq, stamp, STORED_RAW)
                    conn.execute(
                        f"INSERT INTO documents({', '.join(values)})"
                        f" VALUES ({','.join('?' * len(values))})",
                        list(values.values()),
                    )
                    self._event(
                        conn,
                        actor,
                        child,
                        parent.batch_id,
                        None,
                        STORED_RAW,
                        "split",
                        segment_event(parent, seg),
                    )
                self._event(
                    conn,
                    actor,
                    parent_id,
                    parent.batch_id,
                    parent.state,
                    parent.state,
                    "split",
                    split_event(segments),
                )
        return self.family(parent_id)

    def family(self, parent_id: str) -> list[Document]:
        """A stack's documents in stack order: the source's row, then its further segments."""
        head = self.get_document(parent_id)
        rows = self._conn().execute(
            "SELECT * FROM documents WHERE parent_id = ? ORDER BY segment", (parent_id,)
        )
        return [head, *(self._doc(r) for r in rows)]

    def restore(
        self,
        batch: dict[str, Any],
        doc: Document,
        actor: str,
        reason: str,
        stage: str = "rebuild",
    ) -> bool:
        """Insert a batch and document rebuilt from MinIO (or taken in from a station's
        custody record, ``stage="intake"``), unless the ledger already has it.

        False when the document (or a live one with the same bytes) is already there.
        """
        try:
            return self._restore(batch, doc, actor, reason, stage)
        except sqlite3.IntegrityError:
            return False

    def _restore(
        self, batch: dict[str, Any], doc: Document, actor: str, reason: str, stage: str
    ) -> bool:
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM documents WHERE id = ?", (doc.id,)).fetchone():
                return False
            conn.execute(
                "INSERT OR IGNORE INTO batches(id, station, origin, created_at, actor)"
                " VALUES (?,?,?,?,?)",
                (batch["id"], batch["station"], batch["origin"], batch["created_at"], actor),
            )
            values = doc.__dict__
            cols = ", ".join(values)
            conn.execute(
                f"INSERT INTO documents({cols}) VALUES ({', '.join('?' * len(values))})",
                tuple(values.values()),
            )
            if doc.dossier_code and doc.ordinal:
                conn.execute(
                    "INSERT INTO ordinals(dossier_code, last) VALUES (?, ?) ON CONFLICT"
                    "(dossier_code) DO UPDATE SET last = max(last, excluded.last)",
                    (doc.dossier_code, doc.ordinal),
                )
            self._event(conn, actor, doc.id, doc.batch_id, None, doc.state, stage, reason)
        return True

    # -- reading ---------------------------------------------------------------------------
    @staticmethod
    def _doc(row: sqlite3.Row) -> Document:
        # Only known columns: a ledger made by an older version may carry retired ones.
        return Document(**{k: row[k] for k in row.keys() if k in DOCUMENT_FIELDS})  # noqa: SIM118

    def get_document(self, doc_id: str) -> Document:
        row = self._conn().execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            raise NotFound(f"no document {doc_id}")
        return self._doc(row)

    def find_documents(
        self,
        *,
        states: Sequence[str] | None = None,
        sha256: str | None = None,
        batch_id: str | None = None,
        station: str | None = None,
        since: str | None = None,
        source_path: str | None = None,
        parent_id: str | None = None,
        signature: str | None = None,
    ) -> list[Document]:
        clauses: list[str] = []
        params: list[Any] = []
        if states:
            clauses.append(f"state IN ({','.join('?' * len(states))})")
            params.extend(states)
        for col, value in (
            ("sha256", sha256),
            ("batch_id", batch_id),
            ("station", station),
            ("source_path", source_path),
            ("parent_id", parent_id),
            ("signature", signature),
        ):
            if value is not None:
                clauses.append(f"{col} = ?")
                params.append(value)
        if since:
            clauses.append("created_at >= ?")
            params.append(since)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._conn().execute(
            f"SELECT * FROM documents{where} ORDER BY created_at, batch_id, seq", params
        )
        return [self._doc(r) for r in rows]

    def resolve_id(self, ident: str) -> tuple[str, str]:
        """Map a full id or unique prefix to ``("document"|"batch", id)``."""
        ident = ident.strip()
        if not ident or any(ch in ident for ch in "%_"):
            raise NotFound(f"no batch or document {ident!r}")
        hits: list[tuple[str, str]] = []
        conn = self._conn()
        for kind, table in (("document", "documents"), ("batch", "batches")):
            for row in conn.execute(
                f"SELECT id FROM {table} WHERE id LIKE ? LIMIT 3", (ident + "%",)
            ):
                hits.append((kind, row["id"]))
        exact = [h for h in hits if h[1] == ident]
        if exact:
            return exact[0]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise NotFound(f"no batch or document {ident!r}")
        raise NotFound(f"{ident!r} is ambiguous: {', '.join(h[1] for h in hits)}")

    def events(
        self, *, document_id: str | None = None, batch_id: str | None = None
    ) -> list[dict[str, Any]]:
        if document_id:
            sql, arg = "SELECT * FROM events WHERE document_id = ? ORDER BY id", document_id
        else:
            sql, arg = "SELECT * FROM events WHERE batch_id = ? ORDER BY id", batch_id
        return [dict(r) for r in self._conn().execute(sql, (arg,))]

    def list_batches(self) -> list[dict[str, Any]]:
        return [
            dict(r) for r in self._conn().execute("SELECT * FROM batches ORDER BY created_at, id")
        ]

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        row = self._conn().execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            raise NotFound(f"no batch {batch_id}")
        return dict(row)

    def live_twin(self, doc: Document) -> Document | None:
        """Another document holding the same bytes in a live state (the one that keeps them)."""
        for other in self.find_documents(sha256=doc.sha256, states=LIVE_STATES):
            if other.id != doc.id and other.parent_id is None:
                return other
        return None

    def attempts(self, doc_id: str, stage: str) -> int:
        """How many events of ``stage`` the document has (bounded retries)."""
        row = (
            self._conn()
            .execute(
                "SELECT COUNT(*) FROM events WHERE document_id = ? AND stage = ?", (doc_id, stage)
            )
            .fetchone()
        )
        return int(row[0])

    def is_empty(self) -> bool:
        return self._conn().execute("SELECT 1 FROM batches LIMIT 1").fetchone() is None
