"""An office on one machine: two stations, Celery workers on Redis, one PostgreSQL, one MinIO.

Each "machine" is a process with its own ``SOHOA_HOME``; the shared parts are
real servers. The stations only take custody and enqueue (``SOHOA_EXECUTOR=celery``);
the workers run the documents and their pages. The multi-host version of the same
scenario, in network namespaces, is ``test_office_hosts.py``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import signal
import time
from pathlib import Path

import pytest

from tests.support import office
from tests.support.cli import json_lines, sohoa
from tests.support.files import small_page, small_pdf

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CODE = "000.00.13.H38-261201-0007"


@pytest.fixture
def env(sohoa_env, tmp_path, postgres_server, redis_server):
    db = secrets.randbelow(15) + 1  # one Redis database per test: no task leaks into the next
    broker = redis_server.url(db)
    import redis

    redis.Redis.from_url(broker).flushdb()
    return office.office_env(
        sohoa_env, tmp_path, database_url=postgres_server.new_database(), broker_url=broker
    )


def drop(inbox: Path, station: str, seeds: list[int], code: str = CODE) -> set[str]:
    folder = inbox / station / code
    shas = set()
    for seed in seeds:
        path = small_page(seed, folder.parent / ".tmp" / f"trang-{seed}.png")
        shas.add(hashlib.sha256(path.read_bytes()).hexdigest())
        folder.mkdir(parents=True, exist_ok=True)
        path.rename(folder / path.name)
    (folder.parent / ".tmp").rmdir()
    return shas


def test_two_stations_one_dossier_workers_elsewhere(env, tmp_path, redis_server):
    a, b = office.host(env, tmp_path, "station-a"), office.host(env, tmp_path, "station-b")
    worker = office.host(env, tmp_path, "worker-1")
    shas = drop(Path(a["SOHOA_INBOX"]), "motcua-01", [401, 402, 403])
    shas |= drop(Path(b["SOHOA_INBOX"]), "motcua-02", [404, 405, 406])
    watchers = [
        office.start(h, "--json", "watch", "--once", log=tmp_path / f"{n}.log")
        for n, h in (("a", a), ("b", b))
    ]
    time.sleep(4)  # custody first: the messages wait on the broker for a worker
    dump = office.redis_dump(env["SOHOA_BROKER_URL"])
    assert "sohoa.document" in dump
    w = office.start_worker(worker, concurrency=2, log=tmp_path / "worker.log")
    try:
        for proc in watchers:
            assert proc.wait(timeout=600) == 0, (tmp_path / "a.log").read_text()
        dump += office.redis_dump(env["SOHOA_BROKER_URL"])
    finally:
        office.kill(w, signal.SIGTERM)
    office.assert_office_archived_once(a, shas, CODE)
    # Nothing secret and nothing bulky went through the broker.
    for secret in (
        env["SOHOA_MINIO_SECRET_KEY"],
        env["SOHOA_DATABASE_URL"].split(":")[2].split("@")[0],  # the database password
        redis_server.password,
    ):
        assert secret not in dump
    assert max(len(line) for line in dump.splitlines()) < 64 * 1024
    # A station finds what the other one scanned; batches say who handled what.
    found = sohoa(a, "--json", "search", "--dossier", CODE, "giay")
    assert found.returncode == 0, found.stderr
    rows = json_lines(sohoa(a, "--json", "batches").stdout)
    assert {r["station"] for r in rows} == {"motcua-01", "motcua-02"}
    assert all(r["workers"] for r in rows), rows
    # The search at station A is in the office's one audit log, read from another machine.
    audit = json_lines(sohoa(b, "--json", "audit", "--action", "search").stdout)
    assert len(audit) == 1 and audit[0]["actor"].startswith("cli:"), audit
    verified = sohoa(worker, "audit", "verify")
    assert verified.returncode == 0 and "intact: 1 rows" in verified.stdout, verified.stderr


def test_worker_killed_mid_document_loses_nothing(env, tmp_path):
    station = office.host(env, tmp_path, "station")
    worker = office.host(env, tmp_path, "worker")
    folder = Path(station["SOHOA_INBOX"]) / "motcua-01" / CODE
    pdf = small_pdf([501, 502, 503, 504, 505, 506], tmp_path / "six.pdf")
    shas = {hashlib.sha256(pdf.read_bytes()).hexdigest()}
    shas |= drop(Path(station["SOHOA_INBOX"]), "motcua-01", [507])
    folder.mkdir(parents=True, exist_ok=True)
    pdf.rename(folder / "six.pdf")
    watch = office.start(station, "--json", "watch", "--once", log=tmp_path / "watch.log")
    w = office.start_worker(worker, concurrency=2, log=tmp_path / "w1.log")
    try:
        office.wait_for(lambda: _pages_done(station) >= 2, 300, "two finished pages")
        office.kill(w)  # SIGKILL the worker and its pool mid-document
        time.sleep(2)
        w = office.start_worker(worker, concurrency=2, log=tmp_path / "w2.log")
        assert watch.wait(timeout=600) == 0, (tmp_path / "watch.log").read_text()
    finally:
        office.kill(w, signal.SIGTERM)
    office.assert_office_archived_once(station, shas, CODE)


def _pages_done(env) -> int:
    from pipeline.config import load_config
    from pipeline.storage import objects as store

    st = store.connect(load_config(env=env))
    try:
        return len([k for k in st.list_keys(st.work_bucket) if k.endswith(".json")])
    except Exception:  # the watcher has not made the buckets yet
        return 0


def test_broker_and_database_restart_mid_batch(env, tmp_path, redis_server, postgres_server):
    station = office.host(env, tmp_path, "station")
    worker = office.host(env, tmp_path, "worker")
    shas = drop(Path(station["SOHOA_INBOX"]), "motcua-01", list(range(601, 606)))
    watch = office.start(station, "--json", "watch", "--once", log=tmp_path / "watch.log")
    w = office.start_worker(worker, concurrency=2, log=tmp_path / "w.log")
    try:
        office.wait_for(lambda: office.states(station).get("indexed", 0) >= 1, 300, "a document")
        redis_server.stop()
        time.sleep(3)
        redis_server.start()
        office.wait_for(lambda: office.states(station).get("indexed", 0) >= 3, 300, "3 documents")
        postgres_server.stop("fast")
        time.sleep(3)
        postgres_server.start()
        assert watch.wait(timeout=600) == 0, (tmp_path / "watch.log").read_text()
    finally:
        office.kill(w, signal.SIGTERM)
    office.assert_office_archived_once(station, shas, CODE)
    lines = [
        json.loads(x) for x in (tmp_path / "watch.log").read_text().splitlines() if x[:1] == "{"
    ]
    # Every document is reported once. One whose index write met the database going down
    # is reported archived (its archive is whole); the ledger check above has already
    # found it indexed afterwards, by the worker that ran it again.
    statuses = [x["status"] for x in lines if "status" in x]
    assert len(statuses) == 5 and set(statuses) <= {"indexed", "archived"}, lines


def test_minio_outage_mid_batch(env, tmp_path):
    from tests.support.minio import MinioServer, new_server

    server = new_server(tmp_path / "own-minio")
    server.start()
    try:
        env = {**env, **server.env()}
        station = office.host(env, tmp_path, "station")
        worker = office.host(env, tmp_path, "worker")
        shas = drop(Path(station["SOHOA_INBOX"]), "motcua-03", list(range(801, 806)))
        watch = office.start(station, "--json", "watch", "--once", log=tmp_path / "watch.log")
        w = office.start_worker(worker, concurrency=2, log=tmp_path / "w.log")
        try:
            office.wait_for(lambda: office.states(station).get("indexed", 0) >= 1, 300, "one")
            server.stop()
            time.sleep(8)
            server = MinioServer(server.data_dir, server.port, server.access_key, server.secret_key)
            server.start()
            assert watch.wait(timeout=600) == 0, (tmp_path / "watch.log").read_text()
        finally:
            office.kill(w, signal.SIGTERM)
        office.assert_office_archived_once(station, shas, CODE)
    finally:
        server.stop()


def test_assign_and_retry_from_another_machine(env, tmp_path):
    """An operator's PC (its own home) assigns a code to a document a station took in."""
    station = office.host(env, tmp_path, "station")
    operator = office.host(env, tmp_path, "operator")
    worker = office.host(env, tmp_path, "worker")
    path = small_page(901, Path(station["SOHOA_INBOX"]) / "motcua-04" / "khong-ma.png")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    w = office.start_worker(worker, concurrency=1, log=tmp_path / "w.log")
    try:
        watch = office.start(station, "--json", "watch", "--once", log=tmp_path / "watch.log")
        assert watch.wait(timeout=300) == 0, (tmp_path / "watch.log").read_text()
        assert office.states(operator) == {"needs_dossier": 1}
        (doc,) = [
            r for r in json_lines(sohoa(operator, "--json", "batches").stdout) if r["documents"]
        ]
        shown = json_lines(sohoa(operator, "--json", "show", doc["batch_id"]).stdout)[0]
        doc_id = shown["documents"][0]["document_id"]
        done = sohoa(operator, "--json", "assign", doc_id, "--dossier", CODE)
        assert done.returncode == 0, done.stderr
        assert json_lines(done.stdout)[0]["status"] == "indexed"
        again = sohoa(operator, "--json", "retry", "--failed")
        assert again.returncode == 0 and "nothing to do" in again.stderr
    finally:
        office.kill(w, signal.SIGTERM)
    office.assert_office_archived_once(operator, {sha}, CODE)
