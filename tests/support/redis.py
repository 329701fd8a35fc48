"""Start a real Redis (Debian ``redis-server``) for tests: free loopback port, AOF on, a password.

The append-only file is on (``appendfsync always``) so a restart keeps the queue,
as an office's Redis should be configured; the broker-restart test relies on it.

With ``aclfile`` the server reads its users from that file (what ``sohoa broker
setup`` writes) instead of ``requirepass``, as an office's Redis runs; the fixture
then talks to it as ``user`` with ``password``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.minio import free_port


def available() -> bool:
    return shutil.which("redis-server") is not None


@dataclass
class RedisServer:
    root: Path
    port: int
    host: str = "127.0.0.1"
    password: str = field(default_factory=lambda: secrets.token_hex(12))
    proc: subprocess.Popen | None = None
    wrap: list[str] = field(default_factory=list)  # e.g. ["ip", "netns", "exec", "storage"]
    aclfile: Path | None = None  # users from this file (the default user off), not requirepass
    user: str | None = None  # who the fixture's own commands authenticate as (ACL servers)

    @property
    def socket_path(self) -> Path:
        """Also served on a Unix socket, which reaches into a network namespace."""
        return self.root / "redis.sock"

    def url(self, db: int = 0) -> str:
        return f"redis://{self.user or ''}:{self.password}@{self.host}:{self.port}/{db}"

    def start(self, timeout: float = 30.0, listen: str | None = None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "redis.log", "ab")  # noqa: SIM115
        args = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            listen or self.host,
            "--dir",
            str(self.root),
            *(
                ["--aclfile", str(self.aclfile)]
                if self.aclfile
                else ["--requirepass", self.password]
            ),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
            "--unixsocket",
            str(self.socket_path),
        ]
        self.proc = subprocess.Popen(
            [*self.wrap, *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            if self.ping():
                return
            time.sleep(0.1)
        raise RuntimeError("redis did not become ready")

    def command(self, *args: str) -> bytes:
        """One command over RESP, authenticated (no client library needed)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(self.socket_path))

            def send(*parts: str) -> bytes:
                msg = f"*{len(parts)}\r\n" + "".join(
                    f"${len(p.encode())}\r\n{p}\r\n" for p in parts
                )
                s.sendall(msg.encode())
                return s.recv(1 << 20)

            send("AUTH", *([self.user] if self.user else []), self.password)
            return send(*args)

    def ping(self) -> bool:
        try:
            return b"PONG" in self.command("PING")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def new_server(host: str = "127.0.0.1") -> RedisServer:
    return RedisServer(
        root=Path(tempfile.mkdtemp(prefix="sohoa-redis-")), port=free_port(), host=host
    )
