"""The open-for-writing check reads /proc as it is: real files, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workers import openfiles

pytestmark = pytest.mark.skipif(not openfiles.supported(), reason="needs Linux /proc")


def ident(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def test_only_files_open_for_writing_under_the_root_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    (root / "a").mkdir(parents=True)
    written, appended, rw, read = (root / "a" / n for n in ("w", "ap", "rw", "r"))
    for path in (written, appended, rw, read):
        path.write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.write_bytes(b"x")
    with (
        open(written, "wb"),
        open(appended, "ab"),
        open(rw, "r+b"),
        open(read, "rb"),
        open(outside, "wb"),
    ):
        found = openfiles.open_for_writing(root)
        assert {ident(written), ident(appended), ident(rw)} <= found.files
        assert ident(read) not in found and ident(outside) not in found
    assert not openfiles.open_for_writing(root).files


def test_a_writer_in_another_process_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; f = open(sys.argv[1], 'wb'); print('open', flush=True);"
            " time.sleep(30)",
            str(path),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"open\n"
        assert ident(path) in openfiles.open_for_writing(tmp_path)
    finally:
        writer.kill()
        writer.wait()
    deadline = time.monotonic() + 5
    while ident(path) in openfiles.open_for_writing(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ident(path) not in openfiles.open_for_writing(tmp_path)


def test_odd_names_in_the_path_are_matched(tmp_path: Path) -> None:
    folder = tmp_path / os.fsdecode(b"tr\xff\nm")
    folder.mkdir()
    path = folder / os.fsdecode(b"bad\xfe name.pdf")
    with open(path, "wb"):
        assert ident(path) in openfiles.open_for_writing(tmp_path)
