"""Terminal tables for people, lines for programs (issue 24, Builds 3 and 4).

The real ``sohoa`` runs under a pseudo-terminal of a known width (what a clerk sees) and
through a pipe (what a script reads), on a ledger, audit log and index made here with
the library's own calls: no MinIO is needed for these listings.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.access.stores import open_audit
from pipeline.config import load_config
from pipeline.storage.index import SqliteIndex
from pipeline.storage.ledger import open_ledger
from tests.support.cli import json_lines, sohoa
from tests.support.cli import on_terminal as _terminal

WIDTH = 100
BUDGET = (
    "time budget of 1 s used up with 0 of 3 pages done (run.max_document_seconds);"
    " the finished pages are kept: sohoa retry resumes"
)
LONG_KEY = "raw/sha256/" + "ab" * 32
_UTC_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A SOHOA_HOME whose ledger holds a batch: a failed, a rejected and a finished document."""
    env = {
        "SOHOA_HOME": str(tmp_path / "home"),
        "SOHOA_INBOX": str(tmp_path / "inbox"),
        "SOHOA_MINIO_ROLE": "",
        "SOHOA_MINIO_ACCESS_KEY": "",
        "SOHOA_MINIO_SECRET_KEY": "",
        "SOHOA_DATABASE_URL": "",
        "COLUMNS": str(WIDTH),
    }
    cfg = load_config(env=env)
    ledger = open_ledger(cfg)
    batch = ledger.create_batch("motcua-01", "cli: /scans", "cli:lan")
    ids = {}
    for n, name in enumerate(("don-dang-ky.pdf", "rong.pdf", "xong.pdf")):
        doc = ledger.add_document(
            batch,
            actor="watcher",
            source_name=name,
            source_path=f"/scans/{name}",
            sha256=f"{n:064x}",
            size=1000 + n,
            station="motcua-01",
            folder_name="scans",
            dossier_hint=None,
            owner="pc:1:2",
        )
        ledger.transition(
            doc.id,
            "stored_raw",
            actor="watcher",
            stage="ingest",
            reason=f"raw copy verified at sohoa-raw/{LONG_KEY}",
            raw_key=LONG_KEY,
        )
        ledger.transition(
            doc.id,
            "processing",
            actor="worker",
            stage="start",
            reason="processing started",
            lease_until="2026-12-07T16:30:00+00:00",
        )
        ids[name] = doc.id
    ledger.transition(
        ids["don-dang-ky.pdf"], "failed", actor="worker", stage="pages", reason=BUDGET, owner=None
    )
    ledger.transition(
        ids["rong.pdf"],
        "rejected",
        actor="worker",
        stage="ingest",
        reason="empty file (0 bytes)",
        owner=None,
    )
    ledger.transition(
        ids["xong.pdf"],
        "needs_dossier",
        actor="worker",
        stage="dossier",
        reason="no dossier code in folder name, file name, QR/barcode or"
        " 'Mã hồ sơ' text; run: sohoa assign X --dossier CODE",
        owner=None,
    )
    ledger.close()
    audit = open_audit(cfg)
    for n in range(6):
        audit.append("cli:lan", "search", None, {"query": f"giay {n}"}, client="cli")
    return {**env, "DOC_FAILED": ids["don-dang-ky.pdf"], "BATCH": batch}


def on_terminal(env: dict[str, str], *args: str, width: int = WIDTH) -> str:
    """``sohoa ARGS`` on a pseudo-terminal ``width`` columns wide (tests.support.cli)."""
    return _terminal(env, *args, width=width)


def _fits(text: str, width: int = WIDTH) -> None:
    for line in text.splitlines():
        assert len(line) <= width, f"{len(line)} > {width}: {line!r}"


def test_batches_on_a_terminal_is_a_vietnamese_table(home: dict[str, str]) -> None:
    shown = on_terminal(home, "batches")
    assert "\t" not in shown
    head = shown.splitlines()[0]
    for title in ("Lô", "Trạm quét", "Nhận lúc", "Trạng thái", "Lý do"):
        assert title in head
    wide = on_terminal(home, "batches", width=240)
    assert "hết thời gian cho phép (1 giây)" in wide  # the reason, in Vietnamese
    assert "tệp rỗng (0 byte)" in wide and "lỗi" in shown
    _fits(wide, 240)
    assert "time budget" not in shown and "failed=" not in shown
    assert not _UTC_ISO.search(shown), "times are dd/mm/yyyy HH:MM in the office's clock"
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d", shown)
    _fits(shown)


def test_batches_piped_or_tsv_or_json_stay_machine_lines(home: dict[str, str]) -> None:
    piped = sohoa(home, "batches")
    assert piped.returncode == 0, piped.stderr
    header, row = piped.stdout.splitlines()
    assert header.split("\t")[:5] == ["batch_id", "station", "created_at", "documents", "status"]
    assert "failed=1" in row and "time budget" in row  # stored English, as programs read it
    tsv = on_terminal(home, "batches", "--tsv")
    assert tsv.splitlines()[0] == header
    (record,) = json_lines(sohoa(home, "batches", "--json").stdout)
    assert record["states"] == {"failed": 1, "rejected": 1, "needs_dossier": 1}
    assert record["created_at"].endswith("+00:00")  # ISO with its offset


def test_show_on_a_terminal_hides_internal_fields_and_wraps_long_keys(
    home: dict[str, str],
) -> None:
    shown = on_terminal(home, "show", home["DOC_FAILED"])
    for internal in ("lease_until", "source_name_bytes", "owner", "sha256", "pc:1:2"):
        assert internal not in shown
    assert "Lịch sử" in shown and "bắt đầu xử lý" in shown and "tiếp nhận" in shown
    assert "processing started" not in shown and "ingest" not in shown
    assert "máy xử lý" in shown  # the actor "worker", named for a person
    assert not _UTC_ISO.search(shown)
    _fits(shown)
    assert "sohoa-raw/raw/sh" in shown  # the long raw key wrapped inside its column
    piped = sohoa(home, "show", home["DOC_FAILED"])
    assert "lease_until\t" in piped.stdout  # programs still get every field
    assert "processing started" in piped.stdout


def test_audit_limit_gives_the_newest_rows_first(home: dict[str, str]) -> None:
    rows = json_lines(sohoa(home, "audit", "--limit", "2", "--json").stdout)
    queries = [r["details"]["query"] for r in rows]
    assert queries == ["giay 5", "giay 4"]
    table = on_terminal(home, "audit", "--limit", "3")
    assert "Người làm" in table and "lan (dòng lệnh)" in table
    _fits(table)


def _closed_early(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run ``sohoa ARGS``, read one line of its output and close the pipe (``| head -1``)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, first.decode(), err)


def test_a_closed_pipe_ends_the_output_quietly(home: dict[str, str]) -> None:
    cfg = load_config(env=home)
    audit = open_audit(cfg)
    for n in range(1000):  # more than a pipe holds: writes after the close must fail
        audit.append("web-user", "view", f"{n:05d}/" + "x" * 60, None, client="10.0.0.1")
    index = SqliteIndex(cfg.index_path)
    for n in range(200):
        code = f"000.00.13.H38-261201-{n:04d}"
        meta = {
            "dossier_code": code,
            "doc_id": f"{code}.1",
            "doc_ordinal": 1,
            "file": {"key": f"{code}/{code}.1.pdf"},
            "sohoa": {"document_id": f"d{n:011x}"},
        }
        index.index_document(meta, [("giấy phép xây dựng nhà ở riêng lẻ " * 40).strip()])
    index.close()
    for args in (("audit",), ("search", "giay", "--limit", "200")):
        done = _closed_early(home, *args)
        assert done.stdout  # the line head -1 printed
        assert done.returncode == 0, done.stderr
        assert "BrokenPipe" not in done.stderr and "error" not in done.stderr, done.stderr
    shell = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m workers.cli search giay | head -1"],
        env={**os.environ, **home},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shell.returncode == 0 and "internal error" not in shell.stderr, shell.stderr
    assert shell.stdout.startswith("dossier_code\t")


def test_search_rows_carry_links_only_when_asked(home: dict[str, str]) -> None:
    cfg = load_config(env=home)
    index = SqliteIndex(cfg.index_path)
    code = "000.00.13.H38-261201-0001"
    meta = {
        "dossier_code": code,
        "doc_id": f"{code}.1",
        "doc_ordinal": 1,
        "issued_date": "2026-11-20",
        "file": {"key": f"{code}/{code}.1.pdf"},
        "sohoa": {"document_id": "d1"},
    }
    index.index_document(meta, ["Giấy phép xây dựng"])
    index.close()
    piped = sohoa(home, "search", "giay phep")
    header, row = piped.stdout.splitlines()
    cells = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert cells["url"] == "-" and "http" not in row
    shown = on_terminal(home, "search", "giấy phép")
    assert "ngày 20/11/2026" in shown  # the issued date as a clerk writes it
    assert json.loads(sohoa(home, "search", "giay", "--json").stdout.splitlines()[0])["url"] is None
