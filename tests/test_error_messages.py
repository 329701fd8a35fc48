"""Every error a message, not a traceback: issue 9's table, case by case (item 6)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pipeline.config import load_config
from tests.support.cli import sohoa
from tests.support.files import small_page
from tests.support.minio import free_port
from tests.support.web import fast_users, login
from workers.web.app import create_app

pytestmark = pytest.mark.integration


def _one_line_error(result, code: int, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("sohoa: error:")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_wrong_secret_key_exits_4_in_one_line(sohoa_env: dict[str, str], tmp_path: Path) -> None:
    page = small_page(51, tmp_path / "p.png")
    env = {**sohoa_env, "SOHOA_MINIO_SECRET_KEY": "not-the-secret"}
    result = sohoa(env, "process", str(page), timeout=60)
    _one_line_error(result, 4, "rejects the configured keys", "SOHOA_MINIO_SECRET_KEY")
    assert "not-the-secret" not in result.stderr
    assert page.exists(), "the file is the user's: kept"


def test_unreachable_storage_exits_4_at_once(sohoa_env: dict[str, str], tmp_path: Path) -> None:
    page = small_page(52, tmp_path / "p.png")
    env = {**sohoa_env, "SOHOA_MINIO_ENDPOINT": f"127.0.0.1:{free_port()}"}
    # A refused connection is not retried for a minute: the subprocess timeout would fail this.
    _one_line_error(sohoa(env, "process", str(page), timeout=30), 4, "unreachable")


@pytest.mark.parametrize(
    ("var", "value", "word"),
    [
        ("SOHOA_BUCKET_RAW", "Raw_Originals", "not a valid bucket name"),
        ("SOHOA_BUCKET_ARCHIVE", "ab", "not a valid bucket name"),
        ("SOHOA_BUCKET_WORK", "192.168.1.1", "not a valid bucket name"),
        ("SOHOA_MINIO_ENDPOINT", "http://127.0.0.1:9000/", "host:port"),
        ("SOHOA_MINIO_ENDPOINT", "127.0.0.1:99999", "port"),
        ("SOHOA_EXECUTOR", "threads", "SOHOA_EXECUTOR"),
    ],
)
def test_bad_configuration_exits_2(
    sohoa_env: dict[str, str], var: str, value: str, word: str
) -> None:
    _one_line_error(sohoa({**sohoa_env, var: value}, "batches", timeout=30), 2, word)


@pytest.mark.parametrize("port", ["99999", "0", "-1", "８０８０", "http"])
def test_serve_with_a_bad_port_exits_2(sohoa_env: dict[str, str], port: str) -> None:
    _one_line_error(sohoa(sohoa_env, "serve", "--port", port, timeout=30), 2, "port")


def test_serve_on_a_busy_port_says_so_and_exits_2(sohoa_env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = sohoa(sohoa_env, "serve", "--port", str(port), timeout=30)
    _one_line_error(result, 2, f"127.0.0.1:{port}")


@pytest.mark.parametrize("limit", ["²", "２０", "-1", "0", "abc", "10000000", "1e3", " "])
def test_search_limit_must_be_a_plain_number_in_range(
    sohoa_env: dict[str, str], limit: str
) -> None:
    _one_line_error(sohoa(sohoa_env, "search", "giay", "--limit", limit, timeout=30), 2, "limit")


@pytest.mark.parametrize(
    "query",
    [
        "limit=²",
        "limit=%EF%BC%92%EF%BC%90",  # full-width "２０"
        "limit=-5",
        "limit=10000000",
        "limit=abc",
        "from=12%2F31%2F2026",  # month 31: dd/mm/yyyy, not the browser's mm/dd
        "from=2026-13-01",
        "from=2026-12-01&to=2026-11-01",
        "type=" + "x" * 500,
    ],
)
def test_web_parameters_are_validated_400_not_500(sohoa_env: dict[str, str], query: str) -> None:
    cfg = load_config(env=sohoa_env)
    app = create_app(cfg, users=fast_users(cfg))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        assert login(client, "lan").status_code == 303
        response = client.get(f"/api/search?q=giay&{query}")
    assert response.status_code == 400, (query, response.status_code, response.text)
    assert "error" in response.json() and "Traceback" not in response.text
