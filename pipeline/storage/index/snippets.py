"""Snippets: a window of the page's NFC text around the first match, matches marked.

Done on the stored text rather than by the backend so folded matches are shown
with their original diacritics, the same way for SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from pipeline.lang.textnorm import fold
from pipeline.storage.index.query import TOKEN_RE, Term

SNIPPET_TOKENS = 28


_SPACE_RE = re.compile(r"\s+")


_fold_word = functools.lru_cache(maxsize=1 << 16)(fold)


def _matching_tokens(words: list[str], units: Iterable[Term], exact: bool) -> set[int]:
    """Indexes of page tokens that satisfy a query unit (phrases as consecutive runs)."""
    folded_words: list[str] | None = None
    marked: set[int] = set()
    for unit in units:
        if exact and unit.marked:
            pattern, haystack = list(unit.tokens), words
        else:
            if folded_words is None:
                folded_words = [_fold_word(w) for w in words]
            pattern, haystack = [_fold_word(t) for t in unit.tokens], folded_words
        n = len(pattern)
        head, last = pattern[0], pattern[-1]
        for start in range(len(haystack) - n + 1):
            word = haystack[start]
            if n == 1:
                ok = word.startswith(head) if unit.prefix else word == head
            else:
                ok = (
                    word == head
                    and haystack[start + 1 : start + n - 1] == pattern[1:-1]
                    and (
                        haystack[start + n - 1].startswith(last)
                        if unit.prefix
                        else haystack[start + n - 1] == last
                    )
                )
            if ok:
                marked.update(range(start, start + n))
    return marked


def make_snippet(
    text: str, units: Iterable[Term] = (), exact: bool = False, width: int = SNIPPET_TOKENS
) -> tuple[tuple[str, bool], ...]:
    """A window of ``width`` tokens around the first match, as (text, highlighted) parts.

    Done in Python on the NFC text (not FTS5's ``snippet()``) so that folded
    matches are shown with their original diacritics.
    """
    spans = [(m.start(), m.end()) for m in TOKEN_RE.finditer(text)]
    if not spans:
        return ()
    words = [text[a:b].lower() for a, b in spans]
    marked = _matching_tokens(words, units, exact)
    first = min(marked) if marked else 0
    lo = max(0, min(first - width // 4, len(spans) - width))
    hi = min(len(spans), lo + width)
    parts: list[tuple[str, bool]] = []

    def add(piece: str, highlighted: bool) -> None:
        piece = _SPACE_RE.sub(" ", piece)
        if not piece:
            return
        if parts and parts[-1][1] == highlighted:
            parts[-1] = (parts[-1][0] + piece, highlighted)
        else:
            parts.append((piece, highlighted))

    if lo > 0:
        add("… ", False)
    else:
        add(text[: spans[0][0]].lstrip(), False)  # an opening bracket or quote
    for i in range(lo, hi):
        a, b = spans[i]
        if i > lo:
            gap = text[spans[i - 1][1] : a]
            # "giấy phép" stays one highlighted run; other gaps are plain text
            run = i in marked and (i - 1) in marked and not gap.strip()
            add(gap, run)
        add(text[a:b], i in marked)
    if hi < len(spans):
        add(" …", False)
    else:
        add(text[spans[-1][1] :].rstrip(), False)  # the closing punctuation
    return tuple((t, h) for t, h in parts if t)


def render_snippet(parts: Iterable[tuple[str, bool]]) -> str:
    """Plain-text snippet with matches in square brackets, for the terminal."""
    return "".join(f"[{t}]" if h else t for t, h in parts)
