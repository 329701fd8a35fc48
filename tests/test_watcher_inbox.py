"""Telling the operator (issue 9 item 7): skipped entries said once, deep folders, duplicates.

An entry the watcher will not take (a symlink, a FIFO, a hard link, a temporary name)
must say why in the log, once, not at every tick; a file deep in a dossier folder
takes the code of the nearest folder that has one; folders emptied by the watcher
go; identical files in one drop end the same way every time.
"""

from __future__ import annotations

import os
import socket
import stat
import time
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.storage.ledger import SqliteLedger, states
from tests.support.watch import CODE, Watch, quick_env, tiny_page

pytestmark = pytest.mark.integration


def test_skipped_entries_are_logged_once_each_with_a_reason(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    env = quick_env(sohoa_env, tmp_path, stable_seconds=0.5)
    inbox = Path(env["SOHOA_INBOX"])
    station = inbox / "motcua-01"
    station.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.png"
    secret_bytes = tiny_page(secret, 99)
    tiny_page(station / f"{CODE}__tot.png", 1)
    (station / "lien-ket.png").symlink_to(secret)
    (inbox / "tram-lien-ket").symlink_to(outside, target_is_directory=True)
    os.link(secret, station / "cung.png")
    os.mkfifo(station / "ong.pdf")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(station / "o-cam.pdf"))
    tiny_page(station / ".an.png", 2)
    tiny_page(station / "dang-chep.png.part", 3)
    (station / "~$van-ban.docx").write_bytes(b"lock")
    (station / "van-ban.docx").write_bytes(b"PK\x03\x04")
    expected = {
        "motcua-01/lien-ket.png": "symbolic link",
        "tram-lien-ket": "symbolic link",
        "motcua-01/cung.png": "hard links",
        "motcua-01/ong.pdf": "FIFO",
        "motcua-01/o-cam.pdf": "socket",
        "motcua-01/.an.png": "hidden",
        "motcua-01/dang-chep.png.part": "temporary",
        "motcua-01/~$van-ban.docx": "temporary",
        "motcua-01/van-ban.docx": "not one of the accepted types",
    }
    try:
        with Watch(env) as watch:
            watch.wait_for(lambda: watch.docs, 120, "the good file")
            time.sleep(3)  # several more ticks and a rescan: nothing may be said twice
            watch.stop()
    finally:
        sock.close()
    (doc,) = watch.docs
    assert doc["status"] == "indexed", doc
    lines = watch.stderr.splitlines()
    for name, reason in expected.items():
        said = [x for x in lines if x.startswith(f"skipped {name}: ")]
        assert len(said) == 1, (name, said, watch.stderr)
        assert reason in said[0], said
    assert secret.read_bytes() == secret_bytes and secret.stat().st_nlink == 2
    for name in expected:
        assert os.path.lexists(inbox / name), name


def test_device_node_is_skipped(sohoa_env: dict[str, str], tmp_path: Path) -> None:
    env = quick_env(sohoa_env, tmp_path, stable_seconds=0.5)
    station = Path(env["SOHOA_INBOX"]) / "motcua-01"
    station.mkdir(parents=True)
    try:
        os.mknod(station / "thiet-bi.pdf", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    with Watch(env, "--once") as watch:
        assert watch.wait(60) == 0, watch.stderr
    assert not watch.docs
    (said,) = [x for x in watch.stderr.splitlines() if "thiet-bi.pdf" in x]
    assert "device" in said


def test_deep_file_takes_the_code_of_the_nearest_folder_that_has_one(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    env = quick_env(sohoa_env, tmp_path)
    station = Path(env["SOHOA_INBOX"]) / "motcua-01"
    other = "000.00.13.H38-261201-0077"
    deep = station / CODE / Path(*[f"tang-{i}" for i in range(30)])
    tiny_page(deep / "sau.png", 1)
    nearer = station / CODE / "a" / other / "b" / "c"
    tiny_page(nearer / "gan.png", 2)
    keep = station / CODE / "giu"
    tiny_page(keep / ".ghi-chu.png", 3)  # skipped (hidden): its folder must stay
    with Watch(env, "--once") as watch:
        assert watch.wait(120) == 0, watch.stderr
    codes = {d["dossier_code"] for d in watch.docs}
    assert codes == {CODE, other}, (watch.docs, watch.stderr)
    assert [d["status"] for d in watch.docs] == ["indexed", "indexed"]
    left = sorted(str(p.relative_to(station)) for p in station.rglob("*"))
    assert left == [CODE, f"{CODE}/giu", f"{CODE}/giu/.ghi-chu.png"], left
    assert station.is_dir()


def test_identical_files_in_one_drop_end_the_same_way_every_time(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    """Forty identical empty files (old enough to be rejected) and five identical pages."""
    env = quick_env(sohoa_env, tmp_path, stable_seconds=0.5)
    inbox = Path(env["SOHOA_INBOX"])
    empties = inbox / "motcua-01"
    empties.mkdir(parents=True)
    old = time.time() - 7200
    for i in range(40):
        path = empties / f"rong-{i:02d}.pdf"
        path.touch()
        os.utime(path, (old, old))
    copies = inbox / "motcua-02" / CODE
    data = tiny_page(copies / "ban-3.png", 1)
    for i in (1, 2, 4, 5):
        (copies / f"ban-{i}.png").write_bytes(data)
    with Watch(env, "--once") as watch:
        assert watch.wait(180) == 3, watch.stderr
    conn = SqliteLedger(load_config(env=env).ledger_path)
    docs = {d.source_name: d for d in conn.find_documents()}
    assert len(docs) == 45

    first_empty = docs["rong-00.pdf"]
    assert first_empty.state == states.REJECTED and "empty file" in (first_empty.reason or "")
    for i in range(1, 40):
        dup = docs[f"rong-{i:02d}.pdf"]
        assert dup.state == states.DUPLICATE and dup.duplicate_of == first_empty.id, dup
        assert "rejected" in (dup.reason or "") and first_empty.id in (dup.reason or "")

    first_page = docs["ban-1.png"]
    assert first_page.state == states.INDEXED
    for i in (2, 3, 4, 5):
        dup = docs[f"ban-{i}.png"]
        assert dup.state == states.DUPLICATE and dup.duplicate_of == first_page.id, dup
        assert first_page.pdf_key and first_page.pdf_key in (dup.reason or "")
    assert len({docs[f"ban-{i}.png"].batch_id for i in range(1, 6)}) == 1, "one folder, one batch"
    assert not [p for p in inbox.rglob("*") if p.is_file()]
