"""The broker's users (issue 20, item 1): a Redis ACL file from `sohoa broker setup`, in force
on a real Redis: the workers' user runs Celery page tasks, nobody else gets anything."""

from __future__ import annotations

import hashlib
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support import office
from tests.support import redis as rd
from tests.support.cli import json_lines, sohoa
from tests.support.minio import free_port
from tests.support.watch import CODE, tiny_page

pytestmark = pytest.mark.integration


def broker_setup(acl: Path, port: int, *args: str) -> list[dict]:
    result = sohoa(
        {}, "--json", "broker", "setup", "--acl-file", str(acl),
        "--url", f"redis://127.0.0.1:{port}/0", *args, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json_lines(result.stdout)


@pytest.fixture
def acl_redis() -> Iterator[tuple[rd.RedisServer, dict]]:
    """A Redis that reads its users from the file `broker setup` wrote, and the worker's login."""
    if not rd.available():
        pytest.fail("redis-server is not installed: run SOHOA_SETUP_TEST=1 scripts/setup.sh")
    root = Path(tempfile.mkdtemp(prefix="sohoa-redis-acl-"))  # short: a socket lives there
    server = None
    try:
        port = free_port()
        (login,) = broker_setup(root / "users.acl", port)
        server = rd.RedisServer(
            root=root / "data",
            port=port,
            aclfile=root / "users.acl",
            user=login["user"],
            password=login["password"],
        )
        server.start()
        yield server, login
    finally:
        if server is not None:
            server.remove()
        shutil.rmtree(root, ignore_errors=True)


def test_setup_writes_the_default_user_off_and_the_worker_by_hash_only(tmp_path):
    acl = tmp_path / "users.acl"
    (first,) = broker_setup(acl, 6379)
    assert acl.stat().st_mode & 0o777 == 0o640
    with acl.open("a") as fh:
        fh.write("user ops on #" + "ab" * 32 + " ~* +@all\n")  # the administrator's own
    acl.chmod(0o600)
    (login,) = broker_setup(acl, 6379, "--rotate", "all")
    assert login["role"] == "worker" and login["user"] == "sohoa-worker"
    assert first["status"] == "created" and login["status"] == "rotated"
    assert len(login["password"]) >= 32 and login["password"] != first["password"]
    assert login["url"] == f"redis://sohoa-worker:{login['password']}@127.0.0.1:6379/0"
    text = acl.read_text()
    digest = hashlib.sha256(login["password"].encode()).hexdigest()
    assert login["password"] not in text and f"#{digest}" in text
    assert "user default off" in text and "user ops on #" + "ab" * 32 in text
    assert acl.stat().st_mode & 0o777 == 0o600  # the administrator's choice is kept
    # Again: kept; then a rotation replaces the hash.
    (again,) = broker_setup(acl, 6379)
    assert again["status"] == "kept" and again["password"] is None and acl.read_text() == text
    (rotated,) = broker_setup(acl, 6379, "--rotate", "worker")
    assert rotated["status"] == "rotated" and f"#{digest}" not in acl.read_text()
    human = sohoa({}, "broker", "setup", "--acl-file", str(acl), "--url", "redis://h:1/0")
    assert "sohoa-worker kept" in human.stdout and "SOHOA_BROKER_URL" not in human.stdout


def test_without_the_workers_credentials_redis_refuses_everything(acl_redis):
    server, login = acl_redis
    address = f"redis://127.0.0.1:{server.port}/0"
    attempts = {
        "no credentials": address,
        "the old style (default user, a password)": f"redis://:{login['password']}@127.0.0.1:{server.port}/0",
        "the default user by name": f"redis://default:{login['password']}@127.0.0.1:{server.port}/0",
        "the worker, a wrong password": f"redis://sohoa-worker:wrong@127.0.0.1:{server.port}/0",
        "a user that does not exist": f"redis://sohoa-web:{login['password']}@127.0.0.1:{server.port}/0",
    }  # fmt: skip
    for what, url in attempts.items():
        client = redis.Redis.from_url(url, socket_timeout=5)
        with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ResponseError)):
            client.ping()
            pytest.fail(f"{what}: PING answered")
        client.close()
    worker = redis.Redis.from_url(login["url"], socket_timeout=5)
    assert worker.ping()
    for command in (("FLUSHALL",), ("CONFIG", "GET", "*"), ("ACL", "LIST"), ("KEYS", "*")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            worker.execute_command(*command)
    worker.close()


def test_the_worker_user_runs_celery_page_tasks(acl_redis, sohoa_env, tmp_path):
    """A real round trip through the ACL: `process` sends page tasks, `sohoa worker` runs them."""
    _, login = acl_redis
    env = {**sohoa_env, "SOHOA_EXECUTOR": "celery", "SOHOA_BROKER_URL": login["url"]}
    page = tmp_path / "don.png"
    tiny_page(page, 21)
    worker = office.start_worker(
        office.host(env, tmp_path, "worker"), concurrency=1, documents=0, log=tmp_path / "w.log"
    )
    try:
        done = sohoa(env, "--json", "process", str(page), "--dossier", CODE, timeout=600)
    finally:
        office.kill(worker, signal.SIGTERM)
    assert done.returncode == 0, done.stderr + (tmp_path / "w.log").read_text()[-3000:]
    (row,) = json_lines(done.stdout)
    assert row["status"] == "indexed" and row["pdf_key"] == f"{CODE}/{CODE}.1.pdf"
    log = (tmp_path / "w.log").read_text()
    assert "Task sohoa.page[" in log and "succeeded" in log  # the page went through Redis


def test_a_rotated_password_replaces_the_old_one_at_the_next_start(acl_redis):
    server, login = acl_redis
    (rotated,) = broker_setup(server.aclfile, server.port, "--rotate", "worker")
    server.stop()
    server.password = rotated["password"]
    server.start()
    old, new = (redis.Redis.from_url(x["url"], socket_timeout=5) for x in (login, rotated))
    with pytest.raises(redis.exceptions.AuthenticationError):
        old.ping()
    assert new.ping()
    old.close()
    new.close()
