"""Users: Argon2id, roles, constant-time failures, throttling and lockout; server-side sessions.

The stores run on SQLite and on PostgreSQL (the same code over each backend).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from pipeline.access.db import SCHEMA_VERSION
from pipeline.access.stores import open_audit, open_sessions, open_users
from pipeline.access.users import (
    LoginPolicy,
    SqliteUserStore,
    SqlUserStore,
    normalize_name,
    role_allows,
)
from pipeline.config import load_config
from pipeline.errors import NotFound, UsageError
from tests.support.access import AccessDB, make_access
from tests.support.backends import BACKENDS

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PW = "đúng-mật-khẩu-1"


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class SpyHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash, password):  # type: ignore[override]
        self.verified.append(hash)
        return super().verify(hash, password)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
def acc(request, tmp_path: Path) -> Iterator[AccessDB]:
    db = make_access(request.param, tmp_path, request)
    yield db
    db.close()


@pytest.fixture
def users(acc: AccessDB, clock: Clock) -> SqlUserStore:
    policy = LoginPolicy(
        max_failures=3, max_failures_per_client=6, window_seconds=600, lockout_seconds=900
    )
    return acc.users(policy, FAST, clock)


def test_roles_are_ordered():
    assert role_allows("admin", "operator") and role_allows("operator", "records")
    assert not role_allows("records", "operator") and not role_allows("operator", "admin")
    assert not role_allows("station", "records") and not role_allows("records", "root")


def test_add_list_and_the_hash_is_argon2id(users: SqlUserStore, acc: AccessDB):
    u = users.add(" Lan.Nguyen ", "records", PW)
    users.add("an", "admin", "another-password")
    users.add("an-2", "operator", "another-password")
    assert u.name == "lan.nguyen" and u.role == "records" and not u.disabled
    assert [x.name for x in users.list()] == ["an", "an-2", "lan.nguyen"]
    with acc.raw() as raw:
        (row,) = raw.execute("SELECT password_hash FROM users WHERE name='lan.nguyen'")
    stored = row["password_hash"]
    assert stored.startswith("$argon2id$") and PW not in stored
    assert not hasattr(u, "password_hash")


@pytest.mark.parametrize("name", ["", " ", "a b", "../x", "ngô", "x" * 65, "-x", "a;drop"])
def test_odd_names_are_refused(users: SqlUserStore, name: str):
    with pytest.raises(UsageError):
        users.add(name, "records", PW)


def test_bad_roles_passwords_and_duplicates_are_refused(users: SqlUserStore):
    with pytest.raises(UsageError):
        users.add("lan", "root", PW)
    with pytest.raises(UsageError) as info:
        users.add("lan", "records", "short")
    assert "short" not in str(info.value)
    with pytest.raises(UsageError):
        users.add("lan", "records", "x" * 2000)
    with pytest.raises(UsageError):
        users.add("lan.nguyen1", "records", "Lan.Nguyen1")
    users.add("lan", "records", PW)
    with pytest.raises(UsageError, match="exists"):
        users.add("LAN", "operator", PW)
    with pytest.raises(NotFound):
        users.disable("nobody")
    assert normalize_name("LAN") == "lan"


def test_authenticate_succeeds_only_with_the_right_password(users: SqlUserStore):
    users.add("lan", "operator", PW)
    ok = users.authenticate("Lan", PW, "10.0.0.5")
    assert ok.ok and ok.user and ok.user.role == "operator" and ok.user.last_login_at
    for wrong in ("wrong-password", "", PW + " ", "x" * 5000):
        assert not users.authenticate("lan", wrong, "10.0.0.6").ok
        users.authenticate("lan", PW, "10.0.0.5")  # reset the per-user counter


def test_unknown_and_disabled_users_fail_like_a_wrong_password(acc: AccessDB):
    spy = SpyHasher()
    store = acc.users(hasher=spy)
    store.add("lan", "records", PW)
    store.add("binh", "records", PW)
    store.disable("binh")
    spy.verified.clear()
    results = [
        store.authenticate("nobody", PW, None),
        store.authenticate("binh", PW, None),
        store.authenticate("lan", "wrong-password", None),
        store.authenticate("not a valid name!", PW, None),
    ]
    assert all(not r.ok and not r.locked for r in results)
    # Every attempt ran one real Argon2 verification (the unknown ones on a dummy hash).
    assert len(spy.verified) == 4 and all(h.startswith("$argon2id$") for h in spy.verified)


def test_hash_is_upgraded_when_the_parameters_change(acc: AccessDB, clock: Clock):
    acc.users(hasher=FAST, clock=clock).add("lan", "records", PW)
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    store = acc.users(hasher=stronger, clock=clock)
    assert store.authenticate("lan", PW, None).ok
    with acc.raw() as raw:
        (row,) = raw.execute("SELECT password_hash FROM users")
    stored = row["password_hash"]
    assert "m=16,t=2,p=1" in stored and not stronger.check_needs_rehash(stored)
    assert store.authenticate("lan", PW, None).ok


def test_brute_force_locks_the_account_even_for_the_right_password(
    users: SqlUserStore, clock: Clock
):
    users.add("lan", "records", PW)
    results = [users.authenticate("lan", f"guess-number-{i}", "10.0.0.9") for i in range(3)]
    assert [r.locked for r in results] == [False, False, True]
    locked = users.authenticate("lan", PW, "10.0.0.1")
    assert not locked.ok and locked.locked and 0 < locked.retry_after <= 900
    clock.advance(901)
    assert users.authenticate("lan", PW, "10.0.0.1").ok


def test_failures_age_out_of_the_window_and_success_resets(users: SqlUserStore, clock: Clock):
    users.add("lan", "records", PW)
    users.authenticate("lan", "guess-one-x", None)
    users.authenticate("lan", "guess-two-x", None)
    clock.advance(601)
    assert not users.authenticate("lan", "guess-three", None).locked
    assert users.authenticate("lan", PW, None).ok
    users.authenticate("lan", "guess-four-x", None)
    assert not users.authenticate("lan", "guess-five-x", None).locked


def test_one_address_guessing_many_names_is_locked_out(users: SqlUserStore):
    users.add("lan", "records", PW)
    for i in range(6):
        users.authenticate(f"user{i}", "guess-password", "203.0.113.7")
    assert users.authenticate("lan", PW, "203.0.113.7").locked
    assert users.authenticate("lan", PW, "10.0.0.2").ok


def test_passwd_and_disable_end_open_sessions(users: SqlUserStore, acc: AccessDB):
    sessions = acc.sessions()
    users.add("lan", "records", PW)
    sid, _ = sessions.create("lan", None)
    users.passwd("lan", "a-new-password-2")
    assert sessions.get(sid) is None
    assert not users.authenticate("lan", PW, None).ok
    assert users.authenticate("lan", "a-new-password-2", None).ok
    sid, _ = sessions.create("lan", None)
    users.disable("lan")
    assert sessions.get(sid) is None
    assert not users.authenticate("lan", "a-new-password-2", None).ok
    users.enable("lan")
    assert users.authenticate("lan", "a-new-password-2", None).ok


def test_sessions_expire_idle_and_absolute(acc: AccessDB, clock: Clock):
    store = acc.sessions(idle_seconds=60, max_seconds=300, clock=clock)
    sid, s = store.create("lan", "10.0.0.1")
    assert store.get(sid) == s
    clock.advance(61)
    assert store.get(sid) is None
    sid, second = store.create("lan", None)
    for _ in range(8):  # busy all along: idle never hits, the absolute limit does
        clock.advance(50)
        got = store.get(sid)
        if got is None:
            break
    assert got is None and 300 < clock.t - second.created_at <= 350
    sid, _ = store.create("lan", None)
    store.delete(sid)
    assert store.get(sid) is None
    assert store.get("") is None and store.get("x" * 500) is None


def test_the_database_holds_no_usable_session_id(acc: AccessDB):
    sid, _ = acc.sessions().create("lan", None)
    with acc.raw() as raw:
        rows = raw.execute("SELECT * FROM web_sessions")
    assert rows and all(sid not in map(str, row.values()) for row in rows)
    assert sid not in acc.dump()


def test_sessions_and_logins_are_shared_between_machines(acc: AccessDB, clock: Clock):
    """Two processes' stores (the web on one machine, an operator's CLI on another) on one
    database: a session made by one is seen, and ended, through the other."""
    web_users, web_sessions = acc.users(hasher=FAST, clock=clock), acc.sessions(clock=clock)
    cli_users = acc.users(hasher=FAST, clock=clock)
    cli_users.add("lan", "records", PW)
    assert web_users.authenticate("lan", PW, "10.0.0.5").ok
    sid, session = web_sessions.create("lan", "10.0.0.5")
    assert acc.sessions(clock=clock).get(sid) == session
    cli_users.disable("lan")
    assert web_sessions.get(sid) is None


def test_login_policy_comes_from_config(tmp_path: Path):
    cfg = load_config(
        env={"SOHOA_HOME": str(tmp_path)},
        overrides={"web": {"login_max_failures": 7, "lockout_minutes": 2}},
    )
    policy = LoginPolicy.from_config(cfg)
    assert policy.max_failures == 7 and policy.lockout_seconds == 120
    assert SqliteUserStore.from_config(cfg, FAST).path == cfg.ledger_path


def test_the_stores_follow_the_database_url(request, tmp_path: Path):
    """With ``SOHOA_DATABASE_URL`` on PostgreSQL, users, sessions and audit live there (one
    pool for all three), with the configured login policy; nothing goes to the SQLite file."""
    from tests.support.access import open_spec
    from tests.support.backends import pg_database

    url = pg_database(request)
    cfg = load_config(
        env={"SOHOA_HOME": str(tmp_path), "SOHOA_DATABASE_URL": url},
        overrides={"web": {"login_max_failures": 7}},
    )
    users, sessions, audit = open_users(cfg, FAST), open_sessions(cfg), open_audit(cfg)
    assert isinstance(users, SqlUserStore) and users.policy.max_failures == 7
    assert users.backend is sessions.backend is audit.backend
    users.add("lan", "admin", PW)
    sid, _ = sessions.create("lan", None)
    audit.append("lan", "login")
    other = open_spec(("postgres", url))
    try:
        assert [u.name for u in other.users(hasher=FAST).list()] == ["lan"]
        assert other.sessions().get(sid) is not None
        assert [r.action for r in other.audit().query()] == ["login"]
    finally:
        other.close()
    assert not cfg.ledger_path.exists()


def test_tables_of_an_older_sohoa_are_upgraded_in_place(tmp_path: Path):
    """A ledger file whose access tables predate the attempt counter (schema 1) keeps its
    users and throttling rows and gains the column on first open."""
    import sqlite3

    path = tmp_path / "ledger.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE access_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL);"
        "INSERT INTO access_schema VALUES ('access', 1);"
        "CREATE TABLE login_throttle (key TEXT PRIMARY KEY, failures INTEGER NOT NULL,"
        " window_start REAL NOT NULL, locked_until REAL NOT NULL DEFAULT 0);"
        "INSERT INTO login_throttle VALUES ('user:lan', 2, 1800000000.0, 0);"
    )
    old.commit()
    old.close()
    users = SqliteUserStore(path, LoginPolicy(max_failures=3), FAST, Clock())
    users.add("lan", "records", PW)
    result = users.authenticate("lan", "guess-three", None)  # the third failure: locked
    assert result.locked and result.checked and result.tried == 1
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM access_schema").fetchone() == (SCHEMA_VERSION,)
    conn.close()
