"""Any file name (issue 9 item 2): names are bytes, recorded losslessly, shown safely.

On Linux a file name is any bytes but ``/`` and NUL. The watcher must never crash on
one (``bad\\xff\\xfe.pdf`` used to stop every station at every start), must keep the
exact bytes, and must never let a newline, a terminal escape or a bidi override into
a log line or a table row.
"""

from __future__ import annotations

import base64
import os
import unicodedata
from pathlib import Path

import pytest

from pipeline import names
from pipeline.config import load_config
from pipeline.storage import objects as store
from pipeline.storage.ledger import SqliteLedger, states
from tests.support.cli import json_lines, sohoa
from tests.support.watch import CODE, Watch, quick_env, tiny_page

NFD = unicodedata.normalize("NFD", "Đơn đề nghị.png").encode("utf-8")

# Each odd name (bytes) and how people should see it.
ODD_NAMES: dict[bytes, str] = {
    b"bad\xff\xfe.pdf": "bad\\xff\\xfe.pdf",
    b"dong\nmoi.png": "dong\\nmoi.png",
    b"tab\tname.png": "tab\\tname.png",
    b"cr\rname.png": "cr\\rname.png",
    b"ctl\x01\x07\x1b[31mred.png": "ctl\\x01\\x07\\x1b[31mred.png",
    b"del\x7f.png": "del\\x7f.png",
    "nel\u0085ls\u2028ps\u2029.png".encode(): "nel\\x85ls\\u2028ps\\u2029.png",
    b"-rf --help.png": "-rf --help.png",
    b"d" * 251 + b".png": "d" * 251 + ".png",
    b"   .png": "   .png",
    "hoa-don\u202egnp.png".encode(): "hoa-don\\u202egnp.png",
    NFD: "Đơn đề nghị.png",
}
SKIPPED = {b"   ": "not one of the accepted types"}


def test_display_escapes_what_breaks_lines_and_keeps_the_rest() -> None:
    for raw, shown in ODD_NAMES.items():
        assert names.display(raw) == shown
        assert names.display(os.fsdecode(raw)) == shown
    assert names.display("Hồ sơ số 1.pdf") == "Hồ sơ số 1.pdf"
    assert names.display(b"a\\xff") == "a\\xff"  # a real backslash stays a backslash


def test_display_never_holds_a_line_break_or_control() -> None:
    every_byte = bytes(b for b in range(1, 256) if b != ord("/"))
    shown = names.display(every_byte)
    shown.encode("utf-8")  # no surrogates left
    assert len(shown.splitlines()) == 1
    assert not [c for c in shown if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]


def test_raw_bytes_round_trip_through_fsdecode() -> None:
    for raw in ODD_NAMES:
        assert names.raw(os.fsdecode(raw)) == raw
        assert names.raw(Path(os.fsdecode(raw))) == raw


def _clean_line(line: str) -> bool:
    return not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in line)


@pytest.mark.integration
@pytest.mark.slow
def test_every_odd_name_beside_good_files(sohoa_env: dict[str, str], tmp_path: Path) -> None:
    env = quick_env(sohoa_env, tmp_path)
    inbox = Path(env["SOHOA_INBOX"])
    folder = inbox / "motcua-01" / CODE
    folder.mkdir(parents=True)
    written: dict[bytes, bytes] = {}
    for n, raw in enumerate([*ODD_NAMES, *SKIPPED], start=10):
        written[raw] = tiny_page(folder / os.fsdecode(raw), n)
    good = {
        b"good.png": tiny_page(folder / "good.png", 1),
        b"other.png": tiny_page(inbox / "motcua-02" / f"{CODE}__other.png", 2),
        b"x.png": tiny_page(inbox / os.fsdecode(b"tr\xe1m-\xff") / f"{CODE}__x.png", 3),
        b"y.png": tiny_page(inbox / "line\nbreak" / f"{CODE}__y.png", 4),
    }
    with Watch(env, "--once") as watch:
        assert watch.wait(300) == 0, watch.stderr
    log = watch.stderr  # decodes as UTF-8 or fails
    assert all(_clean_line(line) for line in log.splitlines()), log

    cfg = load_config(env=env)
    conn = SqliteLedger(cfg.ledger_path)
    docs = conn.find_documents()
    by_raw = {d.source_name_bytes: d for d in docs}
    for raw in good:
        name = raw.decode()
        match = [d for d in docs if d.source_name.endswith(name)]
        assert match and match[0].state == states.INDEXED, (name, match, log)
    assert {d.station for d in docs} == {"motcua-01", "motcua-02", "tr\\xe1m-\\xff", "line\\nbreak"}

    st = store.connect(cfg)
    for raw, shown in ODD_NAMES.items():
        doc = by_raw.get(raw)
        assert doc is not None, (raw, sorted(by_raw, key=repr), log)
        assert doc.state == states.INDEXED, (raw, doc.state, doc.reason)
        assert doc.source_name == shown and doc.source_name_bytes == raw
        assert st.get_bytes(st.raw_bucket, doc.raw_key or "") == written[raw]
        meta = st.stat(st.raw_bucket, doc.raw_key or "").meta
        assert base64.urlsafe_b64decode(meta["original-name-base64"]) == raw
        assert f"took motcua-01/{CODE}/{shown} " in log
    for raw, why in SKIPPED.items():
        assert raw not in by_raw
        assert (folder / os.fsdecode(raw)).exists()
        (line,) = [x for x in log.splitlines() if why in x]
        assert names.display(raw) in line

    # Tables stay one row per batch and one field per column, whatever the names.
    table = sohoa(env, "batches")
    rows = table.stdout.splitlines()
    assert len(rows) == 1 + len({d.batch_id for d in docs}), table.stdout
    assert len({row.count("\t") for row in rows}) == 1, rows
    assert all(_clean_line(row.replace("\t", " ")) for row in rows)
    batch = by_raw[b"dong\nmoi.png"].batch_id
    shown = sohoa(env, "show", batch).stdout.splitlines()  # piped: fields, then the members
    members = [x.split("\t") for x in shown if x.count("\t") == 5]
    assert members[0] == ["seq", "id", "state", "dossier_code", "source_name", "reason"]
    assert len([m for m in members[1:] if m[2] == "indexed"]) == len(ODD_NAMES) + 1


@pytest.mark.integration
def test_process_command_takes_an_odd_name(sohoa_env: dict[str, str], tmp_path: Path) -> None:
    """`sohoa process` on a user's file named with bytes that are not UTF-8."""
    raw = b"ho-so\xff\n.png"
    path = tmp_path / os.fsdecode(raw)
    tiny_page(path, 7)
    result = sohoa(sohoa_env, "--json", "process", "--dossier", CODE, str(path))
    assert result.returncode == 0, result.stderr
    (doc,) = json_lines(result.stdout)
    assert doc["status"] == "indexed", doc
    conn = SqliteLedger(load_config(env=sohoa_env).ledger_path)
    stored = conn.get_document(doc["document_id"])
    assert stored.source_name == "ho-so\\xff\\n.png" and stored.source_name_bytes == raw
    assert path.exists()  # the user's own file is kept
