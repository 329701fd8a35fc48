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
from urllib.parse import urlsplit

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
    roles = office.database_roles(postgres_server.new_owned_database(), tmp_path)
    return office.office_env(sohoa_env, tmp_path, database_url=roles["worker"], broker_url=broker)


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
    """Stations with the station key alone hand over; two workers' intakes, started at
    once, record each document once and send it to the queue once."""
    a, b = office.station(env, tmp_path, "station-a"), office.station(env, tmp_path, "station-b")
    desk = office.host(env, tmp_path, "desk")
    shas = drop(Path(a["SOHOA_INBOX"]), "motcua-01", [401, 402, 403])
    shas |= drop(Path(b["SOHOA_INBOX"]), "motcua-02", [404, 405, 406])
    assert "SOHOA_DATABASE_URL" not in a and "SOHOA_BROKER_URL" not in a
    watchers = [
        office.start(h, "--json", "watch", "--once", log=tmp_path / f"{n}.log")
        for n, h in (("a", a), ("b", b))
    ]
    for n, proc in zip("ab", watchers, strict=True):
        assert proc.wait(timeout=300) == 0, (tmp_path / f"{n}.log").read_text()
    handed = [
        json.loads(x)
        for n in "ab"
        for x in (tmp_path / f"{n}.log").read_text().splitlines()
        if x.startswith("{")
    ]
    assert [h["status"] for h in handed] == ["stored_raw"] * 6
    assert not list(Path(a["SOHOA_HOME"]).rglob("*.sqlite3")), "a station keeps no ledger"
    workers = [
        office.start_worker(
            office.host(env, tmp_path, f"worker-{n}"), concurrency=1, log=tmp_path / f"w{n}.log"
        )
        for n in (1, 2)
    ]
    try:
        office.wait_for(lambda: office.states(desk).get("indexed", 0) >= 1, 300, "one indexed")
        dump = office.redis_dump(env["SOHOA_BROKER_URL"])
        office.wait_indexed(desk, 6)
        dump += office.redis_dump(env["SOHOA_BROKER_URL"])
    finally:
        for w in workers:
            office.kill(w, signal.SIGTERM)
    office.assert_office_archived_once(desk, shas, CODE)
    taken_in = [
        line.split()[2]
        for n in (1, 2)
        for line in (tmp_path / f"w{n}.log").read_text().splitlines()
        if line.startswith("took in ")
    ]
    assert sorted(taken_in) == sorted(h["document_id"] for h in handed)
    # Nothing secret and nothing bulky went through the broker.
    for secret in (
        env["SOHOA_MINIO_SECRET_KEY"],
        a["SOHOA_MINIO_SECRET_KEY"],
        env["SOHOA_DATABASE_URL"].split(":")[2].split("@")[0],  # the database password
        redis_server.password,
    ):
        assert secret not in dump
    assert max(len(line) for line in dump.splitlines()) < 64 * 1024
    # The desk finds what both stations scanned; batches say who handled what.
    found = sohoa(desk, "--json", "search", "--dossier", CODE, "giay")
    assert found.returncode == 0, found.stderr
    rows = json_lines(sohoa(desk, "--json", "batches").stdout)
    assert {r["station"] for r in rows} == {"motcua-01", "motcua-02"}
    assert all(r["workers"] for r in rows), rows
    # The search at the desk is in the office's one audit log, read from another machine.
    worker = office.host(env, tmp_path, "worker-1")
    audit = json_lines(sohoa(worker, "--json", "audit", "--action", "search").stdout)
    assert len(audit) == 1 and audit[0]["actor"].startswith("cli:"), audit
    verified = sohoa(worker, "audit", "verify")
    # Two rows: the administrator's `database setup`, then the desk's search.
    assert verified.returncode == 0 and "intact: 2 rows" in verified.stdout, verified.stderr


def test_worker_killed_mid_document_loses_nothing(env, tmp_path):
    station = office.station(env, tmp_path, "station")
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
        office.wait_for(lambda: _pages_done(worker) >= 2, 300, "two finished pages")
        office.kill(w)  # SIGKILL the worker and its pool mid-document
        time.sleep(2)
        w = office.start_worker(worker, concurrency=2, log=tmp_path / "w2.log")
        assert watch.wait(timeout=600) == 0, (tmp_path / "watch.log").read_text()
        office.wait_indexed(worker, 2)
    finally:
        office.kill(w, signal.SIGTERM)
    office.assert_office_archived_once(worker, shas, CODE)


def _pages_done(env) -> int:
    from pipeline.config import load_config
    from pipeline.storage import objects as store

    st = store.connect(load_config(env=env))
    try:
        return len([k for k in st.list_keys(st.work_bucket) if k.endswith(".json")])
    except Exception:  # the watcher has not made the buckets yet
        return 0


def test_broker_and_database_restart_mid_batch(env, tmp_path, redis_server, postgres_server):
    station = office.station(env, tmp_path, "station")
    worker = office.host(env, tmp_path, "worker")
    shas = drop(Path(station["SOHOA_INBOX"]), "motcua-01", list(range(601, 606)))
    watch = office.start(station, "--json", "watch", "--once", log=tmp_path / "watch.log")
    w = office.start_worker(worker, concurrency=2, log=tmp_path / "w.log")
    try:
        office.wait_for(lambda: office.states(worker).get("indexed", 0) >= 1, 300, "a document")
        redis_server.stop()
        time.sleep(3)
        redis_server.start()
        office.wait_for(lambda: office.states(worker).get("indexed", 0) >= 3, 300, "3 documents")
        postgres_server.stop("fast")
        time.sleep(3)
        postgres_server.start()
        assert watch.wait(timeout=600) == 0, (tmp_path / "watch.log").read_text()
        office.wait_indexed(worker, 5)
    finally:
        office.kill(w, signal.SIGTERM)
    office.assert_office_archived_once(worker, shas, CODE)
    lines = [
        json.loads(x) for x in (tmp_path / "watch.log").read_text().splitlines() if x[:1] == "{"
    ]
    # The station reports each document once, when MinIO holds it and its custody record.
    assert [x["status"] for x in lines if "status" in x] == ["stored_raw"] * 5, lines


def test_minio_outage_mid_batch(env, sohoa_env, tmp_path):
    from tests.support.minio import MinioServer, new_server

    server = new_server(tmp_path / "own-minio")
    server.start()
    try:
        own = tmp_path / "own-office"
        own.mkdir()
        env = office.office_env(
            {**sohoa_env, **server.env()},
            own,
            database_url=env["SOHOA_DATABASE_URL"],
            broker_url=env["SOHOA_BROKER_URL"],
        )
        station = office.station(env, tmp_path, "station")
        worker = office.host(env, tmp_path, "worker")
        shas = drop(Path(station["SOHOA_INBOX"]), "motcua-03", list(range(801, 806)))
        watch = office.start(station, "--json", "watch", "--once", log=tmp_path / "watch.log")
        w = office.start_worker(worker, concurrency=2, log=tmp_path / "w.log")
        try:
            office.wait_for(lambda: office.states(worker).get("indexed", 0) >= 1, 300, "one")
            server.stop()
            time.sleep(8)
            server = MinioServer(server.data_dir, server.port, server.access_key, server.secret_key)
            server.start()
            assert watch.wait(timeout=600) == 0, (tmp_path / "watch.log").read_text()
            office.wait_indexed(worker, 5)
        finally:
            office.kill(w, signal.SIGTERM)
        office.assert_office_archived_once(worker, shas, CODE)
    finally:
        server.stop()


def test_assign_and_retry_from_another_machine(env, tmp_path):
    """An operator's PC (its own home) assigns a code to a document a station took in."""
    station = office.station(env, tmp_path, "station")
    operator = office.host(env, tmp_path, "operator")
    worker = office.host(env, tmp_path, "worker")
    path = small_page(901, Path(station["SOHOA_INBOX"]) / "motcua-04" / "khong-ma.png")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    w = office.start_worker(worker, concurrency=1, log=tmp_path / "w.log")
    try:
        watch = office.start(station, "--json", "watch", "--once", log=tmp_path / "watch.log")
        assert watch.wait(timeout=300) == 0, (tmp_path / "watch.log").read_text()
        office.wait_for(lambda: office.states(operator) == {"needs_dossier": 1}, 300, "needs")
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


def test_a_stalled_document_is_taken_over_from_any_machine(env, tmp_path):
    """A worker SIGKILLed mid-document: its documents show as stalled once its lease runs
    out (the default, run.lease_seconds), `retry` from a third machine takes one over,
    another machine's `sohoa worker` the other, before the broker's visibility timeout
    (600 s) could hand them out again."""
    env = office.office_env(
        {**env},
        tmp_path,
        database_url=env["SOHOA_DATABASE_URL"],
        broker_url=env["SOHOA_BROKER_URL"],
        lease=None,
        visibility=600,
        keys=_keys_of(env),
    )
    station = office.station(env, tmp_path, "station")
    desk = office.host(env, tmp_path, "desk")
    inbox = Path(station["SOHOA_INBOX"])
    shas = set()
    for n in (1, 2):
        pdf = small_pdf([500 + 10 * n + i for i in range(8)], tmp_path / f"p{n}.pdf")
        shas.add(hashlib.sha256(pdf.read_bytes()).hexdigest())
        (inbox / f"motcua-0{n}" / CODE).mkdir(parents=True)
        pdf.rename(inbox / f"motcua-0{n}" / CODE / f"p{n}.pdf")  # two batches
    watch = office.start(station, "--json", "watch", "--once", log=tmp_path / "watch.log")
    assert watch.wait(timeout=300) == 0, (tmp_path / "watch.log").read_text()
    a = office.start_worker(
        office.host(env, tmp_path, "worker-a"),
        concurrency=1,
        documents=2,
        log=tmp_path / "a.log",
        hostname="worker-a",
    )
    try:
        office.wait_for(lambda: office.states(desk).get("processing", 0) == 2, 300, "both")
        office.wait_for(lambda: _pages_done(desk) >= 1, 300, "a finished page")
    finally:
        office.kill(a)  # the whole machine: supervisor, consumers, page pool
    office.wait_for(lambda: _stalled(desk) == 2, 300, "both shown stalled")
    shown = json_lines(sohoa(desk, "--json", "show", _doc_ids(desk)[0]).stdout)[0]
    assert shown["stalled"] is True and shown["state"] == "processing"
    # A third machine (the operator's PC) takes over the first station's with `retry`...
    first = min(_batches(desk), key=lambda r: r["station"])
    operator = office.host(env, tmp_path, "operator")
    retry = office.start(
        operator,
        *("--json", "retry", "--failed", "--station", first["station"]),
        log=tmp_path / "retry.log",
        hostname="op",
    )
    office.wait_for(lambda: _held(desk, first["batch_id"]), 300, "the operator holding it")
    # ... and another machine's worker (which also runs the operator's pages) the second.
    b = office.start_worker(
        office.host(env, tmp_path, "worker-b"), log=tmp_path / "b.log", hostname="worker-b"
    )
    try:
        assert retry.wait(timeout=600) == 0, (tmp_path / "retry.log").read_text()
        rows = json_lines((tmp_path / "retry.log").read_text())
        assert [r["status"] for r in rows] == ["indexed"], rows
        office.wait_indexed(desk, 2)
        # The dead worker's document tasks, handed out again by Redis later, change nothing.
        for doc_id in _doc_ids(desk):
            assert _redelivered(desk, doc_id) == "indexed"
    finally:
        office.kill(b, signal.SIGTERM)
    office.assert_office_archived_once(desk, shas, CODE)
    assert not any(r["states"].get("stalled") for r in _batches(desk))


def _keys_of(env: dict[str, str]) -> dict[str, dict[str, str]]:
    """The role keys office_env made for ``env`` (for a second office_env on them)."""
    station = office.station(env, Path("/nonexistent"), "x")
    return {
        "worker": {k: env[k] for k in ("SOHOA_MINIO_ACCESS_KEY", "SOHOA_MINIO_SECRET_KEY")},
        "station": {k: station[k] for k in ("SOHOA_MINIO_ACCESS_KEY", "SOHOA_MINIO_SECRET_KEY")},
    }


def _redelivered(env, doc_id: str) -> str:
    """A document task for ``doc_id`` as Redis would hand it out again; the ledger must not
    move (no event), whatever the task answers."""
    from pipeline.config import load_config
    from pipeline.storage.ledger import open_ledger
    from workers.executors import celery as tasks
    from workers.executors import task_auth

    cfg = load_config(env=env)
    ledger = open_ledger(cfg)
    try:
        before = ledger.events(document_id=doc_id)
        tasks.configure(cfg)
        ref = json.dumps({"document_id": doc_id, "explicit_code": None})
        sealed = task_auth.seal(task_auth.task_key(cfg), tasks.DOCUMENT_TASK, ref)
        sent = tasks.document_task.apply_async((sealed,), queue=tasks.DOCUMENTS_QUEUE)
        state = sent.get(timeout=120)
        assert ledger.events(document_id=doc_id) == before
        return state
    finally:
        ledger.close()


def _held(env, batch_id: str) -> bool:
    """Whether the batch's document is in work by a live holder (not stalled any more)."""
    from pipeline.config import load_config
    from pipeline.storage.ledger import open_ledger
    from pipeline.storage.ledger.records import stalled

    ledger = open_ledger(load_config(env=env))
    try:
        (doc,) = ledger.find_documents(batch_id=batch_id)
        return doc.state == "processing" and not stalled(doc)
    finally:
        ledger.close()


def _batches(env) -> list[dict]:
    return json_lines(sohoa(env, "--json", "batches").stdout)


def _stalled(env) -> int:
    return sum(r["states"].get("stalled", 0) for r in _batches(env))


def _doc_ids(env) -> list[str]:
    from pipeline.config import load_config
    from pipeline.storage.ledger import open_ledger

    ledger = open_ledger(load_config(env=env))
    try:
        return [d.id for d in ledger.find_documents()]
    finally:
        ledger.close()


@pytest.mark.parametrize("wrong", ["minio", "database", "broker"])
def test_a_worker_whose_keys_are_refused_does_not_start(env, tmp_path, wrong):
    """One clear line and exit 4 instead of a worker that puts every document back."""
    worker = office.host(env, tmp_path, "worker")
    if wrong == "minio":
        worker["SOHOA_MINIO_SECRET_KEY"] = "not-" + worker["SOHOA_MINIO_SECRET_KEY"]
    elif wrong == "database":
        url = urlsplit(worker["SOHOA_DATABASE_URL"])
        netloc = url.netloc.replace(f":{url.password}@", f":x{url.password}@", 1)
        assert netloc != url.netloc
        worker["SOHOA_DATABASE_URL"] = url._replace(netloc=netloc).geturl()
    else:
        worker["SOHOA_BROKER_URL"] = worker["SOHOA_BROKER_URL"].replace("://:", "://:x")
    proc = office.start_worker(worker, log=tmp_path / "w.log")
    try:
        code = proc.wait(timeout=120)
    finally:
        office.kill(proc)
    lines = (tmp_path / "w.log").read_text().splitlines()
    errors = [x for x in lines if x.startswith("sohoa: error:")]
    assert code == 4 and len(errors) == 1, lines
    words = {"minio": "rejects the configured keys", "database": "password", "broker": "refuse"}
    assert words[wrong] in errors[0], errors
    for secret in (env["SOHOA_MINIO_SECRET_KEY"], "not-"):
        assert secret not in errors[0]


def test_what_an_operator_queues_in_the_web_reaches_a_running_worker(env, tmp_path):
    """The web's retry/assign moves a document back to stored_raw with no owner; a running
    `sohoa worker`, on another machine, takes it up by itself."""
    from pipeline.config import load_config
    from pipeline.flow.requeue import queue_assign
    from pipeline.storage.ledger import open_ledger

    station = office.station(env, tmp_path, "station")
    desk = office.host(env, tmp_path, "desk")
    path = small_page(911, Path(station["SOHOA_INBOX"]) / "motcua-05" / "khong-ma.png")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    watch = office.start(station, "--json", "watch", "--once", log=tmp_path / "watch.log")
    assert watch.wait(timeout=300) == 0, (tmp_path / "watch.log").read_text()
    w = office.start_worker(office.host(env, tmp_path, "worker"), log=tmp_path / "w.log")
    try:
        office.wait_for(lambda: office.states(desk) == {"needs_dossier": 1}, 300, "needs")
        ledger = open_ledger(load_config(env=desk))
        try:
            (doc,) = ledger.find_documents()
            queue_assign(ledger, doc.id, CODE, "web:lan")
        finally:
            ledger.close()
        office.wait_indexed(desk, 1)
    finally:
        office.kill(w, signal.SIGTERM)
    office.assert_office_archived_once(desk, {sha}, CODE)
