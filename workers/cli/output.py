"""How commands print: aligned human lines on a terminal, one JSON object per line with --json."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass
class Output:
    json_mode: bool = False
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def row(self, record: dict[str, Any], columns: Sequence[str] | None = None) -> None:
        """One record: a JSON line, or ``columns`` of it separated by tabs."""
        if self.json_mode:
            self.stream.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        else:
            keys = columns or list(record)
            self.stream.write("\t".join(_human(record.get(k)) for k in keys) + "\n")
        self.stream.flush()

    def header(self, columns: Sequence[str]) -> None:
        if not self.json_mode:
            self.stream.write("\t".join(columns) + "\n")

    def info(self, message: str) -> None:
        """Progress and explanations go to stderr so stdout stays machine-readable."""
        self.err.write(message + "\n")
        self.err.flush()

    def error(self, message: str) -> None:
        self.err.write(f"sohoa: error: {message}\n")
        self.err.flush()


def _human(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value).replace("\t", " ").replace("\n", " ")
