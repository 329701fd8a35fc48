"""Running the real `sohoa` command line from tests, and reading its --json output."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def sohoa(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`python -m sohoa.workers.cli ARGS` with ``env`` on top of this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "sohoa.workers.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
