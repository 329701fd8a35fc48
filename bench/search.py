"""Search benchmark: SQLite FTS5 and PostgreSQL side by side, indexing and five kinds of query.

Pages are slices of real Vietnamese prose (laws, encyclopedia articles from
shared/data/vi-corpus) with a dossier header, a few administrative phrases and
names mixed in. Prints one table; nothing here is asserted.

    python -m bench.search                                  # 100k and 1M pages, both backends
    python -m bench.search --pages 5000 --queries 20        # a check of the script (~1 min)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import machine, table  # noqa: E402
from pipeline.lang.textnorm import fold, nfc  # noqa: E402
from pipeline.storage.index import SearchRequest, SqliteIndex  # noqa: E402

CORPUS = Path(os.environ.get("SOHOA_SHARED_DATA", REPO.parent / "shared" / "data")) / "vi-corpus"
PAGES_PER_DOC = 4
_WORD_RE = re.compile(r"[^\W\d_]+")
WORDS_PER_PAGE = (180, 320)
PHRASES = [
    "giấy phép xây dựng",
    "đơn đề nghị cấp giấy chứng nhận quyền sử dụng đất",
    "đăng ký thường trú",
    "Ủy ban nhân dân huyện Bảo Thắng",
    "biên bản kiểm tra hiện trạng",
]
NAMES = ["Phạm Văn Anh", "Đỗ Thị Hằng", "Nguyễn Đức Thắng", "Lê Thị Thu Hương", "Hoàng Văn Đông"]


def machine_facts() -> dict[str, str]:
    """The machine line of bench.common, plus the SQLite version the index runs on."""
    return {"machine": machine(), "sqlite": sqlite3.sqlite_version}


def corpus_words() -> list[list[str]]:
    """Each source text as a list of NFC words."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("underthesea-*/*.txt"))]
    texts += [
        p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("nomvn-open-texts/*/*.txt"))
    ]
    wiki = CORPUS / "nomvn-open-texts" / "wiki_vi" / "articles.jsonl"
    if wiki.exists():
        for line in wiki.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line).get("extract") or "")
    out = [nfc(t).split() for t in texts]
    return [w for w in out if len(w) > WORDS_PER_PAGE[1]]


def make_pages(n_pages: int, rng: random.Random) -> list[tuple[dict, list[str]]]:
    sources = corpus_words()
    docs = []
    for d in range(n_pages // PAGES_PER_DOC):
        agency = rng.randint(1, 40)
        day = rng.randint(1, 28)
        month = rng.randint(1, 12)
        code = f"000.00.{agency:02d}.H38-26{month:02d}{day:02d}-{d // 2 + 1:04d}"
        n = d % 2 + 1
        pages = []
        for _ in range(PAGES_PER_DOC):
            words = rng.choice(sources)
            length = rng.randint(*WORDS_PER_PAGE)
            start = rng.randrange(len(words) - length)
            body = words[start : start + length]
            if rng.random() < 0.2:
                body.insert(rng.randrange(len(body)), rng.choice(PHRASES))
            if rng.random() < 0.2:
                body.insert(rng.randrange(len(body)), rng.choice(NAMES))
            pages.append(f"Mã hồ sơ: {code}\n" + " ".join(body))
        meta = {
            "dossier_code": code,
            "doc_id": f"{code}.{n}",
            "doc_ordinal": n,
            "type_name": rng.choice([None, "Đơn đề nghị", "Quyết định", "Giấy xác nhận"]),
            "scan": {"station": f"motcua-{agency % 4 + 1:02d}"},
            "file": {"key": f"{code}/{code}.{n}.pdf"},
            "sohoa": {"document_id": f"{d:012x}"},
        }
        docs.append((meta, pages))
    return docs


def make_queries(docs, count: int, rng: random.Random) -> dict[str, list[str]]:
    """Queries drawn from the indexed pages, so every one can hit.

    "folded" and "exact" use words outside the 200 most frequent ones, as staff
    search for names and procedure words; "common words" pairs two of the 50 most
    frequent words, the worst case for BM25 (tens of thousands of matching pages).
    """
    freq: Counter[str] = Counter()
    sample = [p for _, pages in rng.sample(docs, min(len(docs), 2000)) for p in pages]
    for page in sample:
        freq.update(w.lower() for w in _WORD_RE.findall(page))
    ranked = [w for w, _ in freq.most_common()]
    frequent = set(ranked[:200])
    queries: dict[str, list[str]] = {
        "folded": [],
        "exact": [],
        "phrase": [],
        "code-prefix": [],
        "common words": [],
    }
    while len(queries["folded"]) < count:
        meta, pages = rng.choice(docs)
        words = _WORD_RE.findall(rng.choice(pages).split("\n", 1)[1])
        content = [w for w in words if w.lower() not in frequent and not w.isdigit()]
        if len(words) < 4 or len(set(content)) < 2:
            continue
        i = rng.randrange(len(words) - 3)
        pair = " ".join(rng.sample(sorted(set(content)), 2))
        queries["exact"].append(pair)
        queries["folded"].append(fold(pair).lower())
        queries["phrase"].append('"' + fold(" ".join(words[i : i + 3])).lower() + '"')
        queries["code-prefix"].append(meta["dossier_code"][:18] + "*")
        queries["common words"].append(fold(" ".join(rng.sample(ranked[:50], 2))))
    return queries


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _sqlite(tmp: Path) -> tuple[SqliteIndex, callable]:
    index = SqliteIndex(tmp / "index.sqlite3")

    def size() -> int:
        index.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in tmp.iterdir())

    return index, size


def _postgres(server) -> tuple[object, callable]:
    from pipeline.storage.postgres.db import Database
    from pipeline.storage.postgres.index import PostgresIndex

    index = PostgresIndex(Database(server.new_database("bench"), name="bench"))

    def size() -> int:
        return int(
            index.db.run(
                lambda conn, attempt: conn.execute(
                    "SELECT pg_total_relation_size('search_pages')"
                    " + pg_total_relation_size('search_docs') AS n"
                ).fetchone()["n"]
            )
        )

    return index, size


def measure(backend: str, docs, queries, tmp: Path, server) -> dict[str, str]:
    """Index ``docs`` into a fresh ``backend`` index and time every kind of query."""
    n_pages = sum(len(p) for _, p in docs)
    tmp.mkdir(parents=True, exist_ok=True)
    index, size = _sqlite(tmp) if backend == "sqlite" else _postgres(server)
    t0 = time.perf_counter()
    for meta, pages in docs:
        index.index_document(meta, pages)
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.optimize()
    t_optimize = time.perf_counter() - t0
    total = size()
    out = {
        "pages indexed": f"{n_pages:,}",
        "index size": f"{total / 2**20:,.0f} MiB ({total / n_pages / 1024:.1f} KiB/page)",
        "indexing": f"{n_pages / t_index:,.0f} pages/s",
        "optimize/analyze": f"{t_optimize:.1f} s",
    }
    for kind, qs in queries.items():
        index.search(SearchRequest.build(qs[0]))  # warm the cache for this kind
        times, nhits = [], []
        for q in qs:
            t0 = time.perf_counter()
            hits = index.search(SearchRequest.build(q, limit=20))
            times.append((time.perf_counter() - t0) * 1000)
            nhits.append(len(hits))
        out[f"{kind} p50 / p95"] = (
            f"{percentile(times, 0.5):.1f} / {percentile(times, 0.95):.1f} ms"
            f" ({statistics.median(nhits):.0f} hits)"
        )
    index.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", default="100000,1000000", help="sizes, comma-separated")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/sohoa-bench"))
    ap.add_argument("--seed", type=int, default=61)
    args = ap.parse_args()
    sizes = [int(x) for x in args.pages.split(",") if x]
    backends = [b for b in args.backends.split(",") if b]
    started = time.monotonic()
    server = None
    if "postgres" in backends:
        from tests.support.postgres import new_server

        server = new_server()
        # A dedicated server as an office would tune one: 1 GiB of shared buffers; fsync off
        # (a bench machine's disk, not the archive's durability, is not what is measured).
        server.start(settings={"shared_buffers": "1GB", "work_mem": "64MB"})
    columns: dict[str, dict[str, str]] = {}
    try:
        for n in sizes:
            rng = random.Random(args.seed)
            docs = make_pages(n, rng)
            queries = make_queries(docs, args.queries, rng)
            for backend in backends:
                shutil.rmtree(args.dir, ignore_errors=True)
                columns[f"{backend} {n:,}"] = measure(backend, docs, queries, args.dir, server)
                print(f"done: {backend} at {n:,} pages", file=sys.stderr)
    finally:
        shutil.rmtree(args.dir, ignore_errors=True)
        if server is not None:
            server.remove()
    info = machine_facts()
    print(f"machine: {info['machine']}")
    print(f"software: SQLite {info['sqlite']} (FTS5); PostgreSQL 15 (tsvector, GIN)")
    print(f"run took {time.monotonic() - started:.0f} s; queries per kind: {args.queries}\n")
    names = list(columns)
    metrics = list(next(iter(columns.values())))
    print(table(["", *names], [[m, *(columns[c][m] for c in names)] for m in metrics]))


if __name__ == "__main__":
    main()
