"""A station with its MinIO key alone, and the intake that records what it handed over.

The station puts the original and a custody record into raw and keeps no ledger; the
intake (a processing watcher, `retry --failed`, `sohoa worker`) makes the ledger rows
with the station's ids, once however many intakes run, and the document is processed
from the very version of the original recorded at custody.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from minio import Minio
from minio.error import S3Error

from pipeline.config import load_config
from pipeline.flow import custody, intake
from pipeline.flow.context import Services
from pipeline.storage.checksum import put_bytes_checksummed
from pipeline.storage.ledger import SqliteLedger
from pipeline.storage.objects import connect
from tests.support.backends import BACKENDS, make_ledger
from tests.support.cli import json_lines, sohoa
from tests.support.watch import CODE, quick_env, tiny_page
from tests.support.web import role_cfg, role_env, setup_roles

pytestmark = pytest.mark.integration


@pytest.fixture
def keys(minio_server, sohoa_env):
    return setup_roles(minio_server, sohoa_env)


def _station(sohoa_env, keys, tmp_path) -> dict[str, str]:
    """A station as an office deploys it: its key, and URLs of servers it must never need."""
    return {
        **quick_env(role_env(sohoa_env, keys, "station"), tmp_path),
        "SOHOA_DATABASE_URL": "postgresql://nobody:nothing@127.0.0.1:9/none",
        "SOHOA_BROKER_URL": "redis://:nothing@127.0.0.1:9/0",
        "SOHOA_EXECUTOR": "celery",
    }


def test_a_station_hands_over_with_nothing_but_its_minio_key(sohoa_env, keys, tmp_path):
    inbox = Path(sohoa_env["SOHOA_INBOX"]) / "motcua-01" / CODE
    data = tiny_page(inbox / "trang-1.png", 1)
    tiny_page(inbox / "trang-2.png", 2)
    hostile = os.fsencode(inbox) + b"/x\xff\n\xe2\x80\xaey.png"  # not UTF-8, a newline, RLO
    Path(os.fsdecode(hostile)).write_bytes(tiny_page(tmp_path / "h.png", 5))
    station = _station(sohoa_env, keys, tmp_path)
    done = sohoa(station, "--json", "watch", "--once")
    assert done.returncode == 0, done.stderr
    rows = json_lines(done.stdout)
    assert [r["status"] for r in rows] == ["stored_raw"] * 3
    assert len({r["batch_id"] for r in rows}) == 1  # one drop group, one batch
    assert not [p for p in Path(sohoa_env["SOHOA_INBOX"]).rglob("*") if p.is_file()]
    assert not load_config(env=station).ledger_path.exists()
    operator = connect(role_cfg(sohoa_env, keys, "operator"))
    records = [
        intake.CustodyRecord.from_json(operator.get_bytes(operator.raw_bucket, k))
        for k in operator.list_keys(operator.raw_bucket, intake.RECORD_PREFIX)
    ]
    assert {r.name_bytes for r in records} == {b"trang-1.png", b"trang-2.png", hostile[-11:]}
    (rec,) = [r for r in records if r.document_id == rows[0]["document_id"]]
    assert rec.seq == 1
    assert rec.sha256 == hashlib.sha256(data).hexdigest() and rec.size == len(data)
    assert (rec.station, rec.folder_name, rec.name_bytes) == ("motcua-01", CODE, b"trang-1.png")
    assert rec.raw_version and rec.actor.startswith("station:")
    assert operator.stat(operator.raw_bucket, rec.raw_key).version_id == rec.raw_version


def test_the_original_is_read_by_the_version_recorded_at_custody(sohoa_env, keys, tmp_path):
    """The station key puts other bytes over raw/sha256/<hex> after custody: the document is
    still processed from the locked original, not failed for a hash mismatch."""
    inbox = Path(sohoa_env["SOHOA_INBOX"]) / "motcua-01"
    data = tiny_page(inbox / f"{CODE}__don.png", 3)
    station = _station(sohoa_env, keys, tmp_path)
    assert sohoa(station, "watch", "--once").returncode == 0
    digest = hashlib.sha256(data).hexdigest()
    key = keys["station"]
    client = Minio(sohoa_env["SOHOA_MINIO_ENDPOINT"], key.access_key, key.secret_key, secure=False)
    put_bytes_checksummed(
        client, sohoa_env["SOHOA_BUCKET_RAW"], f"sha256/{digest}", b"not the scan", "image/png"
    )
    worker = {
        **quick_env(role_env(sohoa_env, keys, "worker"), tmp_path),
        "SOHOA_HOME": str(tmp_path / "worker-home"),
        "SOHOA_INBOX": str(tmp_path / "worker-inbox"),
    }
    done = sohoa(worker, "--json", "retry", "--failed")
    assert done.returncode == 0, done.stderr
    (row,) = json_lines(done.stdout)
    assert row["status"] == "indexed" and row["pdf_key"] == f"{CODE}/{CODE}.1.pdf", row
    ledger = SqliteLedger(load_config(env=worker).ledger_path)
    doc = ledger.get_document(row["document_id"])
    assert doc.sha256 == digest and doc.raw_version


def test_the_station_key_puts_originals_and_records_and_nothing_else(sohoa_env, keys):
    key = keys["station"]
    client = Minio(sohoa_env["SOHOA_MINIO_ENDPOINT"], key.access_key, key.secret_key, secure=False)
    raw = sohoa_env["SOHOA_BUCKET_RAW"]
    put_bytes_checksummed(client, raw, "intake/2026-01-01/000000000000-d0.json", b"{}", "x")
    for where in ("elsewhere/x", "sources/x", "intake-x"):
        with pytest.raises(S3Error) as denied:
            put_bytes_checksummed(client, raw, where, b"x", "text/plain")
        assert denied.value.code == "AccessDenied"


def _hand_over_files(sohoa_env, keys, tmp_path, n: int) -> list[str]:
    store = connect(role_cfg(sohoa_env, keys, "station"))
    ids = []
    for i in range(n):
        path = tmp_path / "in" / f"f{i}.png"
        tiny_page(path, 40 + i)
        rec, _ = custody.hand_over(
            store,
            path,
            batch_id="b" + "0" * 11,
            doc_id=f"d{i:011x}",
            seq=i + 1,
            station="motcua-01",
            origin=f"motcua-01/{CODE}",
            folder_name=CODE,
            actor="station:test:test",
        )
        ids.append(rec.document_id)
    return ids


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_intakes_at_once_record_each_document_once(sohoa_env, keys, tmp_path, request, backend):
    ids = _hand_over_files(sohoa_env, keys, tmp_path, 6)
    # The same bytes again, under a document id of its own: a duplicate, not a second live one.
    again = tmp_path / "in" / "again.png"
    tiny_page(again, 40)
    dup, _ = custody.hand_over(
        connect(role_cfg(sohoa_env, keys, "station")),
        again,
        batch_id="b" + "1" * 11,
        doc_id="d" + "f" * 11,
        seq=1,
        station="motcua-02",
        origin="motcua-02",
        folder_name=None,
        actor="station:test:test",
    )
    worker_cfg = role_cfg(sohoa_env, keys, "worker")
    url = None if backend == "sqlite" else request.getfixturevalue("postgres_server").new_database()
    created: list[list[str]] = [[], []]
    logs: list[str] = []

    def one(n: int) -> None:
        ledger = make_ledger(backend, tmp_path / "shared", request, url)
        svc = Services(worker_cfg, ledger, connect(worker_cfg), None)  # type: ignore[arg-type]
        cursor = intake.Cursor(600)
        created[n] = [
            d.id
            for d in intake.take_in(
                svc, cursor, actor=f"i{n}", owner=None, lease_until=None, log=logs.append
            )
        ]
        ledger.close()

    (tmp_path / "shared").mkdir()
    threads = [threading.Thread(target=one, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(created[0] + created[1]) == sorted(ids), created
    ledger = make_ledger(backend, tmp_path / "shared", request, url)
    docs = {d.id: d for d in ledger.find_documents()}
    assert set(docs) == {*ids, dup.document_id}
    assert docs[dup.document_id].state == "duplicate"
    assert docs[dup.document_id].duplicate_of == ids[0]
    for doc_id in ids:
        events = ledger.events(document_id=doc_id)
        assert [e["stage"] for e in events] == ["intake"], events
        assert docs[doc_id].state == "stored_raw" and docs[doc_id].raw_version
    assert {d.batch_id for d in docs.values()} == {"b" + "0" * 11, "b" + "1" * 11}
    assert not logs, logs


def test_a_record_that_is_not_one_is_skipped_not_applied(sohoa_env, keys, tmp_path):
    ids = _hand_over_files(sohoa_env, keys, tmp_path, 1)
    station = connect(role_cfg(sohoa_env, keys, "station"))
    forged = {
        "intake/2000-01-01/000000000000-d000000000001.json": b"not json",
        "intake/2000-01-01/000000000001-d000000000002.json": b'{"format": 1, "batch_id": "x"}',
        "intake/2000-01-01/whatever.json": b"{}",
    }
    for key, body in forged.items():
        station.put_bytes(station.raw_bucket, key, body, content_type="application/json")
    worker_cfg = role_cfg(sohoa_env, keys, "worker")
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    svc = Services(worker_cfg, ledger, connect(worker_cfg), None)  # type: ignore[arg-type]
    logs: list[str] = []
    cursor = intake.Cursor(600, tmp_path / "intake.cursor")
    made = intake.take_in(svc, cursor, actor="t", owner=None, lease_until=None, log=logs.append)
    assert [d.id for d in made] == ids
    assert [d.id for d in ledger.find_documents()] == ids
    assert len(logs) == 3 and all("skipped" in line for line in logs), logs
    # Nothing new: one listing, nothing read, nothing applied; the cursor survives a restart.
    again = intake.Cursor(600, tmp_path / "intake.cursor")
    assert again.last == cursor.last and again.start_after()
    made = intake.take_in(svc, again, actor="t", owner=None, lease_until=None, log=logs.append)
    assert made == []
    assert len(logs) == 3


def test_a_file_written_to_after_it_was_handed_over_stays_in_the_inbox(sohoa_env, keys, tmp_path):
    """A writer the station cannot see resumes after the upload: the bytes handed over
    are a document of their own (raw and its record are locked), the file stays in the
    inbox as it is now, to be handed over again."""
    store = connect(role_cfg(sohoa_env, keys, "station"))
    path = Path(sohoa_env["SOHOA_INBOX"]) / "motcua-01" / "scan.png"
    first = tiny_page(path, 61)
    put_bytes = store.put_bytes

    def record_then_writer_resumes(*args, **kwargs):
        digest = put_bytes(*args, **kwargs)
        with open(path, "ab") as fh:
            fh.write(b"more pages")
        return digest

    store.put_bytes = record_then_writer_resumes  # type: ignore[method-assign]
    with pytest.raises(custody.FileChanged):
        custody.hand_over(
            store,
            path,
            batch_id="b" + "2" * 11,
            doc_id="d" + "2" * 11,
            seq=1,
            station="motcua-01",
            origin="motcua-01/scan.png",
            folder_name=None,
            actor="station:test:test",
        )
    assert path.read_bytes() == first + b"more pages"
    store.put_bytes = put_bytes  # type: ignore[method-assign]
    rec, _ = custody.hand_over(
        store,
        path,
        batch_id="b" + "3" * 11,
        doc_id="d" + "3" * 11,
        seq=1,
        station="motcua-01",
        origin="motcua-01/scan.png",
        folder_name=None,
        actor="station:test:test",
    )
    assert not path.exists()
    operator = connect(role_cfg(sohoa_env, keys, "operator"))
    shas = {
        intake.CustodyRecord.from_json(operator.get_bytes(operator.raw_bucket, k)).sha256
        for k in operator.list_keys(operator.raw_bucket, intake.RECORD_PREFIX)
    }
    assert shas == {hashlib.sha256(first).hexdigest(), rec.sha256}
    assert rec.sha256 == hashlib.sha256(first + b"more pages").hexdigest()


def test_the_intake_lists_a_margin_behind_its_cursor(sohoa_env, keys, tmp_path):
    """A record written after the cursor moved on, under a key a few minutes older (a
    station whose clock is behind), is still taken in; one pass when nothing is new."""
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from pipeline.archive.layout import raw_key

    (first,) = _hand_over_files(sohoa_env, keys, tmp_path, 1)
    worker_cfg = role_cfg(sohoa_env, keys, "worker")
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    svc = Services(worker_cfg, ledger, connect(worker_cfg), None)  # type: ignore[arg-type]
    cursor = intake.Cursor(600)

    def take() -> list[str]:
        made = intake.take_in(svc, cursor, actor="t", owner=None, lease_until=None, log=print)
        return [d.id for d in made]

    assert take() == [first]
    assert take() == []
    station = connect(role_cfg(sohoa_env, keys, "station"))
    operator = connect(role_cfg(sohoa_env, keys, "operator"))
    (key,) = operator.list_keys(operator.raw_bucket, intake.RECORD_PREFIX)
    rec = intake.CustodyRecord.from_json(operator.get_bytes(operator.raw_bucket, key))
    digest = hashlib.sha256(b"another scan").hexdigest()
    late = dataclasses.replace(
        rec, document_id="d" + "5" * 11, sha256=digest, raw_key=raw_key(digest)
    )
    behind = datetime.now(UTC) - timedelta(minutes=5)
    station.put_bytes(
        station.raw_bucket, intake.record_key(late.document_id, behind), late.to_json()
    )
    assert take() == [late.document_id]
    assert take() == []
