"""scripts/minio.sh (the demo's MinIO): it says "listening" only when the server answering is
the one it started, and names the problem when another server holds the port."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.minio import REPO, MinioServer, free_port

SCRIPT = REPO / "scripts" / "minio.sh"


def _run(home: Path, *args: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    env["SOHOA_HOME"] = str(home)
    if port is not None:
        env["SOHOA_MINIO_PORT"] = str(port)
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_a_port_held_by_another_server_is_an_error_not_a_start(
    tmp_path: Path, minio_server: MinioServer
) -> None:
    home = tmp_path / "var"
    started = _run(home, "start", port=minio_server.port)
    assert started.returncode == 1, started.stderr
    assert "another server already answers on" in started.stderr
    assert "MinIO listening" not in started.stderr
    assert not (home / "minio.pid").exists()
    # the server that held the port is untouched
    health = f"http://{minio_server.endpoint}/minio/health/live"
    assert subprocess.run(["curl", "-fsS", health], capture_output=True).returncode == 0


def test_a_free_port_starts_the_servers_own_minio_and_stops_it(tmp_path: Path) -> None:
    home = tmp_path / "var"
    port = free_port()
    try:
        started = _run(home, "start", port=port)
        assert started.returncode == 0, started.stderr
        pid = int((home / "minio.pid").read_text())
        assert f"MinIO listening on 127.0.0.1:{port} (pid {pid}" in started.stderr
        again = _run(home, "start")
        assert again.returncode == 0 and "already running" in again.stderr
    finally:
        _run(home, "stop")
    assert not (home / "minio.pid").exists()
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0
