"""The ledger's rules, written once for every backend (SQLite and PostgreSQL).

- A state change is checked by :func:`states.check_transition` against the row as the
  transaction reads it (locked ``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
  lets one writer in at a time) and written with its event row in that transaction, so
  the trail never disagrees with the state.
- One live document per content hash: a partial unique index over
  :data:`states.LIVE_STATES` (among the rows that stand for a file), whose violation
  becomes :class:`DuplicateContent`.
- Ordinals gap-free and unique per dossier: the dossier's ``ordinals`` row is locked
  while the next number is chosen (and a unique index backs it up).
- Each change a one-stop system cares about writes its event to the outbox in the same
  transaction (:mod:`.outbox`): an event exists exactly when its change was committed.
- Every write may run twice (PostgreSQL repeats a transaction whose connection broke,
  perhaps after it committed): ids are chosen before the first try, inserts skip what
  is there, and a change already made is recognised as done.

The backends supply the seam (:mod:`.sql`): the transaction, the schema and a few
spellings. Backend types (``sqlite3``, ``psycopg``) never reach this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import MISSING, fields
from typing import Any, TypeVar

from pipeline.errors import DuplicateContent, NotFound, TransitionError
from pipeline.events.payload import ARCHIVED as ARCHIVED_EVENT
from pipeline.storage.ledger.outbox import Outbox, OutboxEvent, announce, event_types, new_key
from pipeline.storage.ledger.records import (
    ANY_OWNER,
    DOCUMENT_FIELDS,
    Document,
    SegmentRow,
    new_id,
    now,
    segment_event,
    segment_row,
    split_event,
)
from pipeline.storage.ledger.sql import LedgerBackend, LedgerTx, UniqueConflict, marks
from pipeline.storage.ledger.states import (
    ARCHIVED,
    INDEXED,
    LIVE_STATES,
    RECEIVED,
    STORED_RAW,
    check_transition,
)

T = TypeVar("T")


_DEFAULTS = {f.name: f.default for f in fields(Document) if f.default is not MISSING}


def as_document(row: Any) -> Document:
    """A ``documents`` row as a :class:`Document` (columns a newer or older ledger has that
    the record lacks are left out; PostgreSQL's ``bytea`` comes back as bytes).

    A row that has every field (the table is made from the record) is set on the record
    directly: the frozen dataclass's ``__init__`` costs 25 µs for its 41 fields, which a
    listing of thousands of documents pays on every page of the web.
    """
    values = {**_DEFAULTS, **{k: row[k] for k in row.keys() if k in DOCUMENT_FIELDS}}  # noqa: SIM118
    name = values.get("source_name_bytes")
    if isinstance(name, memoryview):
        values["source_name_bytes"] = bytes(name)
    if len(values) != len(DOCUMENT_FIELDS):
        return Document(**values)  # a field missing: let the record say which
    doc = object.__new__(Document)
    doc.__dict__.update(values)
    return doc


def insert_sql(table: str, columns: Sequence[str], *, skip_existing: str | None = None) -> str:
    """``INSERT INTO table (cols) VALUES (?, …)``; ``ON CONFLICT (key) DO NOTHING`` when
    ``skip_existing`` names the key (a repeated write then inserts nothing)."""
    tail = f" ON CONFLICT ({skip_existing}) DO NOTHING" if skip_existing else ""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks(columns)}){tail}"


def _event(
    tx: LedgerTx,
    actor: str,
    document_id: str | None,
    batch_id: str | None,
    from_state: str | None,
    to_state: str | None,
    stage: str | None = None,
    reason: str | None = None,
) -> None:
    tx.execute(
        "INSERT INTO events (document_id, batch_id, at, actor, from_state, to_state, stage,"
        " reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (document_id, batch_id, now(), actor, from_state, to_state, stage, reason),
    )


def _next_seq(tx: LedgerTx, batch_id: str) -> int:
    row = tx.execute(
        "SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM documents WHERE batch_id = ?", (batch_id,)
    ).fetchone()
    return int(row["n"])


def _check_fields(fields: dict[str, Any]) -> None:
    bad = set(fields) - DOCUMENT_FIELDS
    if bad or fields.keys() & {"id", "state"}:
        raise TransitionError(
            f"cannot set fields {sorted(bad | (fields.keys() & {'id', 'state'}))}"
        )


class SqlLedger:
    """The ``Ledger`` interface over a :class:`~pipeline.storage.ledger.sql.LedgerBackend`."""

    backend: LedgerBackend
    created: bool

    def _read(self, fn: Callable[[LedgerTx], T]) -> T:
        return self.backend.read(fn)

    def _write(self, fn: Callable[[LedgerTx], T]) -> T:
        return self.backend.write(fn)

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._read(lambda tx: tx.execute(sql, args).fetchall())

    @property
    def outbox(self) -> Outbox:
        """The deliveries of this ledger's events to webhooks."""
        return Outbox(self.backend)

    def events_after(self, after: int, limit: int) -> list[OutboxEvent]:
        """The outbox's events after ``after``, in order (ids are in commit order: a reader
        that saw event ``n`` has seen every event below it)."""
        from pipeline.storage.ledger.outbox import events_after

        return self._read(lambda tx: events_after(tx, after, limit))

    # -- writing ---------------------------------------------------------------------------
    def create_batch(self, station: str | None, origin: str, actor: str) -> str:
        batch_id = new_id("b")

        def write(tx: LedgerTx) -> None:
            cur = tx.execute(
                insert_sql(
                    "batches",
                    ("id", "station", "origin", "created_at", "actor"),
                    skip_existing="id",
                ),
                (batch_id, station, origin, now(), actor),
            )
            if cur.rowcount == 1:
                _event(tx, actor, None, batch_id, None, None, "batch", f"batch from {origin}")

        self._write(write)
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
        component_code: str | None = None,
        kind: str | None = None,
        procedure_code: str | None = None,
        place_source: str | None = None,
    ) -> Document:
        """Record a newly seen file as ``received`` (before anything is uploaded), with its
        place in the dossier when its folder gives one."""
        stamp = now()
        values = {
            "id": new_id("d"),
            "batch_id": batch_id,
            "seq": 0,
            "station": station,
            "folder_name": folder_name,
            "source_name": source_name,
            "source_path": source_path,
            "sha256": sha256,
            "size": size,
            "dossier_hint": dossier_hint,
            "state": RECEIVED,
            "created_at": stamp,
            "updated_at": stamp,
            "owner": owner,
            "source_name_bytes": source_name_bytes,
            "component_code": component_code,
            "kind": kind,
            "procedure_code": procedure_code,
            "place_source": place_source,
        }

        def write(tx: LedgerTx) -> Document:
            # The batch row is the lock that keeps seq numbers of one batch apart.
            if (
                tx.execute(
                    f"SELECT 1 AS one FROM batches WHERE id = ?{tx.dialect.for_update}",
                    (batch_id,),
                ).fetchone()
                is None
            ):
                raise NotFound(f"no batch {batch_id}")
            row = {**values, "seq": _next_seq(tx, batch_id)}
            cur = tx.execute(
                insert_sql("documents", list(row), skip_existing="id"), list(row.values())
            )
            if cur.rowcount == 1:
                _event(
                    tx,
                    actor,
                    row["id"],
                    batch_id,
                    None,
                    RECEIVED,
                    "ingest",
                    f"file {source_name} ({size} bytes)",
                )
            return self._get(tx, row["id"])

        return self._write(write)

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
        of them (and ``expect_owner``: only while that process holds it). Raises
        :class:`DuplicateContent` when another live document already holds the same bytes.
        """
        _check_fields(fields)
        key = new_key()

        def write(tx: LedgerTx) -> Document:
            row = self._row(tx, doc_id, lock=True)
            current = row["state"]
            if tx.attempt:  # a repeat after a connection broke at commit: done if it is ours
                if (current, row["stage"], row["reason"]) == (to_state, stage, reason) and all(
                    row[k] == v for k, v in fields.items()
                ):
                    return as_document(row)
            elif expect_owner is not ANY_OWNER and row["owner"] != expect_owner:
                raise TransitionError(f"document {doc_id} was taken by {row['owner']}")
            check_transition(doc_id, current, to_state, tuple(expect) if expect else None)
            values = {
                **fields,
                "state": to_state,
                "stage": stage,
                "reason": reason,
                "updated_at": now(),
            }
            cols = ", ".join(f"{k} = ?" for k in values)
            tx.execute(f"UPDATE documents SET {cols} WHERE id = ?", (*values.values(), doc_id))
            _event(tx, actor, doc_id, row["batch_id"], current, to_state, stage, reason)
            doc = as_document({**dict(row), **values})
            announce(tx, key, doc, event_types(current, doc, fields))
            return doc

        try:
            return self._write(write)
        except UniqueConflict as exc:
            if not exc.live_sha:
                raise
            prior = self.live_twin(self.get_document(doc_id))
            if prior is None:
                raise
            raise DuplicateContent(prior) from None

    def update_fields(self, doc_id: str, **fields: Any) -> Document:
        """Change bookkeeping fields without a state change (media type, pages, lease…)."""
        if not fields or fields.keys() & {"id", "state"} or set(fields) - DOCUMENT_FIELDS:
            raise TransitionError("use transition() to change state; fields must be known")
        values = {**fields, "updated_at": now()}
        key = new_key()

        def write(tx: LedgerTx) -> Document:
            cols = ", ".join(f"{k} = ?" for k in values)
            rows = tx.execute(
                f"UPDATE documents SET {cols} WHERE id = ? RETURNING *", (*values.values(), doc_id)
            ).fetchall()
            if not rows:
                raise NotFound(f"no document {doc_id}")
            doc = as_document(rows[0])
            announce(tx, key, doc, event_types(doc.state, doc, fields))  # a signature recorded
            return doc

        return self._write(write)

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
        (and lease) are still the ones the caller read: one statement, so of many processes
        claiming or renewing at once exactly one wins. No event: a claim is bookkeeping,
        not a change of state."""
        clauses, params = [f"state IN ({marks(states)})"], list(states)

        def write(tx: LedgerTx) -> bool:
            where, args = list(clauses), list(params)
            if expect_owner is not ANY_OWNER:
                where.append(f"owner {tx.dialect.same} ?")
                args.append(expect_owner)
            if expect_lease is not ANY_OWNER:
                where.append(f"lease_until {tx.dialect.same} ?")
                args.append(expect_lease)
            cur = tx.execute(
                f"UPDATE documents SET owner = ?, lease_until = ? WHERE id = ? AND"
                f" {' AND '.join(where)}",
                (owner, lease_until, doc_id, *args),
            )
            if cur.rowcount != 1 and tx.attempt:  # a repeat after the commit's answer was lost
                row = tx.execute(
                    "SELECT owner, lease_until FROM documents WHERE id = ?", (doc_id,)
                ).fetchone()
                return row is not None and (row["owner"], row["lease_until"]) == (
                    owner,
                    lease_until,
                )
            return cur.rowcount == 1

        return self._write(write)

    def allocate_ordinal(self, doc_id: str, dossier_code: str, floor: int = 0) -> int:
        """Give a document its number ``<n>`` in the dossier, once, whoever else is allocating.

        A document that already has a number for this dossier keeps it, so a re-run
        after a crash writes to the same keys. ``floor`` is the highest number already
        seen in the archive bucket, which protects numbering even if the ledger was lost.
        The dossier's ``ordinals`` row is created if need be and locked, so allocations
        for one dossier queue up across machines; other dossiers are not held up.
        """

        def write(tx: LedgerTx) -> int:
            lock = tx.dialect.for_update
            row = tx.execute(
                f"SELECT dossier_code, ordinal FROM documents WHERE id = ?{lock}", (doc_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no document {doc_id}")
            if row["ordinal"] is not None and row["dossier_code"] == dossier_code:
                return int(row["ordinal"])
            tx.execute(
                insert_sql("ordinals", ("dossier_code", "last"), skip_existing="dossier_code"),
                (dossier_code, 0),
            )
            last = tx.execute(
                f"SELECT last FROM ordinals WHERE dossier_code = ?{lock}", (dossier_code,)
            ).fetchone()["last"]
            used = tx.execute(
                "SELECT COALESCE(MAX(ordinal), 0) AS n FROM documents WHERE dossier_code = ?",
                (dossier_code,),
            ).fetchone()["n"]
            n = max(int(last), int(used), floor) + 1
            tx.execute("UPDATE ordinals SET last = ? WHERE dossier_code = ?", (n, dossier_code))
            tx.execute(
                "UPDATE documents SET dossier_code = ?, ordinal = ?, updated_at = ? WHERE id = ?",
                (dossier_code, n, now(), doc_id),
            )
            return n

        return self._write(write)

    def record_split(
        self, parent_id: str, segments: Sequence[SegmentRow], *, actor: str
    ) -> list[Document]:
        """Record how a stack splits, once: the source's row takes the first segment, each
        further segment gets a row of its own (``stored_raw``: its bytes are in raw already).

        Idempotent: when the split is already recorded, the recorded family is returned
        unchanged, so a re-run after a crash never makes a document twice or cuts the
        stack differently (the children's ids are chosen before the first try).
        """
        if not segments:
            raise TransitionError("a split needs at least one segment")
        child_ids = [new_id("d") for _ in segments[1:]]

        def write(tx: LedgerTx) -> None:
            lock = tx.dialect.for_update
            parent = as_document(self._row(tx, parent_id, lock=True))
            if parent.parent_id is not None:
                raise TransitionError(f"document {parent_id} is itself a segment of a stack")
            if (
                parent.segment is not None
                or tx.execute(
                    "SELECT 1 AS one FROM documents WHERE parent_id = ? LIMIT 1", (parent_id,)
                ).fetchone()
            ):
                return  # recorded before
            first, stamp = segments[0], now()
            tx.execute(
                "UPDATE documents SET segment = ?, first_page = ?, last_page = ?,"
                " segment_info = ?, updated_at = ? WHERE id = ?",
                (first.segment, first.first_page, first.last_page, first.info, stamp, parent_id),
            )
            tx.execute(f"SELECT 1 AS one FROM batches WHERE id = ?{lock}", (parent.batch_id,))
            for child, seg in zip(child_ids, segments[1:], strict=True):
                values = segment_row(
                    parent, seg, child, _next_seq(tx, parent.batch_id), stamp, STORED_RAW
                )
                tx.execute(insert_sql("documents", list(values)), list(values.values()))
                _event(
                    tx,
                    actor,
                    child,
                    parent.batch_id,
                    None,
                    STORED_RAW,
                    "split",
                    segment_event(parent, seg),
                )
            _event(
                tx,
                actor,
                parent_id,
                parent.batch_id,
                parent.state,
                parent.state,
                "split",
                split_event(segments),
            )

        self._write(write)
        return self.family(parent_id)

    def family(self, parent_id: str) -> list[Document]:
        """A stack's documents in stack order: the source's row, then its further segments."""
        head = self.get_document(parent_id)
        rows = self._rows(
            "SELECT * FROM documents WHERE parent_id = ? ORDER BY segment", (parent_id,)
        )
        return [head, *(as_document(r) for r in rows)]

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

        False when the document (or a live one with the same bytes) is already there. A
        document taken in (not rebuilt: the one-stop system heard of those before) announces
        the state it arrives in (a duplicate).
        """
        values = dict(doc.__dict__)
        key = new_key()

        def write(tx: LedgerTx) -> bool:
            if tx.execute("SELECT 1 AS one FROM documents WHERE id = ?", (doc.id,)).fetchone():
                return False
            if (
                doc.parent_id is None
                and doc.state in LIVE_STATES
                and tx.execute(
                    f"SELECT 1 AS one FROM documents WHERE sha256 = ? AND parent_id IS NULL"
                    f" AND state IN ({marks(LIVE_STATES)})",
                    (doc.sha256, *LIVE_STATES),
                ).fetchone()
            ):
                return False
            tx.execute(
                insert_sql(
                    "batches",
                    ("id", "station", "origin", "created_at", "actor"),
                    skip_existing="id",
                ),
                (batch["id"], batch["station"], batch["origin"], batch["created_at"], actor),
            )
            tx.execute(insert_sql("documents", list(values)), list(values.values()))
            if doc.dossier_code and doc.ordinal:
                tx.execute(
                    "INSERT INTO ordinals (dossier_code, last) VALUES (?, ?)"
                    " ON CONFLICT (dossier_code) DO UPDATE"
                    f" SET last = {tx.dialect.greatest}(ordinals.last, excluded.last)",
                    (doc.dossier_code, doc.ordinal),
                )
            _event(tx, actor, doc.id, doc.batch_id, None, doc.state, stage, reason)
            if stage != "rebuild":
                announce(tx, key, doc, event_types(None, doc, {}))
            return True

        try:
            return self._write(write)
        except UniqueConflict:
            return False

    def record_place(
        self, doc_id: str, place: dict[str, Any], *, actor: str, reason: str
    ) -> Document:
        """Change an archived document's place in its dossier (``component_code``, ``kind``,
        ``procedure_code``, ``place_source``), with its event row and, the archived copy
        being described anew, a ``document.archived`` event carrying the new place.
        The caller has written the new metadata into the archive first."""
        bad = set(place) - {"component_code", "kind", "procedure_code", "place_source"}
        if bad:
            raise TransitionError(f"not a place: {sorted(bad)}")
        key = new_key()

        def write(tx: LedgerTx) -> Document:
            row = self._row(tx, doc_id, lock=True)
            if row["state"] not in (ARCHIVED, INDEXED):
                raise TransitionError(f"document {doc_id} is {row['state']}, not archived")
            if all(row[k] == v for k, v in place.items()):
                return as_document(row)  # said before (or a repeat after a broken connection)
            values = {**place, "updated_at": now()}
            cols = ", ".join(f"{k} = ?" for k in values)
            tx.execute(f"UPDATE documents SET {cols} WHERE id = ?", (*values.values(), doc_id))
            state = row["state"]
            _event(tx, actor, doc_id, row["batch_id"], state, state, "place", reason)
            doc = as_document({**dict(row), **values})
            announce(tx, key, doc, [ARCHIVED_EVENT])
            return doc

        return self._write(write)

    # -- reading ---------------------------------------------------------------------------
    @staticmethod
    def _row(tx: LedgerTx, doc_id: str, *, lock: bool = False) -> Any:
        """The document's row (locked until the transaction ends, with ``lock``), or
        :class:`NotFound`."""
        lock_clause = tx.dialect.for_update if lock else ""
        row = tx.execute(f"SELECT * FROM documents WHERE id = ?{lock_clause}", (doc_id,)).fetchone()
        if row is None:
            raise NotFound(f"no document {doc_id}")
        return row

    @classmethod
    def _get(cls, tx: LedgerTx, doc_id: str) -> Document:
        return as_document(cls._row(tx, doc_id))

    def get_document(self, doc_id: str) -> Document:
        return self._read(lambda tx: self._get(tx, doc_id))

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
            clauses.append(f"state IN ({marks(states)})")
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

        def read(tx: LedgerTx) -> list[Document]:
            c = tx.dialect.bytewise  # the same order on every backend, whatever the locale
            rows = tx.execute(
                f"SELECT * FROM documents{where} ORDER BY created_at{c}, batch_id{c}, seq", params
            )
            return [as_document(r) for r in rows]

        return self._read(read)

    def resolve_id(self, ident: str) -> tuple[str, str]:
        """Map a full id or unique prefix to ``("document"|"batch", id)``."""
        ident = ident.strip()
        if not ident or any(ch in ident for ch in "%_\\"):
            raise NotFound(f"no batch or document {ident!r}")

        def read(tx: LedgerTx) -> list[tuple[str, str]]:
            hits: list[tuple[str, str]] = []
            for kind, table in (("document", "documents"), ("batch", "batches")):
                rows = tx.execute(
                    f"SELECT id FROM {table} WHERE id {tx.dialect.like} ?"
                    f" ORDER BY id{tx.dialect.bytewise} LIMIT 3",
                    (ident + "%",),
                )
                hits.extend((kind, r["id"]) for r in rows)
            return hits

        hits = self._read(read)
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
        column, value = ("document_id", document_id) if document_id else ("batch_id", batch_id)
        rows = self._rows(f"SELECT * FROM events WHERE {column} = ? ORDER BY id", (value,))
        return [dict(r) for r in rows]

    def list_batches(self) -> list[dict[str, Any]]:
        def read(tx: LedgerTx) -> list[dict[str, Any]]:
            c = tx.dialect.bytewise
            rows = tx.execute(f"SELECT * FROM batches ORDER BY created_at{c}, id{c}")
            return [dict(r) for r in rows]

        return self._read(read)

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM batches WHERE id = ?", (batch_id,))
        if not rows:
            raise NotFound(f"no batch {batch_id}")
        return dict(rows[0])

    def live_twin(self, doc: Document) -> Document | None:
        """Another document holding the same bytes in a live state (the one that keeps them)."""
        for other in self.find_documents(sha256=doc.sha256, states=LIVE_STATES):
            if other.id != doc.id and other.parent_id is None:
                return other
        return None

    def attempts(self, doc_id: str, stage: str) -> int:
        """How many events of ``stage`` the document has (bounded retries)."""
        rows = self._rows(
            "SELECT COUNT(*) AS n FROM events WHERE document_id = ? AND stage = ?",
            (doc_id, stage),
        )
        return int(rows[0]["n"])

    def is_empty(self) -> bool:
        return not self._rows("SELECT 1 AS one FROM batches LIMIT 1")
