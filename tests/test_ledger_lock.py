"""A SQLite ledger locked longer than SQLite's own busy timeout: the document waits, not fails.

Another connection (a backup, an operator's ``sqlite3`` shell) holds the write lock
for 40 s while a real `sohoa process` runs a document; SQLite gives up after 30 s,
sohoa waits up to ``database.retry_seconds`` (60 s by default) and archives it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import json_lines
from tests.support.files import small_pdf

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CODE = "000.00.13.H38-261201-0040"
HOLD_SECONDS = 40.0  # longer than the ledger connection's busy timeout (30 s)


def _state(ledger: Path) -> str | None:
    try:
        conn = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute("SELECT state FROM documents").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:  # not created yet
        return None
    return row[0] if row else None


def test_a_locked_ledger_is_waited_for(sohoa_env: dict[str, str], tmp_path: Path) -> None:
    pdf = small_pdf([111, 112, 113, 114], tmp_path / "in" / "four.pdf")
    ledger = Path(sohoa_env["SOHOA_HOME"]) / "ledger.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "--json", "process", "--dossier", CODE, str(pdf)],
        env={**os.environ, **sohoa_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while _state(ledger) != "processing":
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        holder = sqlite3.connect(ledger, isolation_level=None, timeout=60)
        holder.execute("BEGIN IMMEDIATE")
        time.sleep(HOLD_SECONDS)
        # The run cannot settle the document without the ledger: it is still waiting.
        assert proc.poll() is None
        holder.execute("COMMIT")
        holder.close()
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    rows = json_lines(out)
    assert [r["status"] for r in rows] == ["indexed"], rows
    assert _state(ledger) == "indexed"
