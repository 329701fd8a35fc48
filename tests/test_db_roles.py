"""Each machine's PostgreSQL role (issue 20, item 1): `sohoa database setup`, the denial matrix
against a real PostgreSQL, and every machine's own work done with its own role only."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import psycopg
import pytest

from pipeline.access.audit import SqlAuditLog
from pipeline.access.users import SqlUserStore
from pipeline.config import load_config
from pipeline.errors import ConfigError, NotAllowed
from pipeline.flow import requeue
from pipeline.storage.postgres.access import PostgresAccess
from pipeline.storage.postgres.db import Database
from pipeline.storage.postgres.index import PostgresIndex
from pipeline.storage.postgres.ledger import PostgresLedger
from tests.support.cli import json_lines, sohoa
from tests.support.web import FAST_HASHER, _ledger_doc

pytestmark = pytest.mark.integration
CODE = "000.00.13.H38-261201-0031"
FLAGGED = "000.00.13.H38-261201-0032"


def setup_cli(owner_url: str, *args: str) -> subprocess.CompletedProcess:
    return sohoa({"SOHOA_DATABASE_URL": owner_url}, "database", "setup", *args, timeout=120)


@dataclass
class Office:
    owner: str  # the owner's URL (the administrator's)
    urls: dict[str, str]  # each machine role's URL, as setup printed it
    users: dict[str, str]  # machine role -> database role name
    ids: dict[str, str]  # documents to try things on


def _documents(owner_url: str) -> dict[str, str]:
    """Ledger rows in every state the matrix needs (no OCR: the rows only), audit rows too."""
    db = Database(owner_url, pool_size=1)
    ledger = PostgresLedger(db, owns_db=False)
    batch = ledger.create_batch("motcua-01", "motcua-01/ho-so", "watcher")
    ids = {
        # failed first: then the same bytes are archived by another document
        "twin": _ledger_doc(ledger, batch, "a-first.pdf", "a" * 64, "failed"),
        "indexed": _ledger_doc(
            ledger, batch, "a.pdf", "a" * 64, "indexed", dossier_code=CODE, ordinal=1, pages=1,
            pdf_key=f"{CODE}/{CODE}.1.pdf", metadata_key=f"{CODE}/{CODE}.1.json",
            text_key=f"{CODE}/{CODE}.1.txt",
        ),
        "flagged": _ledger_doc(
            ledger, batch, "b.pdf", "b" * 64, "indexed", dossier_code=FLAGGED, ordinal=1,
            pages=1, pdf_key=f"{FLAGGED}/{FLAGGED}.1.pdf", review="low OCR quality: page 1",
        ),
        "failed": _ledger_doc(ledger, batch, "c.pdf", "c" * 64, "failed"),
        "needs_code": _ledger_doc(ledger, batch, "d.png", "d" * 64, "needs_dossier"),
    }  # fmt: skip
    access = PostgresAccess(db, owns_db=False)
    SqlUserStore(access, hasher=FAST_HASHER).add("lan", "records", "records-pass-1")
    audit = SqlAuditLog(access)
    for n in range(3):
        audit.append("lan", "search", None, {"q": f"giấy phép {n}"})
    db.close()
    return ids


@pytest.fixture(scope="module")
def office_db(postgres_server) -> Office:
    owner = postgres_server.new_owned_database()
    done = setup_cli(owner, "--json")
    assert done.returncode == 0, done.stderr
    logins = {r["role"]: r for r in json_lines(done.stdout)}
    urls = {role: r["url"] for role, r in logins.items()}
    return Office(owner, urls, {role: r["user"] for role, r in logins.items()}, _documents(owner))


def run_as(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


# ------------------------------------------------------------------- the denial matrix

AUDIT_AND_SCHEMA = [
    ("UPDATE audit_log SET actor = 'x'", "edit the audit log"),
    ("DELETE FROM audit_log WHERE id = 2", "delete an audit row"),
    ("TRUNCATE audit_log", "empty the audit log"),
    ("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update", "disable its trigger"),
    ("ALTER TABLE audit_log DISABLE TRIGGER ALL", "disable all its triggers"),
    ("DROP TRIGGER audit_log_no_delete ON audit_log", "drop its trigger"),
    ("UPDATE audit_chain SET last_id = 1", "lower audit_chain.last_id"),
    ("DELETE FROM audit_chain", "remove the chain's head"),
    ("INSERT INTO users (name, role, password_hash, created_at, updated_at)"
     " VALUES ('evil', 'admin', 'x', 'now', 'now')", "add a user"),
    ("UPDATE users SET role = 'admin'", "promote a user"),
    ("DELETE FROM users", "delete users"),
    ("CREATE TABLE stash (a TEXT)", "create a table"),
    ("CREATE TEMP TABLE stash (a TEXT)", "create a temporary table"),
    ("CREATE SCHEMA stash", "create a schema"),
    ("ALTER TABLE documents ADD COLUMN stash TEXT", "alter a table"),
    ("DROP TABLE events", "drop a table"),
    ("CREATE FUNCTION stash() RETURNS int LANGUAGE sql AS 'SELECT 1'", "create a function"),
]  # fmt: skip
NOT_WEB_WORK = [
    ("SELECT user_name FROM web_sessions", "read web sessions"),
    ("INSERT INTO web_sessions VALUES ('h', 'ad', 'c', 0, 0, NULL)", "forge a web session"),
    ("SELECT key FROM login_throttle", "read the login throttle"),
    ("DELETE FROM login_throttle", "clear the login throttle"),
]
BEYOND_DECISIONS = [
    ("INSERT INTO batches (id, created_at, actor) VALUES ('bx', 'now', 'x')", "add a batch"),
    ("INSERT INTO documents (id, batch_id, seq, source_name, sha256, size, state, created_at,"
     " updated_at) SELECT 'dx', batch_id, 99, 'x', 'e', 1, 'received', 'now', 'now'"
     " FROM documents LIMIT 1", "add a document"),
    ("DELETE FROM documents", "delete documents"),
    ("UPDATE documents SET source_name = 'x'", "change a column no decision writes"),
    ("UPDATE documents SET state = 'failed', stage = 'operator' WHERE state = 'indexed'",
     "hide an archived document as failed"),
    ("UPDATE documents SET pdf_key = 'elsewhere.pdf' WHERE state = 'indexed'",
     "point an archived document elsewhere"),
    ("UPDATE documents SET state = 'stored_raw', owner = NULL, stage = 'operator'"
     " WHERE state = 'indexed' AND review IS NULL", "re-run a document nobody flagged"),
    ("UPDATE documents SET dossier_hint = 'x' WHERE state = 'indexed'", "change a hint alone"),
    ("INSERT INTO events (document_id, at, actor, to_state, stage, reason)"
     " SELECT id, 'now', 'x', 'indexed', 'operator', 'forged' FROM documents LIMIT 1",
     "forge a history row"),
    ("UPDATE ordinals SET last = 0", "renumber a dossier"),
    ("INSERT INTO search_docs (doc_id, dossier_code, pdf_key, pages, meta)"
     " VALUES ('x', 'X', 'x', 1, '{}')", "write the index"),
    ("DELETE FROM search_docs", "remove from the index"),
    ("DELETE FROM search_pages", "remove pages from the index"),
    # the outbox (issue 21): ask for a replay, never deliver, settle or announce a lie
    ("UPDATE outbox_deliveries SET state = 'delivered'", "mark an event delivered"),
    ("DELETE FROM outbox_deliveries", "drop deliveries"),
    ("DELETE FROM outbox", "drop events"),
    ("UPDATE outbox SET type = 'document.archived'", "rewrite an event"),
    ("UPDATE outbox_cursors SET last_event_id = 0", "rewind a webhook"),
    ("INSERT INTO outbox (event_key, type, occurred_at, dossier_code, document_id, data)"
     " SELECT 'x', 'document.archived', 'now', dossier_code, id, '{\"state\": \"failed\"}'"
     " FROM documents WHERE state = 'failed' LIMIT 1", "announce a failed document archived"),
    ("UPDATE outbox_replays SET applied_at = 'now'", "swallow a replay request"),
]  # fmt: skip
MATRIX = (
    [("worker", sql, what) for sql, what in AUDIT_AND_SCHEMA]
    + [("worker", sql, what) for sql, what in NOT_WEB_WORK]
    + [("worker", "SELECT password_hash FROM users", "read password hashes")]
    + [("worker", "GRANT SELECT ON users TO PUBLIC", "hand out rights")]
    + [("web", sql, what) for sql, what in AUDIT_AND_SCHEMA + BEYOND_DECISIONS]
    + [("web", "UPDATE users SET disabled = TRUE", "disable a user")]
    + [("web", "GRANT SELECT ON ordinals TO PUBLIC", "hand out rights")]
    + [("operator", sql, what) for sql, what in AUDIT_AND_SCHEMA + BEYOND_DECISIONS]
    + [("operator", sql, what) for sql, what in NOT_WEB_WORK]
    + [("operator", "SELECT password_hash FROM users", "read password hashes")]
    + [("operator", "GRANT SELECT ON users TO PUBLIC", "hand out rights")]
)


@pytest.mark.parametrize(
    ("role", "statement", "what"), MATRIX, ids=[f"{r}: {w}" for r, _, w in MATRIX]
)
def test_a_machine_role_may_not(office_db, role, statement, what):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        run_as(office_db.urls[role], statement)


def test_nothing_was_changed_by_the_attempts(office_db):
    """After the matrix (any order): the audit chain intact, its head where it was."""
    db = Database(office_db.owner, pool_size=1)
    try:
        log = SqlAuditLog(PostgresAccess(db, owns_db=False))
        check = log.verify()
        assert check.ok and check.checked >= 3
        ledger = PostgresLedger(db, owns_db=False)
        assert ledger.get_document(office_db.ids["indexed"]).state == "indexed"
        assert ledger.get_document(office_db.ids["indexed"]).pdf_key == f"{CODE}/{CODE}.1.pdf"
        high = db.run(lambda conn, _: conn.execute("SELECT last_id FROM audit_chain").fetchone())
        assert high["last_id"] == check.head_id
    finally:
        db.close()


def test_a_station_has_no_database_role_and_strangers_cannot_connect(office_db, postgres_server):
    from pipeline.storage.postgres.roles import role_url

    assert set(office_db.urls) == {"worker", "web", "operator"}
    prefix = office_db.users["worker"].removesuffix("_worker")
    roles = postgres_server.psql(f"SELECT rolname FROM pg_roles WHERE rolname LIKE '{prefix}_%'")
    assert sorted(roles.split()) == sorted([*office_db.users.values(), f"{prefix}_owner"])
    # Another application's role on the same server: CONNECT is the machine roles' only.
    postgres_server.psql(f"CREATE ROLE {prefix}_other LOGIN PASSWORD 'other-pass-1'")
    other = role_url(office_db.owner, f"{prefix}_other", "other-pass-1")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(other).close()


USERS_CLI = [
    ("worker", ["users", "add", "evil", "--role", "admin"]),
    ("worker", ["users", "role", "lan", "admin"]),
    ("worker", ["users", "list"]),
    ("web", ["users", "add", "evil", "--role", "admin"]),
    ("web", ["users", "role", "lan", "admin"]),
    ("operator", ["users", "add", "evil", "--role", "admin"]),
    ("operator", ["users", "disable", "lan"]),
]


@pytest.mark.parametrize(
    ("role", "argv"), USERS_CLI, ids=[f"{r}: {' '.join(a)}" for r, a in USERS_CLI]
)
def test_user_management_is_the_owners_only(office_db, tmp_path, role, argv):
    """Through the program: exit 5, one line naming the database role, no traceback."""
    env = {"SOHOA_DATABASE_URL": office_db.urls[role], "SOHOA_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", *argv],
        env={**os.environ, **env},
        input="a-long-password-1\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 5, done.stderr
    assert f"the database role {office_db.users[role]} may not do that" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_program_names_the_role_it_was_refused(office_db):
    db = Database(office_db.urls["web"], pool_size=1)
    try:
        ledger = PostgresLedger(db, owns_db=False)
        with pytest.raises(NotAllowed, match=f"the database role {office_db.users['web']} may not"):
            ledger.update_fields(office_db.ids["indexed"], source_name="x")
    finally:
        db.close()


# ----------------------------------------------------- the decisions web and operator make


def test_web_and_operator_record_decisions_for_a_worker(office_db):
    web = Database(office_db.urls["web"], pool_size=1)
    operator = Database(office_db.urls["operator"], pool_size=1)
    try:
        wl, ol = PostgresLedger(web, owns_db=False), PostgresLedger(operator, owns_db=False)
        ids = office_db.ids
        queued = requeue.queue_retry(wl, ids["failed"], "web:op")
        assert (queued.state, queued.owner, queued.stage) == ("stored_raw", None, "operator")
        assert wl.events(document_id=queued.id)[-1]["actor"] == "web:op"
        coded = requeue.queue_assign(ol, ids["needs_code"], CODE, "cli:op")
        assert (coded.state, coded.dossier_hint) == ("stored_raw", CODE)
        # The same bytes are archived already: settled as the duplicate of that document.
        twin = requeue.queue_retry(ol, ids["twin"], "cli:op")
        assert twin.state == "duplicate" and twin.duplicate_of == ids["indexed"]
        accepted = requeue.accept_review(wl, ids["flagged"], "web:op")
        assert accepted.review is None and accepted.state == "indexed"
    finally:
        web.close()
        operator.close()


def test_web_and_operator_ask_for_replays_and_a_worker_delivers(office_db):
    """The events' tables (issue 21) with each machine's own role: the worker's dispatcher
    fans out, claims, settles and carries out replays; the web and operator read the
    deliveries and the feed, and may only ask for a replay."""
    from pipeline.storage.ledger.outbox import DEAD, PENDING

    worker, web = Database(office_db.urls["worker"], pool_size=1), None
    try:
        wk = PostgresLedger(worker, owns_db=False)
        assert wk.outbox.fan_out("igate") >= 1
        (first, *_) = wk.outbox.claim("igate", "worker:1", 60, 1)
        wk.outbox.settle(first, "worker:1", delivered=False, status=500, error="x", retry_in=None)
        for role in ("web", "operator"):
            web = Database(office_db.urls[role], pool_size=1)
            ledger = PostgresLedger(web, owns_db=False)
            assert [d.event.id for d in ledger.outbox.deliveries(states=(DEAD,))] == [
                first.event.id
            ]
            assert ledger.events_after(0, 100)  # the feed
            assert ledger.outbox.request_replay(first.event.id, "igate", f"{role}:op") == 1
            outbox = ledger.outbox
            refused = f"the database role {office_db.users[role]}"
            with pytest.raises(NotAllowed, match=refused):
                outbox.apply_replays()
            with pytest.raises(NotAllowed, match=refused):
                outbox.claim("igate", "web:1", 60, 5)
            with pytest.raises(NotAllowed, match=refused):
                outbox.fan_out("elsewhere")
            web.close()
            web = None
        assert wk.outbox.apply_replays() == 2  # the web's request and the operator's
        (again,) = [d for d in wk.outbox.deliveries() if d.event.id == first.event.id]
        assert (again.state, again.attempts) == (PENDING, 0)
    finally:
        worker.close()
        if web is not None:
            web.close()


# --------------------------------------------------------------- schema, setup, rotation


def test_every_table_of_the_schema_has_its_line_in_the_grants(office_db):
    from pipeline.storage.postgres.roles import GRANTS

    with psycopg.connect(office_db.owner) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        }
    assert tables == set(GRANTS)


def test_a_role_that_may_not_migrate_sends_no_ddl(postgres_server, tmp_path):
    """A current schema is used as it is; one behind the program (a migration not applied, a
    record's column missing) stops with one line; and nothing but plain statements reaches
    the server from that role either way."""
    owner = postgres_server.new_owned_database()
    done = setup_cli(owner, "--json")
    assert done.returncode == 0, done.stderr
    web = {r["role"]: r for r in json_lines(done.stdout)}["web"]
    postgres_server.psql(f"ALTER ROLE {web['user']} SET log_statement = 'ddl'")
    log = postgres_server.root / "postgres.log"
    mark = log.stat().st_size
    db = Database(web["url"], pool_size=1)
    try:
        PostgresLedger(db, owns_db=False)
        PostgresIndex(db, owns_db=False)
        PostgresAccess(db, owns_db=False)
        with psycopg.connect(owner, autocommit=True) as conn:  # as if the program were newer
            conn.execute("ALTER TABLE documents DROP COLUMN processed_by")
            for column in ("code_number", "code_notation", "number_key", "notation_key"):
                conn.execute(f"ALTER TABLE search_docs DROP COLUMN {column}")
            conn.execute("DELETE FROM schema_migrations WHERE component = 'index' AND version = 2")
        behind = r"older than this program.*run `sohoa database setup` with the owner's URL"
        with pytest.raises(ConfigError, match=behind):
            PostgresIndex(db, owns_db=False)
        with pytest.raises(ConfigError, match="run `sohoa database setup` with the owner's URL"):
            PostgresLedger(db, owns_db=False)
    finally:
        db.close()
    with open(log, "rb") as fh:
        fh.seek(mark)
        said = fh.read().decode("utf-8", "replace")
    assert "statement:" not in said and "ERROR" not in said, said
    cli = sohoa({"SOHOA_DATABASE_URL": web["url"], "SOHOA_HOME": str(tmp_path)}, "search", "x")
    assert cli.returncode == 2 and "sohoa database setup" in cli.stderr
    assert "Traceback" not in cli.stderr and len(cli.stderr.strip().splitlines()) == 1
    # The owner brings it up to date (the fields' migration runs again whole); the role works.
    with psycopg.connect(owner, autocommit=True) as conn:
        for column in ("organ_name", "organ_folded", "subject", "issued_date"):
            conn.execute(f"ALTER TABLE search_docs DROP COLUMN {column}")
    again = setup_cli(owner)
    assert again.returncode == 0, again.stderr
    db = Database(web["url"], pool_size=1)
    try:
        PostgresIndex(db, owns_db=False)
        PostgresLedger(db, owns_db=False)
    finally:
        db.close()


def test_setup_is_idempotent_and_rotates(postgres_server, tmp_path):
    owner = postgres_server.new_owned_database()
    first = setup_cli(owner)
    assert first.returncode == 0, first.stderr
    lines = [x for x in first.stdout.splitlines() if x.startswith("SOHOA_DATABASE_URL=")]
    assert len(lines) == 3 and "stations get no database role" in first.stderr
    urls = {
        url.split("//")[1].split(":")[0].rsplit("_", 1)[1]: url.split("=", 1)[1] for url in lines
    }
    again = setup_cli(owner, "--json")
    assert again.returncode == 0, again.stderr
    assert {(r["role"], r["status"], r["password"]) for r in json_lines(again.stdout)} == {
        ("worker", "kept", None), ("web", "kept", None), ("operator", "kept", None)
    }  # fmt: skip
    for url in urls.values():  # kept: the old URLs still work
        psycopg.connect(url).close()
    rotated = setup_cli(owner, "--json", "--rotate", "web")
    (web,) = [r for r in json_lines(rotated.stdout) if r["role"] == "web"]
    assert web["status"] == "rotated" and web["url"] != urls["web"]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(urls["web"]).close()
    psycopg.connect(web["url"]).close()
    # Secrets appear in the output only: never in the audit log or the server's log.
    log = SqlAuditLog(PostgresAccess(Database(owner, pool_size=1)))
    rows = log.query(action="database_setup")
    assert len(rows) == 3 and rows[-1].details["roles"]["web"] == "rotated"
    server_log = (postgres_server.root / "postgres.log").read_text(errors="replace")
    for secret in (
        web["url"].split(":")[2].split("@")[0],
        *(u.split(":")[2].split("@")[0] for u in urls.values()),
    ):
        assert secret not in server_log and all(secret not in str(r.details) for r in rows)
    refused = setup_cli(web["url"])
    assert refused.returncode == 5 and "owner's URL" in refused.stderr


def test_the_operator_key_queues_retry_assign_and_rerun(sohoa_env, tmp_path):
    """On an operator's PC (operator key): the decision is recorded for a worker, exit 0."""
    from pipeline.storage.ledger import SqliteLedger

    env = {**sohoa_env, "SOHOA_MINIO_ROLE": "operator"}
    cfg = load_config(env=env)
    ledger = SqliteLedger(cfg.ledger_path)
    batch = ledger.create_batch("motcua-01", "motcua-01/x", "watcher")
    failed = _ledger_doc(ledger, batch, "c.pdf", "c" * 64, "failed")
    needs = _ledger_doc(ledger, batch, "d.png", "d" * 64, "needs_dossier")
    flagged = _ledger_doc(
        ledger, batch, "b.pdf", "b" * 64, "indexed", dossier_code=FLAGGED, ordinal=1, pages=1,
        pdf_key=f"{FLAGGED}/{FLAGGED}.1.pdf", review="low OCR quality: page 1",
    )  # fmt: skip
    ledger.close()
    for argv, doc_id in (
        (["retry", "--failed"], failed),
        (["assign", needs, "--dossier", CODE], needs),
        (["review", flagged, "--rerun"], flagged),
    ):
        done = sohoa(env, "--json", *argv, timeout=120)
        assert done.returncode == 0, done.stderr
        (row,) = json_lines(done.stdout)
        assert row["document_id"] == doc_id and row["status"] == "stored_raw" and row["queued"]
        assert "queued" in done.stderr and "for a worker" in done.stderr
    ledger = SqliteLedger(cfg.ledger_path)
    try:
        for doc_id in (failed, needs, flagged):
            doc = ledger.get_document(doc_id)
            assert doc.state == "stored_raw" and doc.owner is None
            assert ledger.events(document_id=doc_id)[-1]["actor"].startswith("cli:")
        assert ledger.get_document(needs).dossier_hint == CODE
    finally:
        ledger.close()
    web = sohoa({**sohoa_env, "SOHOA_MINIO_ROLE": "web"}, "retry", "--failed", timeout=120)
    assert web.returncode == 5 and "worker key" in web.stderr  # only operators decide


@pytest.fixture
def office_keys(minio_server, sohoa_env):
    from tests.support.web import setup_roles

    return setup_roles(minio_server, sohoa_env)


def test_each_machine_does_its_work_with_its_own_role(
    postgres_server, minio_server, sohoa_env, office_keys, tmp_path
):
    """Owner: users add. Worker: pages processed. Operator: an assign queued from the CLI.
    Web: a login (with a password rehash), a search, an assign queued. Worker: both run."""
    import httpx

    from pipeline.access.users import LoginPolicy, SqlUserStore
    from tests.support.watch import tiny_page
    from tests.support.web import FAST_HASHER, csrf, login, role_env, serve
    from workers.web.app import create_app

    owner = postgres_server.new_owned_database()
    done = setup_cli(owner, "--json")
    assert done.returncode == 0, done.stderr
    urls = {r["role"]: r["url"] for r in json_lines(done.stdout)}

    def machine(role: str) -> dict[str, str]:
        home = tmp_path / role
        return {**role_env(sohoa_env, office_keys, role), "SOHOA_HOME": str(home),
                "SOHOA_INBOX": str(home / "inbox"), "SOHOA_DATABASE_URL": urls[role]}  # fmt: skip

    admin = {**sohoa_env, "SOHOA_DATABASE_URL": owner, "SOHOA_HOME": str(tmp_path / "admin")}
    for name, role in (("op", "operator"), ("lan", "records"), ("quan", "admin")):
        added = subprocess.run(
            [sys.executable, "-m", "workers.cli", "users", "add", name, "--role", role],
            env={**os.environ, **admin}, input=f"{name}-password-1\n",
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
    worker = machine("worker")
    pages = [tmp_path / "in" / f"don-{n}.png" for n in (31, 32, 33)]
    for n, page in zip((31, 32, 33), pages, strict=True):
        tiny_page(page, n)
    archived = sohoa(worker, "--json", "process", str(pages[0]), "--dossier", CODE)
    assert archived.returncode == 0, archived.stderr
    assert json_lines(archived.stdout)[0]["status"] == "indexed"
    waiting = sohoa(worker, "--json", "process", str(pages[1]), str(pages[2]))
    first, second = (r["document_id"] for r in json_lines(waiting.stdout))
    assert {r["status"] for r in json_lines(waiting.stdout)} == {"needs_dossier"}

    operator = machine("operator")
    queued = sohoa(operator, "--json", "assign", first, "--dossier", CODE)
    assert queued.returncode == 0, queued.stderr
    assert json_lines(queued.stdout)[0]["status"] == "stored_raw"
    for argv in (["batches"], ["show", first], ["review"], ["audit"], ["audit", "verify"]):
        assert sohoa(operator, *argv).returncode == 0, argv
    found = sohoa(machine("web"), "--json", "search", "don de nghi")
    assert found.returncode == 0, found.stderr
    assert [r["dossier_code"] for r in json_lines(found.stdout)] == [CODE]

    web_cfg = load_config(env=machine("web"))
    web_db = Database(urls["web"], pool_size=2)
    users = SqlUserStore(PostgresAccess(web_db, owns_db=False), LoginPolicy(), FAST_HASHER)
    try:
        with serve(create_app(web_cfg, users=users)) as base:
            client = httpx.Client(base_url=base, follow_redirects=False, timeout=60)
            resp = login(client, "op", "op-password-1")
            assert resp.status_code == 303, resp.text[:300]
            hits = client.get("/api/search", params={"q": "don de nghi"}).json()["hits"]
            assert [h["dossier_code"] for h in hits] == [CODE]
            assigned = client.post(
                f"/documents/{second}/assign", data={"csrf_token": csrf(client), "dossier": CODE}
            )
            assert assigned.status_code == 303, assigned.text[:300]
            client.close()
            # Accounts are the owner's: the web's role reads them (logins) but cannot add
            # one, and an administrator in the browser reads why instead of an error page.
            admin_client = httpx.Client(base_url=base, follow_redirects=False, timeout=60)
            assert login(admin_client, "quan", "quan-password-1").status_code == 303
            assert admin_client.get("/users").status_code == 200
            added = admin_client.post(
                "/users",
                data={"csrf_token": csrf(admin_client), "name": "evil", "role": "admin",
                      "password": "evil-password-1", "password2": "evil-password-1"},
            )  # fmt: skip
            assert added.status_code == 403 and "sohoa trên máy quản trị" in added.text
            admin_client.close()
    finally:
        web_db.close()
    with psycopg.connect(owner) as conn:
        row = conn.execute(
            "SELECT last_login_at, password_hash FROM users WHERE name = 'op'"
        ).fetchone()
    assert row[0] is not None and "t=1," in row[1]  # stamped, and rehashed with the web's cost
    with psycopg.connect(owner) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE name = 'evil'").fetchone()[0] == 0
        denied = conn.execute(
            "SELECT count(*) FROM audit_log WHERE actor = 'quan' AND action = 'denied'"
        ).fetchone()[0]
    assert denied == 1  # the add, with its reason

    resumed = sohoa(worker, "--json", "retry", "--failed")
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(r["status"] for r in json_lines(resumed.stdout)) == ["indexed", "indexed"]
    verified = sohoa(worker, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
