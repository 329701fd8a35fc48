"""The CLI as a person types it: --json anywhere, rows in input order, a readable search."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import json_lines, on_terminal, sohoa
from tests.support.files import small_page, small_pdf

pytestmark = pytest.mark.integration
CODE = "000.00.13.H38-261127-0555"


def test_json_and_config_are_accepted_after_the_subcommand(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    before = sohoa(sohoa_env, "--json", "batches")
    after = sohoa(sohoa_env, "batches", "--json")
    assert before.returncode == after.returncode == 0, after.stderr
    assert before.stdout == after.stdout == ""  # no header line in JSON mode
    conf = tmp_path / "c.yaml"
    conf.write_text("web:\n  port: 8181\n", encoding="utf-8")
    shown = sohoa(sohoa_env, "config", "--json", "--config", str(conf))
    assert shown.returncode == 0, shown.stderr
    (config,) = json_lines(shown.stdout)
    assert config["web"]["port"] == 8181
    assert config["minio"]["secret_key"] == "(set)", "the secret is never printed"
    assert sohoa_env["SOHOA_MINIO_SECRET_KEY"] not in shown.stdout


def test_process_prints_one_row_per_file_in_input_order_with_its_source(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    # The first file is the slowest (three pages): completion order would put it last.
    slow = small_pdf([61, 62, 63], tmp_path / "1-cham.pdf")
    quick = [small_page(64 + i, tmp_path / f"{i + 2}-nhanh.png") for i in range(2)]
    names = [str(slow), *map(str, quick)]
    run = sohoa(sohoa_env, "process", *names, "--dossier", CODE, "--json")
    assert run.returncode == 0, run.stderr
    rows = json_lines(run.stdout)
    assert [r["source"] for r in rows] == names
    assert [r["pages"] for r in rows] == [3, 1, 1]
    human = sohoa(sohoa_env, "process", str(quick[0]), "--dossier", CODE)
    header, line = human.stdout.splitlines()
    assert header.split("\t")[0] == "source" and line.split("\t")[0] == str(quick[0])


def test_search_on_a_terminal_is_a_readable_list(sohoa_env: dict[str, str], tmp_path: Path) -> None:
    page = small_page(71, tmp_path / "don.png")
    assert sohoa(sohoa_env, "process", str(page), "--dossier", CODE).returncode == 0
    shown = on_terminal(sohoa_env, "search", "cong hoa xa hoi")
    assert "\t" not in shown and "http" not in shown, "no tab rows, no presigned URLs"
    assert f"{CODE}  {CODE}.1  trang 1" in shown
    assert "\033[1m" in shown  # the match stands out
    piped = sohoa(sohoa_env, "--json", "search", "cong hoa xa hoi")
    (hit,) = json_lines(piped.stdout)
    assert hit["url"].startswith("http") and hit["score"] > 1.0  # --json keeps every field
