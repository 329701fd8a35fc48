"""Search benchmark: index synthetic Vietnamese pages, then time the four kinds of query.

Pages are slices of real Vietnamese prose (laws, encyclopedia articles from
shared/data/vi-corpus) with a dossier header, a few administrative phrases and
names mixed in. Prints one table; nothing here is asserted.

    python bench/search.py [--pages 100000] [--queries 200] [--dir /tmp/sohoa-bench]
"""

from __future__ import annotations

import argparse
import json
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

from bench.common import machine  # noqa: E402
from pipeline.lang.textnorm import fold, nfc  # noqa: E402
from pipeline.storage.index import SearchRequest, SqliteIndex  # noqa: E402

CORPUS = REPO.parent / "shared" / "data" / "vi-corpus"
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/sohoa-bench"))
    ap.add_argument("--seed", type=int, default=61)
    ap.add_argument("--keep", action="store_true", help="keep the index afterwards")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    docs = make_pages(args.pages, rng)
    n_pages = sum(len(p) for _, p in docs)
    shutil.rmtree(args.dir, ignore_errors=True)
    path = args.dir / "index.sqlite3"
    index = SqliteIndex(path)
    conn = index.conn

    t0 = time.perf_counter()
    for meta, pages in docs:
        index.index_document(meta, pages)
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    conn.execute("INSERT INTO pages_fts (pages_fts) VALUES ('optimize')")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    t_optimize = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in args.dir.iterdir())

    rows = [
        ("pages indexed", f"{n_pages:,} ({len(docs):,} documents)"),
        ("index size on disk", f"{size / 2**20:,.0f} MiB ({size / n_pages / 1024:.1f} KiB/page)"),
        ("indexing", f"{n_pages / t_index:,.0f} pages/s ({t_index:.1f} s, one commit/document)"),
        ("optimize after bulk load", f"{t_optimize:.1f} s"),
    ]
    for kind, qs in make_queries(docs, args.queries, rng).items():
        index.search(SearchRequest.build(qs[0]))  # warm the page cache for this kind
        times, nhits = [], []
        for q in qs:
            t0 = time.perf_counter()
            hits = index.search(SearchRequest.build(q, limit=20))
            times.append((time.perf_counter() - t0) * 1000)
            nhits.append(len(hits))
        rows.append(
            (
                f"query {kind} (limit 20, n={len(qs)})",
                f"p50 {percentile(times, 0.5):.1f} ms, p95 {percentile(times, 0.95):.1f} ms, "
                f"max {max(times):.1f} ms; hits/query median {statistics.median(nhits):.0f}; "
                f"e.g. {qs[0]}",
            )
        )
    index.close()
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)

    info = machine_facts()
    rows.insert(0, ("machine", info["machine"]))
    rows.insert(1, ("software", f"SQLite {info['sqlite']} (FTS5)"))
    width = max(len(k) for k, _ in rows)
    print(f"| {'what':<{width}} | result |")
    print(f"|{'-' * (width + 2)}|--------|")
    for key, value in rows:
        print(f"| {key:<{width}} | {value} |")


if __name__ == "__main__":
    main()
