"""An office on one machine for tests: watchers and Celery workers as real `sohoa` processes.

Each process gets its own ``SOHOA_HOME`` (as separate machines would have) and
shares MinIO, PostgreSQL and Redis, all real servers started by the fixtures.
Every machine holds its own role's key, as an office deploys it: ``sohoa storage
setup`` runs once with the root key (:func:`setup_keys`), then stations get the
station key and nothing else (no database, no broker: :func:`station`), workers
and the desk the worker key with the database's worker role (``sohoa database
setup``: :func:`database_roles`) and the broker URL (:func:`host`); the multi-host
test also gives the broker an ACL file (:func:`broker_login`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.config import load_config
from pipeline.storage import objects as store
from pipeline.storage.ledger import open_ledger

QUICK = """\
watch:
  stable_seconds: 1
  rescan_seconds: 1
minio:
  retry_seconds: {minio_retry}
  connect_timeout: 2
run:
  pickup_seconds: 2
  sweep_seconds: 5
{lease}broker:
  visibility_timeout: {visibility}
database:
  retry_seconds: 90
"""
# Where office_env keeps the station key for station(); never given to another machine.
_STATION_ACCESS, _STATION_SECRET = "SOHOA_TEST_STATION_ACCESS", "SOHOA_TEST_STATION_SECRET"
_SHARED = ("SOHOA_DATABASE_URL", "SOHOA_BROKER_URL", "SOHOA_EXECUTOR")


def setup_keys(base: dict[str, str], tmp: Path, run=None) -> dict[str, dict[str, str]]:
    """`sohoa --json storage setup` with the root key in ``base``, once: each role's key.

    ``run`` runs the command (a host's ``subprocess.run``); the keys are named with a
    prefix of their own, so tests sharing one MinIO never share keys.
    """
    import secrets

    argv = [sys.executable, "-m", "workers.cli", "--json", "storage", "setup"]
    argv += ["--prefix", f"t{secrets.token_hex(3)}"]
    env = {**os.environ, **base, "SOHOA_HOME": str(tmp / "admin-home")}
    done = (run or subprocess.run)(argv, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    keys = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    return {
        k["role"]: {
            "SOHOA_MINIO_ACCESS_KEY": k["access_key"],
            "SOHOA_MINIO_SECRET_KEY": k["secret_key"],
        }
        for k in keys
    }


def database_roles(owner_url: str, tmp: Path, run=None) -> dict[str, str]:
    """`sohoa --json database setup` with the database owner's URL, once: each role's URL.

    What the office's administrator does after ``createdb --owner``; ``run`` runs the
    command (a host's ``subprocess.run``). Every machine then gets its own role's URL.
    """
    argv = [sys.executable, "-m", "workers.cli", "--json", "database", "setup"]
    env = {**os.environ, "SOHOA_DATABASE_URL": owner_url, "SOHOA_HOME": str(tmp / "db-admin")}
    done = (run or subprocess.run)(argv, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return {
        r["role"]: r["url"]
        for r in (json.loads(x) for x in done.stdout.splitlines() if x.startswith("{"))
    }


def broker_login(acl: Path, url: str) -> dict[str, str]:
    """`sohoa --json broker setup` writing the Redis ACL file ``acl`` for a server at ``url``
    (``redis://host:port/db``): the workers' login (``user``, ``password``, ``url``)."""
    argv = [sys.executable, "-m", "workers.cli", "--json", "broker", "setup"]
    argv += ["--acl-file", str(acl), "--url", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (login,) = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    return login


def office_env(
    base: dict[str, str],
    tmp: Path,
    *,
    database_url: str,
    broker_url: str,
    lease: float | None = 20,
    visibility: float = 10,
    minio_retry: float = 30,
    keys: dict[str, dict[str, str]] | None = None,
) -> dict[str, str]:
    """The environment of a worker (worker key, the office's database, broker and settings),
    from ``base`` (the root key, buckets), after setting up the role keys with it.

    ``lease`` None keeps the default ``run.lease_seconds``.
    """
    conf = tmp / "office.yaml"
    conf.write_text(
        QUICK.format(
            lease="" if lease is None else f"  lease_seconds: {lease}\n",
            visibility=visibility,
            minio_retry=minio_retry,
        ),
        encoding="utf-8",
    )
    keys = keys or setup_keys(base, tmp)
    env = {k: v for k, v in base.items() if k not in ("SOHOA_HOME", "SOHOA_INBOX")}
    env.update(
        keys["worker"],
        SOHOA_MINIO_ROLE="worker",
        SOHOA_CONFIG=str(conf),
        SOHOA_EXECUTOR="celery",
        SOHOA_DATABASE_URL=database_url,
        SOHOA_BROKER_URL=broker_url,
    )
    env[_STATION_ACCESS] = keys["station"]["SOHOA_MINIO_ACCESS_KEY"]
    env[_STATION_SECRET] = keys["station"]["SOHOA_MINIO_SECRET_KEY"]
    return env


def host(env: dict[str, str], root: Path, name: str) -> dict[str, str]:
    """The environment of one worker or desk "machine": its own home and inbox."""
    own = {k: v for k, v in env.items() if k not in (_STATION_ACCESS, _STATION_SECRET)}
    return {**own, "SOHOA_HOME": str(root / name / "home"), "SOHOA_INBOX": str(root / name / "in")}


def station(env: dict[str, str], root: Path, name: str) -> dict[str, str]:
    """A scanner station: the station key, its home and inbox; no database, no broker."""
    own = {k: v for k, v in host(env, root, name).items() if k not in _SHARED}
    own.update(
        SOHOA_MINIO_ROLE="station",
        SOHOA_MINIO_ACCESS_KEY=env[_STATION_ACCESS],
        SOHOA_MINIO_SECRET_KEY=env[_STATION_SECRET],
    )
    return own


def wait_indexed(env: dict[str, str], count: int, timeout: float = 600) -> None:
    """Until ``count`` documents of the office's ledger are indexed (stations' `watch --once`
    ends once it has handed its files over; the workers finish them after)."""
    wait_for(lambda: states(env).get("indexed", 0) >= count, timeout, f"{count} indexed")


def named(hostname: str | None) -> list[str]:
    """The prefix that runs a command under a host name of its own (a UTS namespace), so
    leases are judged as between machines; [] where namespaces cannot be made (then the
    same host judges its own processes exactly, which the tests accept too)."""
    if not hostname or shutil.which("unshare") is None:
        return []
    probe = subprocess.run(["unshare", "--uts", "true"], capture_output=True)
    if probe.returncode != 0:
        return []
    return ["unshare", "--uts", "sh", "-c", f'hostname {hostname} && exec "$@"', hostname]


def start(
    env: dict[str, str], *args: str, log: Path | None = None, hostname: str | None = None
) -> subprocess.Popen:
    """`sohoa ARGS` in its own session (so a kill reaches its children, never pytest)."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [*named(hostname), sys.executable, "-m", "workers.cli", *args],
        env={**os.environ, "SOHOA_WORKER_LOGLEVEL": "INFO", **env},
        stdout=out,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        start_new_session=True,
    )


def start_worker(
    env: dict[str, str],
    concurrency: int = 1,
    documents: int = 2,
    log: Path | None = None,
    hostname: str | None = None,
) -> subprocess.Popen:
    return start(
        env,
        "worker",
        "--concurrency",
        str(concurrency),
        "--documents",
        str(documents),
        log=log,
        hostname=hostname,
    )


def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal the whole process group (a worker and its pool processes)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if sig != signal.SIGKILL:  # make sure no pool process outlives its parent
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def states(env: dict[str, str]) -> dict[str, int]:
    cfg = load_config(env=env)
    ledger = open_ledger(cfg)
    try:
        out: dict[str, int] = {}
        for doc in ledger.find_documents():
            out[doc.state] = out.get(doc.state, 0) + 1
        return out
    finally:
        ledger.close()


def wait_for(predicate, timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def sha_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def archive_report(env: dict[str, str], shas: set[str], code: str) -> dict[str, int]:
    """Count files, archived, duplicates and lost against the archive bucket itself."""
    cfg = load_config(env=env)
    st = store.connect(cfg)
    metas = [
        k
        for k in st.list_keys(st.archive_bucket, f"{code}/")
        if k.endswith(".json") and not k.endswith(".words.json") and not k.startswith("sources/")
    ]
    archived = [json.loads(st.get_bytes(st.archive_bucket, k))["source"]["sha256"] for k in metas]
    ordinals = sorted(int(k.rsplit(".", 2)[-2]) for k in metas)
    return {
        "files": len(shas),
        "archived": len(set(archived) & shas),
        "duplicates": len(archived) - len(set(archived)),
        "lost": len(shas - set(archived)),
        "gap_free": int(ordinals == list(range(1, len(ordinals) + 1))),
    }


def assert_office_archived_once(env: dict[str, str], shas: set[str], code: str) -> None:
    report = archive_report(env, shas, code)
    assert report == {
        "files": len(shas),
        "archived": len(shas),
        "duplicates": 0,
        "lost": 0,
        "gap_free": 1,
    }, report
    cfg = load_config(env=env)
    ledger = open_ledger(cfg)
    try:
        docs = [d for d in ledger.find_documents() if d.sha256 in shas and d.state == "indexed"]
        assert sorted(d.sha256 for d in docs) == sorted(shas)
        assert sorted(d.ordinal for d in docs) == list(range(1, len(shas) + 1))
    finally:
        ledger.close()
    st = store.connect(cfg)
    left = list(st.list_keys(st.work_bucket))
    if left:
        # A run cut off while another machine took its document over may store a page
        # after the taker cleared the folder; every worker sweeps such pages within
        # run.sweep_seconds. Workers may be stopped by now, so sweep once as they would.
        print(f"left in the work bucket before a sweep: {left}", file=sys.stderr)
        _sweep(cfg, st)
        left = list(st.list_keys(st.work_bucket))
    assert not left, f"page results are cleared once archived and swept: {left}"


def _sweep(cfg, st) -> None:
    """One pass of what a worker's Pickup does every ``run.sweep_seconds``."""
    from types import SimpleNamespace

    from pipeline.flow.recover import sweep_work
    from pipeline.storage.work import ObjectWork

    ledger = open_ledger(cfg)
    try:
        sweep_work(SimpleNamespace(cfg=cfg, ledger=ledger, work=ObjectWork(st)))
    finally:
        ledger.close()


def redis_dump(broker_url: str) -> str:
    """Everything in the broker's Redis database as text, task bodies decoded (for inspection)."""
    import redis

    client = redis.Redis.from_url(broker_url)
    texts: list[str] = []
    for key in client.keys("*"):
        kind = client.type(key).decode()
        if kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "hash":
            values = [v for kv in client.hgetall(key).items() for v in kv]
        elif kind == "zset":
            values = client.zrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        else:
            values = [client.get(key) or b""]
        texts.append(key.decode("utf-8", "replace"))
        for value in values:
            text = value.decode("utf-8", "replace")
            texts.append(text)
            try:
                body = json.loads(text)
                body = body.get("body") if isinstance(body, dict) else None
                if isinstance(body, str):
                    texts.append(base64.b64decode(body).decode("utf-8", "replace"))
            except ValueError:
                pass
    client.close()
    return "\n".join(texts)
