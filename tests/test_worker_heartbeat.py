"""Whether a worker will carry out what an operator queues: the heartbeats, the batches
page's live workers, and a banner that promises only what will happen.

Before: after "Chạy lại" or "Gán mã và lưu trữ" the web always said a worker would do it
"within minutes" (the demo's watcher had exited: nothing happened until someone ran
`retry --failed` by hand), and the document still showed "Mã hồ sơ: —" after an assign.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from pipeline.storage import heartbeats
from pipeline.storage.ledger import SqliteLedger
from tests.support.backends import BACKENDS, backend_env
from tests.support.cli import json_lines, sohoa
from tests.support.watch import CODE, quick_env, tiny_page
from tests.support.web import (
    build_world,
    csrf,
    fast_users,
    logged_in,
    role_cfg,
    role_env,
    serve,
    setup_roles,
)
from workers.web.app import create_app

pytestmark = pytest.mark.integration
NO_WORKER = "không có máy xử lý nào đang chạy"


@pytest.mark.parametrize("kind", BACKENDS)
def test_heartbeats_tell_live_processes_and_their_last_page(kind, tmp_path, request):
    from pipeline.config import load_config

    cfg = load_config(env={"SOHOA_HOME": str(tmp_path / "home"), **backend_env(kind, request)})
    store = heartbeats.Heartbeats(cfg)
    try:
        assert store.live(45) == []
        store.beat("worker@a:1", "worker", "2026-12-07T01:00:00+00:00")
        store.beat("worker@a:1", "worker", "2026-12-07T01:00:00+00:00")  # renewed, one row
        store.page("worker@a:1", "d0c", 3)
        (beat,) = store.live(45)
        assert (beat.name, beat.kind, beat.last_document, beat.last_page) == (
            "worker@a:1",
            "worker",
            "d0c",
            3,
        )
        assert beat.host == socket.gethostname() and beat.started_at.startswith("2026-12-07")
        store.beat("watch@b:2", "watch", "2026-12-07T02:00:00+00:00")
        time.sleep(2.2)
        store.beat("watch@b:2", "watch", "2026-12-07T02:00:00+00:00")
        assert [b.name for b in store.live(1)] == ["watch@b:2"]  # the other one is silent
        store.prune(days=1 / 86400)  # rows older than a second go
        assert [b.name for b in store.live(3600)] == ["watch@b:2"]
    finally:
        store.close()


def test_without_a_worker_the_banner_says_nothing_will_happen_yet(minio_server, sohoa_env):
    world = build_world(minio_server, sohoa_env)
    with serve(create_app(world.web, users=fast_users(world.web))) as url:
        op = logged_in(url, "op")
        batches = op.get("/batches").text
        assert NO_WORKER in batches.lower() and "sohoa worker" in batches
        r = op.post(f"/documents/{world.failed_id}/retry", data={"csrf_token": csrf(op)})
        page = op.get(r.headers["location"]).text
        assert "Đã xếp lịch chạy lại" in page and NO_WORKER in page
        assert "trong ít phút" not in page and 'class="warning"' in page
        r = op.post(
            f"/documents/{world.needs_code_id}/assign",
            data={"csrf_token": csrf(op), "dossier": CODE},
        )
        page = op.get(r.headers["location"]).text
        assert "Đã gán mã hồ sơ" in page and NO_WORKER in page
        # the code given shows on the document (and its batch) while it waits for a worker
        assert f"{CODE} <span" in page and "chờ lưu trữ dưới mã này" in page
        assert f"{CODE} <span" in op.get(f"/batches/{world.batch_id}").text
        op.close()


def test_a_running_worker_is_shown_and_promised(minio_server, sohoa_env, tmp_path):
    """A processing `sohoa watch` (the demo's worker) beats: the batches page lists it and
    its last page, the banner promises "within minutes", and it keeps the promise."""
    keys = setup_roles(minio_server, sohoa_env)
    worker_env = quick_env(role_env(sohoa_env, keys, "worker"), tmp_path)
    page = tmp_path / "own" / "don-de-nghi.png"
    tiny_page(page, 12)
    (row,) = json_lines(sohoa(worker_env, "--json", "process", str(page)).stdout)
    assert row["status"] == "needs_dossier"
    watch = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "watch"],
        env={**os.environ, **worker_env, "SOHOA_INBOX": str(tmp_path / "in")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    web = role_cfg(sohoa_env, keys, "web")
    try:
        with serve(create_app(web, users=fast_users(web))) as url:
            op = logged_in(url, "op")
            host = socket.gethostname()
            deadline = time.monotonic() + 120
            while f"máy {host} (sohoa watch)" not in op.get("/batches").text:
                assert time.monotonic() < deadline, "the watcher never showed as running"
                time.sleep(1)
            assert NO_WORKER not in op.get("/batches").text.lower()
            r = op.post(
                f"/documents/{row['document_id']}/assign",
                data={"csrf_token": csrf(op), "dossier": CODE},
            )
            banner = op.get(r.headers["location"]).text
            assert "đang chạy và sẽ thực hiện trong ít phút" in banner, banner
            assert f"máy {host} (sohoa watch)" in banner
            ledger = SqliteLedger(web.ledger_path)
            while ledger.get_document(row["document_id"]).state != "indexed":
                assert time.monotonic() < deadline + 300, "the watcher did not archive it"
                time.sleep(1)
            doc_page = op.get(f"/documents/{row['document_id']}").text
            assert f'href="/dossier/{CODE}"' in doc_page
            # a scan the watcher reads itself: its page shows as the worker's last one
            tiny_page(tmp_path / "in" / "motcua-01" / CODE / "trang-2.png", 13)
            while not (
                done := [
                    d
                    for d in ledger.find_documents()
                    if d.source_name == "trang-2.png" and d.state == "indexed"
                ]
            ):
                assert time.monotonic() < deadline + 600, "the watcher did not take the scan"
                time.sleep(1)
            shown = op.get("/batches").text
            assert f'trang 1 của tài liệu <a href="/documents/{done[0].id}"' in shown, shown
            op.close()
    finally:
        watch.send_signal(signal.SIGTERM)
        watch.wait(timeout=60)
    assert watch.returncode == 0
    assert heartbeats.live_workers(web) == []  # it said goodbye: not shown as running


def test_a_killed_process_of_this_host_is_not_shown_as_running(tmp_path):
    from pipeline.config import load_config

    cfg = load_config(env={"SOHOA_HOME": str(tmp_path / "home")})
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    ).stdout.strip()
    store = heartbeats.Heartbeats(cfg)
    try:
        store.beat(f"watch@{socket.gethostname()}:{gone}", "watch", "2026-12-07T01:00:00+00:00")
        store._run(  # the row of a process that was killed: same host, its pid gone
            "UPDATE worker_heartbeats SET pid = ?", (int(gone),)
        )
        store.beat("worker@elsewhere:7", "worker", "2026-12-07T01:00:00+00:00")
    finally:
        store.close()
    assert [b.name for b in heartbeats.live_workers(cfg) or []] == ["worker@elsewhere:7"]


def test_an_operator_queueing_at_the_terminal_is_told_when_no_worker_runs(
    minio_server, sohoa_env, tmp_path
):
    keys = setup_roles(minio_server, sohoa_env)
    worker_env = quick_env(role_env(sohoa_env, keys, "worker"), tmp_path)
    page = tmp_path / "own" / "don.png"
    tiny_page(page, 14)
    (row,) = json_lines(sohoa(worker_env, "--json", "process", str(page)).stdout)
    operator = role_env(sohoa_env, keys, "operator")
    done = sohoa(operator, "assign", row["document_id"], "--dossier", CODE)
    assert done.returncode == 0, done.stderr
    assert "queued" in done.stderr and "no worker has been heard from" in done.stderr
