"""How commands print: aligned human lines on a terminal, one JSON object per line with --json.

Whatever a file was called (newlines, control characters, invalid UTF-8), one
record stays one line: values pass through :func:`pipeline.names.display` first.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from pipeline.names import display


@dataclass
class Output:
    json_mode: bool = False
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    @property
    def terminal(self) -> bool:
        """A person is reading stdout (not --json, not a pipe)."""
        return not self.json_mode and self.stream.isatty()

    def row(self, record: dict[str, Any], columns: Sequence[str] | None = None) -> None:
        """One record: a JSON line, or ``columns`` of it separated by tabs."""
        if self.json_mode:
            line = json.dumps(_printable(record), ensure_ascii=False, default=str)
            self.stream.write(line + "\n")
        else:
            keys = columns or list(record)
            self.stream.write("\t".join(_human(record.get(k)) for k in keys) + "\n")
        self.stream.flush()

    def header(self, columns: Sequence[str]) -> None:
        if not self.json_mode:
            self.stream.write("\t".join(columns) + "\n")

    def text(self, line: str = "") -> None:
        """A line for people (stdout)."""
        self.stream.write(line + "\n")

    def info(self, message: str) -> None:
        """Progress and explanations go to stderr so stdout stays machine-readable."""
        self.err.write(display(message) + "\n")
        self.err.flush()

    def error(self, message: str) -> None:
        self.err.write(f"sohoa: error: {display(message)}\n")
        self.err.flush()


def _printable(value: Any) -> Any:
    """Strings with undecodable bytes shown as ``\\x..`` text, so the JSON line stays UTF-8."""
    if isinstance(value, str):
        return display(value) if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value) else value
    if isinstance(value, bytes):
        return display(value)
    if isinstance(value, dict):
        return {k: _printable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable(v) for v in value]
    return value


def _human(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return display(str(value)).replace("\\t", " ").replace("\\n", " ")
