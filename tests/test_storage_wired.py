"""Every process with its role's key (issue 15 item 1): the matrix MinIO enforces, each denial
as the pipeline meets it, custody by a station that cannot read back, and the pipeline end to
end with nothing but the worker key."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from pathlib import Path

import pytest
from minio import Minio
from minio.error import S3Error

from pipeline.config import load_config
from pipeline.errors import ExitCode, StorageDenied, StorageIntegrityError, StorageUnavailable
from pipeline.flow import custody
from pipeline.storage.checksum import put_bytes_checksummed
from pipeline.storage.ledger import SqliteLedger
from pipeline.storage.objects import connect
from pipeline.storage.roles import BUCKET_KINDS, CAPABILITIES, ROLES, role_can
from tests.support.cli import json_lines, sohoa
from tests.support.minio import MinioServer
from tests.support.proxy import TamperingProxy
from tests.support.watch import CODE, page_bytes, quick_env, tiny_page
from tests.support.web import role_cfg, role_env, setup_roles

pytestmark = pytest.mark.integration
ACTIONS = ("put", "get", "list", "delete")


@pytest.fixture
def keys(minio_server: MinioServer, sohoa_env: dict[str, str]):
    return setup_roles(minio_server, sohoa_env)


def _bucket(env: dict[str, str], kind: str) -> str:
    return env[f"SOHOA_BUCKET_{kind.upper()}"]


def _try(client: Minio, action: str, bucket: str, key: str) -> bool:
    """Whether MinIO lets ``client`` do ``action``; AccessDenied is False, anything else fails."""
    try:
        if action == "put":
            put_bytes_checksummed(
                # under sha256/: the only place (with intake/) a station may put
                client,
                bucket,
                f"sha256/probe-{secrets.token_hex(4)}",
                b"p",
                "text/plain",
            )
        elif action == "get":
            client.get_object(bucket, key).close()
        elif action == "list":
            list(client.list_objects(bucket, recursive=True))
        else:
            client.remove_object(bucket, key)
    except S3Error as exc:
        if exc.code == "AccessDenied":
            return False
        raise
    return True


def test_role_by_action_matrix_is_what_minio_enforces(minio_server, sohoa_env, keys):
    """The table the processes consult (CAPABILITIES) against the server, cell by cell."""
    root = Minio(
        minio_server.endpoint, minio_server.access_key, minio_server.secret_key, secure=False
    )
    seen: dict[tuple[str, str, str], bool] = {}
    for role in ROLES:
        key = keys[role]
        client = Minio(minio_server.endpoint, key.access_key, key.secret_key, secure=False)
        for kind in BUCKET_KINDS:
            bucket = _bucket(sohoa_env, kind)
            for action in ACTIONS:
                target = f"target-{role}-{action}"
                put_bytes_checksummed(root, bucket, target, b"t", "text/plain")
                seen[(role, kind, action)] = _try(client, action, bucket, target)
    expected = {cell: role_can(cell[0], cell[2], cell[1]) for cell in seen}
    assert seen == expected
    assert not any(seen[(r, k, "delete")] for r in ROLES for k in ("raw", "archive"))
    assert CAPABILITIES["station"] == {"raw": frozenset({"put"})}


def test_each_denial_reaches_the_caller_as_not_allowed_naming_the_role(sohoa_env, keys, tmp_path):
    station, web = (connect(role_cfg(sohoa_env, keys, r)) for r in ("station", "web"))
    operator, worker = (connect(role_cfg(sohoa_env, keys, r)) for r in ("operator", "worker"))
    f = tmp_path / "scan.png"
    f.write_bytes(page_bytes(1))
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    station.put_file(station.raw_bucket, f"sha256/{digest}", f, digest)  # checksum, no read-back
    denials = [
        (station, lambda: station.get_bytes(station.raw_bucket, f"sha256/{digest}"), "station"),
        (station, lambda: station.remove(station.raw_bucket, f"sha256/{digest}"), "station"),
        (station, lambda: list(station.list_keys(station.raw_bucket)), "station"),
        (web, lambda: web.put_bytes(web.archive_bucket, "x/x.1.json", b"{}"), "web"),
        (web, lambda: web.get_bytes(web.raw_bucket, f"sha256/{digest}"), "web"),
        (operator, lambda: operator.put_bytes(operator.archive_bucket, "y", b"y"), "operator"),
        (worker, lambda: worker.remove(worker.raw_bucket, f"sha256/{digest}"), "worker"),
    ]
    for _, call, role in denials:
        with pytest.raises(StorageDenied) as info:
            call()
        assert info.value.exit_code == ExitCode.NOT_ALLOWED == 5
        assert f"the {role} key ({keys[role].access_key})" in str(info.value)
        assert str(keys[role].secret_key) not in str(info.value)
    assert operator.get_bytes(operator.raw_bucket, f"sha256/{digest}") == f.read_bytes()


def test_buckets_are_checked_not_created_by_role_keys(minio_server, sohoa_env, keys):
    station, worker = (connect(role_cfg(sohoa_env, keys, r)) for r in ("station", "worker"))
    station.ensure_buckets()  # a station cannot even look: its first upload proves raw
    worker.ensure_buckets()
    root = Minio(
        minio_server.endpoint, minio_server.access_key, minio_server.secret_key, secure=False
    )
    root.remove_bucket(worker.work_bucket)  # (an empty plain bucket: only root can)
    with pytest.raises(StorageUnavailable) as info:
        worker.ensure_buckets()
    assert "does not exist" in str(info.value) and "storage setup" in str(info.value)
    assert info.value.exit_code == 4
    assert not root.bucket_exists(worker.work_bucket)  # it did not make one without a lock
    other = load_config(
        env={**role_env(sohoa_env, keys, "worker"), "SOHOA_BUCKET_RAW": "raw-other"}
    )
    with pytest.raises(StorageDenied) as denied:
        connect(other).ensure_buckets()
    assert "storage setup" in str(denied.value) and denied.value.exit_code == 5


def test_custody_with_the_station_key_keeps_the_file_until_minio_confirms_it(
    minio_server, sohoa_env, keys, tmp_path
):
    """A byte flipped on the way to MinIO: refused, the file stays in the inbox, nothing kept."""
    host, port = minio_server.endpoint.split(":")
    inbox = Path(sohoa_env["SOHOA_INBOX"]) / "motcua-01"
    f = inbox / "scan.png"
    data = tiny_page(f, 7) + secrets.token_bytes(500)  # bigger than the proxy's flip offset
    f.write_bytes(data)
    with TamperingProxy((host, int(port)), tamper=True) as proxy:
        cfg = load_config(
            env={**role_env(sohoa_env, keys, "station"), "SOHOA_MINIO_ENDPOINT": proxy.endpoint}
        )
        store, ledger = connect(cfg), SqliteLedger(cfg.ledger_path)
        batch = ledger.create_batch("motcua-01", "test", "watcher")
        with pytest.raises(StorageIntegrityError):
            custody.accept_file(
                ledger,
                store,
                cfg,
                f,
                batch_id=batch,
                station="motcua-01",
                folder_name=None,
                dossier_hint=None,
                actor="watcher",
            )
        assert proxy.flipped >= 1
    assert f.read_bytes() == data
    (doc,) = ledger.find_documents()
    assert doc.state == "received" and doc.raw_key is None
    operator = connect(role_cfg(sohoa_env, keys, "operator"))
    assert operator.stat(operator.raw_bucket, f"sha256/{hashlib.sha256(data).hexdigest()}") is None


def _drop(inbox: Path, n: int, folder: str = CODE) -> bytes:
    return tiny_page(inbox / "motcua-01" / folder / f"trang-{n}.png", n)


def test_station_takes_custody_and_a_worker_on_the_same_home_runs_the_documents(
    sohoa_env, keys, tmp_path
):
    station_env = quick_env(role_env(sohoa_env, keys, "station"), tmp_path)
    inbox = Path(sohoa_env["SOHOA_INBOX"])
    first = _drop(inbox, 1)
    _drop(inbox, 2)
    (inbox / "motcua-01" / CODE / "trang-1-copy.png").write_bytes(first)  # the same bytes twice
    result = sohoa(station_env, "--json", "watch", "--once")
    assert result.returncode == 0, result.stderr
    rows = json_lines(result.stdout)
    # A station has no ledger: identical files are both handed over, the intake sorts them.
    assert [r["status"] for r in rows] == ["stored_raw"] * 3
    assert "custody only" in result.stderr
    assert not [p for p in inbox.rglob("*") if p.is_file()], "the inbox is emptied"
    cfg = load_config(env=station_env)
    assert not cfg.ledger_path.exists(), "a station keeps no ledger"
    assert not list(cfg.spool_dir.glob("*")), "a station keeps no copies once MinIO confirmed"
    operator = connect(role_cfg(sohoa_env, keys, "operator"))
    records = list(operator.list_keys(operator.raw_bucket, "intake/"))
    assert len(records) == 3

    worker_env = quick_env(role_env(sohoa_env, keys, "worker"), tmp_path)
    worker_env["SOHOA_INBOX"] = str(tmp_path / "worker-inbox")  # the station's inbox is its own
    result = sohoa(worker_env, "--json", "watch", "--once")
    assert result.returncode == 0, result.stderr
    ledger = SqliteLedger(cfg.ledger_path)
    assert {r["document_id"] for r in rows} == {d.id for d in ledger.find_documents()}
    assert sorted(d.state for d in ledger.find_documents()) == ["duplicate", "indexed", "indexed"]
    indexed = ledger.find_documents(states=["indexed"])
    assert sorted(d.pdf_key for d in indexed) == [f"{CODE}/{CODE}.1.pdf", f"{CODE}/{CODE}.2.pdf"]
    events = ledger.events(document_id=indexed[0].id)
    assert {e["actor"] for e in events} == {"watcher", "worker"}


def test_a_worker_on_another_machine_runs_what_a_station_took(sohoa_env, keys, tmp_path):
    """The station shares nothing but MinIO with the worker: `retry --failed` on the
    worker's own home takes the station's custody records in and runs them."""
    inbox = Path(sohoa_env["SOHOA_INBOX"])
    _drop(inbox, 3)
    station_env = quick_env(role_env(sohoa_env, keys, "station"), tmp_path)
    (handed,) = json_lines(sohoa(station_env, "--json", "watch", "--once").stdout)
    worker_env = {
        **role_env(sohoa_env, keys, "worker"),
        "SOHOA_HOME": str(tmp_path / "worker-home"),
        "SOHOA_INBOX": str(tmp_path / "worker-inbox"),
    }
    result = sohoa(worker_env, "--json", "retry", "--failed")
    assert result.returncode == 0, result.stderr
    (row,) = json_lines(result.stdout)
    assert row["status"] == "indexed" and row["pdf_key"] == f"{CODE}/{CODE}.1.pdf"
    assert (row["document_id"], row["batch_id"]) == (handed["document_id"], handed["batch_id"])
    again = sohoa(worker_env, "--json", "retry", "--failed")
    assert again.returncode == 0 and "nothing to do" in again.stderr


def test_the_pipeline_runs_with_only_the_worker_key(sohoa_env, keys, tmp_path):
    env = quick_env(role_env(sohoa_env, keys, "worker"), tmp_path)
    page = tmp_path / "own" / "don.png"
    tiny_page(page, 4)
    result = sohoa(env, "--json", "process", str(page), "--dossier", CODE)
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stdout)[0]["status"] == "indexed"
    _drop(Path(sohoa_env["SOHOA_INBOX"]), 5)
    result = sohoa(env, "--json", "watch", "--once")
    assert result.returncode == 0, result.stderr
    assert [r["status"] for r in json_lines(result.stdout)] == ["indexed"]
    assert sohoa(env, "--json", "reindex").returncode == 0


def test_commands_refuse_a_key_that_cannot_do_their_job(sohoa_env, keys, tmp_path):
    page = tmp_path / "don.png"
    tiny_page(page, 6)
    station = role_env(sohoa_env, keys, "station")
    result = sohoa(station, "process", str(page), "--dossier", CODE)
    assert result.returncode == 5 and "worker key" in result.stderr
    assert "sohoa watch" in result.stderr
    web = role_env(sohoa_env, keys, "web")
    result = sohoa(web, "retry", "--failed")
    assert result.returncode == 5 and "web key" in result.stderr
    unset = {**role_env(sohoa_env, keys, "station"), "SOHOA_MINIO_ROLE": ""}
    assert load_config(env=unset).minio.role is None  # the key's name still says "station"
    result = sohoa(unset, "process", str(page))
    assert result.returncode == 5
    assert keys["station"].secret_key not in result.stderr + result.stdout


def test_presigned_links_name_the_public_endpoint(minio_server, sohoa_env, keys, tmp_path):
    """A staff PC reaches MinIO by the office's name for it, not the internal address."""
    host, port = minio_server.endpoint.split(":")
    worker = connect(role_cfg(sohoa_env, keys, "worker"))
    body = b"%PDF-1.7 " + os.urandom(64)
    worker.put_bytes(worker.archive_bucket, "c/c.1.pdf", body, content_type="application/pdf")
    with TamperingProxy((host, int(port)), tamper=False) as public:
        env = {
            **role_env(sohoa_env, keys, "web"),
            "SOHOA_MINIO_PUBLIC_ENDPOINT": f"http://{public.endpoint}",
        }
        cfg = load_config(env=env)
        web = connect(cfg)
        url = web.presigned_url(web.archive_bucket, "c/c.1.pdf", cfg.web.link_expiry_seconds)
        assert url.startswith(f"http://{public.endpoint}/") and minio_server.endpoint not in url
        assert keys["web"].access_key in url and minio_server.access_key not in url
        assert "X-Amz-Expires=300" in url
        import urllib.request

        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.read() == body


def test_put_through_the_store_stays_one_request_per_object(sohoa_env, keys):
    """Small objects from a key that cannot read back are checksummed too (put_bytes)."""
    station = connect(role_cfg(sohoa_env, keys, "station"))
    assert (
        station.put_bytes(station.raw_bucket, "sha256/ab", b"abc")
        == hashlib.sha256(b"abc").hexdigest()
    )
    operator = connect(role_cfg(sohoa_env, keys, "operator"))
    stat = operator.client.stat_object(
        operator.raw_bucket, "sha256/ab", extra_headers={"x-amz-checksum-mode": "ENABLED"}
    )
    assert stat.metadata.get("x-amz-checksum-sha256")
    assert io.BytesIO(operator.get_bytes(operator.raw_bucket, "sha256/ab")).read() == b"abc"


def test_nothing_in_the_inbox_makes_a_station_use_more_than_its_key(sohoa_env, keys, tmp_path):
    """Links, a FIFO and copies beside a real scan: the station key puts one original and
    is never asked to read, list or delete (any such call would fail the run with exit 5)."""
    inbox = Path(sohoa_env["SOHOA_INBOX"]) / "motcua-01"
    outside = tmp_path / "elsewhere" / "secret.png"
    tiny_page(outside, 21)
    tiny_page(inbox / "scan.png", 22)
    (inbox / "link.png").symlink_to(outside)
    os.link(outside, inbox / "hard.png")
    os.mkfifo(inbox / "pipe.png")
    env = quick_env(role_env(sohoa_env, keys, "station"), tmp_path)
    result = sohoa(env, "--json", "watch", "--once")
    assert result.returncode == 0, result.stderr
    assert [r["status"] for r in json_lines(result.stdout)] == ["stored_raw"]
    for name in ("link.png", "hard.png", "pipe.png"):
        assert f"skipped motcua-01/{name}" in result.stderr
    assert "may not do that" not in result.stderr
    operator = connect(role_cfg(sohoa_env, keys, "operator"))
    held = list(operator.list_keys(operator.raw_bucket, "sha256/"))
    digest = hashlib.sha256(outside.read_bytes()).hexdigest()
    assert len(held) == 1 and held != [f"sha256/{digest}"]
    assert len(list(operator.list_keys(operator.raw_bucket, "intake/"))) == 1


def test_a_running_worker_watch_takes_up_what_is_queued_meanwhile(sohoa_env, keys, tmp_path):
    """What an operator queues in the web reaches a watcher that is already running."""
    from pipeline.flow.requeue import queue_assign
    from tests.support.watch import Watch

    env = quick_env(role_env(sohoa_env, keys, "worker"), tmp_path)
    page = tmp_path / "own" / "khong-ma.png"
    tiny_page(page, 31)
    (row,) = json_lines(sohoa(env, "--json", "process", str(page)).stdout)
    assert row["status"] == "needs_dossier"
    ledger = SqliteLedger(load_config(env=env).ledger_path)
    with Watch(env) as watch:
        watch.wait_for(lambda: b"watching" in b"".join(watch.err), 60, "the watcher to start")
        queue_assign(ledger, row["document_id"], CODE, "web:op")
        watch.wait_for(
            lambda: ledger.get_document(row["document_id"]).state == "indexed", 180, "the pick-up"
        )
        assert watch.stop() == 0
    assert ledger.get_document(row["document_id"]).pdf_key == f"{CODE}/{CODE}.1.pdf"


def test_documents_of_one_stack_archived_at_once_all_reach_the_source_marker(sohoa_env, keys):
    """A retry archives the documents of a split stack side by side, each adding itself to
    the original's marker: none may be lost (CI once saw 3 of 4 with a plain overwrite)."""
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.archive.layout import archived_from, record_source, source_marker_key

    worker = connect(role_cfg(sohoa_env, keys, "worker"))
    sha = secrets.token_hex(32)
    entries = [{"pdf_key": f"C/C.{n}.pdf", "segment": n} for n in range(1, 13)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda e: record_source(worker, sha, e), entries))
    assert sorted(d["segment"] for d in archived_from(worker, sha)) == list(range(1, 13))
    record_source(worker, sha, entries[0])  # again: idempotent by pdf_key
    assert len(archived_from(worker, sha)) == 12

    key = source_marker_key(sha)
    stale = worker.stat(worker.archive_bucket, key).etag
    assert worker.replace_bytes(
        worker.archive_bucket, key, b"{}", etag=stale, content_type="application/json"
    )
    assert not worker.replace_bytes(
        worker.archive_bucket, key, b"[]", etag=stale, content_type="application/json"
    ), "a write over a version that changed since it was read must be refused"
    assert not worker.replace_bytes(
        worker.archive_bucket, key, b"[]", etag=None, content_type="application/json"
    ), "a first write must not replace a marker another machine wrote meanwhile"
    assert worker.get_bytes(worker.archive_bucket, key) == b"{}"
