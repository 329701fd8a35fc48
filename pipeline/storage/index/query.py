"""The query grammar, backend-neutral: words, quoted phrases, dossier-code prefixes, filters.

Lenient by design: an unclosed quote runs to the end, stray operators become words
or vanish. Only queries with nothing searchable, absurdly long ones and bad
filters raise :class:`QueryError`, with a message for the person who typed them.
No user input is ever spliced into a backend's query syntax: backends get tokens.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from pipeline.dossier.codes import CODE_RE
from pipeline.dossier.place import valid_component, valid_kind
from pipeline.errors import QueryError
from pipeline.lang.textnorm import fold, has_diacritics, nfc

MAX_QUERY_CHARS = 500


MAX_TERMS = 16


MAX_LIMIT = 200
_DAY_FIRST_RE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


# Tokens as FTS5's unicode61 sees them, closely enough for query building and
# highlighting: letters and digits; underscore and punctuation separate.
TOKEN_RE = re.compile(r"[^\W_]+")


_CODE_PREFIX_RE = re.compile(
    r"[0-9A-Z]{1,3}(?:\.[0-9A-Z]{0,3}){0,4}(?:-[0-9]{0,6}(?:-[0-9]{0,7})?)?"
)


def upper_code(code: str) -> str:
    """A typed code or code prefix as the index stores codes (lax: prefixes are not valid codes)."""
    return nfc(code).strip().upper()


@dataclass(frozen=True)
class Term:
    """A word or a quoted phrase: lower-cased NFC tokens, the last one maybe a prefix."""

    tokens: tuple[str, ...]
    prefix: bool = False

    @property
    def marked(self) -> bool:
        return any(has_diacritics(t) for t in self.tokens)


@dataclass(frozen=True)
class ParsedQuery:
    units: tuple[Term, ...]
    codes: tuple[tuple[str, bool], ...]  # (upper-cased code, is_prefix)

    @property
    def marked(self) -> bool:
        return any(u.marked for u in self.units)


def clean_text(text: str) -> str:
    """NFC, and control/format characters (NUL included) turned into spaces."""
    text = nfc(text)
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Cs") else ch for ch in text)


def _code_term(word: str) -> tuple[str, bool] | None:
    """``(code, is_prefix)`` when ``word`` reads as a dossier code or a prefix of one."""
    upper = word.upper()
    star = upper.endswith("*")
    body = upper.rstrip("*")
    if not body:
        return None
    if not star and CODE_RE.fullmatch(body):
        return body, False
    if not _CODE_PREFIX_RE.fullmatch(body):
        return None
    looks_like_code = (
        (star and ("." in body or "-" in body))
        or body.count(".") >= 2
        or re.search(r"-\d{6}", body) is not None
    )
    return (body, True) if looks_like_code else None


def _word_unit(word: str, prefix: bool) -> Term | None:
    tokens = tuple(t.lower() for t in TOKEN_RE.findall(word))
    if not tokens:
        return None
    return Term(tokens, prefix and len(tokens[-1]) >= 2)


@dataclass(frozen=True)
class NumberFilter:
    """A typed document number: ``263`` (the number), ``263/KH-UBND`` (number and notation),
    ``KH-UBND`` or ``/KH-UBND`` (the notation). Folded, lower-cased, without spaces, as the
    index keeps them, so the match is accent- and case-insensitive."""

    number: int | None = None
    notation: str | None = None

    @property
    def key(self) -> str | None:
        """``"263/kh-ubnd"`` when both parts are given (the index's ``number_key``)."""
        if self.number is None or self.notation is None:
            return None
        return f"{self.number}/{self.notation}"


def number_key(number: int | None, notation: str | None) -> tuple[str | None, str | None]:
    """(number_key, notation_key) as the index stores a document's number and notation."""
    folded = fold(nfc(notation)).lower().replace(" ", "") if notation else None
    if number is None or folded is None:
        return None, folded
    return f"{int(number)}/{folded}", folded


def number_arg(value: str | None) -> NumberFilter | None:
    if value is None or not str(value).strip():
        return None
    text = fold(clean_text(str(value))).lower().replace(" ", "")
    if text.lower().startswith("so:"):
        text = text[3:]
    if len(text) > 80:
        raise QueryError("number is too long")
    if text.isascii() and text.isdigit():
        return NumberFilter(int(text))
    head, slash, tail = text.partition("/")
    if slash and tail and (not head or (head.isascii() and head.isdigit())):
        return NumberFilter(int(head) if head else None, tail)
    if not slash and re.fullmatch(r"[0-9a-z][0-9a-z.\-]*", text):
        return NumberFilter(None, text)
    raise QueryError(f"number must look like 263, 263/KH-UBND or KH-UBND, got {str(value)[:40]!r}")


def parse_query(query: str, allow_empty: bool = False) -> ParsedQuery:
    """Cut a typed query into words, quoted phrases and dossier-code terms.

    Lenient by design: an unclosed quote runs to the end, stray operators become
    words or vanish. Only queries with nothing searchable, or absurdly long ones,
    raise :class:`QueryError`.
    """
    if not isinstance(query, str):
        raise QueryError("the query must be text")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is too long ({len(query)} characters; at most {MAX_QUERY_CHARS})"
        )
    text = clean_text(query)
    units: list[Term] = []
    codes: list[tuple[str, bool]] = []
    chunks = text.split('"')
    for i, chunk in enumerate(chunks):
        if i % 2 == 1:  # inside quotes (an unclosed quote runs to the end)
            following = chunks[i + 1] if i + 1 < len(chunks) else ""
            unit = _word_unit(chunk, following.startswith("*"))
            if unit:
                units.append(unit)
            continue
        for word in chunk.split():
            code = _code_term(word)
            if code:
                codes.append(code)
            else:
                unit = _word_unit(word, word.endswith("*"))
                if unit:
                    units.append(unit)
    if not units and not codes and not allow_empty:
        raise QueryError("nothing to search for: type words from the page or a dossier code")
    if len(units) + len(codes) > MAX_TERMS:
        raise QueryError(f"too many search terms (at most {MAX_TERMS})")
    return ParsedQuery(tuple(units), tuple(codes))


def date_arg(value: date | str | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    day_first = _DAY_FIRST_RE.fullmatch(text)  # 20/11/2026, as Vietnamese forms write dates
    try:
        if day_first:
            day, month, year = (int(g) for g in day_first.groups())
            return date(year, month, day).isoformat()
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise QueryError(
            f"{name} must be a date like 2026-11-20 or 20/11/2026, got {value!r}"
        ) from None


def text_arg(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    value = clean_text(str(value)).strip()
    if len(value) > 200:
        raise QueryError(f"{name} is too long")
    return value or None


def as_phrase(units: Sequence[Term]) -> Term | None:
    """All typed words as one phrase, when there are several and only the last may be a prefix."""
    if len(units) < 2 or any(u.prefix for u in units[:-1]):
        return None
    return Term(tuple(t for u in units for t in u.tokens), units[-1].prefix)


def parse_limit(raw: str | int | None, default: int = 20) -> int:
    """A hit count typed by a person or sent in a URL: ASCII digits, 1 to ``MAX_LIMIT``.

    ``int()`` would take "²"-free but non-ASCII digits such as "２０"; those are
    refused here as everywhere else a number is read from people.
    """
    if raw is None or raw == "":
        return default
    if isinstance(raw, int):
        value = raw
    else:
        text = raw.strip()
        if not text.isascii() or not text.isdigit():
            raise QueryError(f"limit must be a whole number, got {text[:20]!r}")
        value = int(text)
    if not 1 <= value <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
    return value


@dataclass(frozen=True)
class SearchRequest:
    """One search as the CLI and the web page both ask it: the query and its filters.

    Built through :meth:`build`, which validates every value, so a backend only ever
    sees a parsed query, ISO dates and bounded strings.
    """

    parsed: ParsedQuery
    query: str
    dossier: str | None = None
    station: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    doc_type: str | None = None
    limit: int = 20
    number: NumberFilter | None = None
    organ: str | None = None
    # Only pages holding the words exactly as typed, diacritics and all (no folded tier):
    # "đăng ký" then finds neither "đang giảng dạy" nor "đăng kỳ".
    exact_only: bool = False
    component: str | None = None  # the place in the dossier (issue 21)
    kind: str | None = None

    @property
    def by_fields_only(self) -> bool:
        """No words and no code: the documents the field filters select (page 1 of each)."""
        return not self.parsed.units and not self.parsed.codes

    @classmethod
    def build(
        cls,
        query: str,
        *,
        dossier: str | None = None,
        station: str | None = None,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        doc_type: str | None = None,
        limit: str | int | None = 20,
        number: str | None = None,
        organ: str | None = None,
        exact_only: bool = False,
        component: str | None = None,
        kind: str | None = None,
    ) -> SearchRequest:
        """Validate every value. The words may be left out when a field filter is given
        (``--number 263/KH-UBND`` alone lists that document)."""
        start, end = date_arg(date_from, "from"), date_arg(date_to, "to")
        if start and end and start > end:
            raise QueryError(f"the start date {start} is after the end date {end}")
        wanted = number_arg(number)
        organ_text = text_arg(organ, "organ")
        type_text = text_arg(doc_type, "type")
        component = valid_component(component) if component else None
        kind = valid_kind(kind) if kind else None
        filtered = bool(
            wanted or organ_text or type_text or start or end or dossier or component or kind
        )
        return cls(
            parsed=parse_query(query or "", allow_empty=filtered),
            query=query or "",
            number=wanted,
            organ=organ_text,
            dossier=text_arg(dossier, "dossier"),
            station=text_arg(station, "station"),
            date_from=start,
            date_to=end,
            doc_type=type_text,
            limit=parse_limit(limit),
            exact_only=bool(exact_only),
            component=component,
            kind=kind,
        )
