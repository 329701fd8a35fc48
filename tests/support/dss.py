"""The EU DSS validator as the signing tests ask it: one JVM per test session, many files.

``scripts/get-dss.sh`` fetches DSS from Maven Central and compiles scripts/dss/SohoaDss.java
(cached under .cache/dss); the program reads one path per line and answers one JSON line
per path. Starting the JVM and loading DSS costs seconds, a file a fraction of one, so the
tests keep two processes for the session: one that judges files by what they carry
(offline: B-LT and B-LTA must stand on their own), one that may ask the test PKI's OCSP
and CRL services (online: B-B and B-T carry no revocation data).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DssSignature:
    """DSS's word on one signature of a file."""

    format: str | None  # e.g. "PAdES-BASELINE-LTA"
    indication: str | None  # TOTAL_PASSED, INDETERMINATE, TOTAL_FAILED
    sub_indication: str | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def level(self) -> str | None:
        """The baseline level in sohoa's words ("B-LTA"), or None for a non-baseline format."""
        if self.format and self.format.startswith("PAdES-BASELINE-"):
            return "B-" + self.format.removeprefix("PAdES-BASELINE-")
        return None


@dataclass(frozen=True)
class DssReport:
    file: str
    signatures: tuple[DssSignature, ...]
    timestamps: tuple[dict[str, Any], ...]
    error: str | None

    @property
    def only(self) -> DssSignature:
        assert len(self.signatures) == 1, self
        return self.signatures[0]


def command() -> list[str]:
    """The validator's command, fetching and compiling it once (cached in .cache/dss)."""
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "get-dss.sh")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        raise RuntimeError(f"scripts/get-dss.sh failed: {out.stderr[-2000:]}")
    return shlex.split(out.stdout.strip())


class DssValidator:
    """A running SohoaDss: ``check(paths)`` sends them and reads one report per path."""

    def __init__(self, trust: Path, *, online: bool = False) -> None:
        args = [*command(), "--trust", str(trust)] + (["--online"] if online else [])
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._lock = threading.Lock()

    def check(self, paths: Iterable[Path | str]) -> list[DssReport]:
        names = [str(p) for p in paths]
        assert self._proc.stdin is not None and self._proc.stdout is not None
        with self._lock:
            for name in names:  # all at once: DSS works while we wait
                self._proc.stdin.write(name + "\n")
            self._proc.stdin.flush()
            lines = [self._proc.stdout.readline() for _ in names]
        reports = []
        for name, line in zip(names, lines, strict=True):
            if not line:
                raise RuntimeError(f"the DSS validator ended before answering for {name}")
            data = json.loads(line)
            reports.append(
                DssReport(
                    data["file"],
                    tuple(
                        DssSignature(
                            s["format"],
                            s["indication"],
                            s["sub_indication"],
                            tuple(s["errors"]),
                            tuple(s["warnings"]),
                        )
                        for s in data["signatures"]
                    ),
                    tuple(data["timestamps"]),
                    data["error"],
                )
            )
        return reports

    def one(self, path: Path | str) -> DssReport:
        return self.check([path])[0]

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
