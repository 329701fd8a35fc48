"""Start a real PostgreSQL 15 (Debian) for tests: free loopback port, temporary cluster.

``initdb`` and the server refuse to run as root, so as root they run as the
``postgres`` user (``runuser``) in a folder that user owns. The cluster uses
password authentication over TCP, as an office would, so a URL carrying the
password is what the programs get (and what must never reach the broker).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.minio import free_port

PG_BIN = Path(os.environ.get("SOHOA_PG_BIN", "/usr/lib/postgresql/15/bin"))


def available() -> bool:
    return (PG_BIN / "initdb").is_file() and (PG_BIN / "postgres").is_file()


def _as_postgres(args: list[str]) -> list[str]:
    """Run a server program as ``postgres`` when we are root (they refuse root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@dataclass
class PostgresServer:
    root: Path
    port: int
    host: str = "127.0.0.1"
    password: str = field(default_factory=lambda: secrets.token_hex(12))
    proc: subprocess.Popen | None = None
    wrap: list[str] = field(default_factory=list)  # e.g. ["ip", "netns", "exec", "storage"]
    superuser: str = "sohoa"  # the cluster's superuser (Debian's packaged one is "postgres")

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def sock_dir(self) -> Path:
        return self.root / "sock"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.superuser}:{self.password}@{self.host}:{self.port}/{database}"

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.sock_dir.mkdir(exist_ok=True)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock_dir, "postgres")
            shutil.chown(pwfile, "postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.superuser,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        pwfile.unlink()
        with open(self.data_dir / "pg_hba.conf", "a") as fh:  # the test hosts' addresses too
            fh.write("host all all 0.0.0.0/0 scram-sha-256\n")

    def start(
        self,
        timeout: float = 60.0,
        listen: str | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        if not self.data_dir.exists():
            self.init()
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115
        args = [
            str(PG_BIN / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self.sock_dir),
            "-c",
            f"listen_addresses={listen or self.host}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ]
        for key, value in (settings or {}).items():
            args += ["-c", f"{key}={value}"]
        self.proc = subprocess.Popen(
            [*self.wrap, *_as_postgres(args)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}")
            ready = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-h", str(self.sock_dir), "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("postgres did not become ready")

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            [
                "psql",
                "-h",
                str(self.sock_dir),
                "-p",
                str(self.port),
                "-U",
                self.superuser,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def new_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; its URL."""
        name = f"{prefix}_{secrets.token_hex(6)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def new_owned_database(self, prefix: str = "t") -> str:
        """A fresh database owned by a role of its own, as an office makes it (``createuser
        --createrole``, ``createdb --owner``): not a superuser. The owner's URL."""
        name = f"{prefix}_{secrets.token_hex(6)}"
        password = secrets.token_hex(12)
        self.psql(f"CREATE ROLE {name}_owner LOGIN CREATEROLE PASSWORD '{password}'")
        self.psql(f"CREATE DATABASE {name} OWNER {name}_owner")
        return f"postgresql://{name}_owner:{password}@{self.host}:{self.port}/{name}"

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: SIGINT, what a restart by an administrator does)."""
        if self.proc and self.proc.poll() is None:
            sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}
            os.killpg(self.proc.pid, sig[mode])
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def new_server(host: str = "127.0.0.1") -> PostgresServer:
    # Not under pytest's tmp folder: that is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="sohoa-pg-"))
    return PostgresServer(root=root, port=free_port(), host=host)
