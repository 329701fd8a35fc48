"""The search index: one SQLite FTS5 row per archived page, exact and folded.

Records staff type words without diacritics ("giay phep xay dung") far more often
than with them, yet a query typed *with* marks means the person cares about them.
So every page is indexed twice in one FTS5 table: ``exact`` holds the NFC text
and ``folded`` holds :func:`textnorm.fold` of it (FTS5's own ``remove_diacritics``
would miss đ→d). Both use ``unicode61 remove_diacritics 0`` so the exact column
keeps its marks. A query with marks is run against ``exact`` first and then
against ``folded``; exact hits always rank above folded ones.

Dossier codes (``000.00.13.H38-261120-0001``) are split into many tokens by
any word tokenizer, so code terms are matched against the ``docs`` table's
B-tree on ``dossier_code`` instead: a prefix becomes a range scan, and dots and
dashes need no escaping.

User input never reaches FTS5 syntax: it is cut into tokens by a regex, and each
token or phrase is emitted as a double-quoted string, so ``NEAR``, ``OR``,
``col:``, ``*`` and quotes are plain words (or dropped) and every value travels
as a bound parameter.

The index is derived state: :func:`reindex` rebuilds it from the archive bucket.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.dossier.codes import CODE_RE, received_date
from pipeline.errors import QueryError
from pipeline.lang.textnorm import fold, has_diacritics, nfc

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MAX_QUERY_CHARS = 500
MAX_TERMS = 16
MAX_LIMIT = 200
SNIPPET_TOKENS = 28

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    doc_id TEXT PRIMARY KEY,
    dossier_code TEXT NOT NULL,
    document_id TEXT,
    doc_ordinal INTEGER,
    station TEXT,
    type_name TEXT,
    type_folded TEXT,
    received TEXT,
    digitized_at TEXT,
    pdf_key TEXT NOT NULL,
    pages INTEGER NOT NULL,
    meta TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_by_code ON docs(dossier_code, doc_ordinal);
CREATE INDEX IF NOT EXISTS docs_by_received ON docs(received);
CREATE INDEX IF NOT EXISTS docs_by_pdf ON docs(pdf_key);
CREATE TABLE IF NOT EXISTS pages (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    page INTEGER NOT NULL,
    UNIQUE (doc_id, page)
);
CREATE VIRTUAL TABLE IF NOT EXISTS pages_fts USING fts5(
    exact, folded, tokenize = 'unicode61 remove_diacritics 0'
);
"""

# Tokens as FTS5's unicode61 sees them, closely enough for query building and
# highlighting: letters and digits; underscore and punctuation separate.
_TOKEN_RE = re.compile(r"[^\W_]+")
_SPACE_RE = re.compile(r"\s+")
_CODE_PREFIX_RE = re.compile(
    r"[0-9A-Z]{1,3}(?:\.[0-9A-Z]{0,3}){0,4}(?:-[0-9]{0,6}(?:-[0-9]{0,7})?)?"
)
_ARCHIVE_JSON_RE = re.compile(r"(?P<code>[^/]+)/(?P=code)\.\d+\.json")


@dataclass(frozen=True)
class Hit:
    """One matching page. ``snippet`` marks matches with ``[`` ``]``; ``snippet_parts``
    holds the same text as (text, highlighted) pairs so HTML can escape it safely."""

    dossier_code: str
    document_id: str | None
    doc_id: str
    page: int
    snippet: str
    score: float
    pdf_key: str
    match: str  # "exact", "folded" or "code"
    snippet_parts: tuple[tuple[str, bool], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("snippet_parts")
        return out


# --------------------------------------------------------------------------- schema


def open_index(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the index at ``path``.

    WAL lets the web server read while the pipeline writes; the busy timeout and
    ``BEGIN IMMEDIATE`` around every write let several processes share the file.
    The connection is in autocommit mode: this module manages its transactions.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
        _create_schema(conn)
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _create_schema(conn: sqlite3.Connection) -> None:
    for attempt in range(50):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError:  # another process holds the lock right now
            time.sleep(0.1 * (attempt + 1))
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise RuntimeError(
                f"index schema version {version} is not {SCHEMA_VERSION}: "
                "delete the index file and run `sohoa reindex`"
            )
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class _Write:
    """A write transaction that nests inside a caller's transaction as a savepoint."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.nested = conn.in_transaction

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("SAVEPOINT sohoa_index" if self.nested else "BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if self.nested:
            if exc_type is not None:
                self.conn.execute("ROLLBACK TO sohoa_index")
            self.conn.execute("RELEASE sohoa_index")
        else:
            self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


# ------------------------------------------------------------------------- indexing


def normalize_code(code: str) -> str:
    return nfc(code).strip().upper()


def split_pages(text: str, expected: int | None = None) -> list[str]:
    """Split an archive ``.txt`` into pages (form feed between pages).

    A trailing form feed (Tesseract ends every page with one) is dropped, so
    ``"a\\fb\\f"`` and ``"a\\fb"`` are both two pages.
    """
    parts = text.split("\f")
    if len(parts) > 1 and parts[-1] == "" and (expected is None or len(parts) == expected + 1):
        parts.pop()
    return parts


def index_document(
    conn: sqlite3.Connection, meta: dict[str, Any], page_texts: Sequence[str]
) -> None:
    """Index (or re-index) one archived document: its metadata row and one row per page.

    Idempotent: rows of the same ``doc_id`` are replaced in one transaction, so a
    reader never sees half a document.
    """
    doc_id = meta.get("doc_id")
    code = meta.get("dossier_code")
    if not isinstance(doc_id, str) or not doc_id or not isinstance(code, str) or not code:
        raise ValueError("metadata needs a doc_id and a dossier_code to be indexed")
    code = normalize_code(code)
    scan = meta.get("scan") or {}
    file = meta.get("file") or {}
    sohoa = meta.get("sohoa") or {}
    type_name = meta.get("type_name")
    texts = [nfc(t or "") for t in page_texts]
    row = (
        doc_id,
        code,
        sohoa.get("document_id"),
        meta.get("doc_ordinal"),
        scan.get("station"),
        type_name,
        fold(nfc(type_name)).lower() if type_name else None,
        received_date(code),
        scan.get("digitized_at"),
        file.get("key") or f"{code}/{doc_id}.pdf",
        len(texts),
        json.dumps(meta, ensure_ascii=False, sort_keys=True),
    )
    with _Write(conn):
        _delete_doc(conn, doc_id)
        conn.execute("INSERT INTO docs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)
        for number, text in enumerate(texts, start=1):
            cur = conn.execute("INSERT INTO pages (doc_id, page) VALUES (?, ?)", (doc_id, number))
            conn.execute(
                "INSERT INTO pages_fts (rowid, exact, folded) VALUES (?, ?, ?)",
                (cur.lastrowid, text, fold(text)),
            )


def _delete_doc(conn: sqlite3.Connection, doc_id: str) -> None:
    conn.execute(
        "DELETE FROM pages_fts WHERE rowid IN (SELECT id FROM pages WHERE doc_id = ?)", (doc_id,)
    )
    conn.execute("DELETE FROM pages WHERE doc_id = ?", (doc_id,))
    conn.execute("DELETE FROM docs WHERE doc_id = ?", (doc_id,))


def remove_document(conn: sqlite3.Connection, doc_id: str) -> None:
    with _Write(conn):
        _delete_doc(conn, doc_id)


def reindex(
    conn_or_path: sqlite3.Connection | Path | str,
    store: Any,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild the index from the archive bucket; returns the number of documents indexed.

    Documents are re-indexed one transaction each (the same :func:`index_document`
    the pipeline calls, so the result equals incremental indexing) and readers keep
    a usable index throughout; documents no longer in the archive are dropped at
    the end. Raises ``StorageUnavailable`` if MinIO cannot be reached.
    """
    from pipeline.storage import objects as storage  # the index stays importable without minio

    own = not isinstance(conn_or_path, sqlite3.Connection)
    conn = open_index(Path(conn_or_path)) if own else conn_or_path
    bucket = store.archive_bucket
    try:
        keys = [
            k
            for k in storage.list_keys(store, bucket, suffix=".json")
            if _ARCHIVE_JSON_RE.fullmatch(k)
        ]
        total = len(keys)
        if progress:
            progress(0, total)
        seen: set[str] = set()
        for done, key in enumerate(keys, start=1):
            doc_id = _reindex_one(conn, store, bucket, key, storage)
            if doc_id:
                seen.add(doc_id)
            if progress:
                progress(done, total)
        _drop_missing(conn, store, bucket, seen, storage)
        conn.execute("INSERT INTO pages_fts (pages_fts) VALUES ('optimize')")
        return len(seen)
    finally:
        if own:
            conn.close()


def _reindex_one(
    conn: sqlite3.Connection, store: Any, bucket: str, key: str, storage: Any
) -> str | None:
    try:
        meta = json.loads(storage.get_bytes(store, bucket, key).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("skipping %s: not valid JSON metadata (%s)", key, exc)
        return None
    if not isinstance(meta, dict):
        log.warning("skipping %s: metadata is not a JSON object", key)
        return None
    txt_key = key[: -len(".json")] + ".txt"
    if storage.stat(store, bucket, txt_key) is None:
        log.warning("%s has no %s; indexing its metadata only", key, txt_key)
        pages: list[str] = []
    else:
        text = storage.get_bytes(store, bucket, txt_key).decode("utf-8", errors="replace")
        pages = split_pages(text, meta.get("number_of_page"))
    try:
        index_document(conn, meta, pages)
    except ValueError as exc:
        log.warning("skipping %s: %s", key, exc)
        return None
    return meta["doc_id"]


def _drop_missing(
    conn: sqlite3.Connection, store: Any, bucket: str, seen: set[str], storage: Any
) -> None:
    """Remove documents gone from the archive, sparing any archived during the rebuild."""
    rows = conn.execute("SELECT doc_id, dossier_code FROM docs").fetchall()
    for doc_id, code in rows:
        if doc_id in seen:
            continue
        if storage.stat(store, bucket, f"{code}/{doc_id}.json") is None:
            remove_document(conn, doc_id)


# -------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class _Unit:
    """A word or a quoted phrase: lower-cased NFC tokens, the last one maybe a prefix."""

    tokens: tuple[str, ...]
    prefix: bool = False

    @property
    def marked(self) -> bool:
        return any(has_diacritics(t) for t in self.tokens)

    def fts(self, folded: bool) -> str:
        column, tokens = (
            ("folded", [fold(t) for t in self.tokens]) if folded else ("exact", self.tokens)
        )
        return f'{column} : "{" ".join(tokens)}"' + ("*" if self.prefix else "")


@dataclass(frozen=True)
class ParsedQuery:
    units: tuple[_Unit, ...]
    codes: tuple[tuple[str, bool], ...]  # (upper-cased code, is_prefix)

    @property
    def marked(self) -> bool:
        return any(u.marked for u in self.units)


def _clean(text: str) -> str:
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


def _word_unit(word: str, prefix: bool) -> _Unit | None:
    tokens = tuple(t.lower() for t in _TOKEN_RE.findall(word))
    if not tokens:
        return None
    return _Unit(tokens, prefix and len(tokens[-1]) >= 2)


def parse_query(query: str) -> ParsedQuery:
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
    text = _clean(query)
    units: list[_Unit] = []
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
    if not units and not codes:
        raise QueryError("nothing to search for: type words from the page or a dossier code")
    if len(units) + len(codes) > MAX_TERMS:
        raise QueryError(f"too many search terms (at most {MAX_TERMS})")
    return ParsedQuery(tuple(units), tuple(codes))


def _date_arg(value: date | str | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise QueryError(f"{name} must be a date like 2026-11-20, got {value!r}") from None


def _text_arg(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    value = _clean(str(value)).strip()
    if len(value) > 200:
        raise QueryError(f"{name} is too long")
    return value or None


def _code_condition(code: str, prefix: bool) -> tuple[str, list[str]]:
    if not prefix:
        return "d.dossier_code = ?", [code]
    upper = code[:-1] + chr(ord(code[-1]) + 1)
    return "(d.dossier_code >= ? AND d.dossier_code < ?)", [code, upper]


def _filters(
    parsed: ParsedQuery,
    dossier: str | None,
    station: str | None,
    date_from: date | str | None,
    date_to: date | str | None,
    doc_type: str | None,
) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if parsed.codes:
        parts = [_code_condition(code, prefix) for code, prefix in parsed.codes]
        where.append("(" + " OR ".join(sql for sql, _ in parts) + ")")
        params += [p for _, ps in parts for p in ps]
    dossier = _text_arg(dossier, "dossier")
    if dossier:
        code = normalize_code(dossier)
        prefix = code.endswith("*")
        code = code.rstrip("*")
        if code:
            sql, ps = _code_condition(code, prefix)
            where.append(sql)
            params += ps
    station = _text_arg(station, "station")
    if station:
        where.append("d.station = ?")
        params.append(station)
    start, end = _date_arg(date_from, "from"), _date_arg(date_to, "to")
    if start and end and start > end:
        raise QueryError(f"the start date {start} is after the end date {end}")
    if start:
        where.append("d.received >= ?")
        params.append(start)
    if end:
        where.append("d.received <= ?")
        params.append(end)
    doc_type = _text_arg(doc_type, "type")
    if doc_type:
        where.append("instr(d.type_folded, ?) > 0")
        params.append(fold(doc_type).lower())
    return "".join(f" AND {w}" for w in where), params


def _as_phrase(units: Sequence[_Unit]) -> _Unit | None:
    """All typed words as one phrase, when there are several and only the last may be a prefix."""
    if len(units) < 2 or any(u.prefix for u in units[:-1]):
        return None
    return _Unit(tuple(t for u in units for t in u.tokens), units[-1].prefix)


def search(
    conn: sqlite3.Connection,
    query: str,
    *,
    dossier: str | None = None,
    station: str | None = None,
    date_from: date | str | None = None,
    date_to: date | str | None = None,
    doc_type: str | None = None,
    limit: int = 20,
) -> list[Hit]:
    """Pages matching ``query``, best first: exact-diacritic hits, then folded ones.

    Raises :class:`QueryError` (never a sqlite error) for unusable input.
    """
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
    parsed = parse_query(query)
    where, params = _filters(parsed, dossier, station, date_from, date_to, doc_type)
    try:
        if not parsed.units:
            return _code_hits(conn, where, params, limit)
        # Within each of exact and folded, pages holding the words as one phrase come
        # before pages holding them scattered: BM25 alone cannot tell them apart, and on a
        # small archive every common word scores about zero.
        phrase = _as_phrase(parsed.units)
        tiers: list[tuple[str, str]] = []
        if parsed.marked:
            if phrase:
                tiers.append(("exact", phrase.fts(folded=False)))
            expr = " AND ".join(u.fts(folded=not u.marked) for u in parsed.units)
            tiers.append(("exact", expr))
        if phrase:
            tiers.append(("folded", phrase.fts(folded=True)))
        tiers.append(("folded", " AND ".join(u.fts(folded=True) for u in parsed.units)))
        hits: list[Hit] = []
        seen: set[int] = set()
        for match, expr in tiers:
            for row in _ranked_rows(conn, expr, where, params, limit + len(seen)):
                if row[0] in seen or len(hits) >= limit:
                    continue
                seen.add(row[0])
                hits.append(_hit(conn, row, match, parsed, exact=match == "exact"))
            if len(hits) >= limit:
                break
        return hits
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc) or "syntax" in str(exc):
            raise QueryError("the query could not be understood; try plain words") from exc
        raise


_TEXT_SQL = """
SELECT p.id, p.page, d.doc_id, d.dossier_code, d.document_id, d.pdf_key, bm25(pages_fts) AS s
FROM pages_fts JOIN pages p ON p.id = pages_fts.rowid JOIN docs d ON d.doc_id = p.doc_id
WHERE pages_fts MATCH ?{where}
ORDER BY s, d.dossier_code, d.doc_ordinal, p.page
LIMIT ?
"""

# Without filters, let FTS5 pick the best rows before any join: half the time on
# common words. The outer query re-sorts them with the deterministic tie-breaks.
_FAST_TEXT_SQL = """
SELECT p.id, p.page, d.doc_id, d.dossier_code, d.document_id, d.pdf_key, top.s
FROM (SELECT rowid, bm25(pages_fts) AS s FROM pages_fts WHERE pages_fts MATCH ?
      ORDER BY s LIMIT ?) AS top
JOIN pages p ON p.id = top.rowid JOIN docs d ON d.doc_id = p.doc_id
ORDER BY top.s, d.dossier_code, d.doc_ordinal, p.page
"""
_TIE_SLACK = 20


def _ranked_rows(
    conn: sqlite3.Connection, expr: str, where: str, params: list[Any], n: int
) -> list[Any]:
    """The ``n`` best pages for an FTS expression, ties broken by code, ordinal and page."""
    if not where:
        inner = n + _TIE_SLACK
        rows = conn.execute(_FAST_TEXT_SQL, [expr, inner]).fetchall()
        # Equal scores straddling the inner cut would make the order depend on rowids
        # (insertion order); only then pay for the full sort.
        if len(rows) < inner or rows[min(n, len(rows)) - 1][6] < rows[-1][6]:
            return rows[:n]
    return conn.execute(_TEXT_SQL.format(where=where), [expr, *params, n]).fetchall()


_CODE_SQL = """
SELECT p.id, 1, d.doc_id, d.dossier_code, d.document_id, d.pdf_key, 0.0
FROM docs d LEFT JOIN pages p ON p.doc_id = d.doc_id AND p.page = 1
WHERE 1{where}
ORDER BY d.dossier_code, d.doc_ordinal, d.doc_id
LIMIT ?
"""


def _code_hits(conn: sqlite3.Connection, where: str, params: list[Any], limit: int) -> list[Hit]:
    rows = conn.execute(_CODE_SQL.format(where=where), [*params, limit]).fetchall()
    return [_hit(conn, row, "code", None, exact=False) for row in rows]


def _page_text(conn: sqlite3.Connection, page_rowid: int | None) -> str:
    if page_rowid is None:
        return ""
    row = conn.execute("SELECT exact FROM pages_fts WHERE rowid = ?", (page_rowid,)).fetchone()
    return row[0] if row else ""


def _hit(
    conn: sqlite3.Connection,
    row: Sequence[Any],
    match: str,
    parsed: ParsedQuery | None,
    exact: bool,
) -> Hit:
    rowid, page, doc_id, code, document_id, pdf_key, raw = row
    parts = make_snippet(_page_text(conn, rowid), parsed.units if parsed else (), exact)
    return Hit(
        dossier_code=code,
        document_id=document_id,
        doc_id=doc_id,
        page=page,
        snippet=render_snippet(parts),
        score=round(-raw, 4) + 0.0,
        pdf_key=pdf_key,
        match=match,
        snippet_parts=parts,
    )


# ------------------------------------------------------------------------- snippets


_fold_word = functools.lru_cache(maxsize=1 << 16)(fold)


def _matching_tokens(words: list[str], units: Iterable[_Unit], exact: bool) -> set[int]:
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
    text: str, units: Iterable[_Unit] = (), exact: bool = False, width: int = SNIPPET_TOKENS
) -> tuple[tuple[str, bool], ...]:
    """A window of ``width`` tokens around the first match, as (text, highlighted) parts.

    Done in Python on the NFC text (not FTS5's ``snippet()``) so that folded
    matches are shown with their original diacritics.
    """
    spans = [(m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]
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


# ---------------------------------------------------------------------- browsing


@dataclass(frozen=True)
class IndexedDocument:
    doc_id: str
    dossier_code: str
    document_id: str | None
    doc_ordinal: int | None
    station: str | None
    type_name: str | None
    received: str | None
    digitized_at: str | None
    pdf_key: str
    pages: int
    meta: dict[str, Any]
    page_snippets: tuple[str, ...]


def dossier_documents(
    conn: sqlite3.Connection, code: str, snippet_tokens: int = 20
) -> list[IndexedDocument]:
    """Every indexed document of one dossier, in order, with the opening words of each page."""
    code = normalize_code(code)
    rows = conn.execute(
        "SELECT doc_id, dossier_code, document_id, doc_ordinal, station, type_name, received,"
        " digitized_at, pdf_key, pages, meta FROM docs WHERE dossier_code = ?"
        " ORDER BY doc_ordinal, doc_id",
        (code,),
    ).fetchall()
    docs = []
    for row in rows:
        pages = conn.execute(
            "SELECT p.page, f.exact FROM pages p JOIN pages_fts f ON f.rowid = p.id"
            " WHERE p.doc_id = ? ORDER BY p.page",
            (row[0],),
        ).fetchall()
        snippets = tuple(render_snippet(make_snippet(t, width=snippet_tokens)) for _, t in pages)
        docs.append(IndexedDocument(*row[:10], meta=json.loads(row[10]), page_snippets=snippets))
    return docs


def pdf_known(conn: sqlite3.Connection, key: str) -> bool:
    """Whether ``key`` is the PDF of an indexed document (the web server links nothing else)."""
    return conn.execute("SELECT 1 FROM docs WHERE pdf_key = ?", (key,)).fetchone() is not None


def counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(dossiers, documents, pages) in the index."""
    row = conn.execute(
        "SELECT count(DISTINCT dossier_code), count(*), coalesce(sum(pages), 0) FROM docs"
    )
    return tuple(row.fetchone())  # type: ignore[return-value]
