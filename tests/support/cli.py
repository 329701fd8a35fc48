"""Running the real `sohoa` command line from tests, and reading its --json output."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path


def sohoa(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`python -m workers.cli.main ARGS` with ``env`` on top of this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def with_quick_watch(
    env: dict[str, str], folder: Path, *, stable_seconds: float, retry_seconds: float
) -> dict[str, str]:
    """``env`` plus a config file in ``folder``: a watcher that settles files and retries
    MinIO within seconds, so tests of waiting and outages finish quickly."""
    conf = folder / "quick-watch.yaml"
    conf.write_text(
        f"watch:\n  stable_seconds: {stable_seconds:g}\n  rescan_seconds: 1\n"
        f"minio:\n  retry_seconds: {retry_seconds:g}\n",
        encoding="utf-8",
    )
    return {**env, "SOHOA_CONFIG": str(conf)}


def on_terminal(env: dict[str, str], *args: str, width: int | None = None) -> str:
    """``sohoa ARGS`` with stdout on a pseudo-terminal (``width`` columns wide when given),
    as a person at a console sees it; line ends as ``\n``."""
    main, child = pty.openpty()
    if width is not None:
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, width, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", *args],
        env={**os.environ, **env},
        stdout=child,
        stderr=subprocess.PIPE,
    )
    os.close(child)
    out = b""
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(main)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    return out.decode("utf-8").replace("\r\n", "\n")
