"""Slow writers (issue 9 item 1): a file is taken only once its bytes are final, never lost.

Scanners on SMB shares create the file, hold it at 0 bytes while they scan, then
write it; copies pause mid-file. Each test plays such a writer against a real
`sohoa watch` and a real MinIO, and checks that the complete file is archived and
that nothing empty (or partial) ends up in raw.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.storage import objects as store
from tests.support.watch import CODE, Watch, page_bytes, quick_env, tiny_page

pytestmark = pytest.mark.integration

EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def raw_objects(env: dict[str, str]) -> dict[str, bytes]:
    st = store.connect(load_config(env=env))
    return {k: st.get_bytes(st.raw_bucket, k) for k in st.list_keys(st.raw_bucket)}


def assert_only_complete_in_raw(env: dict[str, str], data: bytes) -> None:
    raw = raw_objects(env)
    assert raw == {f"sha256/{hashlib.sha256(data).hexdigest()}": data}, sorted(raw)


def writer(path: Path, data: bytes, *, hold_empty: float = 0, pause_at: float = 0, pause=0.0):
    """Open ``path``, keep it at 0 bytes for ``hold_empty`` s, write ``data`` with one pause."""

    def run() -> None:
        with open(path, "wb") as fh:
            time.sleep(hold_empty)
            cut = int(len(data) * pause_at)
            fh.write(data[:cut])
            fh.flush()
            os.fsync(fh.fileno())
            time.sleep(pause)
            fh.write(data[cut:])
            fh.flush()
            os.fsync(fh.fileno())

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_scanner_holding_an_empty_file_open_is_waited_for(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    """Held open at 0 bytes for 3x stable_seconds, then written: the full file is archived."""
    env = quick_env(sohoa_env, tmp_path)
    target = Path(env["SOHOA_INBOX"]) / "motcua-01" / CODE / "quet.png"
    target.parent.mkdir(parents=True)
    data = page_bytes(1)
    thread = writer(target, data, hold_empty=3.0)
    time.sleep(0.3)
    with Watch(env, "--once") as watch:
        assert watch.wait(120) == 0, watch.stderr
    thread.join()
    (doc,) = watch.docs
    assert doc["status"] == "indexed", (doc, watch.stderr)
    assert_only_complete_in_raw(env, data)


def test_writer_pausing_mid_file_is_waited_for(sohoa_env: dict[str, str], tmp_path: Path) -> None:
    """Half the file, a pause of 3x stable_seconds with the file still open, then the rest."""
    env = quick_env(sohoa_env, tmp_path)
    target = Path(env["SOHOA_INBOX"]) / "motcua-01" / CODE / "cham.png"
    target.parent.mkdir(parents=True)
    data = page_bytes(2)
    thread = writer(target, data, pause_at=0.5, pause=3.0)
    time.sleep(0.3)
    with Watch(env, "--once") as watch:
        assert watch.wait(120) == 0, watch.stderr
    thread.join()
    (doc,) = watch.docs
    assert doc["status"] == "indexed", (doc, watch.stderr)
    assert_only_complete_in_raw(env, data)


def test_empty_file_written_later_waits_even_unseen(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    """A writer the watcher cannot see (another machine): created empty, closed, written later.

    With the open-file check off, only the rule "an empty file is not taken" protects it.
    """
    env = quick_env(sohoa_env, tmp_path, check_open_writers=False)
    target = Path(env["SOHOA_INBOX"]) / "motcua-01" / CODE / "sau.png"
    target.parent.mkdir(parents=True)
    target.touch()
    data = page_bytes(3)
    with Watch(env) as watch:
        time.sleep(3.5)  # several stability windows at 0 bytes
        assert not watch.docs, watch.docs
        target.write_bytes(data)
        watch.wait_for(lambda: watch.docs, 120, "the written file to settle")
        watch.stop()
    (doc,) = watch.docs
    assert doc["status"] == "indexed", (doc, watch.stderr)
    assert_only_complete_in_raw(env, data)


def test_empty_file_is_rejected_only_after_the_empty_timeout(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    """An empty file nobody writes is rejected after watch.empty_timeout_seconds, by name."""
    env = quick_env(sohoa_env, tmp_path, empty_timeout_seconds=4, check_open_writers=False)
    target = Path(env["SOHOA_INBOX"]) / "motcua-01" / "rong.pdf"
    target.parent.mkdir(parents=True)
    target.touch()
    started = time.monotonic()
    with Watch(env) as watch:
        watch.wait_for(lambda: watch.docs, 60, "the empty file to be rejected")
        waited = time.monotonic() - started
        watch.stop()
    (doc,) = watch.docs
    assert waited >= 4, f"taken after {waited:.1f} s"
    assert doc["status"] == "rejected" and "empty file" in doc["error"], doc
    assert "rong.pdf" in watch.stderr
    assert not target.exists()


def test_once_leaves_a_fresh_empty_file_and_rejects_an_old_one(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    """`watch --once` does not wait an hour: a fresh empty file stays (and says why); one that
    has been empty for longer than the timeout (by its mtime) is rejected at once."""
    env = quick_env(sohoa_env, tmp_path, empty_timeout_seconds=3600)
    station = Path(env["SOHOA_INBOX"]) / "motcua-01"
    station.mkdir(parents=True)
    fresh, old = station / "moi.pdf", station / "cu.pdf"
    fresh.touch()
    old.touch()
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    good = tiny_page(station / f"{CODE}__tot.png", 4)
    with Watch(env, "--once") as watch:
        assert watch.wait(120) == 3, watch.stderr  # input rejected
    by_status = sorted(d["status"] for d in watch.docs)
    assert by_status == ["indexed", "rejected"], watch.docs
    assert fresh.exists() and not old.exists()
    assert "moi.pdf" in watch.stderr and "empty" in watch.stderr
    assert raw_objects(env)[f"sha256/{hashlib.sha256(good).hexdigest()}"] == good
