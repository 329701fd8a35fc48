"""The search index on one machine: one SQLite FTS5 row per archived page, exact and folded.

Records staff type words without diacritics ("giay phep xay dung") far more often
than with them, yet a query typed *with* marks means the person cares about them.
So every page is indexed twice in one FTS5 table: ``exact`` holds the NFC text
and ``folded`` holds :func:`textnorm.fold` of it (FTS5's own ``remove_diacritics``
would miss đ→d). Both use ``unicode61 remove_diacritics 0`` so the exact column
keeps its marks. A query with marks is run against ``exact`` first and then
against ``folded``; exact hits always rank above folded ones, and within each,
pages holding the words as one phrase above pages holding them scattered.

Dossier codes (``000.00.13.H38-261120-0001``) are split into many tokens by
any word tokenizer, so code terms are matched against the ``docs`` table's
B-tree on ``dossier_code`` instead: a prefix becomes a range scan.

User input never reaches FTS5 syntax: the grammar (:mod:`.query`) cuts it into
tokens, and each token or phrase is emitted here as a double-quoted string, with
every value bound as a parameter.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from pipeline.errors import DatabaseUnavailable, QueryError
from pipeline.lang.textnorm import fold, nfc
from pipeline.private import private_file
from pipeline.storage.index.base import document_row, filter_clauses
from pipeline.storage.index.query import (
    ParsedQuery,
    SearchRequest,
    Term,
    as_phrase,
    upper_code,
)
from pipeline.storage.index.records import Hit, IndexedDocument
from pipeline.storage.index.snippets import make_snippet, render_snippet
from pipeline.storage.sqlite_util import ThreadConnections, immediate

SCHEMA_VERSION = 3  # 2: the document fields; 3: the place in the dossier (issue 21)
_TIE_SLACK = 20

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
    meta TEXT NOT NULL,
    code_number INTEGER,
    code_notation TEXT,
    number_key TEXT,
    notation_key TEXT,
    issued_date TEXT,
    organ_name TEXT,
    organ_folded TEXT,
    subject TEXT,
    component_code TEXT,
    kind TEXT
);
CREATE INDEX IF NOT EXISTS docs_by_code ON docs(dossier_code, doc_ordinal);
CREATE INDEX IF NOT EXISTS docs_by_received ON docs(received);
CREATE INDEX IF NOT EXISTS docs_by_pdf ON docs(pdf_key);
CREATE INDEX IF NOT EXISTS docs_by_number ON docs(code_number);
CREATE INDEX IF NOT EXISTS docs_by_number_key ON docs(number_key);
CREATE INDEX IF NOT EXISTS docs_by_notation ON docs(notation_key);
CREATE INDEX IF NOT EXISTS docs_by_issued ON docs(issued_date);
CREATE INDEX IF NOT EXISTS docs_by_component ON docs(component_code, kind);
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

_TEXT_SQL = """
SELECT p.id, p.page, d.doc_id, d.dossier_code, d.document_id, d.pdf_key, bm25(pages_fts) AS s,
    d.type_name, d.code_number, d.code_notation, d.issued_date, d.subject, d.organ_name
FROM pages_fts JOIN pages p ON p.id = pages_fts.rowid JOIN docs d ON d.doc_id = p.doc_id
WHERE pages_fts MATCH ?{where}
ORDER BY s, d.dossier_code, d.doc_ordinal, p.page
LIMIT ?
"""

# Without filters, let FTS5 pick the best rows before any join: half the time on
# common words. The outer query re-sorts them with the deterministic tie-breaks.
_FAST_TEXT_SQL = """
SELECT p.id, p.page, d.doc_id, d.dossier_code, d.document_id, d.pdf_key, top.s,
    d.type_name, d.code_number, d.code_notation, d.issued_date, d.subject, d.organ_name
FROM (SELECT rowid, bm25(pages_fts) AS s FROM pages_fts WHERE pages_fts MATCH ?
      ORDER BY s LIMIT ?) AS top
JOIN pages p ON p.id = top.rowid JOIN docs d ON d.doc_id = p.doc_id
ORDER BY top.s, d.dossier_code, d.doc_ordinal, p.page
"""
_TIE_SLACK = 20

_CODE_SQL = """
SELECT p.id, 1, d.doc_id, d.dossier_code, d.document_id, d.pdf_key, 0.0,
    d.type_name, d.code_number, d.code_notation, d.issued_date, d.subject, d.organ_name
FROM docs d LEFT JOIN pages p ON p.doc_id = d.doc_id AND p.page = 1
WHERE 1{where}
ORDER BY d.dossier_code, d.doc_ordinal, d.doc_id
LIMIT ?
"""


_DOC_COLUMNS = (
    "doc_id",
    "dossier_code",
    "document_id",
    "doc_ordinal",
    "station",
    "type_name",
    "type_folded",
    "received",
    "digitized_at",
    "pdf_key",
    "pages",
    "meta",
    "code_number",
    "code_notation",
    "number_key",
    "notation_key",
    "issued_date",
    "organ_name",
    "organ_folded",
    "subject",
    "component_code",
    "kind",
)
# Version 1 indexes lack the field columns; they are added and filled from ``meta``.
_V2_COLUMNS = (
    ("code_number", "INTEGER"),
    ("code_notation", "TEXT"),
    ("number_key", "TEXT"),
    ("notation_key", "TEXT"),
    ("issued_date", "TEXT"),
    ("organ_name", "TEXT"),
    ("organ_folded", "TEXT"),
    ("subject", "TEXT"),
)
# Version 2 indexes lack the place in the dossier; added and filled the same way.
_V3_COLUMNS = (("component_code", "TEXT"), ("kind", "TEXT"))


def _fts(term: Term, folded: bool) -> str:
    """A term as an FTS5 string: column filter plus a quoted phrase (no syntax survives)."""
    column, tokens = (
        ("folded", [fold(t) for t in term.tokens]) if folded else ("exact", term.tokens)
    )
    return f'{column} : "{" ".join(tokens)}"' + ("*" if term.prefix else "")


def tiers(parsed: ParsedQuery, exact_only: bool = False) -> list[tuple[str, str]]:
    """The FTS expressions to run, best tier first: (match kind, expression).

    ``exact_only``: every word as typed, diacritics and all ("ky" then finds only "ky"),
    and no folded tier.
    """
    phrase = as_phrase(parsed.units)
    out: list[tuple[str, str]] = []
    if exact_only:
        if phrase:
            out.append(("exact", _fts(phrase, folded=False)))
        out.append(("exact", " AND ".join(_fts(u, folded=False) for u in parsed.units)))
        return out
    if parsed.marked:
        if phrase:
            out.append(("exact", _fts(phrase, folded=False)))
        out.append(("exact", " AND ".join(_fts(u, folded=not u.marked) for u in parsed.units)))
    if phrase:
        out.append(("folded", _fts(phrase, folded=True)))
    out.append(("folded", " AND ".join(_fts(u, folded=True) for u in parsed.units)))
    return out


class SqliteIndex:
    """The ``SearchIndex`` interface over one SQLite file (WAL: the web reads while we write)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conns = ThreadConnections(self._open)
        if self.conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            self._create_schema()

    def _open(self) -> sqlite3.Connection:
        try:
            private_file(self.path)  # 0600 whatever the umask
            conn = sqlite3.connect(
                str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseUnavailable(f"cannot open the index {self.path}: {exc}") from None
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        return self._conns.get()

    def close(self) -> None:
        self._conns.close()

    def __enter__(self) -> SqliteIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create_schema(self) -> None:
        conn = self.conn
        for attempt in range(50):
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError:  # another process holds the lock right now
                time.sleep(0.1 * (attempt + 1))
        with immediate(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, 2, SCHEMA_VERSION):
                raise DatabaseUnavailable(
                    f"index schema version {version} is not {SCHEMA_VERSION}: "
                    "delete the index file and run `sohoa reindex`"
                )
            if version in (1, 2):
                self._upgrade(conn, version)
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def _upgrade(conn: sqlite3.Connection, version: int) -> None:
        """Add the columns an index of ``version`` lacks and fill them from each row's meta."""
        added = (_V2_COLUMNS if version < 2 else ()) + _V3_COLUMNS
        have = {r[1] for r in conn.execute("PRAGMA table_info(docs)")}
        for column, kind in added:
            if column not in have:
                conn.execute(f"ALTER TABLE docs ADD COLUMN {column} {kind}")
        for doc_id, meta_text in conn.execute("SELECT doc_id, meta FROM docs").fetchall():
            try:
                row = document_row(json.loads(meta_text))
            except (ValueError, TypeError):
                continue
            cols = [c for c, _ in added]
            conn.execute(
                f"UPDATE docs SET {', '.join(f'{c} = ?' for c in cols)} WHERE doc_id = ?",
                [*(row.get(c) for c in cols), doc_id],
            )

    # -- writing ---------------------------------------------------------------------------
    def index_document(self, meta: dict[str, Any], page_texts: list[str]) -> None:
        """Index (or re-index) one archived document: its metadata row and one row per page.

        Idempotent: rows of the same ``doc_id`` are replaced in one transaction, so a
        reader never sees half a document.
        """
        row = document_row(meta)
        texts = [nfc(t or "") for t in page_texts]
        with immediate(self.conn) as conn:
            self._delete(row["doc_id"])
            values = {
                **row,
                "type_folded": fold(row["type_name"]).lower() if row["type_name"] else None,
                "pages": len(texts),
                "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True),
            }
            cols = [c for c in _DOC_COLUMNS if c in values]
            conn.execute(
                f"INSERT INTO docs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [values[c] for c in cols],
            )
            for number, text in enumerate(texts, start=1):
                cur = conn.execute(
                    "INSERT INTO pages (doc_id, page) VALUES (?, ?)", (row["doc_id"], number)
                )
                conn.execute(
                    "INSERT INTO pages_fts (rowid, exact, folded) VALUES (?, ?, ?)",
                    (cur.lastrowid, text, fold(text)),
                )

    def _delete(self, doc_id: str) -> None:
        self.conn.execute(
            "DELETE FROM pages_fts WHERE rowid IN (SELECT id FROM pages WHERE doc_id = ?)",
            (doc_id,),
        )
        self.conn.execute("DELETE FROM pages WHERE doc_id = ?", (doc_id,))
        self.conn.execute("DELETE FROM docs WHERE doc_id = ?", (doc_id,))

    def remove_document(self, doc_id: str) -> None:
        with immediate(self.conn):
            self._delete(doc_id)

    def optimize(self) -> None:
        self.conn.execute("INSERT INTO pages_fts (pages_fts) VALUES ('optimize')")

    def documents(self) -> list[tuple[str, str]]:
        """(doc_id, dossier_code) of every indexed document."""
        return [tuple(r) for r in self.conn.execute("SELECT doc_id, dossier_code FROM docs")]

    # -- reading ---------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> list[Hit]:
        """Pages matching the request, best first: exact-diacritic hits, then folded ones.

        Raises :class:`QueryError` (never a sqlite error) for unusable input.
        """
        parsed, limit = request.parsed, request.limit
        where, params = filter_clauses(request, "?", "instr")
        try:
            if not parsed.units:
                rows = self.conn.execute(_CODE_SQL.format(where=where), [*params, limit]).fetchall()
                kind = "fields" if request.by_fields_only else "code"
                return [self._hit(row, kind, None, 1.0) for row in rows]
            found = tiers(parsed, request.exact_only)
            hits: list[Hit] = []
            seen: set[int] = set()
            for rank, (match, expr) in enumerate(found):
                weight = float(len(found) - rank)
                for row in self._ranked_rows(expr, where, params, limit + len(seen)):
                    if row[0] in seen or len(hits) >= limit:
                        continue
                    seen.add(row[0])
                    hits.append(self._hit(row, match, parsed, weight))
                if len(hits) >= limit:
                    break
            return hits
        except sqlite3.OperationalError as exc:
            if "fts5" in str(exc) or "syntax" in str(exc):
                raise QueryError("the query could not be understood; try plain words") from exc
            raise

    def _ranked_rows(self, expr: str, where: str, params: list[Any], n: int) -> list[Any]:
        """The ``n`` best pages for an FTS expression, ties broken by code, ordinal and page."""
        if not where:
            inner = n + _TIE_SLACK
            rows = self.conn.execute(_FAST_TEXT_SQL, [expr, inner]).fetchall()
            # Equal scores straddling the inner cut would make the order depend on rowids
            # (insertion order); only then pay for the full sort.
            if len(rows) < inner or rows[min(n, len(rows)) - 1][6] < rows[-1][6]:
                return rows[:n]
        return self.conn.execute(_TEXT_SQL.format(where=where), [expr, *params, n]).fetchall()

    def _page_text(self, page_rowid: int | None) -> str:
        if page_rowid is None:
            return ""
        row = self.conn.execute(
            "SELECT exact FROM pages_fts WHERE rowid = ?", (page_rowid,)
        ).fetchone()
        return row[0] if row else ""

    def _hit(self, row: Any, match: str, parsed: ParsedQuery | None, weight: float) -> Hit:
        rowid, page, doc_id, code, document_id, pdf_key, raw = row[:7]
        type_name, number, notation, issued, subject, organ = row[7:13]
        exact = match == "exact"
        parts = make_snippet(self._page_text(rowid), parsed.units if parsed else (), exact)
        relevance = max(0.0, -float(raw))
        return Hit(
            dossier_code=code,
            document_id=document_id,
            doc_id=doc_id,
            page=page,
            snippet=render_snippet(parts),
            score=round(weight + relevance / (1.0 + relevance), 4),
            pdf_key=pdf_key,
            match=match,
            snippet_parts=parts,
            type_name=type_name,
            code_number=number,
            code_notation=notation,
            issued_date=issued,
            subject=subject,
            organ_name=organ,
        )

    def dossier_documents(self, code: str, snippet_tokens: int = 20) -> list[IndexedDocument]:
        """Every indexed document of one dossier, in order, with the opening words of each page."""
        rows = self.conn.execute(
            "SELECT doc_id, dossier_code, document_id, doc_ordinal, station, type_name, received,"
            " digitized_at, pdf_key, pages, meta FROM docs WHERE dossier_code = ?"
            " ORDER BY doc_ordinal, doc_id",
            (upper_code(code),),
        ).fetchall()
        docs = []
        for row in rows:
            pages = self.conn.execute(
                "SELECT p.page, f.exact FROM pages p JOIN pages_fts f ON f.rowid = p.id"
                " WHERE p.doc_id = ? ORDER BY p.page",
                (row[0],),
            ).fetchall()
            snippets = tuple(
                render_snippet(make_snippet(t, width=snippet_tokens)) for _, t in pages
            )
            docs.append(
                IndexedDocument(*row[:10], meta=json.loads(row[10]), page_snippets=snippets)
            )
        return docs

    def pdf_known(self, key: str) -> bool:
        """Whether ``key`` is the PDF of an indexed document (the web links nothing else)."""
        row = self.conn.execute("SELECT 1 FROM docs WHERE pdf_key = ?", (key,)).fetchone()
        return row is not None

    def counts(self) -> tuple[int, int, int]:
        """(dossiers, documents, pages) in the index."""
        row = self.conn.execute(
            "SELECT count(DISTINCT dossier_code), count(*), coalesce(sum(pages), 0) FROM docs"
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])
