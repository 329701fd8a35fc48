"""An office on one machine for tests: watchers and Celery workers as real `sohoa` processes.

Each process gets its own ``SOHOA_HOME`` (as separate machines would have) and
shares MinIO, PostgreSQL and Redis, all real servers started by the fixtures.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
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
  lease_seconds: {lease}
broker:
  visibility_timeout: {visibility}
database:
  retry_seconds: 90
"""


def office_env(
    base: dict[str, str],
    tmp: Path,
    *,
    database_url: str,
    broker_url: str,
    lease: float = 20,
    visibility: float = 10,
    minio_retry: float = 30,
) -> dict[str, str]:
    """``base`` (MinIO keys, buckets) plus the office's shared database, broker and settings."""
    conf = tmp / "office.yaml"
    conf.write_text(
        QUICK.format(lease=lease, visibility=visibility, minio_retry=minio_retry), encoding="utf-8"
    )
    env = {k: v for k, v in base.items() if k not in ("SOHOA_HOME", "SOHOA_INBOX")}
    env.update(
        SOHOA_CONFIG=str(conf),
        SOHOA_EXECUTOR="celery",
        SOHOA_DATABASE_URL=database_url,
        SOHOA_BROKER_URL=broker_url,
    )
    return env


def host(env: dict[str, str], root: Path, name: str) -> dict[str, str]:
    """The environment of one "machine": its own home and inbox."""
    return {**env, "SOHOA_HOME": str(root / name / "home"), "SOHOA_INBOX": str(root / name / "in")}


def start(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.Popen:
    """`sohoa ARGS` in its own session (so a kill reaches its children, never pytest)."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", *args],
        env={**os.environ, "SOHOA_WORKER_LOGLEVEL": "INFO", **env},
        stdout=out,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        start_new_session=True,
    )


def start_worker(
    env: dict[str, str], concurrency: int = 1, documents: int = 2, log: Path | None = None
) -> subprocess.Popen:
    return start(
        env,
        "worker",
        "--concurrency",
        str(concurrency),
        "--documents",
        str(documents),
        log=log,
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
    assert not left, f"page results are cleared once archived: {left}"


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
