"""People's accounts: roles, Argon2id passwords, and throttled logins.

Roles are ordered ``records`` < ``operator`` < ``admin`` (DESIGN §8): each may
do what the one before it may, and more. Passwords are hashed with Argon2id
(argon2-cffi's defaults unless told otherwise) and re-hashed at the next
successful login when the parameters change, so raising the cost needs no
migration.

Authentication is built so that an attacker learns as little as possible:
an unknown name, a wrong password and a disabled account all fail the same
way and take the same time (an unknown name is checked against a dummy hash).
Failures are counted per account and per client address within a window; past
the limit, that account or address is locked out for a while and not even the
right password is checked. The per-address limit is higher than the
per-account one because an office's staff often share one address behind NAT.

An attempt is counted *before* its password is checked: one transaction checks
the lock and reserves the attempt (a failure until shown otherwise), and only
then does Argon2 run; a success gives its reservation back. Checking first and
counting after would let a burst of guesses sent at once all pass the check
before any of them was counted, so every guess would be verified. This way a
burst of any size verifies at most the limit, and the rest, the right password
among them, are refused unchecked. Every attempt, refused or not, is numbered
within the account's window (:attr:`AuthResult.tried`), so the audit log says
how many were tried.
"""

from __future__ import annotations

import contextlib
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pipeline.access.db import AccessBackend, SqliteAccess, Tx, iso_utc
from pipeline.config import Config
from pipeline.errors import NotFound, UsageError

USER_ROLES: tuple[str, ...] = ("records", "operator", "admin")
_RANK = {role: n for n, role in enumerate(USER_ROLES)}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # Argon2 takes any length; a cap keeps a huge form field from costing more


def role_allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may (unknown roles may do nothing)."""
    return role in _RANK and needed in _RANK and _RANK[role] >= _RANK[needed]


def normalize_name(name: str) -> str:
    """User names: NFC, trimmed, lower-case ASCII letters, digits and ``. _ @ -``."""
    cleaned = unicodedata.normalize("NFC", name or "").strip().lower()
    if not _NAME_RE.match(cleaned):
        raise UsageError(
            "a user name is 1-64 characters: a-z, 0-9 and . _ @ -, starting with a letter or digit"
        )
    return cleaned


def check_password(password: str, name: str) -> None:
    """The minimum a password must meet; the message never repeats it."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise UsageError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UsageError(f"a password may have at most {MAX_PASSWORD} characters")
    if password.strip().lower() == name.lower():
        raise UsageError("the password must not be the user name")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    disabled: bool
    created_at: str
    updated_at: str
    last_login_at: str | None


@dataclass(frozen=True)
class LoginPolicy:
    """Throttling: ``max_failures`` per account (``max_failures_per_client`` per address)
    within ``window_seconds`` lock that account (address) for ``lockout_seconds``."""

    max_failures: int = 5
    max_failures_per_client: int = 30
    window_seconds: float = 900.0
    lockout_seconds: float = 900.0

    @classmethod
    def from_config(cls, cfg: Config) -> LoginPolicy:
        web = cfg.web
        return cls(
            max_failures=web.login_max_failures,
            max_failures_per_client=web.login_max_failures_per_client,
            window_seconds=web.login_window_minutes * 60,
            lockout_seconds=web.lockout_minutes * 60,
        )


@dataclass(frozen=True)
class AuthResult:
    """``user`` on success. On failure ``locked`` says a lockout is (now) in force and
    ``retry_after`` how many seconds it has left; nothing says which check failed.

    ``checked`` says whether the password was verified at all (False: refused by the
    lockout unchecked); ``tried`` is this attempt's number on the account within the
    throttling window, refused attempts included. Both are for the audit log.
    """

    user: User | None
    locked: bool = False
    retry_after: float = 0.0
    checked: bool = False
    tried: int = 0

    @property
    def ok(self) -> bool:
        return self.user is not None


class UserStore(Protocol):
    def add(self, name: str, role: str, password: str) -> User: ...
    def passwd(self, name: str, password: str) -> None: ...
    def set_role(self, name: str, role: str) -> None: ...
    def disable(self, name: str) -> None: ...
    def enable(self, name: str) -> None: ...
    def get(self, name: str) -> User | None: ...
    def list(self) -> list[User]: ...
    def authenticate(self, name: str, password: str, client: str | None) -> AuthResult: ...


def _user(r: Any) -> User:
    return User(
        name=r["name"],
        role=r["role"],
        disabled=bool(r["disabled"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        last_login_at=r["last_login_at"],
    )


class SqlUserStore:
    """Users in the access tables of any :class:`~pipeline.access.db.AccessBackend`;
    see the module docstring for the login rules."""

    def __init__(
        self,
        backend: AccessBackend,
        policy: LoginPolicy | None = None,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.policy = policy or LoginPolicy()
        self.hasher = hasher or PasswordHasher()
        self.clock = clock
        # Verified against when the name is unknown, so that costs what a real check costs.
        self._dummy_hash = self.hasher.hash("sohoa: no such user, constant-time stand-in")

    # ---------------------------------------------------------------- management

    def add(self, name: str, role: str, password: str) -> User:
        name = normalize_name(name)
        if role not in USER_ROLES:
            raise UsageError(f"role must be one of {', '.join(USER_ROLES)}")
        check_password(password, name)
        digest = self.hasher.hash(password)
        now = iso_utc(self.clock())

        def insert(tx: Tx) -> None:
            added = tx.execute(
                "INSERT INTO users (name, role, password_hash, disabled, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, role, digest, False, now, now),
            ).rowcount
            if added:
                return
            row = tx.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
            # A retry after a lost commit finds its own row (the salted hash is unique to it).
            if not (tx.attempt and row and row["password_hash"] == digest):
                raise UsageError(f"user {name} already exists")

        self.backend.write(insert)
        user = self.get(name)
        assert user is not None
        return user

    def _update(self, name: str, sql: str, args: tuple[object, ...], revoke: bool) -> None:
        name = normalize_name(name)
        stamp = iso_utc(self.clock())

        def update(tx: Tx) -> None:
            if tx.execute(sql, (*args, stamp, name)).rowcount == 0:
                raise NotFound(f"no user {name}")
            if revoke:
                tx.execute("DELETE FROM web_sessions WHERE user_name = ?", (name,))

        self.backend.write(update)

    def passwd(self, name: str, password: str) -> None:
        """New password; the user's open sessions end (whoever knew the old one is out)."""
        name = normalize_name(name)
        check_password(password, name)
        digest = self.hasher.hash(password)
        self._update(
            name,
            "UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?",
            (digest,),
            revoke=True,
        )
        self.backend.write(
            lambda tx: tx.execute("DELETE FROM login_throttle WHERE key = ?", (f"user:{name}",))
        )

    def set_role(self, name: str, role: str) -> None:
        if role not in USER_ROLES:
            raise UsageError(f"role must be one of {', '.join(USER_ROLES)}")
        self._update(
            name, "UPDATE users SET role = ?, updated_at = ? WHERE name = ?", (role,), revoke=True
        )

    def disable(self, name: str) -> None:
        """The account can no longer log in, and its open sessions end now."""
        self._update(
            name,
            "UPDATE users SET disabled = ?, updated_at = ? WHERE name = ?",
            (True,),
            revoke=True,
        )

    def enable(self, name: str) -> None:
        self._update(
            name,
            "UPDATE users SET disabled = ?, updated_at = ? WHERE name = ?",
            (False,),
            revoke=False,
        )

    def _row(self, name: str) -> Any:
        return self.backend.read(
            lambda tx: tx.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        )

    def get(self, name: str) -> User | None:
        try:
            name = normalize_name(name)
        except UsageError:
            return None
        row = self._row(name)
        return _user(row) if row else None

    def list(self) -> list[User]:
        rows = self.backend.read(
            lambda tx: tx.execute("SELECT * FROM users ORDER BY name").fetchall()
        )
        return [_user(r) for r in rows]

    # ------------------------------------------------------------------- login

    def _keys(self, name: str, client: str | None) -> list[tuple[str, int]]:
        keys = [(f"user:{name}", self.policy.max_failures)]
        if client:
            keys.append((f"client:{client}", self.policy.max_failures_per_client))
        return keys

    def lockout_remaining(self, name: str, client: str | None) -> float:
        """Seconds until this account or address may try again (0: not locked)."""
        now = self.clock()
        keys = [k for k, _ in self._keys(_safe_name(name), client)]
        marks = ",".join("?" * len(keys))
        rows = self.backend.read(
            lambda tx: tx.execute(
                f"SELECT locked_until FROM login_throttle WHERE key IN ({marks})", keys
            ).fetchall()
        )
        return max([r["locked_until"] - now for r in rows] + [0.0])

    def _reserve(self, name: str, client: str | None) -> tuple[float, int]:
        """Check the lock and, unless refused, count this attempt as a failure in advance.

        One transaction, one attempt at a time office-wide (guesses from two machines
        both count). Returns (seconds refused for, 0 when let through; the attempt's
        number on the account). An account or address whose reserved and failed attempts
        already reach its limit refuses more, even before the lock is written: that is
        what stops a burst whose first guesses are still being verified.
        """
        now = self.clock()
        window, lockout = self.policy.window_seconds, self.policy.lockout_seconds

        def reserve(tx: Tx) -> tuple[float, int]:
            tx.lock("login_throttle")
            # Forget stale counters so guessed names do not pile up for ever.
            tx.execute(
                "DELETE FROM login_throttle WHERE window_start < ? AND locked_until < ?",
                (now - window, now),
            )
            counters = [
                (key, limit, _throttle_row(tx, key, now, window))
                for key, limit in self._keys(name, client)
            ]
            refused = 0.0
            for _, limit, (failures, _start, until, _tried) in counters:
                if until > now:
                    refused = max(refused, until - now)
                elif failures >= limit:
                    refused = max(refused, lockout)
            tried = 0
            for key, _, (failures, start, until, attempts) in counters:
                _save_throttle(
                    tx, key, failures + (0 if refused else 1), start, until, attempts + 1
                )
                if key.startswith("user:"):
                    tried = attempts + 1
            return refused, tried

        return self.backend.write(reserve)

    def _failed(self, name: str, client: str | None) -> float:
        """A reserved attempt failed: lock what reached its limit; seconds locked for."""
        now = self.clock()
        lockout = self.policy.lockout_seconds

        def count(tx: Tx) -> float:
            locked_for = 0.0
            tx.lock("login_throttle")
            for key, limit in self._keys(name, client):
                row = tx.execute(
                    "SELECT failures, window_start, locked_until, attempts FROM login_throttle"
                    " WHERE key = ?",
                    (key,),
                ).fetchone()
                if row is None:  # a success reset the account meanwhile: count this one anew
                    failures, start, until, attempts = 1, now, 0.0, 1
                else:
                    failures, start = row["failures"], row["window_start"]
                    until, attempts = row["locked_until"], row["attempts"]
                if failures >= limit and until <= now:
                    until, failures, start = now + lockout, 0, now
                locked_for = max(locked_for, until - now)
                _save_throttle(tx, key, failures, start, until, attempts)
            return locked_for

        return self.backend.write(count)

    def authenticate(self, name: str, password: str, client: str | None) -> AuthResult:
        """Check a login attempt; see the module docstring for what failures reveal."""
        uname = _safe_name(name)
        refused, tried = self._reserve(uname, client)
        if refused > 0:
            return AuthResult(None, locked=True, retry_after=refused, tried=tried)
        row = self._row(uname)
        stored = row["password_hash"] if row else self._dummy_hash
        good = False
        if isinstance(password, str) and len(password) <= MAX_PASSWORD:
            try:
                good = self.hasher.verify(stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                good = False
        else:
            self._burn()
        if not good or row is None or row["disabled"]:
            locked_for = self._failed(uname, client)
            return AuthResult(
                None, locked=locked_for > 0, retry_after=locked_for, checked=True, tried=tried
            )
        now = self.clock()
        new_hash = self.hasher.hash(password) if self.hasher.check_needs_rehash(stored) else None

        def logged_in(tx: Tx) -> None:
            if new_hash:
                tx.execute(
                    "UPDATE users SET password_hash = ? WHERE name = ? AND password_hash = ?",
                    (new_hash, uname, stored),
                )
            tx.execute("UPDATE users SET last_login_at = ? WHERE name = ?", (iso_utc(now), uname))
            tx.lock("login_throttle")
            # The account starts afresh; the address gets its reserved attempt back.
            tx.execute("DELETE FROM login_throttle WHERE key = ?", (f"user:{uname}",))
            if client:
                tx.execute(
                    "UPDATE login_throttle SET failures = failures - 1"
                    " WHERE key = ? AND failures > 0",
                    (f"client:{client}",),
                )

        self.backend.write(logged_in)
        user = self.get(uname)
        return AuthResult(user, checked=True, tried=tried)

    def _burn(self) -> None:
        """Spend a verification's time on input we refuse to hash as given."""
        with contextlib.suppress(VerificationError):
            self.hasher.verify(self._dummy_hash, "x")


class SqliteUserStore(SqlUserStore):
    """Users in the ledger's SQLite file (the embedded default)."""

    def __init__(
        self,
        path: Path,
        policy: LoginPolicy | None = None,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        super().__init__(SqliteAccess(path), policy, hasher, clock)

    @classmethod
    def from_config(cls, cfg: Config, hasher: PasswordHasher | None = None) -> SqliteUserStore:
        return cls(cfg.ledger_path, LoginPolicy.from_config(cfg), hasher)


def _safe_name(name: str) -> str:
    """A name usable as a throttle key even when it is not a valid user name."""
    try:
        return normalize_name(name)
    except UsageError:
        cleaned = unicodedata.normalize("NFC", str(name or "")).strip().lower()
        return "?" + cleaned[:64]


def _throttle_row(tx: Tx, key: str, now: float, window: float) -> tuple[int, float, float, int]:
    """A counter as (failures, window start, locked until, attempts); a window that ran out
    while no lock is in force starts again empty."""
    row = tx.execute(
        "SELECT failures, window_start, locked_until, attempts FROM login_throttle WHERE key = ?",
        (key,),
    ).fetchone()
    if row is None:
        return 0, now, 0.0, 0
    if now - row["window_start"] > window and row["locked_until"] <= now:
        return 0, now, row["locked_until"], 0
    return row["failures"], row["window_start"], row["locked_until"], row["attempts"]


def _save_throttle(
    tx: Tx, key: str, failures: int, start: float, until: float, attempts: int
) -> None:
    tx.execute(
        "INSERT INTO login_throttle (key, failures, window_start, locked_until, attempts)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
        " failures = excluded.failures, window_start = excluded.window_start,"
        " locked_until = excluded.locked_until, attempts = excluded.attempts",
        (key, failures, start, until, attempts),
    )
