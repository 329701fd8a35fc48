"""The audit chain's head, kept where the database's owner cannot reach it.

The chain in the database is an unkeyed SHA-256: whoever can write the tables
(the database's owner, anyone holding the shared URL, root on a single machine)
can edit or delete rows and recompute every hash after them. What they cannot
do is change an object in the archive bucket, which has versioning and a default
Object Lock retention: no role key may delete a version, shorten its retention
or bypass the lock (``pipeline/storage/roles.py``). So the head of the chain is
written there, as an *anchor*, and ``audit verify`` checks the rows against
every anchor ever written.

An anchor is one object whose **key** carries the head::

    audit/anchors/<chain>/<UTC time>-<last id>-<high-water>-<hash of the last row>-<nonce>.json

and whose body repeats it with the time and the host, for people. Verification
reads only the keys: a key can neither be renamed nor removed by a role key, and
a later version written over it (any role that may put anchors may also put over
one) changes nothing a key says. One listing of the prefix gives every anchor,
with no request per anchor, so a verify stays fast with many of them. Anchors
are written with ``If-None-Match: *`` under a random nonce, so sohoa itself never
puts over one; a key with more than one version, seen when the verifying key
may list versions, is reported as a sign that someone tried.

``<chain>`` keeps apart the chains that share one archive bucket (a single
machine's SQLite file kept after moving to PostgreSQL, machines with ledgers of
their own): it is a digest of where the database is, as this process's
configuration names it, never of anything in the database, which the person the
anchors guard against could change.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from minio import Minio
from minio.error import S3Error

from pipeline.errors import StorageUnavailable
from pipeline.storage.connect import storage_error

ANCHOR_PREFIX = "audit/anchors/"
_FORMAT = "sohoa-audit-anchor-1"
_KEY_RE = re.compile(
    r"(?P<at>\d{8}T\d{6}\.\d{6}Z)-(?P<id>\d{1,19})-(?P<high>\d{1,19})"
    r"-(?P<hash>[0-9a-f]{64})-(?P<nonce>[0-9a-f]{8})\.json"
)


@dataclass(frozen=True)
class Head:
    """The chain's head as the database gives it: the last row and the highest id given."""

    last_id: int
    hash: str
    high_water: int


@dataclass(frozen=True)
class Anchor:
    """One anchor: a head recorded at ``at``, named by ``key`` (where it was found)."""

    key: str
    at: str
    last_id: int
    hash: str
    high_water: int


def chain_id(identity: str) -> str:
    """The folder of one chain's anchors: a digest of where its database is."""
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]


def anchor_key(chain: str, head: Head, when: datetime, nonce: str) -> str:
    stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return (
        f"{ANCHOR_PREFIX}{chain}/{stamp}-{head.last_id}-{head.high_water}-{head.hash}-{nonce}.json"
    )


def parse_anchor_key(key: str, chain: str) -> Anchor | None:
    """The anchor a key names, or None when it is not one of ``chain``'s anchors."""
    folder = f"{ANCHOR_PREFIX}{chain}/"
    if not key.startswith(folder):
        return None
    m = _KEY_RE.fullmatch(key[len(folder) :])
    if m is None:
        return None
    at = datetime.strptime(m["at"], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    return Anchor(
        key=key,
        at=at.isoformat(timespec="microseconds"),
        last_id=int(m["id"]),
        hash=m["hash"],
        high_water=int(m["high"]),
    )


@dataclass
class AnchorIndex:
    """Every anchor of a chain, folded into what verification needs, whatever their number:
    the hash each anchored row must have (anchors of one head collapse into one entry),
    the furthest row and the highest counter any anchor saw."""

    # row id → each distinct (hash, key) anchored for it: one, unless an anchor is false
    by_id: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    furthest: Anchor | None = None
    highest: Anchor | None = None
    count: int = 0
    unreadable: list[str] = field(default_factory=list)  # keys under the prefix, not anchors
    overwritten: list[str] = field(default_factory=list)  # keys with more than one version
    versions_seen: bool = False  # whether the listing showed versions (the key may list them)

    def add(self, anchor: Anchor) -> None:
        self.count += 1
        known = self.by_id.setdefault(anchor.last_id, [])
        if all(digest != anchor.hash for digest, _ in known):
            known.append((anchor.hash, anchor.key))
        if self.furthest is None or anchor.last_id > self.furthest.last_id:
            self.furthest = anchor
        if self.highest is None or anchor.high_water > self.highest.high_water:
            self.highest = anchor

    def copy(self) -> AnchorIndex:
        return replace(
            self,
            by_id={row: list(known) for row, known in self.by_id.items()},
            unreadable=list(self.unreadable),
            overwritten=list(self.overwritten),
        )


class AnchorStore:
    """One chain's anchors in the archive bucket, through this process's MinIO key."""

    def __init__(self, client: Minio, bucket: str, chain: str, endpoint: str) -> None:
        self.client = client
        self.bucket = bucket
        self.chain = chain
        self.endpoint = endpoint

    @property
    def folder(self) -> str:
        return f"{ANCHOR_PREFIX}{self.chain}/"

    def write(self, head: Head, *, host: str, role: str | None, identity: str) -> str:
        """Put one anchor for ``head``; its key. Raises the mapped storage error."""
        when = datetime.now(UTC)
        key = anchor_key(self.chain, head, when, secrets.token_hex(4))
        body: dict[str, Any] = {
            "format": _FORMAT,
            "chain": identity,
            "last_id": head.last_id,
            "hash": head.hash,
            "high_water": head.high_water,
            "at": when.isoformat(timespec="microseconds"),
            "host": host,
            "role": role,
        }
        data = json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")
        try:
            # minio-py 7.2's put_object turns every header it does not know into user
            # metadata; the conditional has to reach MinIO as itself, so the lower call.
            self.client._put_object(
                self.bucket,
                key,
                data,
                headers={"Content-Type": "application/json", "If-None-Match": "*"},
            )
        except Exception as exc:
            mapped = storage_error(exc, self.endpoint)
            if mapped is None and isinstance(exc, S3Error):
                mapped = StorageUnavailable(
                    f"MinIO at {self.endpoint} refused the audit anchor {key} ({exc.code})"
                )
            if mapped is None:
                raise
            raise mapped from exc
        return key

    def index(self) -> AnchorIndex:
        """Every anchor of this chain, listed once (each version when the key may list them)."""
        index = AnchorIndex()
        try:
            objects, index.versions_seen = self._listing()
            previous = None
            for obj in objects:
                key = obj.object_name
                if key == previous:
                    if not index.overwritten or index.overwritten[-1] != key:
                        index.overwritten.append(key)
                    continue
                previous = key
                anchor = parse_anchor_key(key, self.chain)
                if anchor is None:
                    index.unreadable.append(key)
                else:
                    index.add(anchor)
        except Exception as exc:
            mapped = storage_error(exc, self.endpoint)
            if mapped is None and isinstance(exc, S3Error):
                mapped = StorageUnavailable(
                    f"MinIO at {self.endpoint}: cannot list the audit anchors in"
                    f" {self.bucket}/{self.folder} ({exc.code})"
                )
            if mapped is None:
                raise
            raise mapped from exc
        return index

    def _listing(self) -> tuple[Iterator[Any], bool]:
        """All versions under the chain's folder, or the current objects when the key may not
        list versions (a key's name is what counts, and no role can remove a name)."""
        versions = self.client.list_objects(
            self.bucket, prefix=self.folder, recursive=True, include_version=True
        )
        try:
            first = next(versions, None)
        except S3Error as exc:
            if exc.code != "AccessDenied":
                raise
            return self.client.list_objects(self.bucket, prefix=self.folder, recursive=True), False
        return _chain_first(first, versions), True


def _chain_first(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if first is not None:
        yield first
    yield from rest
