"""A broker (Redis) restart costs a worker a few log lines: no crashed consumer, no
tracebacks, no notice repeated at every reconnect, nothing lost.

Before: one restart of Redis while documents were in flight cost each ``sohoa worker``
~750 log lines, among them a CRITICAL "Unrecoverable error: AttributeError ('NoneType'
object has no attribute 'hostname')" that ended a consumer (started again by ``sohoa
worker``, with its banner and Celery's root warning); see workers/executors/reconnect.py.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

import pytest

from tests.support import office
from tests.test_office import CODE, drop

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def env(sohoa_env, tmp_path, postgres_server, redis_server):
    db = secrets.randbelow(15) + 1
    broker = redis_server.url(db)
    import redis

    redis.Redis.from_url(broker).flushdb()
    roles = office.database_roles(postgres_server.new_owned_database(), tmp_path)
    return office.office_env(sohoa_env, tmp_path, database_url=roles["worker"], broker_url=broker)


def test_a_redis_restart_mid_batch_costs_a_few_lines(env, tmp_path, redis_server):
    station = office.station(env, tmp_path, "station")
    worker = office.host(env, tmp_path, "worker")
    worker["SOHOA_WORKER_LOGLEVEL"] = "WARNING"  # what an office runs with
    shas = drop(Path(station["SOHOA_INBOX"]), "motcua-01", list(range(611, 616)))
    watch = office.start(station, "--json", "watch", "--once", log=tmp_path / "watch.log")
    log = tmp_path / "worker.log"
    w = office.start_worker(worker, concurrency=2, log=log)
    try:
        office.wait_for(lambda: office.states(worker).get("indexed", 0) >= 1, 300, "a document")
        assert office.states(worker).get("indexed", 0) < 5, "the batch must still be in flight"
        before = log.read_text(errors="replace")
        redis_server.stop()
        time.sleep(15)
        redis_server.start()
        assert watch.wait(timeout=600) == 0, (tmp_path / "watch.log").read_text()
        office.wait_indexed(worker, 5)
        time.sleep(3)
    finally:
        office.kill(w, signal.SIGTERM)
    office.assert_office_archived_once(worker, shas, CODE)
    text = log.read_text(errors="replace")
    after = text[len(before) :]
    lines = [x for x in after.splitlines() if x.strip()]
    for word in ("Traceback", "CRITICAL", "AttributeError", "Unrecoverable", "consumer ended"):
        assert word not in after, after
    assert "CPendingDeprecationWarning" not in after, after
    assert len(lines) <= 16, after  # per consumer: lost, cannot connect (first try), a failed ack
    # Celery's root warning is never repeated; sohoa says it once, at start, when it applies
    assert "SecurityWarning" not in text and "superuser privileges" not in text, text
    assert text.count("running as root") == (1 if os.geteuid() == 0 else 0), text


def _record(level: int, msg: str, exc: BaseException | None = None, name: str = "celery"):
    import logging

    info = (type(exc), exc, None) if exc else None
    return logging.LogRecord(name, level, __file__, 1, msg, None, info)


def test_the_log_filter_keeps_an_outage_to_single_lines():
    import logging

    import redis.exceptions

    from workers.executors.reconnect import OneLine

    keep = OneLine()
    lost = redis.exceptions.ConnectionError("Error 111 connecting. Connection refused.")
    ack = _record(logging.CRITICAL, "Couldn't ack 'x', reason:%r", lost)
    ack.args = (lost,)
    assert keep.filter(ack)
    assert ack.exc_info is None and ack.levelname == "ERROR"
    assert "\n" not in ack.getMessage() and "broker connection lost" in ack.getMessage()
    tries = [
        _record(logging.ERROR, f"consumer: Cannot connect: x.\nTrying again in 2 s... ({n}/None)")
        for n in range(1, 25)
    ]
    assert [n for n, r in enumerate(tries, 1) if keep.filter(r)] == [1, 10, 20]
    notice = _record(logging.WARNING, "x.py:1: CPendingDeprecationWarning: \n", name="py.warnings")
    notice.msg += "In Celery 5.1 we introduced an optional breaking change which"
    assert not keep.filter(notice)
    other = _record(logging.ERROR, "Task handler raised error: %r", ValueError("bad page"))
    assert keep.filter(other) and other.exc_info is not None  # other failures keep their stack


def test_closing_a_detached_channel_is_a_connection_error_not_an_attribute_error():
    import redis.exceptions

    from workers.executors.reconnect import Channel

    channel = Channel.__new__(Channel)  # as the consumer leaves it: transport detached

    class Detached:
        client = None

    channel.connection = Detached()
    with pytest.raises(redis.exceptions.ConnectionError):
        channel._connparams()
