"""The ledger: batches, documents, their states, and an append-only events table.

SQLite on one machine. The state machine of DESIGN §4 is enforced here and only
here (:func:`transition`): every change of state is checked against
``ALLOWED`` and written together with its event row in one transaction, so the
audit trail can never disagree with the current state. The ledger is derived
state; MinIO holds the documents.
"""

from __future__ import annotations

import getpass
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RECEIVED = "received"
STORED_RAW = "stored_raw"
PROCESSING = "processing"
ARCHIVED = "archived"
INDEXED = "indexed"
FAILED = "failed"
REJECTED = "rejected"
NEEDS_DOSSIER = "needs_dossier"
DUPLICATE = "duplicate"

STATES = (
    RECEIVED,
    STORED_RAW,
    PROCESSING,
    ARCHIVED,
    INDEXED,
    FAILED,
    REJECTED,
    NEEDS_DOSSIER,
    DUPLICATE,
)
# Where a document may go from each state. Retrying re-enters "processing" from
# failed/rejected; assigning a code re-enters it from needs_dossier; custody hands a
# file that changed while it was taken back to "received" (taken again as it is then).
ALLOWED: dict[str, frozenset[str]] = {
    RECEIVED: frozenset({STORED_RAW, DUPLICATE, FAILED}),
    STORED_RAW: frozenset({PROCESSING, DUPLICATE, REJECTED, FAILED, RECEIVED}),
    PROCESSING: frozenset({ARCHIVED, FAILED, REJECTED, NEEDS_DOSSIER, DUPLICATE, STORED_RAW}),
    ARCHIVED: frozenset({INDEXED}),
    INDEXED: frozenset(),
    FAILED: frozenset({PROCESSING, STORED_RAW, DUPLICATE}),
    REJECTED: frozenset({PROCESSING, DUPLICATE}),
    NEEDS_DOSSIER: frozenset({PROCESSING, DUPLICATE}),
    DUPLICATE: frozenset(),
}
# At most one document per SHA-256 may be in these states (a unique index enforces it):
# the one that holds, or will hold, the archive copy of those bytes.
LIVE_STATES = (STORED_RAW, PROCESSING, ARCHIVED, INDEXED, NEEDS_DOSSIER)
UNFINISHED_STATES = (RECEIVED, STORED_RAW, PROCESSING)

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
    source_name_bytes BLOB
);
CREATE INDEX IF NOT EXISTS documents_sha ON documents(sha256);
CREATE INDEX IF NOT EXISTS documents_state ON documents(state);
CREATE INDEX IF NOT EXISTS documents_batch ON documents(batch_id);
CREATE UNIQUE INDEX IF NOT EXISTS documents_ordinal
    ON documents(dossier_code, ordinal) WHERE ordinal IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS documents_live_sha
    ON documents(sha256) WHERE state IN ('stored_raw', 'processing', 'archived', 'indexed',
                                         'needs_dossier');
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


class TransitionError(RuntimeError):
    """A state change the state machine does not allow (a bug or a race, never user input)."""


class NotFound(LookupError):
    """No batch or document with that id (or id prefix)."""


@dataclass(frozen=True)
class Document:
    id: str
    batch_id: str
    seq: int
    station: str | None
    folder_name: str | None
    source_name: str
    source_path: str | None
    sha256: str
    size: int
    media_type: str | None
    raw_key: str | None
    dossier_hint: str | None
    dossier_code: str | None
    dossier_source: str | None
    ordinal: int | None
    state: str
    stage: str | None
    reason: str | None
    pages: int | None
    pdf_key: str | None
    metadata_key: str | None
    text_key: str | None
    mean_confidence: float | None
    duplicate_of: str | None
    created_at: str
    updated_at: str
    review: str | None = None  # why an operator should look at the archived pages, if at all
    # The file name's exact bytes (a name need not be UTF-8); source_name is its display form.
    source_name_bytes: bytes | None = None

    def summary(self) -> dict[str, Any]:
        """The fields `sohoa process` prints, in DESIGN §3 order."""
        return {
            "document_id": self.id,
            "batch_id": self.batch_id,
            "dossier_code": self.dossier_code,
            "status": self.state,
            "pages": self.pages,
            "pdf_key": self.pdf_key,
            "metadata_key": self.metadata_key,
            "text_key": self.text_key,
            "error": self.reason
            if self.state in (FAILED, REJECTED, NEEDS_DOSSIER, DUPLICATE)
            else None,
        }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:11]


def cli_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def connect(path: Path) -> sqlite3.Connection:
    """Open (and create) the ledger; WAL so the watcher, workers and CLI can share it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(SCHEMA)
    _migrate(conn)
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    """Add columns that newer versions introduced to a ledger created by an older one."""
    have = {row["name"] for row in conn.execute("PRAGMA table_info(documents)")}
    if "review" not in have:
        conn.execute("ALTER TABLE documents ADD COLUMN review TEXT")
    if "source_name_bytes" not in have:
        conn.execute("ALTER TABLE documents ADD COLUMN source_name_bytes BLOB")


@contextmanager
def tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """An IMMEDIATE transaction: writers serialise up front instead of failing at commit."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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
        "INSERT INTO events(document_id, batch_id, at, actor, from_state, to_state, stage, reason)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (document_id, batch_id, now(), actor, from_state, to_state, stage, reason),
    )


def create_batch(conn: sqlite3.Connection, station: str | None, origin: str, actor: str) -> str:
    batch_id = new_id("b")
    with tx(conn):
        conn.execute(
            "INSERT INTO batches(id, station, origin, created_at, actor) VALUES (?,?,?,?,?)",
            (batch_id, station, origin, now(), actor),
        )
        _event(conn, actor, None, batch_id, None, None, "batch", f"batch created from {origin}")
    return batch_id


def add_document(
    conn: sqlite3.Connection,
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
    source_name_bytes: bytes | None = None,
) -> Document:
    """Record a newly seen file as ``received`` (before anything is uploaded)."""
    doc_id = new_id("d")
    stamp = now()
    with tx(conn):
        seq = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM documents WHERE batch_id = ?", (batch_id,)
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO documents(id, batch_id, seq, station, folder_name, source_name,"
            " source_path,"
            " sha256, size, dossier_hint, state, created_at, updated_at, source_name_bytes)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                source_name_bytes,
            ),
        )
        _event(
            conn,
            actor,
            doc_id,
            batch_id,
            None,
            RECEIVED,
            "ingest",
            f"file {source_name} ({size} bytes)",
        )
    return get_document(conn, doc_id)


def transition(
    conn: sqlite3.Connection,
    doc_id: str,
    to_state: str,
    *,
    actor: str,
    stage: str | None = None,
    reason: str | None = None,
    expect: Sequence[str] | None = None,
    **fields: Any,
) -> Document:
    """Move a document to ``to_state``, updating ``fields`` and writing the event atomically.

    ``expect`` guards against races: the move happens only if the current state is
    one of them (default: any state from which ``to_state`` is allowed).
    """
    if to_state not in STATES:
        raise TransitionError(f"unknown state {to_state!r}")
    bad = set(fields) - set(Document.__dataclass_fields__) - {"id"}
    if bad or "state" in fields:
        raise TransitionError(f"cannot set fields {sorted(bad | ({'state'} & set(fields)))}")
    with tx(conn):
        row = conn.execute(
            "SELECT state, batch_id FROM documents WHERE id = ?", (doc_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no document {doc_id}")
        current = row["state"]
        if expect is not None and current not in expect:
            raise TransitionError(f"document {doc_id} is {current}, expected one of {list(expect)}")
        if to_state not in ALLOWED[current]:
            raise TransitionError(f"document {doc_id}: {current} → {to_state} is not allowed")
        assignments = {
            **fields,
            "state": to_state,
            "stage": stage,
            "reason": reason,
            "updated_at": now(),
        }
        cols = ", ".join(f"{k} = ?" for k in assignments)
        conn.execute(f"UPDATE documents SET {cols} WHERE id = ?", (*assignments.values(), doc_id))
        _event(conn, actor, doc_id, row["batch_id"], current, to_state, stage, reason)
    return get_document(conn, doc_id)


def update_fields(conn: sqlite3.Connection, doc_id: str, **fields: Any) -> Document:
    """Change bookkeeping fields without a state change (spool path, media type, pages…)."""
    if "state" in fields or not fields:
        raise TransitionError("use transition() to change state")
    with tx(conn):
        cols = ", ".join(f"{k} = ?" for k in fields)
        conn.execute(
            f"UPDATE documents SET {cols}, updated_at = ? WHERE id = ?",
            (*fields.values(), now(), doc_id),
        )
    return get_document(conn, doc_id)


def allocate_ordinal(
    conn: sqlite3.Connection, doc_id: str, dossier_code: str, floor: int = 0
) -> int:
    """Give a document its number ``<n>`` in the dossier, once and atomically.

    A document that already has a number for this dossier keeps it, so a re-run
    after a crash writes to the same keys. ``floor`` is the highest number
    already seen in the archive bucket, which protects numbering even if the
    ledger was lost and rebuilt.
    """
    with tx(conn):
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


_FIELDS = frozenset(Document.__dataclass_fields__)


def _doc(row: sqlite3.Row) -> Document:
    # Only known columns: a ledger made by an older version may carry retired ones.
    return Document(**{k: row[k] for k in row.keys() if k in _FIELDS})  # noqa: SIM118


def get_document(conn: sqlite3.Connection, doc_id: str) -> Document:
    row = conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
    if row is None:
        raise NotFound(f"no document {doc_id}")
    return _doc(row)


def find_documents(
    conn: sqlite3.Connection,
    *,
    states: Sequence[str] | None = None,
    sha256: str | None = None,
    batch_id: str | None = None,
    station: str | None = None,
    since: str | None = None,
    source_path: str | None = None,
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
    ):
        if value is not None:
            clauses.append(f"{col} = ?")
            params.append(value)
    if since:
        clauses.append("created_at >= ?")
        params.append(since)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(
        f"SELECT * FROM documents{where} ORDER BY created_at, batch_id, seq", params
    )
    return [_doc(r) for r in rows]


def resolve_id(conn: sqlite3.Connection, ident: str) -> tuple[str, str]:
    """Map a full id or unique prefix to ``("document"|"batch", id)``."""
    ident = ident.strip()
    if not ident or any(ch in ident for ch in "%_"):
        raise NotFound(f"no batch or document {ident!r}")
    hits: list[tuple[str, str]] = []
    for kind, table in (("document", "documents"), ("batch", "batches")):
        for row in conn.execute(f"SELECT id FROM {table} WHERE id LIKE ? LIMIT 3", (ident + "%",)):
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
    conn: sqlite3.Connection, *, document_id: str | None = None, batch_id: str | None = None
) -> list[dict[str, Any]]:
    if document_id:
        rows = conn.execute(
            "SELECT * FROM events WHERE document_id = ? ORDER BY id", (document_id,)
        )
    else:
        rows = conn.execute("SELECT * FROM events WHERE batch_id = ? ORDER BY id", (batch_id,))
    return [dict(r) for r in rows]


def batch_rows(conn: sqlite3.Connection, status: str | None = None) -> list[dict[str, Any]]:
    """One row per batch with document counts per state and the reasons of the bad ones."""
    out: list[dict[str, Any]] = []
    for b in conn.execute("SELECT * FROM batches ORDER BY created_at, id"):
        docs = find_documents(conn, batch_id=b["id"])
        counts: dict[str, int] = {}
        for d in docs:
            counts[d.state] = counts.get(d.state, 0) + 1
        if status and status not in counts:
            continue
        reasons = [
            f"{d.source_name}: {d.reason}"
            for d in docs
            if d.state in (FAILED, REJECTED, NEEDS_DOSSIER, DUPLICATE) and d.reason
        ]
        out.append(
            {
                "batch_id": b["id"],
                "station": b["station"],
                "created_at": b["created_at"],
                "documents": len(docs),
                "states": counts,
                "status": batch_status(counts),
                "reasons": reasons,
                "review": [f"{d.source_name}: {d.review}" for d in docs if d.review],
                "origin": b["origin"],
            }
        )
    return out


def batch_status(counts: dict[str, int]) -> str:
    """A batch is as bad as its worst document; ``done`` once every document is settled."""
    for state in (FAILED, REJECTED, NEEDS_DOSSIER):
        if counts.get(state):
            return state
    if any(counts.get(s) for s in UNFINISHED_STATES):
        return "in_progress"
    return "done" if counts else "empty"


def get_batch(conn: sqlite3.Connection, batch_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
    if row is None:
        raise NotFound(f"no batch {batch_id}")
    return dict(row)


def live_twin(conn: sqlite3.Connection, doc: Document) -> Document | None:
    """Another document holding the same bytes in a live state (the one that keeps them)."""
    for other in find_documents(conn, sha256=doc.sha256, states=LIVE_STATES):
        if other.id != doc.id:
            return other
    return None


def duplicate_reason(prior: Document) -> str:
    if prior.pdf_key and prior.state in (ARCHIVED, INDEXED):
        return f"same file already archived as {prior.pdf_key} (document {prior.id})"
    if prior.state in (REJECTED, FAILED):
        return f"same file already {prior.state} as document {prior.id}: {prior.reason}"
    return f"same file already taken as document {prior.id} ({prior.state})"


def mark_duplicate(
    conn: sqlite3.Connection, doc_id: str, prior: Document, *, actor: str
) -> Document:
    return transition(
        conn,
        doc_id,
        DUPLICATE,
        actor=actor,
        stage="dedupe",
        reason=duplicate_reason(prior),
        duplicate_of=prior.id,
        pdf_key=prior.pdf_key,
        metadata_key=prior.metadata_key,
        text_key=prior.text_key,
        dossier_code=prior.dossier_code,
        pages=prior.pages,
    )


def attempts(conn: sqlite3.Connection, doc_id: str, stage: str) -> int:
    """How many times an event of ``stage`` was recorded for the document (bounded retries)."""
    row = conn.execute(
        "SELECT COUNT(*) FROM events WHERE document_id = ? AND stage = ?", (doc_id, stage)
    ).fetchone()
    return int(row[0])
