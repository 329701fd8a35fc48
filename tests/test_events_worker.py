"""`sohoa worker`'s events thread (issue 21): it delivers beside the intake, and a database
that is not there yet (or goes away) is waited for, said once, and taken up again."""

from __future__ import annotations

import secrets
import time

from pipeline.config import load_config
from pipeline.storage.postgres.db import Database
from pipeline.storage.postgres.ledger import PostgresLedger
from tests.support.onestop import Receiver
from tests.test_events import CODES, SECRET, _archive
from workers.cli.worker import EventDelivery


def _until(what, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_the_workers_events_thread_delivers_once_its_database_is_there(postgres_server, tmp_path):
    name = f"late_{secrets.token_hex(4)}"
    url = postgres_server.url(name)
    receiver = Receiver(SECRET).up()
    cfg = load_config(
        env={
            "SOHOA_HOME": str(tmp_path / "home"),
            "SOHOA_DATABASE_URL": url,
            "SOHOA_WEBHOOK_URL": receiver.url,
            "SOHOA_WEBHOOK_SECRET": SECRET,
        },
        overrides={"webhooks": {"poll_seconds": 0.2}},
    )
    said: list[str] = []
    thread = EventDelivery(cfg, said.append)
    thread.start()
    try:
        assert _until(lambda: said), "the missing database was never reported"
        assert name in said[0] and len(said) == 1
        postgres_server.psql(f"CREATE DATABASE {name}")
        db = Database(url, name="test")
        ledger = PostgresLedger(db)
        try:
            doc = _archive(ledger, CODES[0])
            assert _until(lambda: len(receiver.accepted) == 2), receiver.verdicts()
        finally:
            ledger.close()
    finally:
        thread.close()
        receiver.down()
    assert not thread._thread.is_alive()
    assert [e["document_id"] for e in receiver.accepted] == [doc.id, doc.id]
    assert len(said) == 1  # the outage said once, not at every retry
