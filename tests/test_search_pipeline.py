"""Search over what the pipeline archived: folded, exact, by code; reindex gives the same hits."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from samples import generate
from tests.support.cli import json_lines, sohoa

pytestmark = pytest.mark.integration
CODE_A = "000.00.13.H38-261125-0011"
CODE_B = "000.00.13.H38-261126-0012"


def hits_key(hits: list[dict]) -> list[tuple]:
    return [(h["dossier_code"], h["document_id"], h["page"], h["snippet"]) for h in hits]


def test_search_archived_documents_and_reindex(sohoa_env: dict[str, str], tmp_path: Path) -> None:
    a = tmp_path / "quyet-dinh.png"
    b = tmp_path / "bien-nhan.png"
    generate.write_png(generate.render_page("decision", seed=61, dpi=200, dossier_code=CODE_A), a)
    generate.write_png(generate.render_page("receipt", seed=62, dpi=200, dossier_code=CODE_B), b)
    for path, code in ((a, CODE_A), (b, CODE_B)):
        done = sohoa(sohoa_env, "--json", "process", str(path), "--dossier", code)
        assert done.returncode == 0, done.stderr
        assert json_lines(done.stdout)[0]["status"] == "indexed"

    folded = sohoa(sohoa_env, "--json", "search", '"cong hoa xa hoi chu nghia viet nam"')
    exact = sohoa(sohoa_env, "--json", "search", '"Cộng hòa xã hội chủ nghĩa Việt Nam"')
    assert folded.returncode == 0 and exact.returncode == 0, folded.stderr + exact.stderr
    folded_hits, exact_hits = json_lines(folded.stdout), json_lines(exact.stdout)
    assert {h["dossier_code"] for h in folded_hits} == {CODE_A, CODE_B}
    assert {h["dossier_code"] for h in exact_hits} == {CODE_A, CODE_B}
    assert all("CỘNG HÒA" in h["snippet"] for h in folded_hits), "snippets show the real text"

    receipt_only = sohoa(sohoa_env, "--json", "search", "giay tiep nhan ho so")
    assert {h["dossier_code"] for h in json_lines(receipt_only.stdout)} == {CODE_B}

    by_code = sohoa(sohoa_env, "--json", "search", "000.00.13.H38-26112*")
    assert {h["dossier_code"] for h in json_lines(by_code.stdout)} == {CODE_A, CODE_B}
    only_a = sohoa(sohoa_env, "--json", "search", "000.00.13.H38-261125*")
    assert {h["dossier_code"] for h in json_lines(only_a.stdout)} == {CODE_A}

    hit = folded_hits[0]
    assert hit["url"] and "#page=1" in hit["url"]
    with urllib.request.urlopen(hit["url"].split("#")[0], timeout=30) as resp:
        assert resp.headers["Content-Type"] == "application/pdf"
        assert resp.read(5) == b"%PDF-"

    fresh = {**sohoa_env, "SOHOA_HOME": str(tmp_path / "fresh-home")}
    rebuilt = sohoa(fresh, "reindex")
    assert rebuilt.returncode == 0, rebuilt.stderr
    phrase = '"cong hoa xa hoi chu nghia viet nam"'
    again = json_lines(sohoa(fresh, "--json", "search", phrase).stdout)
    assert hits_key(again) == hits_key(folded_hits)
