"""Nothing is lost and nothing is archived twice: kill -9 at the worst moments, MinIO going away."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.storage import objects as store
from tests.support.cli import with_quick_watch
from tests.support.files import small_page
from tests.support.minio import MinioServer, new_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CODE = "000.00.13.H38-261127-0042"


def page_bytes(seed: int, path: Path) -> bytes:
    return small_page(seed, path).read_bytes()


def start_watch(env: dict[str, str], crash_at: str | None = None) -> subprocess.Popen:
    full = {**os.environ, **env}
    full.pop("SOHOA_CRASH_AT", None)
    if crash_at:
        full["SOHOA_CRASH_AT"] = crash_at
    # Its own session: a failpoint kills the whole process group, never pytest.
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "--json", "watch", "--once"],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def ledger_states(home: Path) -> dict[str, int]:
    conn = sqlite3.connect(home / "ledger.sqlite3")
    try:
        return dict(conn.execute("SELECT state, COUNT(*) FROM documents GROUP BY state").fetchall())
    except sqlite3.OperationalError:  # polled while the watcher is still creating the schema
        return {}
    finally:
        conn.close()


@pytest.fixture
def env(sohoa_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return with_quick_watch(sohoa_env, tmp_path, stable_seconds=1, retry_seconds=4)


def assert_archived_exactly_once(env: dict[str, str], shas: set[str]) -> None:
    cfg = load_config(env=env)
    st = store.connect(cfg)
    everything = list(st.list_keys(st.archive_bucket))
    markers = {k for k in everything if k.startswith("sources/")}
    assert markers == {f"sources/sha256/{sha}.json" for sha in shas}, "one source marker each"
    keys = [k for k in everything if k not in markers]
    pdfs = [k for k in keys if k.endswith(".pdf")]
    metas = [k for k in keys if k.endswith(".json") and not k.endswith(".words.json")]
    assert len(pdfs) == len(shas) and len(metas) == len(shas), keys
    assert len([k for k in keys if k.endswith(".txt")]) == len(shas)
    ordinals = sorted(int(k.rsplit(".", 2)[-2]) for k in metas)
    assert ordinals == list(range(1, len(shas) + 1)), "numbering has no gaps and no repeats"
    archived = {json.loads(st.get_bytes(st.archive_bucket, k))["source"]["sha256"] for k in metas}
    assert archived == shas
    for sha in shas:  # every original is in raw, byte-identical by its content address
        assert hashlib.sha256(st.get_bytes(st.raw_bucket, f"sha256/{sha}")).hexdigest() == sha
    states = ledger_states(cfg.home)
    assert states.get("indexed") == len(shas), states
    assert not set(states) & {"received", "stored_raw", "processing", "failed"}, states
    assert not any(cfg.spool_dir.iterdir()), "spool must be empty once everything is archived"
    assert not any(cfg.tmp_dir.iterdir()), "no temporary files left"
    assert not [p for p in cfg.inbox.rglob("*") if p.is_file()]


def test_kill_9_at_every_stage_then_restart(env: dict[str, str], tmp_path: Path) -> None:
    folder = Path(env["SOHOA_INBOX"]) / "motcua-01" / CODE
    folder.mkdir(parents=True)
    shas = {
        hashlib.sha256(page_bytes(200 + i, folder / f"trang-{i:02d}.png")).hexdigest()
        for i in range(20)
    }
    crashes = [
        "before_raw_upload:5",
        "after_raw_upload:3",
        "after_spool:4",
        "during_ocr:3",
        "after_archive_upload:2",
    ]
    for point in crashes:
        proc = start_watch(env, point)
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == -9, f"{point}: expected SIGKILL, got {proc.returncode}\n{err}"
    final = start_watch(env)
    _out, err = final.communicate(timeout=600)
    assert final.returncode == 0, err
    assert_archived_exactly_once(env, shas)


def _restartable(server: MinioServer) -> MinioServer:
    return MinioServer(server.data_dir, server.port, server.access_key, server.secret_key)


def test_minio_outage_mid_batch(tmp_path: Path) -> None:
    server = new_server(tmp_path / "own-minio")
    server.start()
    try:
        home = tmp_path / "home"
        conf = tmp_path / "c.yaml"
        conf.write_text(
            "watch:\n  stable_seconds: 1\n  rescan_seconds: 1\n"
            "minio:\n  retry_seconds: 3\n  connect_timeout: 1\n",
            encoding="utf-8",
        )
        env = {
            **server.env(),
            "SOHOA_HOME": str(home),
            "SOHOA_INBOX": str(tmp_path / "inbox"),
            "SOHOA_CONFIG": str(conf),
        }
        folder = tmp_path / "inbox" / "motcua-02" / CODE
        folder.mkdir(parents=True)
        shas = {
            hashlib.sha256(page_bytes(300 + i, folder / f"p{i:02d}.png")).hexdigest()
            for i in range(8)
        }
        proc = start_watch(env)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if (home / "ledger.sqlite3").exists() and ledger_states(home).get("indexed", 0) >= 1:
                break
            time.sleep(0.2)
        server.stop()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 4, err
        assert "unreachable" in err
        states = ledger_states(home)
        assert sum(states.values()) <= 8 and "failed" not in states, states
        # Everything not archived is still on local disk: in the inbox or the spool.
        local = len([p for p in (tmp_path / "inbox").rglob("*") if p.is_file()])
        spooled = len(list((home / "spool").iterdir())) if (home / "spool").exists() else 0
        assert local + spooled + states.get("indexed", 0) == 8, (local, spooled, states)

        server = _restartable(server)
        server.start()
        again = start_watch(env)
        _out, err = again.communicate(timeout=600)
        assert again.returncode == 0, err
        assert_archived_exactly_once(env, shas)
    finally:
        server.stop()


def test_long_running_watcher_waits_out_an_outage(tmp_path: Path) -> None:
    """`sohoa watch` (a service) keeps waiting for MinIO instead of exiting; SIGTERM stops it."""
    from tests.support.minio import free_port

    conf = tmp_path / "c.yaml"
    conf.write_text(
        "watch:\n  rescan_seconds: 1\nminio:\n  retry_seconds: 1\n  connect_timeout: 1\n",
        encoding="utf-8",
    )
    env = {
        "SOHOA_HOME": str(tmp_path / "home"),
        "SOHOA_INBOX": str(tmp_path / "inbox"),
        "SOHOA_CONFIG": str(conf),
        "SOHOA_MINIO_ENDPOINT": f"127.0.0.1:{free_port()}",
        "SOHOA_MINIO_ACCESS_KEY": "k",
        "SOHOA_MINIO_SECRET_KEY": "s",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "watch"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(6)
    assert proc.poll() is None, "the watcher must not exit while MinIO is down"
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "unreachable" in err and "retrying" in err
