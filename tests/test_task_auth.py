"""Tasks on the broker are sohoa's own, confined, and carry no page text back.

A real Redis, MinIO and ``sohoa worker`` (pages and documents consumers). The
attacker is a process holding only the broker URL, as every station once did: it
puts its own messages on the queues, aiming the worker at a scanned ID card that
was never handed over and at a folder outside the worker's work store.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
from pathlib import Path

import pytest
from celery import Celery

from pipeline.config import load_config
from pipeline.errors import ConfigError, NotAllowed
from pipeline.model import PageJob, PageOptions, SourceRef
from pipeline.storage import objects as store
from pipeline.storage.objects import sha256_file
from tests.support import office
from tests.support.cli import json_lines, sohoa
from tests.support.files import small_page
from tests.support.redis_monitor import RedisMonitor
from workers.executors import task_auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CODE = "000.00.13.H38-261201-0020"


@pytest.fixture
def env(sohoa_env: dict[str, str], redis_server) -> dict[str, str]:
    db = secrets.randbelow(15) + 1
    broker = redis_server.url(db)
    import redis

    redis.Redis.from_url(broker).flushdb()
    return {**sohoa_env, "SOHOA_EXECUTOR": "celery", "SOHOA_BROKER_URL": broker}


@pytest.fixture
def worker(env: dict[str, str], tmp_path: Path):
    """`sohoa worker` on its own "machine" (home); yields its environment and log."""
    host = office.host(env, tmp_path, "worker")
    log = tmp_path / "worker.log"
    proc = office.start_worker(host, concurrency=1, documents=1, log=log)
    yield host, log
    office.kill(proc, signal.SIGTERM)


def _attacker_sends(broker: str, task: str, queue: str, arg: str) -> object:
    """What a process holding only the broker URL can do: any message on any queue."""
    app = Celery("attacker", broker=broker, backend=broker)
    app.conf.update(accept_content=["json"], result_serializer="json")
    try:
        result = app.send_task(task, args=[arg], queue=queue)
        return result.get(timeout=300, propagate=False)
    finally:
        app.close()


def _refusals(log: Path) -> list[str]:
    """The worker's refusal lines (Celery's own "succeeded: refused" lines aside)."""
    lines = log.read_text(errors="replace").splitlines()
    return [line for line in lines if re.search(r"\] refused sohoa\.\w+ task", line)]


def test_a_forged_page_task_reads_no_file_and_writes_nowhere(env, worker, tmp_path) -> None:
    host, log = worker
    id_card = small_page(77, tmp_path / "clerk-pc" / "cccd-nguyen-van-a.png")  # never handed over
    sha = sha256_file(id_card)
    cfg = load_config(env=host)
    forged = PageJob(
        document_id="d0123456789a",
        source=SourceRef(
            f"sha256/{sha}", sha, id_card.stat().st_size, "image/png", spool_id=str(id_card)
        ),
        index=0,
        options=PageOptions.from_config(cfg),
        work_key="../../escape",
        work="local",
    )
    answer = _attacker_sends(env["SOHOA_BROKER_URL"], "sohoa.page", "sohoa.pages", forged.to_json())
    assert isinstance(answer, str), answer
    data = json.loads(answer)
    assert "result" not in data and data.get("refused") is True, "the page was read"
    assert not list(tmp_path.rglob("page-00001.*")), "a page was written outside the work store"

    # Sealed with the office's own key (a bug upstream, say), the same paths are still refused.
    key = task_auth.task_key(load_config(env=env))
    sealed = task_auth.seal(key, "sohoa.page", forged.to_json())
    answer = _attacker_sends(env["SOHOA_BROKER_URL"], "sohoa.page", "sohoa.pages", sealed)
    assert json.loads(str(answer)).get("refused") is True
    assert not list(tmp_path.rglob("page-00001.*"))

    # A page job signed for the page task, replayed as a document task: refused too.
    answer = _attacker_sends(env["SOHOA_BROKER_URL"], "sohoa.document", "sohoa.documents", sealed)
    assert answer == "refused", answer

    refusals = _refusals(log)
    assert len(refusals) == 3, refusals
    assert all(
        re.search(r"refused sohoa\.(page|document) task [0-9a-f-]{36}: ", r) for r in refusals
    )
    for line in refusals:  # one line each, without the payload
        assert "cccd" not in line and "escape" not in line and "d0123456789a" not in line


def test_a_forged_document_task_is_refused_and_not_retried(env, worker) -> None:
    _, log = worker
    body = json.dumps({"document_id": "d0123456789a", "explicit_code": None})
    for message in (
        body,  # unsigned
        task_auth.seal(b"k" * 32, "sohoa.document", body),  # signed with another key
        task_auth.seal(task_auth.task_key(load_config(env=env)), "sohoa.document", body)[:-3]
        + "00}",  # altered
    ):
        answer = _attacker_sends(
            env["SOHOA_BROKER_URL"], "sohoa.document", "sohoa.documents", message
        )
        assert answer == "refused", answer
    assert len(_refusals(log)) == 3
    password = env["SOHOA_BROKER_URL"].split("@")[0].rsplit(":", 1)[1]
    assert password and password not in log.read_text(), "the broker password was logged"


def test_no_page_text_passes_through_redis(env, worker, redis_server, tmp_path) -> None:
    """A real run: pages on the worker, the document here; Redis never sees the page text."""
    pages = [small_page(seed, tmp_path / "in" / CODE / f"trang-{seed}.png") for seed in (81, 82)]
    here = {**env, "SOHOA_HOME": str(tmp_path / "desk")}
    monitor = RedisMonitor(redis_server.host, redis_server.port, redis_server.password).start()
    try:
        run = sohoa(here, "--json", "process", "--dossier", CODE, *map(str, pages))
    finally:
        seen = monitor.stop()
    assert run.returncode == 0, run.stderr
    rows = json_lines(run.stdout)
    assert {r["status"] for r in rows} == {"indexed"}, rows
    cfg = load_config(env=here)
    objects = store.connect(cfg)
    text = "\n".join(
        objects.get_bytes(objects.archive_bucket, r["text_key"]).decode() for r in rows
    )
    # Whole words without diacritics (Redis shows other bytes escaped): names, headings.
    words = {w for w in text.split() if re.fullmatch(r"[A-Za-z]{4,}", w)}
    assert len(words) >= 2, text  # the pages were read, and there are words to look for
    assert "sohoa.page" in seen, "the monitor saw the page tasks go by"
    dump = office.redis_dump(env["SOHOA_BROKER_URL"])
    for where, what in (("through", seen), ("kept in", dump)):
        assert "word_boxes" not in what and "mean_confidence" not in what, f"results {where} Redis"
        leaked = sorted(w for w in words if w in what)
        assert not leaked, f"page words {where} Redis: {leaked}"


def test_a_station_or_web_key_cannot_sign_tasks(sohoa_env) -> None:
    for role in ("station", "web", "operator"):
        with pytest.raises(ConfigError, match="SOHOA_TASK_KEY"):
            task_auth.task_key(load_config(env={**sohoa_env, "SOHOA_MINIO_ROLE": role}))
    given = {**sohoa_env, "SOHOA_MINIO_ROLE": "station", "SOHOA_TASK_KEY": "t" * 40}
    assert task_auth.task_key(load_config(env=given)) == b"t" * 40
    worker = task_auth.task_key(load_config(env={**sohoa_env, "SOHOA_MINIO_ROLE": "worker"}))
    assert sohoa_env["SOHOA_MINIO_SECRET_KEY"].encode() not in worker and len(worker) == 32


def test_unsealing_refuses_anything_but_the_sealed_body() -> None:
    key = b"k" * 32
    sealed = task_auth.seal(key, "sohoa.page", '{"a": 1}')
    assert task_auth.unseal(key, "sohoa.page", sealed) == '{"a": 1}'
    envelope = json.loads(sealed)
    altered = json.dumps({**envelope, "body": '{"a": 2}'})
    for message, why in (
        ('{"a": 1}', "not a sealed message"),
        (json.dumps({"v": 1, "task": "sohoa.page", "body": '{"a": 1}'}), "unsigned"),
        (altered, "does not match"),
        (task_auth.seal(b"x" * 32, "sohoa.page", '{"a": 1}'), "does not match"),
        (sealed, "delivered as 'sohoa.document'"),
        (None, "not a sealed message"),
    ):
        task = "sohoa.document" if message == sealed else "sohoa.page"
        with pytest.raises(NotAllowed, match=why):
            task_auth.unseal(key, task, message)
