"""Start a real MinIO server for tests: free loopback port, temporary data dir, random keys."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def minio_binary() -> str:
    """The binary built by scripts/setup.sh (``.cache/minio/minio``), or one on PATH."""
    candidates = [os.environ.get("SOHOA_MINIO_BIN"), str(REPO / ".cache" / "minio" / "minio")]
    for cand in candidates:
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    found = shutil.which("minio")
    if not found:
        raise RuntimeError(
            "no minio binary: run scripts/setup.sh (it builds one into .cache/minio)"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MinioServer:
    data_dir: Path
    port: int
    access_key: str
    secret_key: str
    proc: subprocess.Popen | None = None
    certs_dir: Path | None = None  # MinIO's --certs-dir (public.crt, private.key): serve TLS
    ca_file: Path | None = None  # the CA that signed certs_dir's certificate

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            "SOHOA_MINIO_ENDPOINT": self.endpoint,
            "SOHOA_MINIO_ACCESS_KEY": self.access_key,
            "SOHOA_MINIO_SECRET_KEY": self.secret_key,
            "SOHOA_MINIO_SECURE": "1" if self.certs_dir else "0",
            **({"SOHOA_MINIO_CA_FILE": str(self.ca_file)} if self.ca_file else {}),
        }

    def start(self, timeout: float = 60.0) -> None:
        env = dict(os.environ)
        env.update(
            MINIO_ROOT_USER=self.access_key,
            MINIO_ROOT_PASSWORD=self.secret_key,
            MINIO_BROWSER="off",
            MINIO_UPDATE="off",
        )
        log = open(self.data_dir.parent / f"minio-{self.port}.log", "ab")  # noqa: SIM115
        args = [minio_binary(), "server", str(self.data_dir), "--address", self.endpoint, "--quiet"]
        if self.certs_dir:
            args += ["--certs-dir", str(self.certs_dir)]
        self.proc = subprocess.Popen(
            args,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        scheme = "https" if self.certs_dir else "http"
        url = f"{scheme}://{self.endpoint}/minio/health/live"
        tls = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"minio exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=1, context=tls) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("minio did not become ready")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


def new_server(tmp: Path) -> MinioServer:
    data = tmp / "minio-data"
    data.mkdir(parents=True, exist_ok=True)
    return MinioServer(
        data_dir=data,
        port=free_port(),
        access_key="test" + secrets.token_hex(4),
        secret_key=secrets.token_hex(16),
    )
