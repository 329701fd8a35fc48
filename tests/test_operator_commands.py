"""Operator commands against a real MinIO: retry, assign, batches, show, and the exit codes.

A failure is made real, not mocked: a configuration naming an OCR language that does not
exist (``ocr.lang: xxx``) makes Tesseract fail, so documents end ``failed`` at stage
``ocr``; the retry then runs with the good configuration.
"""

from __future__ import annotations

import json
import os
import pwd
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.storage import objects as store
from tests.support.cli import json_lines, sohoa, with_quick_watch
from tests.support.files import small_page

pytestmark = pytest.mark.integration

CODE = "000.00.13.H38-261127-0077"


def user_actor() -> str:
    """The account the test runs as (the CLI's actor is its uid, never LOGNAME)."""
    return f"cli:{pwd.getpwuid(os.getuid()).pw_name}"


@pytest.fixture
def env(sohoa_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return with_quick_watch(sohoa_env, tmp_path, stable_seconds=1, retry_seconds=2)


@pytest.fixture
def broken(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The same setup with an OCR language Tesseract does not have."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(env["SOHOA_CONFIG"]).read_text() + "ocr:\n  lang: xxx\n", encoding="utf-8")
    return {**env, "SOHOA_CONFIG": str(bad)}


def archive_keys(env: dict[str, str]) -> list[str]:
    """The dossier objects in the archive (source markers apart: see archive.layout)."""
    st = store.connect(load_config(env=env))
    # The archive also holds source markers and the audit chain's anchors: not documents.
    return sorted(
        k for k in st.list_keys(st.archive_bucket) if not k.startswith(("sources/", "audit/"))
    )


def show(env: dict[str, str], ident: str) -> dict:
    result = sohoa(env, "--json", "show", ident)
    assert result.returncode == 0, result.stderr
    (record,) = json_lines(result.stdout)
    return record


def test_retry_of_a_failed_batch_runs_from_the_raw_copy_and_is_idempotent(
    env: dict[str, str], broken: dict[str, str]
) -> None:
    inbox = Path(env["SOHOA_INBOX"])
    for i, name in enumerate(("a-to-khai.png", "b-giay-to.png")):
        small_page(101 + i, inbox / "motcua-01" / CODE / name)

    first = sohoa(broken, "--json", "watch", "--once")
    assert first.returncode == 1, first.stderr  # other failure
    docs = json_lines(first.stdout)
    assert [d["status"] for d in docs] == ["failed", "failed"], first.stdout + first.stderr
    assert all("Tesseract" in d["error"] for d in docs), docs
    assert not [p for p in inbox.rglob("*") if p.is_file()], "the inbox files are gone"
    # Whatever local copy is left, the retry must not need it: only MinIO's raw copy remains.
    spool = load_config(env=env).spool_dir
    for path in spool.glob("*") if spool.exists() else []:
        path.unlink()
    assert archive_keys(env) == []
    batch_id = docs[0]["batch_id"]
    for d in docs:
        record = show(env, d["document_id"])
        assert record["state"] == "failed" and record["stage"] == "ocr", record

    listed = sohoa(env, "--json", "batches", "--status", "failed")
    assert listed.returncode == 0, listed.stderr
    (row,) = json_lines(listed.stdout)
    assert row["batch_id"] == batch_id and row["states"] == {"failed": 2}
    assert len(row["reasons"]) == 2 and all("Tesseract" in r for r in row["reasons"])
    assert {r.split(":", 1)[0] for r in row["reasons"]} == {"a-to-khai.png", "b-giay-to.png"}

    retried = sohoa(env, "--json", "retry", batch_id)
    assert retried.returncode == 0, retried.stderr
    again = json_lines(retried.stdout)
    assert [d["status"] for d in again] == ["indexed", "indexed"], retried.stdout
    assert "retrying" in retried.stderr
    assert {d["document_id"] for d in again} == {d["document_id"] for d in docs}
    keys = archive_keys(env)
    assert keys == sorted(
        f"{CODE}/{CODE}.{n}.{ext}" for n in (1, 2) for ext in ("pdf", "json", "txt", "words.json")
    )

    second = sohoa(env, "--json", "retry", batch_id)
    assert second.returncode == 0, second.stderr
    assert json_lines(second.stdout) == [] and "nothing to do" in second.stderr
    assert archive_keys(env) == keys, "a second retry must not archive anything again"
    assert [json_lines(sohoa(env, "--json", "batches", "--status", "failed").stdout)] == [[]]

    history = show(env, docs[0]["document_id"])["events"]
    assert [e["to_state"] for e in history] == [
        "received",
        "stored_raw",
        "processing",
        "failed",
        "processing",
        "archived",
        "indexed",
    ]
    actors = [e["actor"] for e in history]
    assert actors[:2] == ["watcher", "watcher"]
    assert actors[2:4] == ["worker", "worker"]
    assert set(actors[4:]) == {user_actor()}
    failed_event = history[3]
    assert failed_event["stage"] == "ocr" and "Tesseract" in failed_event["reason"]

    human = sohoa(env, "show", docs[0]["document_id"])
    assert human.returncode == 0
    assert "history:" in human.stdout
    for word in ("watcher", "worker", user_actor(), "failed", "indexed", "Tesseract"):
        assert word in human.stdout, (word, human.stdout)
    batch_view = sohoa(env, "show", batch_id)
    assert "a-to-khai.png" in batch_view.stdout and "b-giay-to.png" in batch_view.stdout


def test_retry_failed_filters_by_station_and_date(
    env: dict[str, str], broken: dict[str, str], tmp_path: Path
) -> None:
    today = datetime.now(UTC).date().isoformat()  # before the documents are created
    a1 = small_page(201, tmp_path / "a1.png")
    a2 = small_page(202, tmp_path / "a2.png")
    b1 = small_page(203, tmp_path / "b1.png")
    for station, files in (("quay-a", [a1, a2]), ("quay-b", [b1])):
        run = sohoa(
            broken,
            "--json",
            "process",
            *map(str, files),
            "--dossier",
            CODE,
            "--station",
            station,
        )
        assert run.returncode == 1, run.stderr
        assert {d["status"] for d in json_lines(run.stdout)} == {"failed"}

    later = sohoa(env, "--json", "retry", "--failed", "--since", "2999-01-01")
    assert later.returncode == 0 and json_lines(later.stdout) == [], later.stderr

    only_b = sohoa(env, "--json", "retry", "--failed", "--station", "quay-b")
    assert only_b.returncode == 0, only_b.stderr
    (b_doc,) = json_lines(only_b.stdout)
    assert b_doc["status"] == "indexed" and b_doc["pdf_key"] == f"{CODE}/{CODE}.1.pdf"

    rest = sohoa(env, "--json", "retry", "--failed", "--since", today)
    assert rest.returncode == 0, rest.stderr
    rest_docs = json_lines(rest.stdout)
    assert [d["status"] for d in rest_docs] == ["indexed", "indexed"]
    assert sorted(d["pdf_key"] for d in rest_docs) == [f"{CODE}/{CODE}.{n}.pdf" for n in (2, 3)]

    nothing = sohoa(env, "--json", "retry", "--failed")
    assert nothing.returncode == 0 and json_lines(nothing.stdout) == []
    assert len([k for k in archive_keys(env) if k.endswith(".pdf")]) == 3

    for bad in (["retry"], ["retry", b_doc["batch_id"], "--failed"]):
        result = sohoa(env, *bad)
        assert result.returncode == 2 and "BATCH_ID" in result.stderr, result.stderr
    as_doc = sohoa(env, "retry", b_doc["document_id"])
    assert as_doc.returncode == 2 and "not a batch" in as_doc.stderr


def test_retry_refuses_a_since_that_is_not_a_date(env: dict[str, str]) -> None:
    result = sohoa(env, "retry", "--failed", "--since", "hom-qua")
    assert result.returncode == 2 and "since" in result.stderr


def test_tesseract_failure_reason_is_not_called_a_timeout() -> None:
    import numpy as np

    from pipeline.config import OcrConfig
    from pipeline.errors import OcrError
    from pipeline.ocr.tesseract import ocr_page

    with pytest.raises(OcrError) as caught:
        ocr_page(np.full((60, 200), 255, np.uint8), 200, OcrConfig(lang="xxx"))
    assert "timed out" not in str(caught.value)
    assert "xxx" in str(caught.value)


def test_assign_archives_a_needs_dossier_document(env: dict[str, str], tmp_path: Path) -> None:
    src = small_page(301, tmp_path / "don-khong-ma.png")
    run = sohoa(env, "--json", "process", str(src))
    assert run.returncode == 0, run.stderr  # needs_dossier is not an error
    (doc,) = json_lines(run.stdout)
    assert doc["status"] == "needs_dossier" and doc["pdf_key"] is None
    assert f"sohoa assign {doc['document_id']} --dossier" in doc["error"]
    listed = json_lines(sohoa(env, "--json", "batches", "--status", "needs_dossier").stdout)
    assert [b["batch_id"] for b in listed] == [doc["batch_id"]]
    assert "don-khong-ma.png" in listed[0]["reasons"][0]

    for bad in ("../etc", "000.00.13.H38/261127-0001", "000.00.13.H38-261127", ""):
        refused = sohoa(env, "assign", doc["document_id"], "--dossier", bad)
        assert refused.returncode == 2, (bad, refused.stderr)
        assert "not a valid dossier code" in refused.stderr
    assert archive_keys(env) == []

    assigned = sohoa(env, "--json", "assign", doc["document_id"], "--dossier", CODE.lower())
    assert assigned.returncode == 0, assigned.stderr
    (done,) = json_lines(assigned.stdout)
    assert done["status"] == "indexed" and done["dossier_code"] == CODE
    assert done["pdf_key"] == f"{CODE}/{CODE}.1.pdf"
    st = store.connect(load_config(env=env))
    meta = json.loads(st.get_bytes(st.archive_bucket, done["metadata_key"]))
    assert meta["sohoa"]["dossier_source"] == "assigned"
    history = show(env, doc["document_id"])["events"]
    assert history[-1]["to_state"] == "indexed"
    assert {e["actor"] for e in history} == {user_actor()}

    twice = sohoa(env, "assign", doc["document_id"], "--dossier", "000.00.13.H38-261127-0078")
    assert twice.returncode == 2, twice.stderr
    assert "archived as" in twice.stderr and f"dossier code stays {CODE}" in twice.stderr
    assert len([k for k in archive_keys(env) if k.endswith(".pdf")]) == 1
    on_batch = sohoa(env, "assign", doc["batch_id"], "--dossier", CODE)
    assert on_batch.returncode == 2 and "batch" in on_batch.stderr
    unknown = sohoa(env, "assign", "d-khong-co", "--dossier", CODE)
    assert unknown.returncode == 2 and "no batch or document" in unknown.stderr


def test_exit_codes(env: dict[str, str], tmp_path: Path) -> None:
    from tests.support.minio import free_port

    page = small_page(401, tmp_path / "trang.png")
    for args in (
        ["process"],
        ["process", str(tmp_path / "khong-co.png")],
        ["process", str(page), "--dossier", "../x"],
        ["batches", "--status", "dang-lam"],
        ["show", "khong-co"],
        ["frobnicate"],
    ):
        result = sohoa(env, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.strip(), args
    bad_conf = tmp_path / "bad-key.yaml"
    bad_conf.write_text("ocr:\n  langue: vie\n", encoding="utf-8")
    result = sohoa({**env, "SOHOA_CONFIG": str(bad_conf)}, "batches")
    assert result.returncode == 2 and "unknown configuration key" in result.stderr

    text = tmp_path / "anh.jpg"
    text.write_text("không phải ảnh", encoding="utf-8")
    rejected = sohoa(env, "--json", "process", str(text), "--dossier", CODE)
    assert rejected.returncode == 3, rejected.stderr
    (doc,) = json_lines(rejected.stdout)
    assert doc["status"] == "rejected" and "not a PDF, TIFF, JPEG or PNG" in doc["error"]

    down = {**env, "SOHOA_MINIO_ENDPOINT": f"127.0.0.1:{free_port()}"}
    unreachable = sohoa(down, "process", str(page), "--dossier", CODE)
    assert unreachable.returncode == 4, unreachable.stderr
    assert "unreachable" in unreachable.stderr
    assert page.exists()
