"""Events that are never lost (issue 21, build 3), on SQLite and PostgreSQL.

The outbox is written in the ledger's own transactions; the dispatcher POSTs each event,
signed, to a real HTTP receiver on loopback (tests/support/onestop.py) that checks the
signature and the timestamp like a one-stop system would, and fails on demand: 500s,
time-outs, refused connections, one dossier only, requests held while a dispatcher is
killed. Dispatchers run in this process (``pass_once``) or as `sohoa events deliver`
processes, two at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from pipeline.config import Config, load_config
from pipeline.errors import DuplicateContent, TransitionError, UsageError
from pipeline.events import signing
from pipeline.events.dispatch import Dispatcher
from pipeline.events.feed import feed_page
from pipeline.storage.ledger import mark_duplicate
from pipeline.storage.ledger import states as st
from pipeline.storage.ledger.outbox import DEAD, DELIVERED, PENDING, announce
from tests.support.backends import BACKENDS, make_ledger, pg_database
from tests.support.cli import json_lines, sohoa
from tests.support.onestop import ERROR, HOLD, OK, SLOW, Receiver

SECRET = "webhook-secret-of-the-test-office"
CODES = [f"000.00.13.H38-261127-{n:04d}" for n in range(1, 6)]


@pytest.fixture(params=BACKENDS)
def kind(request) -> str:
    return request.param


@pytest.fixture
def led(kind, tmp_path, request):
    ledger = make_ledger(kind, tmp_path, request)
    yield ledger
    ledger.close()


@pytest.fixture
def receiver():
    r = Receiver(SECRET).up()
    yield r
    r.release()
    r.down()


def _config(tmp_path: Path, url: str, **webhooks: object) -> Config:
    hooks = {"timeout_seconds": 1.0, "backoff_seconds": 0.01, "backoff_max_seconds": 0.05}
    hooks.update(webhooks)
    return load_config(
        env={
            "SOHOA_HOME": str(tmp_path / "home"),
            "SOHOA_WEBHOOK_URL": url,
            "SOHOA_WEBHOOK_SECRET": SECRET,
        },
        overrides={"webhooks": hooks},
    )


_shas = iter(range(1, 10**6))


def _doc(led, code: str | None = None, batch: str | None = None):
    batch = batch or led.create_batch("motcua-01", "test", "watcher")
    n = next(_shas)
    doc = led.add_document(
        batch,
        actor="watcher",
        source_name=f"Nguyễn Văn A - CCCD {n}.pdf",  # a name a payload must never carry
        source_path=f"/in/Nguyễn Văn A - CCCD {n}.pdf",
        sha256=f"{n:064x}",
        size=10,
        station="motcua-01",
        folder_name=code,
        dossier_hint=None,
    )
    led.transition(doc.id, st.STORED_RAW, actor="w", stage="ingest")
    return led.transition(doc.id, st.PROCESSING, actor="w", stage="run")


def _archive(led, code: str, *, signature: str | None = "PAdES-B-LT", batch: str | None = None):
    doc = _doc(led, code, batch)
    n = led.allocate_ordinal(doc.id, code)
    return led.transition(
        doc.id,
        st.ARCHIVED,
        actor="w",
        stage="archive",
        reason="archived",
        dossier_code=code,
        pdf_key=f"{code}/{code}.{n}.pdf",
        metadata_key=f"{code}/{code}.{n}.json",
        text_key=f"{code}/{code}.{n}.txt",
        pages=2,
        signature=signature,
        pdf_sha256="e" * 64,
        component_code="TP1",
        kind="result",
    )


def _types(led, after: int = 0) -> list[tuple[str, str]]:
    return [(e.document_id, e.type) for e in led.events_after(after, 1000)]


def _last_id(led) -> int:
    events = led.events_after(0, 100000)
    return events[-1].id if events else 0


# --------------------------------------------------------------------------- the outbox


def test_each_change_is_announced_in_its_own_transaction(led):
    signed = _archive(led, CODES[0])
    pending = _archive(led, CODES[0], signature="pending")
    assert _types(led) == [
        (signed.id, "document.archived"),
        (signed.id, "document.signed"),
        (pending.id, "document.archived"),
    ]
    mark = _last_id(led)
    led.transition(signed.id, st.INDEXED, actor="w", stage="index")  # not announced
    led.update_fields(pending.id, reason="lease renewed")  # bookkeeping: not announced
    led.update_fields(pending.id, signature="PAdES-B-LTA", pdf_sha256="d" * 64)  # signed later
    failed = _doc(led)
    led.transition(failed.id, st.FAILED, actor="w", stage="ocr", reason="boom")
    waiting = _doc(led)
    led.transition(waiting.id, st.NEEDS_DOSSIER, actor="w", stage="dossier", reason="no code")
    bad = _doc(led)
    led.transition(bad.id, st.REJECTED, actor="w", stage="inspect", reason="encrypted")
    assert _types(led, mark) == [
        (pending.id, "document.signed"),
        (failed.id, "document.failed"),
        (waiting.id, "document.needs_dossier"),
        (bad.id, "document.rejected"),
    ]
    # What fails writes nothing: a forbidden move, and bytes another live document holds.
    mark = _last_id(led)
    with pytest.raises(TransitionError):
        led.transition(bad.id, st.ARCHIVED, actor="w")
    twin = led.add_document(
        signed.batch_id,
        actor="w",
        source_name="again.pdf",
        source_path=None,
        sha256=signed.sha256,
        size=10,
        station=None,
        folder_name=None,
        dossier_hint=None,
    )
    with pytest.raises(DuplicateContent) as dup:
        led.transition(twin.id, st.STORED_RAW, actor="w")
    assert _types(led, mark) == []
    mark_duplicate(led, twin.id, dup.value.prior, actor="w")
    assert _types(led, mark) == [(twin.id, "document.duplicate")]
    # Taken in from a custody record as a duplicate: announced; rebuilt: not (told before).
    batch = led.get_batch(signed.batch_id)
    came = type(signed)(**{**twin.__dict__, "id": "dintake00001", "state": st.DUPLICATE})
    assert led.restore(batch, came, "intake", "duplicate", stage="intake")
    rebuilt = type(signed)(
        **{**signed.__dict__, "id": "drebuilt0001", "sha256": "9" * 64, "ordinal": 99}
    )
    assert led.restore(batch, rebuilt, "rebuild", "from the archive")
    assert _types(led, mark)[1:] == [("dintake00001", "document.duplicate")]
    ids = [e.id for e in led.events_after(0, 1000)]
    assert ids == sorted(set(ids))


def test_events_carry_codes_states_hashes_and_links_only(led):
    doc = _archive(led, CODES[1])
    archived, signed = led.events_after(0, 10)
    body = json.dumps([archived.as_json(), signed.as_json()], ensure_ascii=False)
    assert "Nguyễn" not in body and "CCCD" not in body and "/in/" not in body
    event = archived.as_json("https://sohoa.example.gov.vn/")
    assert event["type"] == "document.archived" and event["dossier_code"] == CODES[1]
    assert event["document_id"] == doc.id and event["occurred_at"].endswith("+07:00")
    data = event["data"]
    assert (data["state"], data["kind"], data["component_code"]) == ("archived", "result", "TP1")
    assert (data["sha256"], data["pdf_sha256"]) == (doc.sha256, "e" * 64)
    assert data["signature_level"] == "PAdES-B-LT" and data["archive_id"] == f"{CODES[1]}.1"
    assert data["links"]["pdf"] == f"https://sohoa.example.gov.vn/api/v1/documents/{doc.id}/pdf"
    assert archived.as_json()["data"]["links"]["pdf"] == f"/api/v1/documents/{doc.id}/pdf"


def test_a_repeated_write_announces_once(led):
    """PostgreSQL runs a transaction again when its connection broke at commit: the event's
    key, chosen before the first try, keeps the outbox at one row."""
    doc = _archive(led, CODES[0], signature=None)
    mark = _last_id(led)
    for _ in range(2):
        led.backend.write(lambda tx: announce(tx, "same-key", doc, ["document.archived"]))
    assert _types(led, mark) == [(doc.id, "document.archived")]


def test_the_feed_pages_through_every_event_once(led):
    for i in range(12):
        _archive(led, CODES[i % 3])
    seen, after = [], 0
    while True:
        page = feed_page(led, after, 7)
        if not page["events"]:
            assert page["next"] == after
            break
        seen += [e["id"] for e in page["events"]]
        after = page["next"]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 24
    for after, limit in ((-1, 5), (0, 0), (0, 5000)):
        with pytest.raises(UsageError):
            feed_page(led, after, limit)


def test_events_are_numbered_in_commit_order(request, tmp_path):
    """A transaction that announced first and commits last must not let a reader pass its
    event: the later one waits for it (PostgreSQL's outbox lock), so the feed never has a
    hole that fills in behind a poller's cursor."""
    import psycopg

    from pipeline.storage.postgres.ledger import _PgTx

    url = pg_database(request)
    led = make_ledger("postgres", tmp_path, request, url)
    try:
        first, second = _archive(led, CODES[0], signature=None), _doc(led)
        mark = _last_id(led)
        with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as held:
            with held.transaction():
                announce(_PgTx(held, 0), "held-open", first, ["document.archived"])
                later = threading.Thread(
                    target=lambda: led.transition(
                        second.id, st.FAILED, actor="w", stage="ocr", reason="boom"
                    )
                )
                later.start()
                deadline = time.monotonic() + 30
                while later.is_alive() and time.monotonic() < deadline:
                    waiting = led.backend.read(
                        lambda tx: tx.execute(
                            "SELECT COUNT(*) AS n FROM pg_locks WHERE locktype = 'advisory'"
                            " AND NOT granted"
                        ).fetchone()["n"]
                    )
                    if waiting:
                        break
                    time.sleep(0.05)
                # The later transaction is waiting (or, without the lock, done): what a
                # poller sees now must have no hole.
                seen = [e.id for e in led.events_after(mark, 100)]
                assert seen == [], f"event {seen} visible before an earlier one committed"
            later.join(timeout=30)
        ids = [(e.document_id, e.id) for e in led.events_after(mark, 100)]
        assert [d for d, _ in ids] == [first.id, second.id]
    finally:
        led.close()


def test_the_outbox_refuses_an_event_the_ledger_does_not_bear_out(request, tmp_path):
    """On PostgreSQL the web and operator roles may insert events (a decision can settle a
    duplicate): a trigger holds every event to the document's row, so none can announce a
    document as archived, signed or anything else it is not."""
    import psycopg

    url = pg_database(request)
    led = make_ledger("postgres", tmp_path, request, url)
    try:
        failed = _doc(led)
        led.transition(failed.id, st.FAILED, actor="w", stage="ocr", reason="boom")
        unsigned = _archive(led, CODES[2], signature=None)
        count = len(led.events_after(0, 100))
        sha = unsigned.sha256
        forged = [
            (failed.id, "document.archived", None, {"state": "failed", "sha256": failed.sha256}),
            (unsigned.id, "document.signed", CODES[2], {"state": "archived"}),
            (failed.id, "document.failed", None, {"state": "failed", "sha256": "0" * 64}),
            (unsigned.id, "document.archived", CODES[0], {"state": "archived", "sha256": sha}),
        ]
        for doc_id, event_type, code, data in forged:
            with pytest.raises(psycopg.errors.InsufficientPrivilege), psycopg.connect(url) as conn:
                conn.execute(
                    "INSERT INTO outbox (event_key, type, occurred_at, dossier_code,"
                    " document_id, data) VALUES (%s, %s, 'x', %s, %s, %s)",
                    (event_type + doc_id, event_type, code, doc_id, json.dumps(data)),
                )
        assert len(led.events_after(0, 100)) == count
        # what the ledger does bear out goes in (the trigger refuses lies, not events)
        with psycopg.connect(url) as conn:
            conn.execute(
                "INSERT INTO outbox (event_key, type, occurred_at, dossier_code, document_id,"
                " data) VALUES ('true', 'document.archived', 'x', %s, %s, %s)",
                (CODES[2], unsigned.id, json.dumps({"state": "archived", "sha256": sha})),
            )
        assert len(led.events_after(0, 100)) == count + 1
    finally:
        led.close()


# ------------------------------------------------------------------------ delivering


def _deliver_until(dispatcher: Dispatcher, done, *, passes: int = 200) -> int:
    for n in range(passes):
        dispatcher.pass_once()
        if done():
            return n + 1
        time.sleep(0.02)
    raise AssertionError("not delivered")


def _in_dossier_order(receiver: Receiver) -> bool:
    return all(ids == sorted(ids) for ids in receiver.by_dossier().values())


def test_a_receiver_down_for_a_while_loses_nothing(led, receiver, tmp_path):
    cfg = _config(tmp_path, receiver.url, max_attempts=50)
    dispatcher = Dispatcher(cfg, led)
    for i in range(6):
        _archive(led, CODES[i % 3])
    wanted = [e.id for e in led.events_after(0, 1000)]
    receiver.mode = ERROR  # 500s
    for _ in range(3):
        dispatcher.pass_once()
    assert set(receiver.verdicts()) == {"refused"} and receiver.accepted == []
    receiver.down()  # connections refused
    for _ in range(2):
        dispatcher.pass_once()
    receiver.up()
    receiver.mode = SLOW  # answers after the dispatcher's time-out
    receiver.slow_seconds = 2.0
    dispatcher.pass_once()
    receiver.mode = OK
    for i in range(3):  # and new events meanwhile
        _archive(led, CODES[3 + i % 2])
    wanted += [e.id for e in led.events_after(wanted[-1], 1000)]
    _deliver_until(dispatcher, lambda: sorted(receiver.ids()) == wanted)
    assert sorted(receiver.ids()) == wanted  # every event, none lost
    assert len(receiver.ids()) == len(set(receiver.ids()))  # any repeat was by id
    assert _in_dossier_order(receiver)
    assert not receiver.overlaps and "forged" not in receiver.verdicts()
    counts = led.outbox.counts()
    assert counts[DELIVERED] == len(wanted) and counts[PENDING] == counts[DEAD] == 0


def test_one_stuck_dossier_waits_in_order_and_others_go_on(led, receiver, tmp_path):
    cfg = _config(tmp_path, receiver.url, max_attempts=3)
    dispatcher = Dispatcher(cfg, led)
    stuck = [_archive(led, CODES[0]) for _ in range(2)]  # 4 events of one dossier
    others = [_archive(led, CODES[1 + i % 2]) for i in range(4)]
    receiver.fail_dossiers = {CODES[0]}
    other_ids = [e.id for e in led.events_after(0, 100) if e.dossier_code != CODES[0]]
    _deliver_until(dispatcher, lambda: sorted(receiver.ids()) == other_ids)
    # The stuck dossier's first event is tried until it is dead; the rest wait behind it.
    _deliver_until(dispatcher, lambda: led.outbox.counts()[DEAD] == 1)
    rows = {d.event.id: d for d in led.outbox.deliveries()}
    first = min(e.id for e in led.events_after(0, 100) if e.dossier_code == CODES[0])
    assert rows[first].state == DEAD and rows[first].attempts == 3
    assert rows[first].last_status == 500
    waiting = [d for d in rows.values() if d.state == PENDING]
    assert len(waiting) == 3 and {d.waiting_for for d in waiting} == {first}
    assert all(d.attempts == 0 for d in waiting)
    # An operator replays it once the one-stop system is mended: all four, in order.
    receiver.fail_dossiers = set()
    assert led.outbox.request_replay(first, None, "cli:op") == 1
    assert led.outbox.request_replay(999999, None, "cli:op") == -1
    _deliver_until(dispatcher, lambda: led.outbox.counts()[DELIVERED] == 12)
    assert receiver.by_dossier()[CODES[0]] == sorted(
        e.id for e in led.events_after(0, 100) if e.dossier_code == CODES[0]
    )
    assert {d.id for d in stuck + others} == {e["document_id"] for e in receiver.accepted}


def test_forged_and_replayed_webhooks_are_detectable(led, receiver, tmp_path):
    cfg = _config(tmp_path, receiver.url)
    doc = _archive(led, CODES[0], signature=None)
    _deliver_until(Dispatcher(cfg, led), lambda: len(receiver.accepted) == 1)
    sent = receiver.requests[0]
    assert sent.verdict == "accepted" and sent.headers["X-Sohoa-Event-Id"] == "1"
    event = signing.verify(SECRET, sent.body, sent.headers["X-Sohoa-Signature"])
    assert event["document_id"] == doc.id and event["timestamp"] == int(
        sent.headers["X-Sohoa-Timestamp"]
    )
    headers = {k: v for k, v in sent.headers.items() if k.startswith("X-Sohoa")}
    with httpx.Client() as client:
        # the same request again: taken once (a duplicate by id)
        assert client.post(receiver.url, content=sent.body, headers=headers).status_code == 200
        # a changed body under the old signature: forged
        tampered = sent.body.replace(doc.id.encode(), b"d00000000000")
        assert client.post(receiver.url, content=tampered, headers=headers).status_code == 401
        # signed with another key: forged
        other = {**headers, "X-Sohoa-Signature": signing.signature("not-the-secret!!", sent.body)}
        assert client.post(receiver.url, content=sent.body, headers=other).status_code == 401
        # the same request ten minutes later: a replay, refused by its signed timestamp
        receiver.clock_offset = 600
        assert client.post(receiver.url, content=sent.body, headers=headers).status_code == 401
        # and its timestamp cannot be moved without the secret
        moved = sent.body.replace(
            f'"timestamp":{event["timestamp"]}'.encode(),
            f'"timestamp":{event["timestamp"] + 600}'.encode(),
        )
        assert moved != sent.body
        assert client.post(receiver.url, content=moved, headers=headers).status_code == 401
    assert [r.verdict for r in receiver.requests] == [
        "accepted",
        "duplicate",
        "forged",
        "forged",
        "stale",
        "forged",
    ]
    with pytest.raises(ValueError):
        signing.verify(SECRET, sent.body, headers["X-Sohoa-Signature"], now=time.time() + 600)


# ----------------------------------------------------------- dispatchers as processes


def _process_env(kind: str, request, tmp_path: Path, receiver: Receiver, **hooks) -> dict:
    settings = {"timeout_seconds": 2, "backoff_seconds": 0.05, "backoff_max_seconds": 0.2}
    settings.update(hooks)
    conf = tmp_path / "events.yaml"
    conf.write_text(
        "webhooks:\n" + "".join(f"  {k}: {v}\n" for k, v in settings.items()), encoding="utf-8"
    )
    env = {
        "SOHOA_HOME": str(tmp_path / "home"),
        "SOHOA_CONFIG": str(conf),
        "SOHOA_WEBHOOK_URL": receiver.url,
        "SOHOA_WEBHOOK_SECRET": SECRET,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    if kind == "postgres":
        env["SOHOA_DATABASE_URL"] = pg_database(request)
    return env


def _ledger_of(env: dict[str, str]):
    from pipeline.storage.ledger import open_ledger

    return open_ledger(load_config(env=env))


def _dispatcher_process(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "events", "deliver"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_two_dispatchers_at_once_never_deliver_one_event_twice(kind, request, tmp_path):
    receiver = Receiver(SECRET, pause_seconds=0.05).up()
    env = _process_env(kind, request, tmp_path, receiver, batch=5)
    led = _ledger_of(env)
    procs = []
    try:
        for i in range(20):
            _archive(led, CODES[i % 5])
        wanted = [e.id for e in led.events_after(0, 1000)]
        procs = [_dispatcher_process(env) for _ in range(2)]
        deadline = time.monotonic() + 120
        while len(receiver.accepted) < len(wanted) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for p in procs:
            _stop(p)
        receiver.down()
    assert all(p.returncode == 0 for p in procs), [p.stderr.read() for p in procs]
    assert sorted(receiver.ids()) == wanted
    assert receiver.overlaps == []  # never one event in flight twice
    assert receiver.verdicts() == {"accepted": len(wanted)}  # and, with no failure, once each
    assert _in_dossier_order(receiver)
    holders = {d.holder for d in led.outbox.deliveries(states=(DELIVERED,))}
    assert holders == {None}
    led.close()


def test_a_dispatcher_killed_mid_delivery_is_taken_over(kind, request, tmp_path):
    receiver = Receiver(SECRET).up()
    receiver.mode = HOLD
    env = _process_env(kind, request, tmp_path, receiver, timeout_seconds=1)
    led = _ledger_of(env)
    try:
        for i in range(3):
            _archive(led, CODES[i], signature=None)
        wanted = [e.id for e in led.events_after(0, 1000)]
        proc = _dispatcher_process(env)
        assert receiver.wait_for(1), "the dispatcher never POSTed"
        first = receiver.requests[0].event_id
        proc.send_signal(signal.SIGKILL)  # mid-delivery: the request is in the receiver
        proc.wait()
        receiver.release()  # the receiver answers the dead dispatcher and takes the event
        held = [d for d in led.outbox.deliveries() if d.event.id == first]
        assert held and held[0].holder is not None  # still leased to the dead one
        again = sohoa(env, "--json", "events", "deliver", "--once")
        assert again.returncode == 0, again.stderr
        # the killed one's lease stands: its event is not sent again at once (nor is any
        # later event of its dossier), the other dossiers' events go
        assert first not in [r.event_id for r in receiver.requests[1:]]
        deadline = time.monotonic() + 60
        while sorted(receiver.ids()) != wanted or receiver.verdicts().get("duplicate") != 1:
            assert time.monotonic() < deadline, receiver.verdicts()
            assert sohoa(env, "events", "deliver", "--once").returncode == 0
            time.sleep(0.5)
    finally:
        receiver.down()
    assert receiver.overlaps == []
    assert [r.event_id for r in receiver.requests].count(first) == 2  # at least once
    assert receiver.verdicts() == {"accepted": len(wanted), "duplicate": 1}
    assert led.outbox.counts()[DELIVERED] == len(wanted)
    led.close()


def test_dead_events_are_listed_and_replay_delivers_them(kind, request, tmp_path):
    receiver = Receiver(SECRET).up()
    receiver.mode = ERROR
    env = _process_env(kind, request, tmp_path, receiver, max_attempts=2)
    led = _ledger_of(env)
    try:
        doc = _archive(led, CODES[0], signature=None)
        for _ in range(4):
            assert sohoa(env, "events", "deliver", "--once").returncode == 0
            time.sleep(0.3)
        dead = json_lines(sohoa(env, "--json", "events", "list", "--dead").stdout)
        assert [(r["event_id"], r["state"], r["attempts"]) for r in dead] == [(1, "dead", 2)]
        assert dead[0]["document_id"] == doc.id and "500" in dead[0]["last_error"]
        receiver.mode = OK
        assert sohoa(env, "events", "deliver", "--once").returncode == 0
        assert receiver.accepted == []  # dead stays dead until someone replays it
        missing = sohoa(env, "events", "replay", "77")
        assert missing.returncode == 2 and "no event 77" in missing.stderr
        replay = sohoa(env, "--json", "events", "replay", "1")
        assert replay.returncode == 0, replay.stderr
        listed = json_lines(sohoa(env, "--json", "events", "list").stdout)
        assert listed[0]["state"] == "dead, replay asked"
        done = json_lines(sohoa(env, "--json", "events", "deliver", "--once").stdout)
        assert done == [
            {"delivered": 1, "failed": 0, "dead": 0, "new_deliveries": 0, "replayed": 1}
        ]
    finally:
        receiver.down()
    assert receiver.ids() == [1]
    assert json_lines(sohoa(env, "--json", "events", "list").stdout) == []
    from pipeline.access.stores import open_audit

    rows = open_audit(load_config(env=env)).query(action="events_replay")
    assert [(r.object, r.actor.startswith("cli:")) for r in rows] == [("1", True)]
    led.close()
