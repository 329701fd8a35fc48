"""Running a real `sohoa watch` for the watcher tests: quick settings, tiny pages, live output.

The watcher's guarantees are about timing (stability windows, writers that pause,
signals), so these tests drive the real command in a subprocess and read what it
prints while it runs, instead of calling the loop in-process.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

CODE = "000.00.13.H38-261201-0009"


@cache
def _font() -> ImageFont.FreeTypeFont:
    path = subprocess.run(
        ["fc-match", "-f", "%{file}", "Noto Serif"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return ImageFont.truetype(path, 28)


def page_bytes(n: int) -> bytes:
    """A one-line Vietnamese PNG (OCR in well under a second), distinct bytes for each ``n``."""
    image = Image.new("L", (720, 90), 255)
    ImageDraw.Draw(image).text((20, 25), f"Hồ sơ số {n:04d}: Đơn đề nghị", font=_font(), fill=0)
    buf = io.BytesIO()
    image.save(buf, format="PNG", dpi=(200, 200))
    return buf.getvalue()


def tiny_page(path: Path, n: int) -> bytes:
    """Write :func:`page_bytes` ``n`` to ``path`` (any name the OS allows); return the bytes."""
    data = page_bytes(n)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def quick_env(env: dict[str, str], folder: Path, **watch: Any) -> dict[str, str]:
    """``env`` plus a config file in ``folder`` with ``watch:`` settings for a quick test."""
    settings = {"stable_seconds": 1, "rescan_seconds": 1, **watch}
    lines = ["watch:"] + [f"  {k}: {json.dumps(v)}" for k, v in settings.items()]
    lines += ["minio:", "  retry_seconds: 3"]
    conf = folder / "watch-test.yaml"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {**env, "SOHOA_CONFIG": str(conf)}


class Watch:
    """A `sohoa --json watch [--once]` subprocess whose output is collected as it comes."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "--json", "watch", *args],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _pump(stream: Any, sink: list[bytes]) -> None:
        for line in iter(stream.readline, b""):
            sink.append(line)

    @property
    def docs(self) -> list[dict]:
        return [json.loads(x) for x in list(self.out) if x.startswith(b"{")]

    @property
    def stderr(self) -> str:
        """What the watcher logged; it must be valid UTF-8 whatever the file names were."""
        return b"".join(self.err).decode("utf-8")

    def wait_for(self, what: Callable[[], bool], timeout: float, label: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        if what():
            return
        self.stop()
        raise AssertionError(f"timed out waiting for {label}\nstdout:\n{self.out}\n{self.stderr}")

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.wait(10)
            raise

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
