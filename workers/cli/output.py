"""How commands print: aligned human lines on a terminal, one JSON object per line with --json.

Whatever a file was called (newlines, control characters, invalid UTF-8 shown
as ``\\x..``), one record stays one line: values are escaped before printing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO


def one_line(text: str) -> str:
    """``text`` with control characters (tab, newline, NUL, ESC…) shown as escapes."""
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}.get(ch, f"\\x{code:02x}"))
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's escape)
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(ch)
    return "".join(out)


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
        self.err.write(one_line(message) + "\n")
        self.err.flush()

    def error(self, message: str) -> None:
        self.err.write(f"sohoa: error: {one_line(message)}\n")
        self.err.flush()


def _printable(value: Any) -> Any:
    """Strings with undecodable bytes shown as ``\\x..`` text, so the JSON line stays UTF-8."""
    if isinstance(value, str):
        if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in value):
            return "".join(
                f"\\x{ord(ch) - 0xDC00:02x}" if 0xDC80 <= ord(ch) <= 0xDCFF else ch for ch in value
            )
        return value
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
    return one_line(str(value)).replace("\\t", " ").replace("\\n", " ")
