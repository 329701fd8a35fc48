"""The search index in PostgreSQL: the same grammar, tiers and snippets as the SQLite FTS5 index.

Parity by construction rather than by configuration:

- **Tokens and folding are Python's.** Each page's text is cut into tokens by the
  grammar's own ``TOKEN_RE``, lower-cased, and folded with ``textnorm.fold`` (đ→d
  included); the ``tsvector`` values are built from those tokens with their
  positions and cast directly, and so are the ``tsquery`` values. PostgreSQL's
  text-search parser and dictionaries never run, so neither the database's
  locale nor ``unaccent``'s rules can make the two backends disagree about what
  a word is. (``unaccent`` leaves đ alone and depends on the server's rules file:
  measured not worth it.)
- **The same tiers**, from :func:`pipeline.storage.index.sqlite.tiers`' plan:
  exact phrase, exact words, folded phrase, folded words; a page is shown in the
  best tier it reaches. Within a tier pages are ordered by ``ts_rank_cd`` divided
  by the page's length (normalisation 2; SQLite uses BM25), then dossier code,
  ordinal and page. Of the rank functions and normalisations PostgreSQL offers,
  this one agreed best with BM25 on the parity table (tests/test_search_parity.py:
  same top five for every query, same order for 19 of 21; plain ``ts_rank``: 15
  and 6).
- **Phrases** are ``<->`` chains; a trailing ``*`` is a ``:*`` prefix. GIN keeps
  no positions, so each page also stores its adjacent word pairs (``giấy_phép``)
  and a phrase is first looked up by its pairs: a phrase of common words is then
  an index lookup rather than a check of every page holding those words.
- GIN indexes on the word and pair columns; codes compare bytewise
  (``COLLATE "C"``) so code prefixes are index range scans on any locale.

The document's own fields (issue 13: type, number and notation, issued date, organ,
subject) are columns of ``search_docs`` (migration 2, which fills them for documents
indexed before it from their stored meta), read by the same ``document_row`` as
SQLite's and filtered the same way: number and notation by their folded keys, organ
and type by a folded substring, dates on the issued date or else the received one. A
search with filters and no words lists the documents they select, page 1 of each, in
code order (match ``"fields"``).

Ranking within a tier looks at the first ``RANK_CANDIDATES`` matching pages
only: on a million pages a word found on most of them would otherwise be
ranked on all of them (seconds); tiers and filters still apply exactly.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from psycopg.types.json import Jsonb

from pipeline.config import Config
from pipeline.lang.textnorm import fold, nfc
from pipeline.storage.index.base import document_row, filter_clauses
from pipeline.storage.index.query import (
    TOKEN_RE,
    ParsedQuery,
    SearchRequest,
    Term,
    as_phrase,
    upper_code,
)
from pipeline.storage.index.records import Hit, IndexedDocument
from pipeline.storage.index.snippets import make_snippet, render_snippet
from pipeline.storage.postgres.db import Connection, Database
from pipeline.storage.postgres.migrations import Migration, migrate

RANK_CANDIDATES = 1000
_MAX_POSITION = 16383  # tsvector positions stop there
_MAX_LEXEME_BYTES = 2046  # longer "words" (a line of dashes…) are not searchable anyway

_MIGRATION_1 = (
    'CREATE TABLE search_docs (doc_id TEXT PRIMARY KEY, dossier_code TEXT COLLATE "C" NOT NULL,'
    " document_id TEXT, doc_ordinal INTEGER, station TEXT, type_name TEXT, type_folded TEXT,"
    " received TEXT, digitized_at TEXT, pdf_key TEXT NOT NULL, pages INTEGER NOT NULL,"
    " meta JSONB NOT NULL)",
    "CREATE INDEX search_docs_code ON search_docs (dossier_code, doc_ordinal)",
    "CREATE INDEX search_docs_received ON search_docs (received)",
    "CREATE INDEX search_docs_pdf ON search_docs (pdf_key)",
    "CREATE TABLE search_pages (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " doc_id TEXT NOT NULL REFERENCES search_docs(doc_id) ON DELETE CASCADE,"
    " page INTEGER NOT NULL, exact TEXT NOT NULL, exact_tsv TSVECTOR NOT NULL,"
    " folded_tsv TSVECTOR NOT NULL, exact_pairs TSVECTOR NOT NULL,"
    " folded_pairs TSVECTOR NOT NULL, UNIQUE (doc_id, page))",
    "CREATE INDEX search_pages_exact ON search_pages USING GIN (exact_tsv)",
    "CREATE INDEX search_pages_folded ON search_pages USING GIN (folded_tsv)",
    "CREATE INDEX search_pages_exact_pairs ON search_pages USING GIN (exact_pairs)",
    "CREATE INDEX search_pages_folded_pairs ON search_pages USING GIN (folded_pairs)",
)

# The document's own fields (issue 13), as the SQLite index's schema 2 has them.
_FIELD_COLUMNS = (
    ("code_number", "INTEGER"),
    ("code_notation", "TEXT"),
    ("number_key", 'TEXT COLLATE "C"'),
    ("notation_key", 'TEXT COLLATE "C"'),
    ("issued_date", "TEXT"),
    ("organ_name", "TEXT"),
    ("organ_folded", "TEXT"),
    ("subject", "TEXT"),
)
_MIGRATION_2 = (
    *(f"ALTER TABLE search_docs ADD COLUMN {name} {kind}" for name, kind in _FIELD_COLUMNS),
    "CREATE INDEX search_docs_number ON search_docs (code_number)",
    "CREATE INDEX search_docs_number_key ON search_docs (number_key)",
    "CREATE INDEX search_docs_notation ON search_docs (notation_key)",
    # The date filters compare the issued date, or the received date when none was read.
    "CREATE INDEX search_docs_dated ON search_docs ((coalesce(issued_date, received)))",
)
# Metadata keys document_row reads the field columns from: rows without any stay NULL.
_FIELD_KEYS = (
    "code_number",
    "code_notation",
    "issued_date",
    "organ_name",
    "governing_body",
    "subject",
)
_BACKFILL_BATCH = 500


def _backfill_fields(conn: Connection) -> None:
    """Fill the field columns of documents indexed before migration 2 from their stored meta.

    The same reading as a fresh ``index_document`` (``document_row``: folding and number
    keys are Python's), in batches by ``doc_id`` so a large index is never held in memory.
    """
    names = [name for name, _ in _FIELD_COLUMNS]
    update = f"UPDATE search_docs SET {', '.join(f'{n} = %s' for n in names)} WHERE doc_id = %s"
    last = ""  # doc_ids are never empty
    while True:
        rows = conn.execute(
            "SELECT doc_id, meta FROM search_docs WHERE meta ?| %s AND doc_id > %s"
            " ORDER BY doc_id LIMIT %s",
            (list(_FIELD_KEYS), last, _BACKFILL_BATCH),
        ).fetchall()
        if not rows:
            return
        last = rows[-1]["doc_id"]
        updates = []
        for r in rows:
            meta = r["meta"] if isinstance(r["meta"], dict) else json.loads(r["meta"])
            try:
                row = document_row(meta)
            except (ValueError, TypeError):
                continue
            updates.append([*(row.get(n) for n in names), r["doc_id"]])
        if updates:
            with conn.cursor() as cur:
                cur.executemany(update, updates)


# The place in the dossier (issue 21): filtered on, filled from the stored meta.
_MIGRATION_3 = (
    "ALTER TABLE search_docs ADD COLUMN component_code TEXT",
    "ALTER TABLE search_docs ADD COLUMN kind TEXT",
    "UPDATE search_docs SET component_code = NULLIF(meta->>'component_code', ''),"
    " kind = NULLIF(meta->>'kind', '') WHERE meta ? 'component_code' OR meta ? 'kind'",
    "CREATE INDEX search_docs_component ON search_docs (component_code, kind)",
)

MIGRATIONS = (
    Migration(1, "search_docs, search_pages, GIN indexes", lambda: _MIGRATION_1),
    Migration(
        2,
        "document fields: type, number, issued date, organ, subject (filled from meta)",
        lambda: _MIGRATION_2,
        _backfill_fields,
    ),
    Migration(3, "the place in the dossier: component code, kind", lambda: _MIGRATION_3),
)


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tokens(text: str) -> list[str]:
    """The page's words as the grammar cuts them, lower-cased (NFC in, NFC out)."""
    return [t.lower() for t in TOKEN_RE.findall(text)]


def tsvector(words: list[str]) -> str:
    """A ``tsvector`` literal with each word's positions (1-based), no parser involved."""
    positions: dict[str, list[int]] = {}
    for i, word in enumerate(words, start=1):
        if len(word.encode("utf-8")) > _MAX_LEXEME_BYTES:
            continue
        where = positions.setdefault(word, [])
        pos = min(i, _MAX_POSITION)
        if not where or where[-1] != pos:
            where.append(pos)
    return " ".join(f"{_quote(w)}:{','.join(map(str, p[:256]))}" for w, p in positions.items())


def pairs(words: list[str]) -> str:
    """Adjacent word pairs (``giấy_phép``) as a ``tsvector`` without positions.

    GIN keeps no positions, so a phrase of common words ("của các", "ủy ban") would
    otherwise be checked page by page; the pairs index finds the pages where the words
    stand side by side directly. ``_`` never occurs inside a token.
    """
    found = {
        f"{a}_{b}"
        for a, b in itertools.pairwise(words)
        if len(a.encode("utf-8")) + len(b.encode("utf-8")) < _MAX_LEXEME_BYTES
    }
    return " ".join(_quote(p) for p in sorted(found))


def _pairs_query(term: Term, folded: bool) -> str | None:
    words = [fold(t) for t in term.tokens] if folded else list(term.tokens)
    if len(words) < 2:
        return None
    parts = [_quote(f"{a}_{b}") for a, b in itertools.pairwise(words)]
    if term.prefix:
        parts[-1] += ":*"
    return " & ".join(parts)


def _tsquery(term: Term, folded: bool) -> str:
    words = [fold(t) for t in term.tokens] if folded else list(term.tokens)
    parts = [_quote(w) for w in words]
    if term.prefix:
        parts[-1] += ":*"
    return "(" + " <-> ".join(parts) + ")"


Condition = tuple[str, str, bool]  # (tsvector column, tsquery, counts for ranking)


def tiers(parsed: ParsedQuery, exact_only: bool = False) -> list[tuple[str, list[Condition]]]:
    """The tiers to run, best first: (match kind, [conditions…] all to match).

    A phrase is matched on the word column with ``<->`` and, to find its pages through
    the index, on the pairs column as well (that one only filters). ``exact_only``: every
    word as typed, diacritics and all, and no folded tier.
    """

    def one(terms: list[tuple[Term, bool]]) -> list[Condition]:
        by_column: dict[str, list[str]] = {}
        for term, folded in terms:
            column = "folded" if folded else "exact"
            by_column.setdefault(f"{column}_tsv", []).append(_tsquery(term, folded))
            pair = _pairs_query(term, folded)
            if pair:
                by_column.setdefault(f"{column}_pairs", []).append(f"({pair})")
        return [(col, " & ".join(qs), col.endswith("_tsv")) for col, qs in by_column.items()]

    phrase = as_phrase(parsed.units)
    out: list[tuple[str, list[Condition]]] = []
    if exact_only:
        if phrase:
            out.append(("exact", one([(phrase, False)])))
        out.append(("exact", one([(u, False) for u in parsed.units])))
        return out
    if parsed.marked:
        if phrase:
            out.append(("exact", one([(phrase, False)])))
        out.append(("exact", one([(u, not u.marked) for u in parsed.units])))
    if phrase:
        out.append(("folded", one([(phrase, True)])))
    out.append(("folded", one([(u, True) for u in parsed.units])))
    return out


_TEXT_SQL = """
SELECT * FROM (
  SELECT p.id, p.page, d.doc_id, d.dossier_code, d.document_id, d.pdf_key, d.doc_ordinal,
         p.exact, {rank} AS r, {fields}
  FROM search_pages p JOIN search_docs d ON d.doc_id = p.doc_id
  WHERE {match}{where}
  LIMIT %s
) c
ORDER BY r DESC, dossier_code, doc_ordinal, page
LIMIT %s
"""

_CODE_SQL = """
SELECT p.id, 1 AS page, d.doc_id, d.dossier_code, d.document_id, d.pdf_key, d.doc_ordinal,
       p.exact, 0.0 AS r, {fields}
FROM search_docs d LEFT JOIN search_pages p ON p.doc_id = d.doc_id AND p.page = 1
WHERE TRUE{where}
ORDER BY d.dossier_code, d.doc_ordinal, d.doc_id COLLATE "C"
LIMIT %s
"""

# The document's fields every hit carries (for the results page).
_HIT_FIELDS = ("type_name", "code_number", "code_notation", "issued_date", "subject", "organ_name")
_FIELDS_SQL = ", ".join(f"d.{name}" for name in _HIT_FIELDS)


class PostgresIndex:
    """The ``SearchIndex`` interface over PostgreSQL (``SOHOA_DATABASE_URL=postgresql://…``)."""

    def __init__(self, db: Database, *, owns_db: bool = True) -> None:
        self.db = db
        self._owns_db = owns_db
        migrate(db, "index", MIGRATIONS)
        self._doc_columns = self.db.run(
            lambda conn, attempt: [
                r["column_name"]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema ="
                    " current_schema() AND table_name = 'search_docs' ORDER BY ordinal_position"
                )
            ]
        )

    @classmethod
    def from_config(cls, cfg: Config) -> PostgresIndex:
        return cls(Database.from_config(cfg, "index"))

    def close(self) -> None:
        if self._owns_db:
            self.db.close()

    def __enter__(self) -> PostgresIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------
    def _doc_values(self, meta: dict[str, Any], pages: int) -> dict[str, Any]:
        row = document_row(meta)
        type_name = row.get("type_name")
        values = {
            **row,
            "type_folded": fold(type_name).lower() if type_name else None,
            "pages": pages,
            "meta": Jsonb(meta),
        }
        # Columns a later migration adds are filled as soon as document_row gives them.
        return {k: v for k, v in values.items() if k in self._doc_columns}

    def index_document(self, meta: dict[str, Any], page_texts: list[str]) -> None:
        """Index (or re-index) one archived document in one transaction (idempotent)."""
        texts = [nfc(t or "") for t in page_texts]
        values = self._doc_values(meta, len(texts))
        rows = []
        for number, text in enumerate(texts, start=1):
            # Folding the page once, then cutting it, gives the folded words (as FTS5 does).
            words, folded = tokens(text), tokens(fold(text))
            rows.append(
                (number, text, tsvector(words), tsvector(folded), pairs(words), pairs(folded))
            )
        cols = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))

        def write(conn: Connection, attempt: int) -> None:
            with conn.pipeline():  # one round trip for the whole document
                _write(conn)

        def _write(conn: Connection) -> None:
            # Two processes indexing the same document queue up instead of colliding.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (values["doc_id"],))
            conn.execute("DELETE FROM search_docs WHERE doc_id = %s", (values["doc_id"],))
            conn.execute(
                f"INSERT INTO search_docs ({cols}) VALUES ({marks})", list(values.values())
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO search_pages (doc_id, page, exact, exact_tsv, folded_tsv,"
                    " exact_pairs, folded_pairs) VALUES (%s, %s, %s, %s::tsvector,"
                    " %s::tsvector, %s::tsvector, %s::tsvector)",
                    [(values["doc_id"], *r) for r in rows],
                )

        self.db.run(write)

    def remove_document(self, doc_id: str) -> None:
        self.db.run(
            lambda conn, attempt: conn.execute(
                "DELETE FROM search_docs WHERE doc_id = %s", (doc_id,)
            )
        )

    def optimize(self) -> None:
        self.db.run(lambda conn, attempt: conn.execute("ANALYZE search_docs, search_pages"))

    def documents(self) -> list[tuple[str, str]]:
        rows = self._all("SELECT doc_id, dossier_code FROM search_docs")
        return [(r["doc_id"], r["dossier_code"]) for r in rows]

    # -- reading ---------------------------------------------------------------------------
    def _all(self, query: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return self.db.run(lambda conn, attempt: conn.execute(query, params).fetchall())

    def search(self, request: SearchRequest) -> list[Hit]:
        """Pages matching the request, best first: exact-diacritic hits, then folded ones."""
        parsed, limit = request.parsed, request.limit
        where, params = filter_clauses(request, "%s", "strpos")
        if not parsed.units:
            rows = self._all(_CODE_SQL.format(where=where, fields=_FIELDS_SQL), [*params, limit])
            kind = "fields" if request.by_fields_only else "code"
            return [self._hit(row, kind, None, 1.0) for row in rows]
        found = tiers(parsed, request.exact_only)
        hits: list[Hit] = []
        seen: set[int] = set()
        for rank, (match, conditions) in enumerate(found):
            weight = float(len(found) - rank)
            ranked = [(col, q) for col, q, rank in conditions if rank]
            sql_match = " AND ".join(f"p.{col} @@ %s::tsquery" for col, _, _ in conditions)
            sql_rank = " + ".join(f"ts_rank_cd(p.{col}, %s::tsquery, 2)" for col, _ in ranked)
            matches = [q for _, q, _ in conditions]
            want = limit + len(seen)
            rows = self._all(
                _TEXT_SQL.format(rank=sql_rank, match=sql_match, where=where, fields=_FIELDS_SQL),
                [*(q for _, q in ranked), *matches, *params, max(RANK_CANDIDATES, want), want],
            )
            for row in rows:
                if row["id"] in seen or len(hits) >= limit:
                    continue
                seen.add(row["id"])
                hits.append(self._hit(row, match, parsed, weight))
            if len(hits) >= limit:
                break
        return hits

    def _hit(
        self, row: dict[str, Any], match: str, parsed: ParsedQuery | None, weight: float
    ) -> Hit:
        exact = match == "exact"
        parts = make_snippet(row["exact"] or "", parsed.units if parsed else (), exact)
        relevance = max(0.0, float(row["r"])) * 10.0
        return Hit(
            dossier_code=row["dossier_code"],
            document_id=row["document_id"],
            doc_id=row["doc_id"],
            page=row["page"],
            snippet=render_snippet(parts),
            score=round(weight + relevance / (1.0 + relevance), 4),
            pdf_key=row["pdf_key"],
            match=match,
            snippet_parts=parts,
            **{name: row[name] for name in _HIT_FIELDS},
        )

    def dossier_documents(self, code: str, snippet_tokens: int = 20) -> list[IndexedDocument]:
        """Every indexed document of one dossier, in order, with the opening words of each page."""
        docs = self._all(
            "SELECT doc_id, dossier_code, document_id, doc_ordinal, station, type_name, received,"
            " digitized_at, pdf_key, pages, meta FROM search_docs WHERE dossier_code = %s"
            ' ORDER BY doc_ordinal, doc_id COLLATE "C"',
            (upper_code(code),),
        )
        out = []
        for d in docs:
            pages = self._all(
                "SELECT exact FROM search_pages WHERE doc_id = %s ORDER BY page", (d["doc_id"],)
            )
            snippets = tuple(
                render_snippet(make_snippet(p["exact"], width=snippet_tokens)) for p in pages
            )
            meta = d.pop("meta")
            out.append(
                IndexedDocument(
                    **d,
                    meta=meta if isinstance(meta, dict) else json.loads(meta),
                    page_snippets=snippets,
                )
            )
        return out

    def pdf_known(self, key: str) -> bool:
        return bool(self._all("SELECT 1 FROM search_docs WHERE pdf_key = %s LIMIT 1", (key,)))

    def counts(self) -> tuple[int, int, int]:
        """(dossiers, documents, pages) in the index."""
        row = self._all(
            "SELECT count(DISTINCT dossier_code) AS a, count(*) AS b,"
            " coalesce(sum(pages), 0) AS c FROM search_docs"
        )[0]
        return int(row["a"]), int(row["b"]), int(row["c"])
