"""The ledger in PostgreSQL, for an office: every station and worker on one set of tables.

The same rules as the SQLite ledger, enforced for many machines at once:

- a state change is checked by :func:`states.check_transition` against the row
  locked ``FOR UPDATE``, and written with its event row in one transaction;
- one live document per content hash: a partial unique index over
  :data:`states.LIVE_STATES`, whose violation becomes :class:`DuplicateContent`;
- ordinals gap-free and unique per dossier: the dossier's ``ordinals`` row is
  locked while the next number is chosen (and a unique index backs it up), so two
  stations archiving into one dossier at the same moment get ``n`` and ``n+1``.

The ``documents`` table is derived from the :class:`Document` record
(:func:`records.document_columns`): a field added there becomes a column here at
the next start, with no migration to write. Writes are idempotent so that
:meth:`Database.run` may repeat them after a broken connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from pipeline.config import Config
from pipeline.errors import DuplicateContent, NotFound, TransitionError
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
from pipeline.storage.postgres.db import Connection, Database
from pipeline.storage.postgres.migrations import Migration, migrate

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


MIGRATIONS = (
    Migration(1, "batches, documents, ordinals, events", _documents_table),
    Migration(2, "documents by signature state (sign --pending)", _signature_index),
    Migration(3, "split stacks: one live source row per SHA-256, segments", _stack_indexes),
    Migration(
        4,
        "the raw original's version id, recorded at custody",
        lambda: ["ALTER TABLE documents ADD COLUMN IF NOT EXISTS raw_version TEXT"],
    ),
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


def _event(
    conn: Connection,
    actor: str,
    document_id: str | None,
    batch_id: str | None,
    from_state: str | None,
    to_state: str | None,
    stage: str | None = None,
    reason: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO events (document_id, batch_id, at, actor, from_state, to_state, stage,"
        " reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (document_id, batch_id, now(), actor, from_state, to_state, stage, reason),
    )


def _doc(row: dict[str, Any]) -> Document:
    values = {k: v for k, v in row.items() if k in DOCUMENT_FIELDS}
    if isinstance(values.get("source_name_bytes"), memoryview):
        values["source_name_bytes"] = bytes(values["source_name_bytes"])
    return Document(**values)


def _assign(values: dict[str, Any]) -> sql.Composed:
    return sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in values)


class PostgresLedger:
    """The ``Ledger`` interface over PostgreSQL (``SOHOA_DATABASE_URL=postgresql://…``)."""

    def __init__(self, db: Database, *, owns_db: bool = True) -> None:
        self.db = db
        self._owns_db = owns_db
        self.created = migrate(db, "ledger", MIGRATIONS, _reconcile)

    @classmethod
    def from_config(cls, cfg: Config) -> PostgresLedger:
        return cls(Database.from_config(cfg, "ledger"))

    def close(self) -> None:
        if self._owns_db:
            self.db.close()

    # -- writing ---------------------------------------------------------------------------
    def create_batch(self, station: str | None, origin: str, actor: str) -> str:
        batch_id = new_id("b")

        def write(conn: Connection, attempt: int) -> None:
            row = conn.execute(
                "INSERT INTO batches (id, station, origin, created_at, actor)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
                (batch_id, station, origin, now(), actor),
            ).fetchone()
            if row is not None:
                _event(conn, actor, None, batch_id, None, None, "batch", f"batch from {origin}")

        self.db.run(write)
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

        def write(conn: Connection, attempt: int) -> None:
            # The batch row is the lock that keeps seq numbers of one batch apart.
            if (
                conn.execute(
                    "SELECT 1 FROM batches WHERE id = %s FOR UPDATE", (batch_id,)
                ).fetchone()
                is None
            ):
                raise NotFound(f"no batch {batch_id}")
            seq = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM documents WHERE batch_id = %s",
                (batch_id,),
            ).fetchone()["n"]
            row = conn.execute(
                "INSERT INTO documents (id, batch_id, seq, station, folder_name, source_name,"
                " source_path, sha256, size, dossier_hint, state, created_at, updated_at, owner,"
                " source_name_bytes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
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
            ).fetchone()
            if row is not None:
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

        self.db.run(write)
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
        """Move a document to ``to_state`` with its event, under a row lock.

        Raises :class:`DuplicateContent` when another live document holds the same bytes.
        """
        bad = set(fields) - DOCUMENT_FIELDS
        if bad or fields.keys() & {"id", "state"}:
            raise TransitionError(
                f"cannot set fields {sorted(bad | (fields.keys() & {'id', 'state'}))}"
            )

        def write(conn: Connection, attempt: int) -> Document | None:
            row = conn.execute(
                "SELECT * FROM documents WHERE id = %s FOR UPDATE", (doc_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no document {doc_id}")
            current = row["state"]
            if expect_owner is not ANY_OWNER and row["owner"] != expect_owner and not attempt:
                raise TransitionError(f"document {doc_id} was taken by {row['owner']}")
            # A repeat after a connection broke at commit: done already if it is ours.
            if (
                attempt
                and (current, row["stage"], row["reason"]) == (to_state, stage, reason)
                and all(row[k] == v for k, v in fields.items())
            ):
                return _doc(row)
            check_transition(doc_id, current, to_state, tuple(expect) if expect else None)
            values = {
                **fields,
                "state": to_state,
                "stage": stage,
                "reason": reason,
                "updated_at": now(),
            }
            updated = conn.execute(
                sql.SQL("UPDATE documents SET {} WHERE id = %s RETURNING *").format(
                    _assign(values)
                ),
                (*values.values(), doc_id),
            ).fetchone()
            _event(conn, actor, doc_id, row["batch_id"], current, to_state, stage, reason)
            return _doc(updated)

        try:
            doc = self.db.run(write)
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name != LIVE_SHA_INDEX:
                raise
            prior = self.live_twin(self.get_document(doc_id))
            if prior is None:
                raise
            raise DuplicateContent(prior) from None
        assert doc is not None
        return doc

    def update_fields(self, doc_id: str, **fields: Any) -> Document:
        """Change bookkeeping fields without a state change (media type, pages, lease…)."""
        if not fields or fields.keys() & {"id", "state"} or set(fields) - DOCUMENT_FIELDS:
            raise TransitionError("use transition() to change state; fields must be known")
        values = {**fields, "updated_at": now()}

        def write(conn: Connection, attempt: int) -> Document:
            row = conn.execute(
                sql.SQL("UPDATE documents SET {} WHERE id = %s RETURNING *").format(
                    _assign(values)
                ),
                (*values.values(), doc_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"no document {doc_id}")
            return _doc(row)

        return self.db.run(write)

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
        """Set the holder and lease only if they are still what the caller read (see
        :meth:`SqliteLedger.claim`): one statement, so exactly one of many claimants wins."""
        clauses, params = ["state = ANY(%s)"], [list(states)]
        if expect_owner is not ANY_OWNER:
            clauses.append("owner IS NOT DISTINCT FROM %s")
            params.append(expect_owner)
        if expect_lease is not ANY_OWNER:
            clauses.append("lease_until IS NOT DISTINCT FROM %s")
            params.append(expect_lease)

        def write(conn: Connection, attempt: int) -> bool:
            row = conn.execute(
                "UPDATE documents SET owner = %s, lease_until = %s WHERE id = %s AND "
                + " AND ".join(clauses)
                + " RETURNING id",
                (owner, lease_until, doc_id, *params),
            ).fetchone()
            if row is None and attempt:  # a repeat after the commit's answer was lost
                now_row = conn.execute(
                    "SELECT owner, lease_until FROM documents WHERE id = %s", (doc_id,)
                ).fetchone()
                return bool(now_row) and (now_row["owner"], now_row["lease_until"]) == (
                    owner,
                    lease_until,
                )
            return row is not None

        return self.db.run(write)

    def allocate_ordinal(self, doc_id: str, dossier_code: str, floor: int = 0) -> int:
        """Give a document its number ``<n>`` in the dossier, once, whoever else is allocating.

        The dossier's ``ordinals`` row is created if need be and locked, so allocations
        for one dossier queue up across machines; other dossiers are not held up.
        """

        def write(conn: Connection, attempt: int) -> int:
            row = conn.execute(
                "SELECT dossier_code, ordinal FROM documents WHERE id = %s FOR UPDATE", (doc_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no document {doc_id}")
            if row["ordinal"] is not None and row["dossier_code"] == dossier_code:
                return int(row["ordinal"])
            conn.execute(
                "INSERT INTO ordinals (dossier_code, last) VALUES (%s, 0)"
                " ON CONFLICT (dossier_code) DO NOTHING",
                (dossier_code,),
            )
            last = conn.execute(
                "SELECT last FROM ordinals WHERE dossier_code = %s FOR UPDATE", (dossier_code,)
            ).fetchone()["last"]
            used = conn.execute(
                "SELECT COALESCE(MAX(ordinal), 0) AS n FROM documents WHERE dossier_code = %s",
                (dossier_code,),
            ).fetchone()["n"]
            n = max(int(last), int(used), floor) + 1
            conn.execute("UPDATE ordinals SET last = %s WHERE dossier_code = %s", (n, dossier_code))
            conn.execute(
                "UPDATE documents SET dossier_code = %s, ordinal = %s, updated_at = %s"
                " WHERE id = %s",
                (dossier_code, n, now(), doc_id),
            )
            return n

        return self.db.run(write)

    def record_split(
        self, parent_id: str, segments: Sequence[SegmentRow], *, actor: str
    ) -> list[Document]:
        """Record how a stack splits, once (see :meth:`SqliteLedger.record_split`): the source's
        row takes the first segment, each further one a ``stored_raw`` row of its own.

        The children's ids are chosen before the first try, and a split already recorded
        is left as it is, so a retry after a broken connection never makes one twice.
        """
        if not segments:
            raise TransitionError("a split needs at least one segment")
        child_ids = [new_id("d") for _ in segments[1:]]

        def write(conn: Connection, attempt: int) -> None:
            row = conn.execute(
                "SELECT * FROM documents WHERE id = %s FOR UPDATE", (parent_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no document {parent_id}")
            parent = _doc(row)
            if parent.parent_id is not None:
                raise TransitionError(f"document {parent_id} is itself a segment of a stack")
            if (
                parent.segment is not None
                or conn.execute(
                    "SELECT 1 FROM documents WHERE parent_id = %s LIMIT 1", (parent_id,)
                ).fetchone()
            ):
                return  # recorded before
            first, stamp = segments[0], now()
            conn.execute(
                "UPDATE documents SET segment = %s, first_page = %s, last_page = %s,"
                " segment_info = %s, updated_at = %s WHERE id = %s",
                (first.segment, first.first_page, first.last_page, first.info, stamp, parent_id),
            )
            conn.execute("SELECT 1 FROM batches WHERE id = %s FOR UPDATE", (parent.batch_id,))
            for child, seg in zip(child_ids, segments[1:], strict=True):
                seq = conn.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM documents WHERE batch_id = %s",
                    (parent.batch_id,),
                ).fetchone()["n"]
                values = segment_row(parent, seg, child, seq, stamp, STORED_RAW)
                conn.execute(
                    sql.SQL("INSERT INTO documents ({}) VALUES ({})").format(
                        sql.SQL(", ").join(sql.Identifier(k) for k in values),
                        sql.SQL(", ").join(sql.Placeholder() for _ in values),
                    ),
                    list(values.values()),
                )
                _event(
                    conn,
                    actor,
                    child,
                    parent.batch_id,
                    None,
                    STORED_RAW,
                    "split",
                    segment_event(parent, seg),
                )
            _event(
                conn,
                actor,
                parent_id,
                parent.batch_id,
                parent.state,
                parent.state,
                "split",
                split_event(segments),
            )

        self.db.run(write)
        return self.family(parent_id)

    def family(self, parent_id: str) -> list[Document]:
        """A stack's documents in stack order: the source's row, then its further segments."""
        head = self.get_document(parent_id)
        rows = self._all(
            "SELECT * FROM documents WHERE parent_id = %s ORDER BY segment", (parent_id,)
        )
        return [head, *(_doc(r) for r in rows)]

    def restore(
        self,
        batch: dict[str, Any],
        doc: Document,
        actor: str,
        reason: str,
        stage: str = "rebuild",
    ) -> bool:
        """Insert a batch and document rebuilt from MinIO (or taken in from a station's
        custody record, ``stage="intake"``), unless the ledger already has it."""
        values = dict(doc.__dict__)

        def write(conn: Connection, attempt: int) -> bool:
            if conn.execute("SELECT 1 FROM documents WHERE id = %s", (doc.id,)).fetchone():
                return False
            if (
                conn.execute(
                    "SELECT 1 FROM documents WHERE sha256 = %s AND state = ANY(%s)",
                    (doc.sha256, list(LIVE_STATES)),
                ).fetchone()
                and doc.state in LIVE_STATES
            ):
                return False
            conn.execute(
                "INSERT INTO batches (id, station, origin, created_at, actor)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (batch["id"], batch["station"], batch["origin"], batch["created_at"], actor),
            )
            conn.execute(
                sql.SQL("INSERT INTO documents ({}) VALUES ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, values)),
                    sql.SQL(", ").join(sql.Placeholder() * len(values)),
                ),
                tuple(values.values()),
            )
            if doc.dossier_code and doc.ordinal:
                conn.execute(
                    "INSERT INTO ordinals (dossier_code, last) VALUES (%s, %s)"
                    " ON CONFLICT (dossier_code) DO UPDATE"
                    " SET last = GREATEST(ordinals.last, excluded.last)",
                    (doc.dossier_code, doc.ordinal),
                )
            _event(conn, actor, doc.id, doc.batch_id, None, doc.state, stage, reason)
            return True

        try:
            return self.db.run(write)
        except psycopg.errors.UniqueViolation:
            return False

    # -- reading ---------------------------------------------------------------------------
    def _all(self, query: Any, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.db.run(lambda conn, attempt: conn.execute(query, params).fetchall())

    def get_document(self, doc_id: str) -> Document:
        rows = self._all("SELECT * FROM documents WHERE id = %s", (doc_id,))
        if not rows:
            raise NotFound(f"no document {doc_id}")
        return _doc(rows[0])

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
            clauses.append("state = ANY(%s)")
            params.append(list(states))
        for col, value in (
            ("sha256", sha256),
            ("batch_id", batch_id),
            ("station", station),
            ("source_path", source_path),
            ("parent_id", parent_id),
            ("signature", signature),
        ):
            if value is not None:
                clauses.append(f"{col} = %s")
                params.append(value)
        if since:
            clauses.append("created_at >= %s")
            params.append(since)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        # COLLATE "C": the same order as SQLite's, whatever the database's locale.
        rows = self._all(
            f'SELECT * FROM documents{where} ORDER BY created_at COLLATE "C",'
            ' batch_id COLLATE "C", seq',
            params,
        )
        return [_doc(r) for r in rows]

    def resolve_id(self, ident: str) -> tuple[str, str]:
        """Map a full id or unique prefix to ``("document"|"batch", id)``."""
        ident = ident.strip()
        if not ident or any(ch in ident for ch in "%_\\"):
            raise NotFound(f"no batch or document {ident!r}")
        hits: list[tuple[str, str]] = []
        for kind, table in (("document", "documents"), ("batch", "batches")):
            rows = self._all(
                f"SELECT id FROM {table} WHERE id ILIKE %s ORDER BY id LIMIT 3", (ident + "%",)
            )
            hits.extend((kind, r["id"]) for r in rows)
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
            return self._all(
                "SELECT * FROM events WHERE document_id = %s ORDER BY id", (document_id,)
            )
        return self._all("SELECT * FROM events WHERE batch_id = %s ORDER BY id", (batch_id,))

    def list_batches(self) -> list[dict[str, Any]]:
        return self._all('SELECT * FROM batches ORDER BY created_at COLLATE "C", id COLLATE "C"')

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        rows = self._all("SELECT * FROM batches WHERE id = %s", (batch_id,))
        if not rows:
            raise NotFound(f"no batch {batch_id}")
        return rows[0]

    def live_twin(self, doc: Document) -> Document | None:
        """Another document holding the same bytes in a live state (the one that keeps them)."""
        for other in self.find_documents(sha256=doc.sha256, states=LIVE_STATES):
            if other.id != doc.id and other.parent_id is None:
                return other
        return None

    def attempts(self, doc_id: str, stage: str) -> int:
        rows = self._all(
            "SELECT COUNT(*) AS n FROM events WHERE document_id = %s AND stage = %s",
            (doc_id, stage),
        )
        return int(rows[0]["n"])

    def is_empty(self) -> bool:
        return not self._all("SELECT 1 FROM batches LIMIT 1")
