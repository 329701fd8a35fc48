"""How commands print: a table for a person at a terminal, stable lines for programs.

- On a terminal (stdout is a tty, neither ``--json`` nor ``--tsv``): an aligned table
  with Vietnamese headers, states, reasons and local times (:mod:`pipeline.display`),
  wide text wrapped to the terminal's width; internal columns are left out.
- Piped, or with ``--tsv``: a header line of the English column names, then one
  tab-separated line per record, values as stored (the columns are listed in the
  README's CLI section and do not change meaning between versions).
- ``--json``: one JSON object per record, with stable English field names.

Whatever a file was called (newlines, control characters, invalid UTF-8), one record
stays one line: values pass through :func:`pipeline.names.display` first. A reader that
stops early (``sohoa search giay | head -1``) closes the pipe: output stops quietly and
the command finishes its work with its own exit code.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from pipeline.names import display


@dataclass(frozen=True)
class Column:
    """One column: the record's field (the machine header), and how a person sees it."""

    key: str
    title: str  # Vietnamese header on a terminal
    show: Callable[[Any], str] | None = None  # the value for a person (default: as text)
    width: int = 14  # its share when the table is printed as rows arrive
    human: bool = True  # False: machines only (internal keys a clerk does not need)


@dataclass
class Output:
    json_mode: bool = False
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    tsv_mode: bool = False
    closed: bool = False  # the reader went away: nothing more is written to stdout
    _table: _Table | None = field(default=None, repr=False)

    @property
    def terminal(self) -> bool:
        """A person is reading stdout (not --json, not --tsv, not a pipe)."""
        if self.json_mode or self.tsv_mode:
            return False
        try:
            return self.stream.isatty()
        except (ValueError, OSError):
            return False

    # -- records -----------------------------------------------------------------------
    def header(self, columns: Sequence[str | Column], *, stream: bool = False) -> None:
        """Start a listing: the tab-separated header, or a table on a terminal.

        ``stream``: rows are printed as they come (``process``, ``watch``), in columns of
        fixed width; otherwise a terminal table is printed whole by :meth:`finish`.
        """
        if self.json_mode:
            return
        if self.terminal:
            self.finish()
            cols = [c if isinstance(c, Column) else Column(c, c) for c in columns]
            self._table = _Table([c for c in cols if c.human], stream, _width(self.stream))
            if stream:
                self._write(self._table.head())
            return
        self._write("\t".join(c.key if isinstance(c, Column) else c for c in columns) + "\n")

    def row(self, record: dict[str, Any], columns: Sequence[str | Column] | None = None) -> None:
        """One record: a JSON line, a tab-separated line, or a row of the terminal table."""
        if self.json_mode:
            line = json.dumps(_printable(record), ensure_ascii=False, default=str)
            self._write(line + "\n")
        elif self.terminal and self._table is not None:
            lines = self._table.add(record)
            if lines:
                self._write(lines)
        elif self.terminal:
            self._write(_block(record, columns))
        else:
            keys = [c.key if isinstance(c, Column) else c for c in (columns or list(record))]
            self._write("\t".join(_machine(record.get(k)) for k in keys) + "\n")

    def finish(self) -> None:
        """Print a terminal table held back for its widths (called once the command ends)."""
        table, self._table = self._table, None
        if table is not None and not table.stream:
            self._write(table.render())

    @property
    def width(self) -> int:
        """The terminal's width (for text that wraps)."""
        return _width(self.stream)

    def field(self, title: str, value: str, pad: int) -> None:
        """One "title  value" line for a person, the value wrapped under itself."""
        lines = _wrap(value, max(20, self.width - pad - len(GAP)))
        indent = " " * (pad + len(GAP))
        self.text(f"{title:{pad}}{GAP}{lines[0]}")
        for line in lines[1:]:
            self.text(indent + line)

    # -- text --------------------------------------------------------------------------
    def text(self, line: str = "") -> None:
        """A line for people (stdout)."""
        self._write(line + "\n")

    def info(self, message: str) -> None:
        """Progress and explanations go to stderr so stdout stays machine-readable."""
        self.err.write(display(message) + "\n")
        self.err.flush()

    def error(self, message: str) -> None:
        self.err.write(f"sohoa: error: {display(message)}\n")
        self.err.flush()

    def _write(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            self.close_quietly()

    def close_quietly(self) -> None:
        """The reader is gone: write nothing more, and let the exit's flush find a sink."""
        self.closed = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass


# ----------------------------------------------------------------------------- helpers


def _width(stream: TextIO) -> int:
    try:
        return max(40, os.get_terminal_size(stream.fileno()).columns)
    except (OSError, ValueError, AttributeError):
        return max(40, shutil.get_terminal_size().columns)


def _human_value(column: Column, value: Any) -> str:
    if column.show is not None:
        text = column.show(value)
    elif value is None or value == "":
        text = "—"
    elif isinstance(value, bool):
        text = "có" if value else "không"
    elif isinstance(value, float):
        text = f"{value:.2f}"
    else:
        text = str(value)
    # line by line: a cell may hold several lines (one per file), each made safe to show
    return "\n".join(
        display(line).replace("\\t", " ").replace("\\n", " ") for line in text.split("\n")
    )


GAP = "  "


class _Table:
    """An aligned table whose wide cells wrap onto further lines within the width."""

    def __init__(self, columns: list[Column], stream: bool, width: int) -> None:
        self.columns, self.stream, self.width = columns, stream, width
        self.rows: list[list[str]] = []
        self.widths = self._nominal() if stream else []

    def _nominal(self) -> list[int]:
        widths = [max(c.width, len(c.title)) for c in self.columns]
        return _fit(widths, [len(c.title) for c in self.columns], self.width)

    def head(self) -> str:
        return self._line([c.title for c in self.columns], self.widths) + self._rule()

    def _rule(self) -> str:
        return GAP.join("─" * w for w in self.widths) + "\n"

    def add(self, record: dict[str, Any]) -> str:
        cells = [_human_value(c, record.get(c.key)) for c in self.columns]
        if self.stream:
            return self._line(cells, self.widths)
        self.rows.append(cells)
        return ""

    def render(self) -> str:
        if not self.rows:
            return ""
        # a column empty in every row says nothing to a person: leave it out
        keep = [i for i in range(len(self.columns)) if any(r[i] != "—" for r in self.rows)]
        self.columns = [self.columns[i] for i in keep]
        self.rows = [[r[i] for i in keep] for r in self.rows]
        natural = [
            max(len(c.title), *(len(r[i]) for r in self.rows)) for i, c in enumerate(self.columns)
        ]
        titles = [min(len(c.title), 8) for c in self.columns]
        self.widths = _fit(natural, titles, self.width)
        return self.head() + "".join(self._line(r, self.widths) for r in self.rows)

    @staticmethod
    def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
        wrapped = [_wrap(cell, w) for cell, w in zip(cells, widths, strict=True)]
        height = max(len(w) for w in wrapped)
        lines = []
        for i in range(height):
            parts = [
                (w[i] if i < len(w) else "").ljust(n) for w, n in zip(wrapped, widths, strict=True)
            ]
            lines.append(GAP.join(parts).rstrip())
        return "\n".join(lines) + "\n"


def _fit(widths: list[int], floors: list[int], total: int) -> list[int]:
    """Column widths that fit ``total`` characters: narrow columns keep their natural
    width, the wide ones share what is left equally (never below a floor of 4)."""
    room = total - len(GAP) * (len(widths) - 1)
    if sum(widths) <= room:
        return list(widths)
    out = list(widths)
    left, todo = room, sorted(range(len(widths)), key=lambda k: widths[k])
    while todo:
        share = left // len(todo)
        i = todo[0]
        if widths[i] <= share:
            out[i] = widths[i]
        else:  # every column left is wider than its share: split the rest between them
            for n, k in enumerate(todo):
                out[k] = max(4, floors[k], share + (1 if n < left - share * len(todo) else 0))
            break
        left -= out[i]
        todo.pop(0)
    return out


def _wrap(text: str, width: int) -> list[str]:
    """Words onto lines of ``width``; a long key (``raw/sha256/…``) is cut where it must."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        out.extend(
            textwrap.wrap(paragraph, width, break_long_words=True, break_on_hyphens=False) or [""]
        )
    return out


def _block(record: dict[str, Any], columns: Sequence[str | Column] | None) -> str:
    """A single record on a terminal: one "title: value" line per field."""
    cols = [c if isinstance(c, Column) else Column(c, c) for c in (columns or list(record))]
    cols = [c for c in cols if c.human]
    pad = max((len(c.title) for c in cols), default=0)
    return "".join(f"{c.title:{pad}}  {_human_value(c, record.get(c.key))}\n" for c in cols)


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


def _machine(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return display(str(value)).replace("\\t", " ").replace("\\n", " ")
