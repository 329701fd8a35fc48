"""Systems that use ``/api/v1``: named clients, their scopes and their bearer tokens.

A client is a system (the one-stop software, the provincial LGSP), not a person: it has
no password and never logs in. ``sohoa clients add NAME --scope read,submit,events``
makes one and prints its token once; the token is kept only as its SHA-256, so neither
the database nor a copy of it can give the token back. ``clients revoke NAME`` ends it at
once: the next call with it is refused (the row stays, so the audit log's
``client:<name>`` keeps meaning one system for ever, and the name is not given again).

**Why SHA-256 and not Argon2.** A slow, salted hash (Argon2id, as for people's passwords)
protects secrets that people choose: few enough to guess, so each guess must cost. A
token here is 32 bytes from :func:`secrets.token_urlsafe`, 256 bits nobody chose: there
is no dictionary to try, and 2**255 guesses on average is out of reach whatever one
guess costs, so a fast hash loses nothing. And every API call checks its token: Argon2
at tens of milliseconds and tens of MiB per check would make each request expensive for
sohoa (and a flood of made-up tokens a cheap way to exhaust it), where one SHA-256 and
one indexed lookup cost microseconds. The lookup is by the hash, so comparing in
constant time has nothing left to protect: what a timing difference could reveal is a
prefix of a hash, and no token can be built from that.

Scopes: ``read`` (dossiers, documents, their files, search, the DVCQG view), ``submit``
(uploads), ``events`` (the event feed).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.access.db import AccessBackend, Tx, iso_utc
from pipeline.config import Config
from pipeline.errors import NotFound, UsageError

SCOPES: tuple[str, ...] = ("read", "submit", "events")
TOKEN_PREFIX = "sohoa_"
TOKEN_BYTES = 32
_TOKEN_RE = re.compile(r"^sohoa_[A-Za-z0-9_-]{43}$")  # the prefix and 32 bytes in base64url
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
HINT_CHARS = 4  # shown by `clients list` after the prefix, to tell tokens apart


def normalize_name(name: str) -> str:
    """Client names: NFC, trimmed, lower-case ASCII letters, digits and ``. _ -``."""
    cleaned = unicodedata.normalize("NFC", name or "").strip().lower()
    if not _NAME_RE.match(cleaned):
        raise UsageError(
            "a client name is 1-64 characters: a-z, 0-9 and . _ -, starting with a letter or digit"
        )
    return cleaned


def parse_scopes(text: str | Iterable[str]) -> tuple[str, ...]:
    """``read,submit`` → ``("read", "submit")`` in :data:`SCOPES` order; unknown ones refused."""
    items = text.split(",") if isinstance(text, str) else list(text)
    wanted = {s.strip().lower() for s in items if s.strip()}
    unknown = wanted - set(SCOPES)
    if unknown or not wanted:
        raise UsageError(
            f"scopes are one or more of {', '.join(SCOPES)} (comma-separated),"
            f" got {', '.join(sorted(unknown)) or 'none'}"
        )
    return tuple(s for s in SCOPES if s in wanted)


def hash_token(token: str) -> str:
    """What the database keeps of a token (see the module docstring for why SHA-256)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def well_formed(token: str) -> bool:
    """Whether ``token`` has the shape of one of ours (anything else is not looked up)."""
    return bool(_TOKEN_RE.fullmatch(token))


@dataclass(frozen=True)
class Client:
    name: str
    scopes: tuple[str, ...]
    token_hint: str  # the prefix and the first characters of the token
    created_at: str
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return self.active and scope in self.scopes

    @property
    def actor(self) -> str:
        """Who this client is in the audit log and the ledger."""
        return f"client:{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scopes": ",".join(self.scopes),
            "token": f"{self.token_hint}…",
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True)
class NewClient:
    """A client just made, with its token: shown once, never stored."""

    client: Client
    token: str = field(repr=False)


def _client(row: Any) -> Client:
    return Client(
        name=row["name"],
        scopes=tuple(s for s in row["scopes"].split(",") if s),
        token_hint=row["token_hint"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


class ClientStore:
    """Clients in the access tables of any :class:`~pipeline.access.db.AccessBackend`."""

    def __init__(self, backend: AccessBackend, clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.clock = clock

    def add(self, name: str, scopes: str | Iterable[str]) -> NewClient:
        """A new client and its token. A name in use (revoked too) is refused: the audit
        log's ``client:<name>`` must keep meaning one system."""
        name = normalize_name(name)
        wanted = parse_scopes(scopes)
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        digest = hash_token(token)
        hint = token[: len(TOKEN_PREFIX) + HINT_CHARS]
        stamp = iso_utc(self.clock())

        def insert(tx: Tx) -> None:
            added = tx.execute(
                "INSERT INTO api_clients (name, token_hash, token_hint, scopes, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, digest, hint, ",".join(wanted), stamp),
            ).rowcount
            if added:
                return
            row = tx.execute("SELECT token_hash FROM api_clients WHERE name = ?", (name,))
            found = row.fetchone()
            # A retry after a lost commit finds its own row (the token is unique to it).
            if not (tx.attempt and found and found["token_hash"] == digest):
                raise UsageError(f"client {name} already exists (names are never reused)")

        self.backend.write(insert)
        client = self.get(name)
        assert client is not None
        return NewClient(client, token)

    def get(self, name: str) -> Client | None:
        try:
            name = normalize_name(name)
        except UsageError:
            return None
        row = self.backend.read(
            lambda tx: tx.execute("SELECT * FROM api_clients WHERE name = ?", (name,)).fetchone()
        )
        return _client(row) if row else None

    def list(self) -> list[Client]:
        rows = self.backend.read(
            lambda tx: tx.execute("SELECT * FROM api_clients ORDER BY name").fetchall()
        )
        return [_client(r) for r in rows]

    def revoke(self, name: str) -> Client:
        """End the client's token now (a second revoke keeps the first time)."""
        name = normalize_name(name)
        stamp = iso_utc(self.clock())

        def revoke(tx: Tx) -> None:
            tx.execute(
                "UPDATE api_clients SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (stamp, name),
            )
            if tx.execute("SELECT 1 FROM api_clients WHERE name = ?", (name,)).fetchone() is None:
                raise NotFound(f"no client {name}")

        self.backend.write(revoke)
        client = self.get(name)
        assert client is not None
        return client

    def identify(self, token: str) -> Client | None:
        """The client this token was given to (revoked ones too: the caller says which), or
        None for a token that is not one of ours."""
        if not well_formed(token):
            return None
        digest = hash_token(token)
        row = self.backend.read(
            lambda tx: tx.execute(
                "SELECT * FROM api_clients WHERE token_hash = ?", (digest,)
            ).fetchone()
        )
        return _client(row) if row else None


def open_clients(cfg: Config) -> ClientStore:
    from pipeline.access.stores import access_backend

    return ClientStore(access_backend(cfg))
