"""`sohoa storage setup`, `sohoa users` and `sohoa audit` as an administrator runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio

from pipeline.access.audit import SqliteAuditLog
from pipeline.access.stores import open_audit, open_users
from pipeline.config import load_config
from tests.support.access import AccessDB, make_access
from tests.support.backends import BACKENDS
from tests.support.cli import json_lines, sohoa
from tests.support.minio import MinioServer


def _with_stdin(env: dict[str, str], stdin: str, *args: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def home_env(tmp_path: Path) -> dict[str, str]:
    return {"SOHOA_HOME": str(tmp_path / "home")}


@pytest.fixture(params=BACKENDS)
def acc(request, tmp_path: Path) -> Iterator[AccessDB]:
    """The access tables the commands use: the SQLite file under SOHOA_HOME, or PostgreSQL."""
    db = make_access(request.param, tmp_path, request, path=tmp_path / "home" / "ledger.sqlite3")
    yield db
    db.close()


@pytest.fixture
def access_env(home_env: dict[str, str], acc: AccessDB) -> dict[str, str]:
    return {**home_env, **acc.env}


def test_users_add_passwd_disable_list(access_env, acc: AccessDB):
    home_env = access_env
    added = _with_stdin(home_env, "mat-khau-rat-dai\n", "users", "add", "Lan", "--role", "records")
    assert added.returncode == 0, added.stderr
    assert "mat-khau-rat-dai" not in added.stdout + added.stderr
    assert added.stdout.splitlines()[1].split("\t")[:3] == ["lan", "records", "False"]
    again = _with_stdin(home_env, "mat-khau-rat-dai\n", "users", "add", "lan", "--role", "admin")
    assert again.returncode == 2 and "already exists" in again.stderr
    short = _with_stdin(home_env, "ngan\n", "users", "add", "hoa", "--role", "operator")
    assert short.returncode == 2 and "at least 10" in short.stderr and "ngan" not in short.stderr
    assert _with_stdin(home_env, "", "users", "add", "x", "--role", "boss").returncode == 2
    cfg = load_config(env=home_env)
    users = open_users(cfg)
    assert users.authenticate("lan", "mat-khau-rat-dai", None).ok
    changed = _with_stdin(home_env, "mat-khau-moi-12345\n", "users", "passwd", "lan")
    assert changed.returncode == 0, changed.stderr
    assert users.authenticate("lan", "mat-khau-moi-12345", None).ok
    assert sohoa(home_env, "users", "role", "lan", "operator").returncode == 0
    assert sohoa(home_env, "users", "disable", "lan").returncode == 0
    listed = json_lines(sohoa(home_env, "--json", "users", "list").stdout)
    assert [(u["name"], u["role"], u["disabled"]) for u in listed] == [("lan", "operator", True)]
    assert not users.authenticate("lan", "mat-khau-moi-12345", None).ok
    assert sohoa(home_env, "users", "disable", "nobody").returncode == 2
    dump = acc.dump()
    assert "mat-khau-rat-dai" not in dump and "mat-khau-moi-12345" not in dump
    actions = [r.action for r in open_audit(cfg).query()]
    assert actions == ["user_add", "user_passwd", "user_role", "user_disable"]
    rows = acc.audit().query()
    assert all(r.actor.startswith("cli:") and r.object == "lan" for r in rows)


def test_password_is_never_taken_from_an_argument(home_env):
    result = sohoa(home_env, "users", "add", "lan", "--role", "records", "--password", "x" * 12)
    assert result.returncode == 2  # there is no such option


def test_audit_lists_filters_and_verifies_the_chain(access_env, acc: AccessDB):
    home_env = access_env
    log = acc.audit()
    code = "000.00.13.H38-261120-0001"
    log.append("lan", "search", details={"query": "pham van anh", "hits": 2}, client="10.0.0.5")
    log.append("lan", "pdf_open", f"{code}/{code}.1.pdf", client="10.0.0.5")
    log.append("op", "retry", "d123", details={"documents": ["d123"]})
    rows = json_lines(sohoa(home_env, "--json", "audit", "--user", "lan").stdout)
    assert [r["action"] for r in rows] == ["pdf_open", "search"]  # newest first
    assert rows[1]["details"] == {"query": "pham van anh", "hits": 2}
    rows = json_lines(sohoa(home_env, "--json", "audit", "--dossier", code).stdout)
    assert [(r["actor"], r["action"]) for r in rows] == [("lan", "pdf_open")]
    assert sohoa(home_env, "--json", "audit", "--since", "2999-01-01").stdout == ""
    assert sohoa(home_env, "audit", "--since", "hôm qua").returncode == 2
    plain = sohoa(home_env, "audit")
    assert plain.stdout.splitlines()[0].split("\t")[:4] == ["id", "at", "actor", "action"]

    ok = sohoa(home_env, "audit", "verify")
    assert ok.returncode == 0 and "intact: 3 rows" in ok.stdout
    head = ok.stdout.strip().rsplit(" ", 1)[-1]
    assert sohoa(home_env, "audit", "verify", "--anchor", head).returncode == 0

    with acc.raw() as conn:
        conn.disarm_audit()
        conn.execute('UPDATE audit_log SET details = \'{"query":"x","hits":2}\' WHERE id = 1')
    broken = sohoa(home_env, "--json", "audit", "verify")
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["first_broken_id"] == 1
    assert "broken at row 1" in broken.stderr


def test_audit_rows_cannot_be_changed_by_the_program(access_env, acc: AccessDB):
    open_audit(load_config(env=access_env)).append("lan", "search")
    with acc.raw() as conn:
        for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(acc.refused, match="append-only"):
                conn.execute(sql)
    assert [r.actor for r in acc.audit().query()] == ["lan"]


@pytest.mark.integration
def test_storage_setup_prints_role_keys_once_and_rotates(
    minio_server: MinioServer, sohoa_env: dict[str, str], tmp_path: Path
):
    env = dict(sohoa_env)
    prefix = "t" + tmp_path.name[-6:].lower().replace("_", "")
    first = sohoa(env, "--json", "storage", "setup", "--prefix", prefix)
    assert first.returncode == 0, first.stderr
    keys = {k["role"]: k for k in json_lines(first.stdout)}
    assert set(keys) == {"station", "worker", "web", "operator"}
    assert all(
        set(k) == {"role", "access_key", "secret_key"} and k["secret_key"] for k in keys.values()
    )
    assert minio_server.secret_key not in first.stdout + first.stderr
    root = Minio(
        minio_server.endpoint, minio_server.access_key, minio_server.secret_key, secure=False
    )
    assert root.get_object_lock_config(env["SOHOA_BUCKET_RAW"]).mode == "COMPLIANCE"
    assert root.get_object_lock_config(env["SOHOA_BUCKET_ARCHIVE"]).mode == "GOVERNANCE"

    again = sohoa(env, "--json", "storage", "setup", "--prefix", prefix, "--rotate", "web")
    rows = {k["role"]: k for k in json_lines(again.stdout)}
    assert rows["worker"]["secret_key"] is None
    assert rows["web"]["secret_key"] and rows["web"]["secret_key"] != keys["web"]["secret_key"]
    human = sohoa(env, "storage", "setup", "--prefix", prefix, "--rotate", "station")
    assert "SOHOA_MINIO_ROLE=station" in human.stdout
    assert f"SOHOA_MINIO_ACCESS_KEY={prefix}-station" in human.stdout
    assert "kept" in human.stdout

    worker = {
        **env,
        "SOHOA_MINIO_ACCESS_KEY": keys["worker"]["access_key"],
        "SOHOA_MINIO_SECRET_KEY": keys["worker"]["secret_key"],
    }
    refused = sohoa(worker, "storage", "setup", "--prefix", prefix)
    assert refused.returncode == 5 and "root key" in refused.stderr
    no_env = {k: v for k, v in env.items() if k != "SOHOA_MINIO_SECRET_KEY"}
    conf = tmp_path / "root.yaml"
    conf.write_text(f"minio:\n  secret_key: {minio_server.secret_key}\n", encoding="utf-8")
    import os

    from_file = subprocess.run(
        [sys.executable, "-m", "workers.cli", "storage", "setup", "--config", str(conf)],
        env={k: v for k, v in {**os.environ, **no_env}.items() if k != "SOHOA_MINIO_SECRET_KEY"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert from_file.returncode == 2 and "environment only" in from_file.stderr
    assert sohoa(env, "storage", "setup", "--rotate", "root").returncode == 2
    audit = SqliteAuditLog(load_config(env=env).ledger_path).query(action="storage_setup")
    assert len(audit) == 3
    assert all(k["secret_key"] not in json.dumps([r.details for r in audit]) for k in keys.values())


def test_review_queue_from_the_terminal(home_env):
    from pipeline.storage.ledger import SqliteLedger
    from tests.support.web import _ledger_doc

    cfg = load_config(env=home_env)
    ledger = SqliteLedger(cfg.ledger_path)
    batch = ledger.create_batch("s", "test", "test")
    code = "000.00.13.H38-261125-0004"
    doc_id = _ledger_doc(
        ledger,
        batch,
        "mo.tif",
        "e" * 64,
        "indexed",
        dossier_code=code,
        ordinal=1,
        pages=1,
        pdf_key=f"{code}/{code}.1.pdf",
        review="low OCR quality: page 1",
    )
    listed = json_lines(sohoa(home_env, "--json", "review").stdout)
    assert [(r["document_id"], r["review"]) for r in listed] == [
        (doc_id, "low OCR quality: page 1")
    ]
    assert sohoa(home_env, "review", "--accept").returncode == 2
    accepted = sohoa(home_env, "review", doc_id, "--accept")
    assert accepted.returncode == 0, accepted.stderr
    assert ledger.get_document(doc_id).review is None
    assert sohoa(home_env, "review", doc_id, "--accept").returncode == 2  # nothing to accept
    (row,) = SqliteAuditLog(cfg.ledger_path).query(action="review_accept")
    assert row.dossier == code and row.actor.startswith("cli:")


@pytest.mark.parametrize("role", ["web", "station", "operator"])
def test_sign_pending_needs_the_worker_key(home_env, tmp_path: Path, role: str):
    """Signing archived documents writes new versions into the archive: only the worker key
    may, and any other key is refused before the signer or storage is touched."""
    p12 = tmp_path / "agency.p12"
    p12.write_bytes(b"not read")
    env = {**home_env, "SOHOA_SIGN_PKCS12": str(p12), "SOHOA_MINIO_ROLE": role}
    result = sohoa(env, "sign", "--pending", timeout=120)
    assert result.returncode == 5, result.stderr
    assert "needs the worker key" in result.stderr and f"the {role} key" in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------- who is at the terminal

_IMPOSTOR = {name: "giamdoc" for name in ("LOGNAME", "USER", "LNAME", "USERNAME")}


def _me() -> str:
    import os
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def test_the_cli_actor_is_the_real_os_user_not_an_environment_variable(access_env, acc):
    """``LOGNAME=giamdoc sohoa …`` once wrote ``cli:giamdoc`` into the audit log: the actor
    came from getpass, which believes the environment. Now it is the process's real uid."""
    added = _with_stdin(
        access_env, "mat-khau-rat-dai\n", "users", "add", "victim", "--role", "records"
    )
    assert added.returncode == 0, added.stderr
    forged = {**access_env, **_IMPOSTOR}
    role = sohoa(forged, "users", "role", "victim", "operator")
    assert role.returncode == 0, role.stderr
    search = sohoa(forged, "--json", "search", "giấy phép")
    assert search.returncode == 0, search.stderr
    rows = {r.action: r.actor for r in acc.audit().query()}
    assert rows == {
        "user_add": f"cli:{_me()}",
        "user_role": f"cli:{_me()}",
        "search": f"cli:{_me()}",
    }
    assert "giamdoc" not in json.dumps([r.actor for r in acc.audit().query()])


def test_a_uid_without_a_name_is_its_number(monkeypatch: pytest.MonkeyPatch):
    """A uid with no passwd entry (a container's bare uid) is ``cli:<uid>``, whatever the
    environment claims. (The interpreter lives under /root here, so another uid cannot run
    it: the uid is stood in for, the password database lookup is real.)"""
    import os
    import pwd

    from pipeline.storage.ledger import cli_actor

    uid = 54_321
    while True:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            break
        uid += 1
    for name, value in _IMPOSTOR.items():
        monkeypatch.setenv(name, value)
    assert cli_actor() == f"cli:{_me()}"
    monkeypatch.setattr(os, "getuid", lambda: uid)
    assert cli_actor() == f"cli:{uid}"
