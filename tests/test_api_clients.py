"""The API's stores on SQLite and PostgreSQL: clients and hashed tokens, the rate per client,
uploads by idempotency key; `sohoa clients` at the terminal; the database roles' rights."""

from __future__ import annotations

import hashlib
import threading

import psycopg
import pytest

from pipeline.access.clients import ClientStore, hash_token, parse_scopes
from pipeline.access.ratelimit import RateLimiter
from pipeline.access.stores import open_audit
from pipeline.access.uploads import UploadStore
from pipeline.config import load_config
from pipeline.errors import NotFound, UsageError
from tests.support.access import make_access
from tests.support.backends import BACKENDS
from tests.support.cli import json_lines, sohoa


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path):
    access = make_access(request.param, tmp_path, request)
    yield access
    access.close()


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- clients


def test_a_token_is_kept_only_as_its_sha256(db):
    clients = ClientStore(db.backend)
    made = clients.add("iGate", "events, read")
    assert made.client.name == "igate" and made.client.scopes == ("read", "events")
    assert made.token.startswith("sohoa_") and len(made.token) == 49
    assert made.token not in repr(made)
    assert made.token not in db.dump()  # nor in a copy of the database
    with db.raw() as raw:
        (row,) = raw.execute("SELECT token_hash, token_hint FROM api_clients")
    assert row["token_hash"] == hashlib.sha256(made.token.encode()).hexdigest()
    assert made.token.startswith(row["token_hint"]) and len(row["token_hint"]) == 10
    assert clients.identify(made.token) == made.client
    assert clients.identify(made.token[:-1] + ("A" if made.token[-1] != "A" else "B")) is None
    assert clients.identify("not even the shape") is None


def test_revoked_at_once_and_the_name_never_given_again(db):
    clients = ClientStore(db.backend)
    made = clients.add("igate", "read,submit")
    gone = clients.revoke("igate")
    assert gone.revoked_at and not gone.active and not gone.allows("read")
    assert clients.identify(made.token).revoked_at == gone.revoked_at  # known, and revoked
    assert clients.revoke("igate").revoked_at == gone.revoked_at  # the first time is kept
    with pytest.raises(UsageError, match="already exists"):
        clients.add("igate", "read")
    with pytest.raises(NotFound):
        clients.revoke("nobody")
    assert [c.name for c in clients.list()] == ["igate"]


@pytest.mark.parametrize("scopes", ["", "read,admin", "write"])
def test_only_the_three_scopes(scopes):
    with pytest.raises(UsageError, match="read, submit, events"):
        parse_scopes(scopes)


@pytest.mark.parametrize("name", ["", "client:x", "Ủy ban", "a" * 65, "-x"])
def test_client_names_are_safe(db, name):
    with pytest.raises(UsageError):
        ClientStore(db.backend).add(name, "read")


def test_a_ledger_file_of_an_older_sohoa_gains_the_api_tables(tmp_path):
    """Access tables at schema 2 (before the API): the first open adds the API's tables and
    keeps what was there."""
    import sqlite3

    from pipeline.access.db import SCHEMA_VERSION, SqliteAccess

    path = tmp_path / "ledger.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE access_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL);"
        "INSERT INTO access_schema VALUES ('access', 2);"
        "CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT"
        " NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL, last_login_at TEXT);"
        "INSERT INTO users VALUES ('lan', 'records', 'x', 0, 'then', 'then', NULL);"
    )
    old.commit()
    old.close()
    clients = ClientStore(SqliteAccess(path))
    assert clients.add("igate", "read").client.name == "igate"
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM access_schema").fetchone() == (SCHEMA_VERSION,)
    assert SCHEMA_VERSION == 3
    assert conn.execute("SELECT name FROM users").fetchall() == [("lan",)]
    conn.close()


# ------------------------------------------------------------------------------ rate


def test_a_minutes_calls_at_once_then_one_per_interval(db):
    clock = Clock()
    limit = RateLimiter(db.backend, 6, clock)  # an interval of 10 s
    first = [limit.take("igate") for _ in range(7)]
    assert [d.allowed for d in first] == [True] * 6 + [False]
    assert [d.remaining for d in first[:6]] == [5, 4, 3, 2, 1, 0]
    assert first[-1].retry_after == pytest.approx(10.0)
    assert limit.take("reader").allowed  # every client has its own
    clock.now += 9.9
    assert not limit.take("igate").allowed  # refusals do not push the wait further
    clock.now += 0.1
    assert limit.take("igate").allowed
    assert not limit.take("igate").allowed
    clock.now += 3600  # a quiet hour gives the burst back, no more
    assert sum(limit.take("igate").allowed for _ in range(10)) == 6


def test_the_rate_holds_across_processes_taking_at_once(db):
    """Twelve callers at once (threads, each call its own transaction): six get through."""
    limit = RateLimiter(db.backend, 6)
    results: list[bool] = []
    lock = threading.Lock()

    def call() -> None:
        allowed = limit.take("igate").allowed
        with lock:
            results.append(allowed)

    threads = [threading.Thread(target=call) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 6 + [True] * 6


# --------------------------------------------------------------------------- uploads


def _reserve(uploads: UploadStore, key: str | None, doc: str, sha: str = "a" * 64, **request):
    return uploads.reserve(
        "igate",
        key,
        document_id=doc,
        batch_id="b" + doc[1:],
        dossier_code="000.00.13.H38-261204-0042",
        sha256=sha,
        request={"component": "TP01", **request},
    )


def test_one_row_per_key_whoever_comes_second(db):
    uploads = UploadStore(db.backend)
    first, created = _reserve(uploads, "k1", "d000000000001")
    again, created_again = _reserve(uploads, "k1", "d000000000002")
    assert created and not created_again and again == first
    assert not again.same_request("b" * 64, again.dossier_code, again.request)
    assert not again.same_request(again.sha256, again.dossier_code, {"component": "TP02"})
    assert again.same_request("a" * 64, again.dossier_code, {"component": "TP01"})
    other, made = UploadStore(db.backend).reserve(
        "reader", "k1", document_id="d000000000003", batch_id="b000000000003",
        dossier_code="000.00.13.H38-261204-0042", sha256="a" * 64, request={},
    )  # fmt: skip
    assert made and other.document_id == "d000000000003"  # keys are per client
    # Without a key every upload is its own.
    assert _reserve(uploads, None, "d000000000004")[1]
    assert _reserve(uploads, None, "d000000000005")[1]
    assert first.handed_over_at is None
    uploads.handed_over(first.document_id)
    assert uploads.get(first.document_id).handed_over_at
    listed = [u.document_id for u in uploads.for_dossier("000.00.13.H38-261204-0042")]
    assert sorted(listed) == [f"d00000000000{n}" for n in (1, 3, 4, 5)]


# ---------------------------------------------------------------------- the terminal


def test_clients_at_the_terminal_print_the_token_once(tmp_path):
    env = {"SOHOA_HOME": str(tmp_path / "home")}
    added = sohoa(env, "clients", "add", "igate", "--scope", "read,submit,events")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("sohoa_") and "shown this once" in added.stderr
    listed = sohoa(env, "--json", "clients", "list")
    (row,) = json_lines(listed.stdout)
    assert row["scopes"] == "read,submit,events" and token not in listed.stdout
    assert token.startswith(row["token"].rstrip("…"))
    cfg = load_config(env=env)
    assert token.encode() not in cfg.ledger_path.read_bytes()
    assert hash_token(token).encode() in cfg.ledger_path.read_bytes()
    again = sohoa(env, "clients", "add", "igate", "--scope", "read")
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = sohoa(env, "clients", "add", "x", "--scope", "admin")
    assert bad.returncode == 2
    revoked = sohoa(env, "--json", "clients", "revoke", "igate")
    assert revoked.returncode == 0 and json_lines(revoked.stdout)[0]["revoked_at"]
    assert sohoa(env, "clients", "revoke", "nobody").returncode == 2
    actions = [(r.action, r.object) for r in open_audit(cfg).query(action=None)]
    assert ("client_add", "igate") in actions and ("client_revoke", "igate") in actions


# ----------------------------------------------------------------- database roles


@pytest.fixture(scope="module")
def office(postgres_server):
    owner = postgres_server.new_owned_database()
    done = sohoa({"SOHOA_DATABASE_URL": owner}, "--json", "database", "setup", timeout=120)
    assert done.returncode == 0, done.stderr
    urls = {r["role"]: r["url"] for r in json_lines(done.stdout)}
    added = sohoa({"SOHOA_DATABASE_URL": owner}, "clients", "add", "igate", "--scope", "read")
    assert added.returncode == 0, added.stderr
    return owner, urls


def run_as(url: str, statement: str) -> list:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


DENIED = [
    ("web", "INSERT INTO api_clients VALUES ('evil', 'h', 'sohoa_xxxx', 'read', 'now', NULL)",
     "add a client"),
    ("web", "UPDATE api_clients SET revoked_at = NULL", "bring a revoked client back"),
    ("web", "UPDATE api_clients SET scopes = 'read,submit,events'", "widen a client's scopes"),
    ("web", "DELETE FROM api_clients", "delete clients"),
    ("web", "DELETE FROM api_uploads", "forget uploads"),
    ("worker", "SELECT token_hash FROM api_clients", "read the clients"),
    ("worker", "INSERT INTO api_rate VALUES ('igate', 0)", "reset a rate"),
    ("operator", "SELECT token_hash FROM api_clients", "read the clients"),
    ("operator", "SELECT * FROM api_uploads", "read the uploads"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("role", "statement", "what"), DENIED, ids=[f"{r}: {w}" for r, _, w in DENIED]
)
def test_a_machine_role_may_not(office, role, statement, what):
    _, urls = office
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        run_as(urls[role], statement)


def test_the_web_role_checks_tokens_and_keeps_rates_and_uploads(office):
    _, urls = office
    web = urls["web"]
    assert run_as(web, "SELECT name FROM api_clients") == [("igate",)]
    limit = RateLimiter(_pg_backend(web), 60)
    assert limit.take("igate").allowed
    uploads = UploadStore(_pg_backend(web))
    row, created = _reserve(uploads, "k1", "d00000000000a")
    uploads.handed_over(row.document_id)
    assert created and uploads.get(row.document_id).handed_over_at
    # and `sohoa clients` with the web's URL is refused, naming the role
    done = sohoa({"SOHOA_DATABASE_URL": web}, "clients", "add", "evil", "--scope", "read")
    assert done.returncode == 5 and "_web" in done.stderr


def _pg_backend(url: str):
    from pipeline.storage.postgres.access import PostgresAccess
    from pipeline.storage.postgres.db import Database

    return PostgresAccess(Database(url, name="test-api"))
