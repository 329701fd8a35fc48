"""Redis users for the broker: the workers' user, and nobody else (DESIGN §11).

Only workers use Redis: they take page and document tasks from it, send page
tasks to each other and read results back. Stations, the web and operators'
PCs have no broker user at all (they hand work over through MinIO and the
ledger), and Redis's ``default`` user is off, so a connection without the
worker's name and password can do nothing, not even ``PING``.

The users are written as a Redis ACL file (``aclfile`` in ``redis.conf``),
rather than set on a running server with ``ACL SETUSER``: the file is written on
the Redis machine by whoever administers it, so no Redis user with the right to
change users (``ACL``, ``CONFIG``) has to exist anywhere on the network, and the
server starts with the default user already off. Passwords are stored as their
SHA-256 (``#<hex>``, Redis's own form), never in clear; each new one is printed
once. Running again keeps existing users' passwords (and any line of the file
that is not ours), refreshes their rules, and replaces the password of a role
named in ``rotate``; Redis reads the file at its next start (the queue survives
it in the append-only file).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from pipeline.errors import ConfigError

BROKER_ROLES: tuple[str, ...] = ("worker",)
# Every key and channel of its own Redis database (queues, unacknowledged tasks, results,
# page-start counters, Celery's control channels), every command but administration and
# the ones Redis calls dangerous (FLUSHALL, KEYS, CONFIG, DEBUG, SHUTDOWN, MONITOR…).
RULES: dict[str, str] = {"worker": "~* &* +@all -@admin -@dangerous"}
DEFAULT_OFF = "user default off resetpass resetkeys resetchannels -@all"
_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
_USER_LINE_RE = re.compile(r"^user\s+(\S+)(.*)$")
_HASH_RE = re.compile(r"\s#([0-9a-f]{64})(?=\s|$)")
_SECRET_BYTES = 30


@dataclass(frozen=True)
class BrokerLogin:
    """One role's Redis user. ``password`` (and the password in ``url``) is None when an
    existing user was kept."""

    role: str
    user: str
    password: str | None
    url: str
    status: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:  # a stray print or log line must not leak the password
        shown = "***" if self.password else None
        return (
            f"BrokerLogin(role={self.role!r}, user={self.user!r}, password={shown!r},"
            f" status={self.status!r})"
        )

    __str__ = __repr__


def user_name(role: str, prefix: str = "sohoa") -> str:
    return f"{prefix}-{role}"


def acl_line(user: str, password_sha256: str, rules: str) -> str:
    return f"user {user} on #{password_sha256} {rules}"


def broker_url(address: str, user: str, password: str | None) -> str:
    """``address`` (``redis://host:port/db``, any user or password in it dropped) for ``user``."""
    parts = urlsplit(address)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ConfigError(f"the broker address must be redis://HOST:PORT/DB, not {address!r}")
    where = parts.netloc.rpartition("@")[2]
    who = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit((parts.scheme, f"{who}@{where}", parts.path, parts.query, ""))


def _read(path: Path) -> list[str]:
    try:
        return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"cannot read the ACL file {path}: {exc.strerror}") from None


def _write(path: Path, lines: list[str]) -> None:
    """Replace the file whole (a crash leaves the old one), keeping its owner and mode (Redis's
    user must read it); a new file is 0640. It holds hashes of random passwords only."""
    try:
        before = path.stat()
    except FileNotFoundError:
        before = None
    fd, tmp = tempfile.mkstemp(prefix=".acl-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, before.st_mode & 0o777 if before else 0o640)
        if before is not None and os.geteuid() == 0:
            os.chown(tmp, before.st_uid, before.st_gid)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def setup_broker_acl(
    path: Path, address: str, *, prefix: str = "sohoa", rotate: Iterable[str] = ()
) -> list[BrokerLogin]:
    """Write the ACL file at ``path``: the default user off, one user per broker role.

    ``address`` is the broker as the workers reach it (for the URLs printed). Returns
    each role's login; see the module docstring for what is kept.
    """
    rotate = set(rotate)
    unknown = rotate - set(BROKER_ROLES)
    if unknown:
        raise ConfigError(f"unknown broker role(s) to rotate: {', '.join(sorted(unknown))}")
    if not _PREFIX_RE.match(prefix):
        raise ConfigError("the broker user prefix is 1-31 characters of a-z, 0-9 and '-'")
    if not path.parent.is_dir():
        raise ConfigError(f"no folder {path.parent} for the ACL file")
    users = {user_name(role, prefix): role for role in BROKER_ROLES}
    kept_hash: dict[str, str] = {}
    lines: list[str] = []
    for line in _read(path):
        match = _USER_LINE_RE.match(line.strip())
        name = match.group(1) if match else None
        if name == "default":
            continue  # written again below, off
        if name in users:
            found = _HASH_RE.search(match.group(2)) if match else None
            if found:
                kept_hash[name] = found.group(1)
            continue
        if line.strip():
            lines.append(line)  # the administrator's own users stay as they are
    out: list[BrokerLogin] = []
    lines.insert(0, DEFAULT_OFF)
    for name, role in users.items():
        password = None
        digest = kept_hash.get(name)
        if digest is None or role in rotate:
            password = secrets.token_urlsafe(_SECRET_BYTES)
            digest = hashlib.sha256(password.encode()).hexdigest()
        status = "kept" if password is None else ("rotated" if name in kept_hash else "created")
        lines.append(acl_line(name, digest, RULES[role]))
        out.append(BrokerLogin(role, name, password, broker_url(address, name, password), status))
    _write(path, lines)
    return out
