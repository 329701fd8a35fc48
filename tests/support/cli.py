"""Running the real `sohoa` command line from tests, and reading its --json output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
