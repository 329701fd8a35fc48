"""Page workers end with the process that started them, even when it is SIGKILLed.

A real `sohoa process` of a multi-page PDF, killed outright (no chance to stop its
pool) while pages are being read: its page worker processes must go too, instead
of sitting on their models (the issue counted 6 orphans, 543 MB after 3 crashes).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.files import small_pdf
from workers.executors.lifeline import parent_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CODE = "000.00.13.H38-261201-0050"


def _descendants(root: int) -> set[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = parent_of(int(entry))
            if parent is not None:
                parents[int(entry)] = parent
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_killed_process_takes_its_page_workers_along(sohoa_env, tmp_path) -> None:
    pdf = small_pdf(list(range(121, 129)), tmp_path / "in" / "eight.pdf")
    conf = tmp_path / "two-workers.yaml"
    conf.write_text("ocr:\n  workers: 2\n", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "--json", "process", "--dossier", CODE, str(pdf)],
        env={**os.environ, **sohoa_env, "SOHOA_CONFIG": str(conf)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # so the clean-up below can reach whatever is left
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        pages = Path(sohoa_env["SOHOA_HOME"]) / "work"
        # Wait for the pool and a finished page: the workers are mid-document.
        while not list(pages.rglob("page-*.json")) or len(workers) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended early"
            workers |= _descendants(proc.pid)
            time.sleep(0.1)
        workers |= _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = sorted(pid for pid in workers if _alive(pid))
        assert left == [], f"page workers outlived their parent: {left}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
