"""Private files: what sohoa keeps under SOHOA_HOME is for its own account, whatever the umask.

Each test runs the real ``sohoa`` command in a child whose umask is 022 (Debian's
default), with its own empty TMPDIR, then looks at every file and folder under
SOHOA_HOME: none may be readable, writable or searchable by group or others, and no
temporary folder (multiprocessing's ``pymp-*`` among them) may be left behind, in
the home or in TMPDIR.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipeline.private import private_file
from samples import generate
from tests.support.cli import json_lines, sohoa
from tests.support.minio import MinioServer, free_port
from tests.support.redis import RedisServer
from tests.support.web import role_env, setup_roles

pytestmark = [pytest.mark.integration]


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """Children started inside inherit ``mask``, as from a login shell under Debian."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def home() -> Iterator[Path]:
    """A short SOHOA_HOME (a Unix socket's path under it must fit in 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="sohoa-priv-", dir="/tmp"))
    try:
        yield folder / "home"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def open_entries(root: Path) -> list[str]:
    """Entries under ``root`` (itself included) that group or others have any bit on."""
    found = []
    for entry in [root, *root.rglob("*")]:
        mode = os.lstat(entry).st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{stat.S_IMODE(mode):o} {entry}")
    return found


def env_for(home: Path, tmp: Path, server: MinioServer) -> dict[str, str]:
    tmp.mkdir(exist_ok=True)
    return {
        **server.env(),
        "SOHOA_HOME": str(home),
        "SOHOA_INBOX": str(home.parent / "inbox"),
        "SOHOA_BUCKET_RAW": f"raw-{home.parent.name.lower()}"[-40:].replace("_", "-"),
        "SOHOA_BUCKET_ARCHIVE": f"arc-{home.parent.name.lower()}"[-40:].replace("_", "-"),
        "SOHOA_BUCKET_WORK": f"work-{home.parent.name.lower()}"[-40:].replace("_", "-"),
        "TMPDIR": str(tmp),
    }


def test_a_fresh_home_under_umask_022_is_private(
    home: Path, tmp_path: Path, minio_server: MinioServer
) -> None:
    page = generate.render_page("application", seed=3, dpi=200)
    source = tmp_path / "don.png"
    page.image.crop((0, 0, page.image.width, page.image.height // 4)).save(source, dpi=(200, 200))
    env = env_for(home, tmp_path / "sys-tmp", minio_server)
    with umask(0o022):
        done = sohoa(
            env, "--json", "process", str(source), "--dossier", "000.00.13.H38-261127-0001"
        )
    (row,) = json_lines(done.stdout)
    assert row["status"] == "indexed", done.stderr
    assert open_entries(home) == []
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("ledger.sqlite3", "index.sqlite3"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    assert list((home / "tmp").iterdir()) == [], "this process's temporary folder is removed"
    assert list((tmp_path / "sys-tmp").iterdir()) == [], "nothing written to the system's temp"


def test_serve_under_umask_022_keeps_the_home_private(
    home: Path, tmp_path: Path, minio_server: MinioServer
) -> None:
    env = env_for(home, tmp_path / "sys-tmp", minio_server)
    web = role_env(env, setup_roles(minio_server, env), "web")
    port = free_port()
    with umask(0o022):
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "serve", "--port", str(port)],
            env={**os.environ, **web},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        for _ in range(300):
            if proc.poll() is not None or _answers(port):
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (home / "web-secret").exists()
    assert open_entries(home) == []
    # uvicorn ends itself with the SIGTERM it caught, past Python's exit handlers: its
    # temporary folder is private meanwhile, and the next start removes it.
    assert sohoa(env, "config").returncode == 0
    assert list((home / "tmp").iterdir()) == []


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def test_an_open_home_from_before_is_tightened_with_one_line(home: Path, tmp_path: Path) -> None:
    with umask(0o022):
        (home / "spool").mkdir(parents=True)
        (home / "spool" / "d1").write_bytes(b"%PDF-1.7 a citizen's original")
        (home / "cache" / "web").mkdir(parents=True)
        (home / "cache" / "web" / "p1.png").write_bytes(b"a page image")
        with sqlite3.connect(home / "ledger.sqlite3") as conn:
            conn.execute("CREATE TABLE t(x)")
        outside = tmp_path / "elsewhere.txt"
        outside.write_text("not sohoa's", encoding="utf-8")
        (home / "link").symlink_to(outside)
    assert len(open_entries(home)) == 7
    env = {"SOHOA_HOME": str(home), "SOHOA_INBOX": str(tmp_path / "inbox")}
    first = sohoa(env, "batches")
    assert first.returncode == 0, first.stderr
    said = [line for line in first.stderr.splitlines() if "private" in line]
    assert len(said) == 1 and said[0].startswith("made 7 files and folders under"), first.stderr
    assert open_entries(home) == []
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644, "a link is not followed"
    again = sohoa(env, "batches")
    assert "private" not in again.stderr


def test_private_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    with umask(0o022):
        db = private_file(tmp_path / "new" / "index.sqlite3")
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE t(x)")
            conn.execute("INSERT INTO t VALUES ('Nguyễn Văn A, 001099000001')")
            journals = [p for p in db.parent.iterdir() if p != db]
            assert journals, "WAL files exist while the connection is open"
            assert open_entries(db.parent) == []
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def _pymp(root: Path) -> list[Path]:
    return sorted(root.rglob("pymp-*"))


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with umask(0o022), open(log, "w", encoding="utf-8") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker", "--concurrency", "1"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def _wait_until_ready(proc: subprocess.Popen, log: Path, *roots: Path) -> list[Path]:
    """The pool's multiprocessing folders, once both consumers (pages, documents) say
    they are ready: a process signalled before it handles signals cannot clean up."""
    for _ in range(900):
        found = [p for root in roots for p in _pymp(root)]
        ready = log.read_text(encoding="utf-8", errors="replace").count(" ready.")
        if (found and ready >= 2) or proc.poll() is not None:
            return found
        time.sleep(0.1)
    return []


def _wait_gone(group: int) -> None:
    """Until every process of the group is reaped (a zombie still counts as running)."""
    for _ in range(300):
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


@pytest.mark.slow
def test_multiprocessing_folders_live_in_the_home_and_go_with_the_process(
    home: Path, tmp_path: Path, minio_server: MinioServer, redis_server: RedisServer
) -> None:
    sys_tmp = tmp_path / "sys-tmp"
    env = {
        **env_for(home, sys_tmp, minio_server),
        "SOHOA_EXECUTOR": "celery",
        "SOHOA_BROKER_URL": redis_server.url(7),
        "SOHOA_WORKER_LOGLEVEL": "INFO",  # each consumer then says "... ready."
    }
    # A worker stopped as a service manager stops it: its folders go with it.
    log = tmp_path / "worker.log"
    proc = _start_worker(env, log)
    try:
        found = _wait_until_ready(proc, log, home, sys_tmp)
        assert found, log.read_text(encoding="utf-8", errors="replace")
        assert all(p.is_relative_to(home / "tmp") for p in found), found
        assert open_entries(home) == []
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=90)
    assert list((home / "tmp").iterdir()) == []
    # A worker killed outright cannot clean up: what it left is private, and the next
    # sohoa command removes it.
    proc = _start_worker(env, log)
    try:
        assert _wait_until_ready(proc, log, home, sys_tmp)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        _wait_gone(proc.pid)
    assert _pymp(home / "tmp") and open_entries(home) == []
    assert sohoa(env, "batches").returncode == 0
    assert list((home / "tmp").iterdir()) == []
    assert list(sys_tmp.iterdir()) == []


def _count_elsewhere(db: Path) -> int:
    """Rows of t as another process sees them (opening and closing its own connection)."""
    code = (
        "import sqlite3, sys;"
        "print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM t').fetchone()[0])"
    )
    done = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_opening_the_file_again_leaves_sqlites_locks_alone(tmp_path: Path) -> None:
    """Every new thread's connection passes through private_file while others are open:
    closing a descriptor of the file would drop this process's locks on it, and another
    process would then checkpoint and delete the WAL under a live writer."""
    db = private_file(tmp_path / "ledger.sqlite3")
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t(x)")
    writer.execute("INSERT INTO t VALUES (1)")
    private_file(db)  # a second thread's connection being opened
    assert _count_elsewhere(db) == 1
    writer.execute("INSERT INTO t VALUES (2)")
    assert _count_elsewhere(db) == 2
    writer.close()


def test_a_home_too_deep_for_sockets_keeps_its_temp_private_and_tidy(tmp_path: Path) -> None:
    """Past ~55 bytes a Unix socket under SOHOA_HOME/tmp would not fit: the process's
    folder goes to the system's temp, and what a killed process left there goes too."""
    home = tmp_path / ("d" * 60) / "home"
    sys_tmp = tmp_path / "sys-tmp"
    sys_tmp.mkdir()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    ).stdout.strip()
    stale = sys_tmp / f"sohoa-{gone}-abcdefgh"
    (stale / "pymp-abcdefgh").mkdir(parents=True)
    env = {"SOHOA_HOME": str(home), "SOHOA_INBOX": str(tmp_path / "inbox"), "TMPDIR": str(sys_tmp)}
    with umask(0o022):
        done = sohoa(env, "batches")
    assert done.returncode == 0, done.stderr
    assert list(sys_tmp.iterdir()) == []
    assert open_entries(home) == []
