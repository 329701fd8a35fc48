"""MinIO is the system of record: a lost ledger loses nothing and makes nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.storage.ledger import SqliteLedger, states
from pipeline.storage.objects import connect
from tests.support.cli import json_lines, sohoa
from tests.support.files import small_page

pytestmark = pytest.mark.integration
CODE = "000.00.13.H38-261127-0321"


def _lose_ledger(env: dict[str, str]) -> None:
    cfg = load_config(env=env)
    for path in (cfg.ledger_path, cfg.index_path):
        for extra in ("", "-wal", "-shm"):
            Path(str(path) + extra).unlink(missing_ok=True)


def test_same_bytes_after_the_ledger_was_lost_are_a_duplicate_not_a_second_copy(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    page = small_page(41, tmp_path / "don.png")
    first = sohoa(sohoa_env, "--json", "process", str(page), "--dossier", CODE)
    (archived,) = json_lines(first.stdout)
    assert archived["status"] == "indexed", first.stderr
    _lose_ledger(sohoa_env)

    again = sohoa(sohoa_env, "--json", "process", str(page), "--dossier", CODE)
    assert again.returncode == 0, again.stderr
    assert "sohoa ledger rebuild" in again.stderr  # the lost ledger is said out loud
    (dup,) = json_lines(again.stdout)
    assert dup["status"] == "duplicate", dup
    assert archived["pdf_key"] in dup["error"] and "sources/sha256/" in dup["error"]
    st = connect(load_config(env=sohoa_env))
    pdfs = [k for k in st.list_keys(st.archive_bucket, f"{CODE}/") if k.endswith(".pdf")]
    assert pdfs == [archived["pdf_key"]], "archived once only"


def test_ledger_rebuild_restores_documents_states_and_numbering(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    a, b = small_page(42, tmp_path / "a.png"), small_page(43, tmp_path / "b.png")
    empty = tmp_path / "rong.pdf"
    empty.write_bytes(b"")
    done = json_lines(
        sohoa(sohoa_env, "--json", "process", str(a), str(b), "--dossier", CODE).stdout
    )
    assert [d["status"] for d in done] == ["indexed", "indexed"]
    rejected = json_lines(sohoa(sohoa_env, "--json", "process", str(empty)).stdout)
    assert [d["status"] for d in rejected] == ["rejected"]
    _lose_ledger(sohoa_env)

    listed = sohoa(sohoa_env, "--json", "batches")
    assert json_lines(listed.stdout) == [] and "sohoa ledger rebuild" in listed.stderr

    rebuilt = sohoa(sohoa_env, "--json", "ledger", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    (report,) = json_lines(rebuilt.stdout)
    assert report["archived"] == 2 and report["originals_without_archive"] == 1, report
    ledger = SqliteLedger(load_config(env=sohoa_env).ledger_path)
    docs = {d.id: d for d in ledger.find_documents()}
    for row in done:  # same ids, keys and numbers as before, and searchable again
        doc = docs[row["document_id"]]
        assert doc.state == states.INDEXED and doc.pdf_key == row["pdf_key"], doc
    orphan = next(d for d in docs.values() if d.state == states.FAILED)
    assert orphan.source_name == "rong.pdf" and "retry --failed" in (orphan.reason or "")
    hits = sohoa(sohoa_env, "--json", "search", CODE)
    assert len(json_lines(hits.stdout)) == 2, hits.stderr

    # Numbering goes on after the rebuilt documents, never over them.
    c = small_page(44, tmp_path / "c.png")
    (third,) = json_lines(sohoa(sohoa_env, "--json", "process", str(c), "--dossier", CODE).stdout)
    assert third["pdf_key"] == f"{CODE}/{CODE}.3.pdf"
    # The orphan runs again from its raw copy (and is rejected again, its original kept).
    retried = json_lines(sohoa(sohoa_env, "--json", "retry", "--failed").stdout)
    assert [d["status"] for d in retried] == ["rejected"]
    # Rebuilding twice adds nothing.
    (second,) = json_lines(sohoa(sohoa_env, "--json", "ledger", "rebuild").stdout)
    assert second["archived"] == 0 and second["originals_without_archive"] == 0
