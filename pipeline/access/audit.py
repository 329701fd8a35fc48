"""The audit log: who searched, viewed, opened or changed what, chained by SHA-256.

Every row stores the hash of the row before it and a hash over its own fields
(its id included), so changing, deleting, inserting or reordering rows breaks
the chain at a row :meth:`SqlAuditLog.verify` names. Appends from any number
of processes (and, on PostgreSQL, machines) each run in one transaction that
first takes the chain's lock — SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's
``audit_chain`` row ``FOR UPDATE`` — then reads the last row and writes the
next, so they form one chain. The program never updates or deletes a row, and
triggers refuse both; someone who can alter the schema can drop the triggers,
which is what the chain is for.

What the chain cannot see on its own is a rewrite by someone who can write the
tables: edit a row and recompute every hash after it, delete rows and renumber
the rest, cut the tail and wind the high-water counter back (SQLite's
``sqlite_sequence``; PostgreSQL's ``audit_chain.last_id`` with its trigger
disabled). An unkeyed hash cannot stop that, so the head of the chain (last id,
its hash, the highest id ever given out) is anchored outside the database, in
Object-Locked objects of the archive bucket (:mod:`pipeline.access.anchors`):
by the appending processes at most every ``audit.anchor_seconds``
(:mod:`pipeline.access.anchoring`) and by every ``audit verify``. :meth:`verify`
then checks the chain against every anchor: a row at or before an anchor whose
hash differs from the anchored one (rewritten, or the anchor is false), an
anchored row that is gone or a counter below an anchored one (a removed tail).

Details never carry secrets: keys that look like passwords, tokens or keys are
replaced by ``"[redacted]"`` before the row is written.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.access.anchors import Anchor, AnchorIndex, Head
from pipeline.access.db import AccessBackend, SqliteAccess, Tx
from pipeline.dossier.codes import CODE_RE

if TYPE_CHECKING:
    from pipeline.access.anchoring import Anchorer

GENESIS = "0" * 64
_HASH_VERSION = "sohoa-audit-1"
_SECRET_KEY_RE = re.compile(r"pass(word|phrase)?|secret|token|pin$|credential|api_?key", re.I)
MAX_FIELD = 512


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: str
    actor: str
    action: str
    object: str | None
    dossier: str | None
    client: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainCheck:
    """Result of :meth:`SqlAuditLog.verify`. ``first_broken_id`` is the first row whose
    link or own hash does not hold (for a deleted row, the row after the gap; for a
    rewrite found by an anchor, the anchored row). ``anchor`` names the anchor that shows
    the break, ``anchors`` how many were checked, ``high_water`` the highest id given."""

    ok: bool
    first_broken_id: int | None
    checked: int
    reason: str | None
    head_id: int | None
    head_hash: str | None
    anchor: str | None = None
    anchors: int = 0
    high_water: int = 0

    @property
    def head(self) -> Head | None:
        """The verified head, as an anchor records it."""
        if not self.ok or self.head_id is None or self.head_hash is None:
            return None
        return Head(self.head_id, self.head_hash, max(self.high_water, self.head_id))

    def __iter__(self):  # ``ok, broken = log.verify()`` reads naturally
        return iter((self.ok, self.first_broken_id))


class AuditLog(Protocol):
    def append(
        self,
        actor: str,
        action: str,
        object: str | None = None,
        details: Mapping[str, Any] | None = None,
        client: str | None = None,
        dossier: str | None = None,
    ) -> AuditRow: ...
    def query(
        self,
        user: str | None = None,
        dossier: str | None = None,
        since: datetime | str | None = None,
        action: str | None = None,
        limit: int = 1000,
        newest_first: bool = False,
    ) -> list[AuditRow]: ...
    def verify(
        self, anchor: tuple[int, str] | None = None, anchors: AnchorIndex | None = None
    ) -> ChainCheck: ...
    def head(self) -> tuple[int, str] | None: ...


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            str(k): "[redacted]" if _SECRET_KEY_RE.search(str(k)) else _redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def _canonical(details: Mapping[str, Any] | None) -> str:
    return json.dumps(
        _redact(dict(details or {})),
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )


def _short(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).replace("\x00", "")
    return value[:MAX_FIELD]


def row_hash(
    row_id: int,
    at: str,
    actor: str,
    action: str,
    obj: str | None,
    dossier: str | None,
    client: str | None,
    details: str,
    prev_hash: str,
) -> str:
    """SHA-256 over a row's fields in a fixed, unambiguous (JSON array) encoding."""
    payload = json.dumps(
        [_HASH_VERSION, row_id, at, actor, action, obj, dossier, client, details, prev_hash],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def dossier_of(obj: str | None, details: Mapping[str, Any] | None) -> str | None:
    """The dossier code a row is about: the object itself, an archive key's first part,
    or ``details["dossier_code"]``."""
    if obj:
        first = obj.split("/", 1)[0]
        if CODE_RE.match(first):
            return first
    code = (details or {}).get("dossier_code")
    return str(code) if code and CODE_RE.match(str(code)) else None


def _since_iso(since: datetime | str) -> str:
    when = since if isinstance(since, datetime) else datetime.fromisoformat(str(since))
    if when.tzinfo is None:
        when = when.astimezone()  # a bare date or time is the machine's local time
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _row(r: Any) -> AuditRow:
    return AuditRow(
        id=r["id"],
        at=r["at"],
        actor=r["actor"],
        action=r["action"],
        object=r["object"],
        dossier=r["dossier"],
        client=r["client"],
        details=json.loads(r["details"]),
        prev_hash=r["prev_hash"],
        hash=r["hash"],
    )


class SqlAuditLog:
    """The audit log in the access tables of any :class:`~pipeline.access.db.AccessBackend`."""

    def __init__(
        self,
        backend: AccessBackend,
        clock: Callable[[], float] = time.time,
        anchorer: Anchorer | None = None,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.anchorer = anchorer

    def append(
        self,
        actor: str,
        action: str,
        object: str | None = None,
        details: Mapping[str, Any] | None = None,
        client: str | None = None,
        dossier: str | None = None,
    ) -> AuditRow:
        """Add one row at the end of the chain; safe from many processes and machines at once."""
        actor_s, action_s = _short(actor) or "?", _short(action) or "?"
        obj, client_s = _short(object), _short(client)
        body = _canonical(details)
        code = dossier or dossier_of(obj, details)
        at = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="microseconds")

        def chain(tx: Tx) -> AuditRow:
            if tx.attempt:  # the first try may have committed before its connection broke
                for r in tx.execute(
                    "SELECT * FROM audit_log WHERE at = ? AND actor = ? AND action = ?",
                    (at, actor_s, action_s),
                ):
                    if (r["object"], r["dossier"], r["client"], r["details"]) == (
                        obj,
                        code,
                        client_s,
                        body,
                    ):
                        return _row(r)
            # The high-water mark is also the chain's lock: one appender at a time.
            high = tx.audit_high_water(lock=True)
            last = tx.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
            row_id = max(last["id"] if last else 0, high) + 1
            prev = last["hash"] if last else GENESIS
            digest = row_hash(row_id, at, actor_s, action_s, obj, code, client_s, body, prev)
            tx.execute(
                "INSERT INTO audit_log (id, at, actor, action, object, dossier, client, details,"
                " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row_id, at, actor_s, action_s, obj, code, client_s, body, prev, digest),
            )
            tx.audit_advance(row_id)
            return AuditRow(
                row_id, at, actor_s, action_s, obj, code, client_s, json.loads(body), prev, digest
            )

        row = self.backend.write(chain)
        if self.anchorer is not None:
            # Committed: the id is now the highest given out, and the lock is released.
            self.anchorer.after_append(Head(row.id, row.hash, row.id))
        return row

    def query(
        self,
        user: str | None = None,
        dossier: str | None = None,
        since: datetime | str | None = None,
        action: str | None = None,
        limit: int = 1000,
        newest_first: bool = False,
    ) -> list[AuditRow]:
        """Rows oldest first (``newest_first``: the newest ``limit`` rows, newest first),
        filtered by actor, dossier code, time and action."""
        where, args = [], []
        if user:
            where.append("actor = ?")
            args.append(user)
        if dossier:
            where.append("dossier = ?")
            args.append(dossier)
        if since:
            where.append("at >= ?")
            args.append(_since_iso(since))
        if action:
            where.append("action = ?")
            args.append(action)
        sql = "SELECT * FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?" if newest_first else " ORDER BY id LIMIT ?"
        args.append(max(1, min(int(limit), 1_000_000)))
        return self.backend.read(lambda tx: [_row(r) for r in tx.execute(sql, args)])

    def head(self) -> tuple[int, str] | None:
        last = self.backend.read(
            lambda tx: tx.execute(
                "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"
            ).fetchone()
        )
        return (last["id"], last["hash"]) if last else None

    def verify(
        self, anchor: tuple[int, str] | None = None, anchors: AnchorIndex | None = None
    ) -> ChainCheck:
        """Walk the chain from the first row, checking it against ``anchors`` (and a noted
        ``anchor``, ID and hash); stop at the first thing that does not hold.

        The anchors must have been listed before this call: each of them was written
        after its rows were committed, so every row it names must be found.
        """
        index = anchors.copy() if anchors is not None else AnchorIndex()
        if anchor is not None:
            index.add(Anchor("--anchor", "", anchor[0], anchor[1], 0))
        return self.backend.read(lambda tx: _verify(tx, index))


def _verify(tx: Tx, anchors: AnchorIndex) -> ChainCheck:
    prev, expect_id, checked = GENESIS, 1, 0
    last_id: int | None = None
    agreed = 0  # the last row an anchor vouched for
    high = 0

    def broken(row_id: int | None, reason: str, anchor: str | None = None) -> ChainCheck:
        return ChainCheck(
            False, row_id, checked, reason, last_id, prev, anchor, anchors.count, high
        )

    # Read before the rows: every id up to it was committed with its row, so the walk
    # must reach it, even while others append (rows past it are theirs, not a gap).
    high = tx.audit_high_water(lock=False)
    for r in tx.stream("SELECT * FROM audit_log ORDER BY id"):
        if r["id"] != expect_id:
            return broken(r["id"], f"row {expect_id} is missing before row {r['id']}")
        if r["prev_hash"] != prev:
            return broken(r["id"], "does not link to the row before it")
        digest = row_hash(
            r["id"],
            r["at"],
            r["actor"],
            r["action"],
            r["object"],
            r["dossier"],
            r["client"],
            r["details"],
            r["prev_hash"],
        )
        if digest != r["hash"]:
            return broken(r["id"], "its contents do not match its hash")
        for digest, key in anchors.by_id.get(r["id"], ()):
            if r["hash"] != digest:
                return broken(
                    r["id"],
                    f"its hash differs from the anchored one: rows {agreed + 1}..{r['id']}"
                    " were rewritten after the anchor was written",
                    key,
                )
            agreed = r["id"]
        prev, last_id, expect_id, checked = r["hash"], r["id"], r["id"] + 1, checked + 1
    last = last_id or 0
    if high > last:
        return broken(last + 1, f"rows {last + 1}..{high} were removed")
    furthest = anchors.furthest
    if furthest is not None and furthest.last_id > last:
        return broken(
            last + 1,
            f"rows {last + 1}..{furthest.last_id} were removed (the anchor recorded"
            f" row {furthest.last_id})",
            furthest.key,
        )
    highest = anchors.highest
    if highest is not None and highest.high_water > high:
        return broken(
            high + 1,
            f"the counter of ids given out went back from {highest.high_water} to {high}",
            highest.key,
        )
    return ChainCheck(
        True, None, checked, None, last_id, prev if last_id else None, None, anchors.count, high
    )


class SqliteAuditLog(SqlAuditLog):
    """The audit log in the ledger's SQLite file (the embedded default)."""

    def __init__(
        self,
        path: Path,
        clock: Callable[[], float] = time.time,
        anchorer: Anchorer | None = None,
    ) -> None:
        self.path = path
        super().__init__(SqliteAccess(path), clock, anchorer)
