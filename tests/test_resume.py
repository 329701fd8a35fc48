"""Long documents are bounded and resumable: finished pages survive a kill, a stop, a budget.

Crash points count per process, so these tests run one page worker: with
``SOHOA_CRASH_AT=during_ocr:3`` a run that reads pages again from the start dies on
its third page, while a run that resumes from the finished pages never reaches a
third one. That is how "resumes from the last finished page" is shown here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.storage.ledger import Owner, SqliteLedger, states
from pipeline.storage.ledger.records import lease, process_start
from tests.support.cli import json_lines, sohoa
from tests.support.files import small_pdf

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CODE = "000.00.13.H38-261127-0123"


@pytest.fixture
def env(sohoa_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    conf = tmp_path / "one-worker.yaml"
    conf.write_text("ocr:\n  workers: 1\n", encoding="utf-8")
    return {**sohoa_env, "SOHOA_CONFIG": str(conf)}


def _process_killed_at(env: dict[str, str], path: Path, point: str) -> None:
    """`sohoa process` killed (SIGKILL, like a power cut) at a crash point."""
    run = subprocess.run(
        [sys.executable, "-m", "workers.cli", "--json", "process", str(path), "--dossier", CODE],
        env={**os.environ, **env, "SOHOA_CRASH_AT": point},
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,
    )
    assert run.returncode == -9, run.stderr


def _only_document(env: dict[str, str]):
    (doc,) = SqliteLedger(load_config(env=env).ledger_path).find_documents()
    return doc


def test_a_killed_process_leaves_a_document_that_retry_resumes_from_its_finished_pages(
    env: dict[str, str], tmp_path: Path
) -> None:
    pdf = small_pdf([1, 2, 3, 4], tmp_path / "bon-trang.pdf")
    _process_killed_at(env, pdf, "during_ocr:3")
    stuck = _only_document(env)
    assert stuck.state == states.PROCESSING  # its process is gone: nobody else will finish it
    done = list((load_config(env=env).work_dir / stuck.id).glob("*/page-*.json"))
    assert len(done) == 2, done
    # `retry --failed` also takes documents whose process is gone (issue 9, item 4); with the
    # same crash point, a run that read all four pages again would die on the third.
    retried = sohoa({**env, "SOHOA_CRASH_AT": "during_ocr:3"}, "--json", "retry", "--failed")
    assert retried.returncode == 0, retried.stderr
    (row,) = json_lines(retried.stdout)
    assert row["status"] == "indexed" and row["pages"] == 4, row
    assert not (load_config(env=env).work_dir / stuck.id).exists(), "pages kept after archiving"


def test_retry_of_the_batch_also_resumes_an_interrupted_document(
    env: dict[str, str], tmp_path: Path
) -> None:
    pdf = small_pdf([5, 6, 7], tmp_path / "ba-trang.pdf")
    _process_killed_at(env, pdf, "during_ocr:2")
    stuck = _only_document(env)
    retried = sohoa(env, "--json", "retry", stuck.batch_id)
    assert retried.returncode == 0, retried.stderr
    assert [d["status"] for d in json_lines(retried.stdout)] == ["indexed"]


def test_a_document_over_its_time_budget_fails_keeping_its_pages_and_retry_finishes_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    pdf = small_pdf([8, 9, 10, 11], tmp_path / "dai.pdf")
    tight = tmp_path / "tight.yaml"
    tight.write_text("ocr:\n  workers: 1\nrun:\n  max_document_seconds: 0.01\n", encoding="utf-8")
    first = sohoa(
        {**env, "SOHOA_CONFIG": str(tight)}, "--json", "process", str(pdf), "--dossier", CODE
    )
    assert first.returncode == 1, first.stderr
    (row,) = json_lines(first.stdout)
    assert row["status"] == "failed" and "time budget" in row["error"], row
    assert "1 of 4 pages done" in row["error"] and "sohoa retry" in row["error"]
    # Resumed, not restarted: three pages left, so a third OCR in this run never comes.
    again = sohoa({**env, "SOHOA_CRASH_AT": "during_ocr:4"}, "--json", "retry", "--failed")
    assert again.returncode == 0, again.stderr
    (done,) = json_lines(again.stdout)
    assert done["status"] == "indexed" and done["pages"] == 4


def test_a_page_cap_rejects_a_file_with_too_many_pages_and_keeps_the_original(
    env: dict[str, str], tmp_path: Path
) -> None:
    pdf = small_pdf([12, 13, 14], tmp_path / "ba-trang.pdf")
    capped = tmp_path / "cap.yaml"
    capped.write_text("ingest:\n  max_pages: 2\n", encoding="utf-8")
    run = sohoa({**env, "SOHOA_CONFIG": str(capped)}, "--json", "process", str(pdf))
    (row,) = json_lines(run.stdout)
    assert run.returncode == 3 and row["status"] == "rejected", run.stderr
    assert "3 pages" in row["error"] and "ingest.max_pages" in row["error"]


def test_a_running_watcher_resumes_what_it_claimed_and_could_not_start(
    env: dict[str, str], tmp_path: Path
) -> None:
    """After an outage a document is back in ``stored_raw``, held by the running watcher
    itself (it claimed it while its storage was still away, so the runner never started
    it): the watcher takes it up again, without a restart."""
    from tests.support.watch import Watch, quick_env

    page = small_pdf([15], tmp_path / "own" / "khong-ma.pdf")
    (row,) = json_lines(sohoa(env, "--json", "process", str(page)).stdout)
    assert row["status"] == "needs_dossier"
    watch_env = quick_env(env, tmp_path)
    ledger = SqliteLedger(load_config(env=env).ledger_path)
    with Watch(watch_env) as watch:
        watch.wait_for(lambda: b"watching" in b"".join(watch.err), 60, "the watcher to start")
        owner = Owner(socket.gethostname(), watch.proc.pid, process_start(watch.proc.pid) or "0")
        ledger.transition(
            row["document_id"],
            states.STORED_RAW,
            actor="test",
            reason="storage unreachable; will resume (0 pages finished)",
            owner=str(owner),
            lease_until=lease(600),
            dossier_hint=CODE,
        )
        watch.wait_for(
            lambda: ledger.get_document(row["document_id"]).state == "indexed", 180, "the resume"
        )
        assert watch.stop() == 0
