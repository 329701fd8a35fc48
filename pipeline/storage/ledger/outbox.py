"""The outbox: events written in the ledger's own transactions, and their deliveries.

**Writing.** A ledger change a one-stop system cares about (:data:`~pipeline.events.payload.TYPES`)
writes its event row in the same transaction as the change (:func:`announce`), so an event
exists exactly when its change was committed: never lost, never made up. Rows are numbered
in commit order: on PostgreSQL every announcing transaction takes one lock just before its
last insert (held to its commit), so a reader that has seen event ``n`` has seen every
event below ``n`` — what lets the feed's ``after=`` cursor and the dispatcher never skip
one. On SQLite ``BEGIN IMMEDIATE`` already lets one writer in at a time. Each row carries
a key chosen before the write's first try: a transaction PostgreSQL repeats after a broken
connection inserts it once.

**Delivering** (:class:`Outbox`), per webhook:

- *fan-out*: each webhook has a cursor; new events become ``pending`` deliveries in id
  order (a webhook seen for the first time starts from the first event);
- *claim*: a dispatcher takes due deliveries under a lease (``holder``, ``lease_until`` on
  the database's clock), ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so dispatchers on
  several machines never hold one delivery at once; only a delivery with no earlier
  undelivered one for the same dossier (or, without a dossier, the same document) is
  due — in order per dossier, while other dossiers go on;
- *settle*: ``delivered``; or again after an exponential backoff with jitter; or ``dead``
  after ``max_attempts``, kept for operators;
- *replay*: an operator's request (``outbox_replays``, insert-only for the web and operator
  roles) that the next dispatcher pass carries out: the delivery is due again, from its
  first attempt.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pipeline.events.payload import (
    DUPLICATE,
    NOT_SIGNED,
    SIGNED,
    STATE_EVENTS,
    event_data,
    event_json,
    occurred_now,
)
from pipeline.storage.ledger.records import Document
from pipeline.storage.ledger.sql import LedgerBackend, LedgerTx, marks

T = TypeVar("T")

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
DELIVERY_STATES = (PENDING, DELIVERED, DEAD)
OUTBOX_LOCK = "outbox"  # the lock that numbers events in commit order (tx.lock)
_FAN_OUT_BATCH = 1000
# What a document's deliveries wait behind: its dossier, or (without one yet) itself.
_DOSSIER_KEY = "COALESCE(dossier_code, 'document:' || document_id)"


# An earlier undelivered event of the same dossier (or document) to the same webhook: one
# subquery per key, each answered from its own partial index by its first entry.
def _earlier(key: str, what: str = "1") -> str:
    # The states as literals, not parameters: a partial index is used only when the
    # planner sees that the query's condition implies the index's.
    return (
        f"SELECT {what} FROM outbox_deliveries e WHERE e.webhook = d.webhook"
        f" AND e.{key} = d.{key} AND e.state <> '{DELIVERED}' AND e.event_id < d.event_id"
    )


@dataclass(frozen=True)
class OutboxEvent:
    """One event as the outbox keeps it (``data``: the facts, links relative)."""

    id: int
    type: str
    occurred_at: str
    dossier_code: str | None
    document_id: str
    data: dict[str, Any]

    def as_json(self, public_url: str | None = None) -> dict[str, Any]:
        """The event as the feed serves it and a webhook gets it (links absolute when
        ``public_url`` is given)."""
        return event_json(
            self.id,
            self.type,
            self.occurred_at,
            self.dossier_code,
            self.document_id,
            self.data,
            public_url,
        )


@dataclass(frozen=True)
class Delivery:
    """One event's delivery to one webhook."""

    event: OutboxEvent
    webhook: str
    state: str  # PENDING, DELIVERED, DEAD
    attempts: int
    next_at: float  # when it is due (seconds since the epoch, the database's clock)
    holder: str | None = None
    lease_until: float | None = None
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: str | None = None
    waiting_for: int | None = None  # the earlier undelivered event it waits behind
    replay_requested: bool = False


def new_key() -> str:
    """An event's key, chosen before a write's first try (a repeat inserts nothing)."""
    return uuid.uuid4().hex


def event_types(before_state: str | None, doc: Document, fields: dict[str, Any]) -> list[str]:
    """The events a change announces: the state it reached (when it changed), and
    ``document.signed`` when it recorded a signature level."""
    types = []
    if doc.state != before_state and doc.state in STATE_EVENTS:
        types.append(STATE_EVENTS[doc.state])
    if fields.get("signature") not in NOT_SIGNED:
        types.append(SIGNED)
    return types


def announce(tx: LedgerTx, key: str, doc: Document, types: Sequence[str]) -> None:
    """Write the events of a change into the outbox, in the change's own transaction.

    Called last in the transaction (after every row lock it takes), so holding the
    outbox lock to the commit never waits on anything else.
    """
    if not types:
        return
    tx.lock(OUTBOX_LOCK)
    stamp = occurred_now()
    for event_type in types:
        data = event_data(doc, event_type)
        tx.execute(
            "INSERT INTO outbox (event_key, type, occurred_at, dossier_code, document_id, data)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_key) DO NOTHING",
            (
                f"{key}:{event_type}",
                event_type,
                stamp,
                doc.dossier_code if event_type != DUPLICATE or doc.dossier_code else None,
                doc.id,
                json.dumps(data, ensure_ascii=False, sort_keys=True),
            ),
        )


def as_event(row: Any) -> OutboxEvent:
    data = row["data"]
    return OutboxEvent(
        id=int(row["id"]),
        type=row["type"],
        occurred_at=row["occurred_at"],
        dossier_code=row["dossier_code"],
        document_id=row["document_id"],
        data=json.loads(data) if isinstance(data, str) else dict(data),
    )


def events_after(tx: LedgerTx, after: int, limit: int) -> list[OutboxEvent]:
    rows = tx.execute(
        "SELECT id, type, occurred_at, dossier_code, document_id, data FROM outbox"
        " WHERE id > ? ORDER BY id LIMIT ?",
        (after, limit),
    )
    return [as_event(r) for r in rows]


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_DELIVERY_COLUMNS = (
    "o.id, o.type, o.occurred_at, o.dossier_code, o.document_id, o.data, d.webhook, d.state,"
    " d.attempts, d.next_at, d.holder, d.lease_until, d.last_status, d.last_error,"
    " d.delivered_at"
)


def _delivery(row: Any, **extra: Any) -> Delivery:
    return Delivery(
        event=as_event(row),
        webhook=row["webhook"],
        state=row["state"],
        attempts=int(row["attempts"]),
        next_at=float(row["next_at"]),
        holder=row["holder"],
        lease_until=row["lease_until"],
        last_status=row["last_status"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
        **extra,
    )


class Outbox:
    """The deliveries of the outbox's events to webhooks, over the ledger's backend."""

    def __init__(self, backend: LedgerBackend) -> None:
        self.backend = backend

    def _write(self, fn: Callable[[LedgerTx], T]) -> T:
        return self.backend.write(fn)

    def _read(self, fn: Callable[[LedgerTx], T]) -> T:
        return self.backend.read(fn)

    def fan_out(self, webhook: str) -> int:
        """New events become pending deliveries to ``webhook``; how many did."""

        def news(tx: LedgerTx) -> bool:
            row = tx.execute(
                "SELECT (SELECT MAX(id) FROM outbox) AS top,"
                " (SELECT last_event_id FROM outbox_cursors WHERE webhook = ?) AS seen",
                (webhook,),
            ).fetchone()
            return row["top"] is not None and (row["seen"] is None or row["top"] > row["seen"])

        if not self._read(news):  # an idle dispatcher takes no write lock
            return 0

        def write(tx: LedgerTx) -> int:
            row = tx.execute(
                f"SELECT last_event_id FROM outbox_cursors WHERE webhook = ?"
                f"{tx.dialect.for_update}",
                (webhook,),
            ).fetchone()
            if row is None:
                tx.execute(
                    "INSERT INTO outbox_cursors (webhook, last_event_id) VALUES (?, 0)"
                    " ON CONFLICT (webhook) DO NOTHING",
                    (webhook,),
                )
                row = tx.execute(
                    f"SELECT last_event_id FROM outbox_cursors WHERE webhook = ?"
                    f"{tx.dialect.for_update}",
                    (webhook,),
                ).fetchone()
            last = int(row["last_event_id"])
            top = tx.execute(
                "SELECT MAX(id) AS top FROM (SELECT id FROM outbox WHERE id > ?"
                " ORDER BY id LIMIT ?) AS batch",
                (last, _FAN_OUT_BATCH),
            ).fetchone()["top"]
            if top is None:
                return 0
            cur = tx.execute(
                "INSERT INTO outbox_deliveries (webhook, event_id, dossier_key, document_id,"
                " state, attempts, next_at, updated_at)"
                f" SELECT ?, id, {_DOSSIER_KEY}, document_id, ?, 0, ?, ? FROM outbox"
                " WHERE id > ? AND id <= ? ON CONFLICT (webhook, event_id) DO NOTHING",
                (webhook, PENDING, tx.clock(), _stamp(), last, int(top)),
            )
            tx.execute(
                "UPDATE outbox_cursors SET last_event_id = ? WHERE webhook = ?", (int(top), webhook)
            )
            return max(cur.rowcount, 0)

        return self._write(write)

    def apply_replays(self) -> int:
        """Carry out operators' replay requests: each delivery named is due again."""
        asked = self._read(
            lambda tx: tx.execute(
                "SELECT 1 AS one FROM outbox_replays WHERE applied_at IS NULL LIMIT 1"
            ).fetchone()
        )
        if asked is None:
            return 0

        def write(tx: LedgerTx) -> int:
            lock = tx.dialect.skip_locked
            asked = tx.execute(
                f"SELECT id, event_id, webhook FROM outbox_replays WHERE applied_at IS NULL"
                f" ORDER BY id{lock}"
            ).fetchall()
            now, done = tx.clock(), 0
            for r in asked:
                where, args = "event_id = ?", [r["event_id"]]
                if r["webhook"] is not None:
                    where += " AND webhook = ?"
                    args.append(r["webhook"])
                # Not one in flight: its holder's lease stands until it settles.
                cur = tx.execute(
                    "UPDATE outbox_deliveries SET state = ?, attempts = 0, next_at = ?,"
                    " holder = NULL, lease_until = NULL, last_error = NULL, updated_at = ?"
                    f" WHERE {where} AND (state <> ? OR lease_until IS NULL OR lease_until < ?)",
                    (PENDING, now, _stamp(), *args, PENDING, now),
                )
                done += max(cur.rowcount, 0)
                tx.execute(
                    "UPDATE outbox_replays SET applied_at = ? WHERE id = ?", (_stamp(), r["id"])
                )
            return done

        return self._write(write)

    def claim(self, webhook: str, holder: str, lease_seconds: float, limit: int) -> list[Delivery]:
        """Take up to ``limit`` due deliveries to ``webhook`` for ``lease_seconds``: each the
        earliest undelivered one of its dossier (and document), in event order."""

        def write(tx: LedgerTx) -> list[Delivery]:
            now = tx.clock()
            rows = tx.execute(
                "SELECT d.event_id FROM outbox_deliveries d"
                f" WHERE d.webhook = ? AND d.state = '{PENDING}' AND d.next_at <= ?"
                " AND (d.lease_until IS NULL OR d.lease_until < ?)"
                f" AND NOT EXISTS ({_earlier('dossier_key')})"
                f" AND NOT EXISTS ({_earlier('document_id')})"
                f" ORDER BY d.event_id LIMIT ?{tx.dialect.skip_locked}",
                (webhook, now, now, limit),
            ).fetchall()
            ids = [int(r["event_id"]) for r in rows]
            if not ids:
                return []
            tx.execute(
                "UPDATE outbox_deliveries SET holder = ?, lease_until = ?,"
                f" attempts = attempts + 1, updated_at = ? WHERE webhook = ? AND event_id IN"
                f" ({marks(ids)})",
                (holder, now + lease_seconds, _stamp(), webhook, *ids),
            )
            got = tx.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM outbox_deliveries d JOIN outbox o"
                f" ON o.id = d.event_id WHERE d.webhook = ? AND d.event_id IN ({marks(ids)})"
                " ORDER BY d.event_id",
                (webhook, *ids),
            )
            return [_delivery(r) for r in got]

        return self._write(write)

    def settle(
        self,
        delivery: Delivery,
        holder: str,
        *,
        delivered: bool,
        status: int | None,
        error: str | None,
        retry_in: float | None,
    ) -> bool:
        """Record an attempt's outcome, only while ``holder`` still holds the delivery:
        delivered; due again in ``retry_in`` seconds; or (``retry_in`` None) dead."""

        def write(tx: LedgerTx) -> bool:
            now = tx.clock()
            state = DELIVERED if delivered else (PENDING if retry_in is not None else DEAD)
            cur = tx.execute(
                "UPDATE outbox_deliveries SET state = ?, holder = NULL, lease_until = NULL,"
                " next_at = ?, last_status = ?, last_error = ?, delivered_at = ?, updated_at = ?"
                " WHERE webhook = ? AND event_id = ? AND holder = ? AND state = ?",
                (
                    state,
                    now + (retry_in or 0.0),
                    status,
                    None if delivered else (error or "")[:500],
                    _stamp() if delivered else None,
                    _stamp(),
                    delivery.webhook,
                    delivery.event.id,
                    holder,
                    PENDING,
                ),
            )
            return cur.rowcount == 1

        return self._write(write)

    def renew(
        self, deliveries: Sequence[Delivery], holder: str, lease_seconds: float
    ) -> list[Delivery]:
        """Extend the lease of deliveries ``holder`` has still to attempt; those it still
        holds (a lease that ran out may have gone to another dispatcher)."""
        if not deliveries:
            return []

        def write(tx: LedgerTx) -> list[Delivery]:
            until, kept = tx.clock() + lease_seconds, []
            for d in deliveries:
                cur = tx.execute(
                    "UPDATE outbox_deliveries SET lease_until = ? WHERE webhook = ?"
                    " AND event_id = ? AND holder = ? AND state = ?",
                    (until, d.webhook, d.event.id, holder, PENDING),
                )
                if cur.rowcount == 1:
                    kept.append(d)
            return kept

        return self._write(write)

    def request_replay(self, event_id: int, webhook: str | None, actor: str) -> int:
        """Ask for an event's delivery again, from its first attempt (to ``webhook``, or to
        every webhook it has a delivery to: dead, delivered, or waiting for its next try);
        returns how many deliveries that names, -1 when there is no such event. The next
        dispatcher pass carries it out (the web and operator roles may only ask)."""

        def write(tx: LedgerTx) -> int:
            if (
                tx.execute("SELECT 1 AS one FROM outbox WHERE id = ?", (event_id,)).fetchone()
                is None
            ):
                return -1
            where, args = "event_id = ?", [event_id]
            if webhook is not None:
                where += " AND webhook = ?"
                args.append(webhook)
            named = tx.execute(
                f"SELECT COUNT(*) AS n FROM outbox_deliveries WHERE {where}", args
            ).fetchone()["n"]
            if named:
                tx.execute(
                    "INSERT INTO outbox_replays (event_id, webhook, actor, requested_at)"
                    " VALUES (?, ?, ?, ?)",
                    (event_id, webhook, actor, _stamp()),
                )
            return int(named)

        return self._write(write)

    def deliveries(
        self, *, states: Sequence[str] = (PENDING, DEAD), limit: int = 200, after: int = 0
    ) -> list[Delivery]:
        """Deliveries in these states, oldest event first, with what each waits behind."""

        def read(tx: LedgerTx) -> list[Delivery]:
            rows = tx.execute(
                f"SELECT {_DELIVERY_COLUMNS},"
                f" ({_earlier('dossier_key', 'MIN(e.event_id)')}) AS by_dossier,"
                f" ({_earlier('document_id', 'MIN(e.event_id)')}) AS by_document,"
                " EXISTS (SELECT 1 FROM outbox_replays r WHERE r.event_id ="
                " d.event_id AND r.applied_at IS NULL AND (r.webhook IS NULL OR r.webhook ="
                " d.webhook)) AS replay_requested"
                " FROM outbox_deliveries d JOIN outbox o ON o.id = d.event_id"
                f" WHERE d.state IN ({marks(states)}) AND d.event_id > ?"
                " ORDER BY d.event_id, d.webhook LIMIT ?",
                (*states, after, limit),
            )
            out = []
            for r in rows:
                behind = [v for v in (r["by_dossier"], r["by_document"]) if v is not None]
                out.append(
                    _delivery(
                        r,
                        waiting_for=min(behind) if behind else None,
                        replay_requested=bool(r["replay_requested"]),
                    )
                )
            return out

        return self._read(read)

    def counts(self) -> dict[str, int]:
        """Deliveries per state (``pending``, ``delivered``, ``dead``) and events in all."""

        def read(tx: LedgerTx) -> dict[str, int]:
            out = {s: 0 for s in DELIVERY_STATES}
            for r in tx.execute(
                "SELECT state, COUNT(*) AS n FROM outbox_deliveries GROUP BY state"
            ):
                out[r["state"]] = int(r["n"])
            out["events"] = int(tx.execute("SELECT COUNT(*) AS n FROM outbox").fetchone()["n"])
            return out

        return self._read(read)

    def event(self, event_id: int) -> OutboxEvent | None:
        def read(tx: LedgerTx) -> OutboxEvent | None:
            row = tx.execute(
                "SELECT id, type, occurred_at, dossier_code, document_id, data FROM outbox"
                " WHERE id = ?",
                (event_id,),
            ).fetchone()
            return as_event(row) if row else None

        return self._read(read)
