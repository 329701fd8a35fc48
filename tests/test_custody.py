"""Custody when the file changes under it (issue 9 item 1): never archive bytes not recorded.

A writer the watcher cannot see may carry on after the stability window, through
the handle it still holds, while the file is uploaded or just after it was moved
to the spool. These tests make that writer act at exactly those moments (by
wrapping the upload or the move) against a real MinIO and real files: the file
must go back to the inbox, its document back to ``received``, and the next take
must record the bytes as they are then, under the same document.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from pipeline.archive.layout import raw_key
from pipeline.config import Config
from pipeline.flow import custody
from pipeline.storage import objects as store
from pipeline.storage.ledger import Document, SqliteLedger, states
from pipeline.storage.objects import MinioStore
from tests.support.watch import page_bytes

pytestmark = pytest.mark.integration


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def setting(cfg: Config) -> tuple[Config, MinioStore, SqliteLedger]:
    st = store.connect(cfg)
    st.ensure_buckets()
    return cfg, st, SqliteLedger(cfg.ledger_path)


def take(cfg: Config, st: MinioStore, conn, path: Path, **kw) -> Document:
    return custody.accept_file(
        conn,
        st,
        cfg,
        path,
        batch_id=kw.pop("batch_id", None) or conn.create_batch("s", "test", "test"),
        station="s",
        folder_name=None,
        dossier_hint=None,
        actor="test",
        **kw,
    )


def assert_retaken(cfg, st, conn, path: Path, first: bytes, full: bytes) -> None:
    """The file is back with its new bytes; taking it again records those, same document."""
    assert path.read_bytes() == full
    (doc,) = conn.find_documents()
    assert doc.state == states.RECEIVED, doc
    history = conn.events(document_id=doc.id)
    assert history[-1]["from_state"] == states.STORED_RAW and "changed" in history[-1]["reason"]
    assert not custody.spool_path(cfg, doc.id).exists()

    again = take(cfg, st, conn, path)
    assert again.id == doc.id and again.state == states.STORED_RAW
    assert (again.sha256, again.size) == (sha(full), len(full))
    assert custody.spool_path(cfg, doc.id).read_bytes() == full
    assert st.get_bytes(st.raw_bucket, again.raw_key or "") == full
    # The earlier bytes stay in raw (nothing is deleted there), named in the event.
    assert st.get_bytes(st.raw_bucket, raw_key(sha(first))) == first
    assert not path.exists()
    assert len(conn.find_documents()) == 1


def test_file_growing_during_the_upload_is_handed_back(
    setting, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, st, conn = setting
    full = page_bytes(1)
    first = full[: len(full) // 2]
    path = cfg.inbox / "s" / "x.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(first)
    real_put = st.put_file

    def put_then_writer_resumes(*args, **kwargs):
        real_put(*args, **kwargs)
        with open(path, "ab") as fh:
            fh.write(full[len(first) :])

    monkeypatch.setattr(st, "put_file", put_then_writer_resumes)
    with pytest.raises(custody.FileChanged):
        take(cfg, st, conn, path)
    monkeypatch.setattr(st, "put_file", real_put)
    assert_retaken(cfg, st, conn, path, first, full)


def test_writer_handle_following_the_file_into_the_spool_is_handed_back(
    setting, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, st, conn = setting
    full = page_bytes(2)
    first = full[:100]
    path = cfg.inbox / "s" / "y.png"
    path.parent.mkdir(parents=True)
    handle = open(path, "wb")  # the writer's handle, held across the move  # noqa: SIM115
    handle.write(first)
    handle.flush()
    real_take_out = custody._take_out

    def move_then_write(src: Path, dest: Path) -> bool:
        renamed = real_take_out(src, dest)
        handle.write(full[len(first) : 2000])  # lands in the spool copy: same inode
        handle.flush()
        return renamed

    monkeypatch.setattr(custody, "_take_out", move_then_write)
    with pytest.raises(custody.FileChanged):
        take(cfg, st, conn, path)
    monkeypatch.setattr(custody, "_take_out", real_take_out)
    handle.write(full[2000:])  # the handle followed the file back into the inbox
    handle.close()
    assert_retaken(cfg, st, conn, path, first, full)


def test_same_size_rewrite_with_mtime_put_back_is_caught_by_the_hash(
    setting, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, st, conn = setting
    first = page_bytes(3)
    full = page_bytes(4)[: len(first)].ljust(len(first), b"\0")
    path = cfg.inbox / "s" / "z.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(first)
    real_take_out = custody._take_out

    def move_then_rewrite(src: Path, dest: Path) -> bool:
        renamed = real_take_out(src, dest)
        before = os.stat(dest)
        with open(dest, "r+b") as fh:
            fh.write(full)
        os.utime(dest, ns=(before.st_atime_ns, before.st_mtime_ns))
        return renamed

    monkeypatch.setattr(custody, "_take_out", move_then_rewrite)
    with pytest.raises(custody.FileChanged):
        take(cfg, st, conn, path)
    monkeypatch.setattr(custody, "_take_out", real_take_out)
    assert_retaken(cfg, st, conn, path, first, full)


def test_kept_source_that_changes_leaves_processing_the_recorded_bytes(
    setting, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sohoa process` keeps the user's file: a change after hashing drops the spool copy,
    so processing downloads the raw copy, whose hash is the one recorded."""
    cfg, st, conn = setting
    data = page_bytes(5)
    path = tmp_path / "mine.png"
    path.write_bytes(data)
    real_put = st.put_file

    def put_then_user_edits(*args, **kwargs):
        real_put(*args, **kwargs)
        path.write_bytes(data + b"edited")

    monkeypatch.setattr(st, "put_file", put_then_user_edits)
    doc = take(cfg, st, conn, path, keep_source=True)
    assert doc.state == states.STORED_RAW and doc.sha256 == sha(data)
    assert not custody.spool_path(cfg, doc.id).exists()
    assert st.get_bytes(st.raw_bucket, doc.raw_key or "") == data


def test_a_name_swapped_for_a_symlink_or_fifo_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "outside.png"
    target.write_bytes(page_bytes(6))
    link = tmp_path / "link.png"
    link.symlink_to(target)
    with pytest.raises(OSError):
        custody.fingerprint(link)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(OSError):
        custody.fingerprint(fifo)  # refused at once, never blocks waiting for a writer
