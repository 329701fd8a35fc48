"""Score the document-field extractor: right / wrong / null per field (issue 13, item 4).

    python -m bench.fields                   # generated (22 pages) + real scans + real-text laws
    python -m bench.fields --n 44 --seed 1   # more generated pages
    python -m bench.fields --only real       # one set: generated | real | text

Pages go through the real page function (cleanup, Tesseract ``vie``, correction), the
same as in ``sohoa process``; its results (text and word boxes) are cached in
``--cache`` by page and options, so scoring a changed extractor takes seconds. The
extractor sees only what the pipeline sees: the page results of the document's pages.

Counting, per field: **right** when the value equals the label (NFC, spaces collapsed;
a notation also compared without its spaces; a label of null read as null is right),
**wrong** when a value differs from the label (or a value is read where the label is
null), **null** when nothing was read where the label has a value. ``≈`` counts the
wrong ones within 5 % character error (an OCR slip, not a wrong line). ``box`` is the
share of right values whose box overlaps the label's (IoU ≥ 0.3 or centre inside),
where the page was not turned or deskewed (otherwise the frames differ).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.extract.fields import FIELD_NAMES, read_document_fields, read_text_fields
from pipeline.lang.textnorm import nfc
from pipeline.model import PageResult

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sohoa-fields"


# ---------------------------------------------------------------- running pages


def _options_digest() -> str:
    from pipeline.config import load_config
    from pipeline.model import PageOptions

    return PageOptions.from_config(load_config(env={})).digest()


def _run_page(args: tuple[str, str, int, str]) -> dict[str, Any]:
    """One page through the page function, in a worker process; its result as a dict."""
    path, media_type, index, _digest = args
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    from pipeline.config import load_config
    from pipeline.flow.page import process_page
    from pipeline.model import PageJob, PageOptions, SourceRef

    cfg = load_config(env={})
    src = Path(path)
    ref = SourceRef(f"sha256/{src.name}", "0" * 64, src.stat().st_size, media_type)
    job = PageJob(
        document_id="bench",
        source=ref,
        index=index,
        options=PageOptions.from_config(cfg),
        work_key="bench/x",
        want_codes=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = process_page(job, src, Path(tmp) / "page.pdf")
    return result.to_dict()


def run_pages(
    jobs: Sequence[tuple[str, str, int, str]], cache: Path, workers: int
) -> list[PageResult]:
    """Page results for (file, media type, page index, cache key) jobs, from cache if there."""
    cache.mkdir(parents=True, exist_ok=True)
    digest = _options_digest()
    todo, out = [], {}
    for i, (path, media, index, key) in enumerate(jobs):
        f = cache / f"{key}-{digest}.json"
        if f.is_file():
            out[i] = PageResult.from_dict(json.loads(f.read_text(encoding="utf-8")))
        else:
            todo.append((i, (path, media, index, digest), f))
    if todo:
        print(f"  running {len(todo)} page(s) through the page function…", file=sys.stderr)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for (i, _job, f), data in zip(
                todo, pool.map(_run_page, [t[1] for t in todo]), strict=True
            ):
                f.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
                out[i] = PageResult.from_dict(data)
    return [out[i] for i in range(len(jobs))]


# ---------------------------------------------------------------- scoring


def _norm(name: str, value: Any) -> Any:
    if value is None or isinstance(value, int):
        return value
    text = " ".join(nfc(str(value)).split())
    if name == "code_notation":
        text = text.replace(" ", "")
    return text


def _cer(a: str, b: str) -> float:
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(a, b) / max(1, len(b))


def _box_hit(got: Sequence[int] | None, truth: Sequence[int] | None) -> bool | None:
    if not got or not truth:
        return None
    ix = max(0, min(got[2], truth[2]) - max(got[0], truth[0]))
    iy = max(0, min(got[3], truth[3]) - max(got[1], truth[1]))
    inter = ix * iy
    area = (got[2] - got[0]) * (got[3] - got[1]) + (truth[2] - truth[0]) * (truth[3] - truth[1])
    iou = inter / max(1, area - inter)
    cx, cy = (got[0] + got[2]) / 2, (got[1] + got[3]) / 2
    inside = truth[0] <= cx <= truth[2] and truth[1] <= cy <= truth[3]
    return iou >= 0.3 or inside


class Tally:
    def __init__(self) -> None:
        self.counts = {f: {"right": 0, "wrong": 0, "null": 0, "near": 0} for f in FIELD_NAMES}
        self.boxes = {f: [0, 0] for f in FIELD_NAMES}
        self.misses: list[str] = []

    def add(self, doc_id: str, truth: dict[str, Any], got: Any, scale: float | None) -> None:
        evidence = got.evidence()
        for name in FIELD_NAMES:
            want, have = _norm(name, truth.get(name)), _norm(name, got.value(name))
            c = self.counts[name]
            if have == want:
                c["right"] += 1
                spot = (truth.get("where") or {}).get(name)
                ev = evidence.get(name)
                if (
                    scale
                    and spot
                    and ev
                    and ev.get("box")
                    and ev.get("page") == 1 + (spot["page"] - (truth.get("pages") or [1])[0])
                ):
                    box = [round(v * scale) for v in ev["box"]]
                    hit = _box_hit(box, spot["box"])
                    if hit is not None:
                        self.boxes[name][0] += int(hit)
                        self.boxes[name][1] += 1
            elif have is None:
                c["null"] += 1
                self.misses.append(f"{doc_id} {name}: null, want {want!r}")
            else:
                c["wrong"] += 1
                if isinstance(have, str) and isinstance(want, str) and _cer(have, want) <= 0.05:
                    c["near"] += 1
                self.misses.append(f"{doc_id} {name}: got {have!r}, want {want!r}")

    def table(self, title: str, n: int) -> str:
        rows = [f"{title} ({n} documents)", f"{'field':16} right wrong  null   ≈   right%  box"]
        for name in FIELD_NAMES:
            c = self.counts[name]
            total = c["right"] + c["wrong"] + c["null"]
            pct = 100 * c["right"] / total if total else 0.0
            hit, seen = self.boxes[name]
            box = f"{hit}/{seen}" if seen else "-"
            rows.append(
                f"{name:16} {c['right']:5} {c['wrong']:5} {c['null']:5} {c['near']:3}"
                f"  {pct:6.1f}  {box}"
            )
        return "\n".join(rows)


# ---------------------------------------------------------------- the three sets


def generated_set(n: int, seed: int, cache: Path, workers: int) -> tuple[Tally, int]:
    from bench.fields.generated import PROFILE_MIX, labelled_set
    from samples import generate

    items = labelled_set(n, seed=seed, dpi=200, profiles=PROFILE_MIX)
    folder = cache / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = []
    for item in items:
        key = hashlib.sha256(json.dumps(item.truth, sort_keys=True).encode()).hexdigest()[:12]
        png = folder / f"{item.truth['doc_id']}-{key}.png"
        if not png.is_file():
            generate.write_png(item.page, png)
        jobs.append((str(png), "image/png", 0, f"gen-{item.truth['doc_id']}-{key}"))
    results = run_pages(jobs, cache, workers)
    tally = Tally()
    for item, result in zip(items, results, strict=True):
        truth = item.truth
        upright = result.rotation == 0 and abs(result.skew_angle) < 0.3
        scale = truth["render"]["dpi"] / result.dpi if upright else None
        tally.add(truth["doc_id"], truth, read_document_fields([result]), scale)
    return tally, len(items)


def real_set(shared: Path, cache: Path, workers: int) -> tuple[Tally, int]:
    labels = sorted((HERE / "real").glob("*.json"))
    docs, jobs = [], []
    for f in labels:
        truth = json.loads(f.read_text(encoding="utf-8"))
        src = shared / truth["source"]
        first, last = truth["pages"]
        idx = list(range(first - 1, last))
        docs.append((truth, len(jobs), len(idx)))
        for i in idx:
            jobs.append((str(src), "application/pdf", i, f"real-{src.stem}-p{i + 1}"))
    results = run_pages(jobs, cache, workers)
    tally = Tally()
    for truth, start, count in docs:
        pages = results[start : start + count]
        scale = truth["render"]["dpi"] / pages[0].dpi if pages[0].rotation == 0 else None
        tally.add(truth["doc_id"], truth, read_document_fields(pages), scale)
    return tally, len(docs)


def text_set(shared: Path) -> tuple[Tally, int]:
    tally = Tally()
    labels = sorted((HERE / "real-text").glob("*.json"))
    for f in labels:
        truth = json.loads(f.read_text(encoding="utf-8"))
        text = (shared / truth["source"]).read_text(encoding="utf-8")
        tally.add(truth["doc_id"], truth, read_text_fields(text), None)
    return tally, len(labels)


def main(argv: Iterable[str] | None = None) -> int:
    from bench.fields.generated import ensure_corpus, shared_data

    parser = argparse.ArgumentParser(prog="python -m bench.fields", description=__doc__)
    parser.add_argument("--n", type=int, default=22, help="generated pages (2 of each kind)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=("generated", "real", "text"))
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--misses", action="store_true", help="list every wrong and null value")
    args = parser.parse_args(list(argv) if argv is not None else None)
    ensure_corpus()
    shared = shared_data()
    started = time.monotonic()
    out = []
    if args.only in (None, "generated"):
        tally, n = generated_set(args.n, args.seed, args.cache, args.workers)
        out.append((tally, f"generated, seed {args.seed}, 200 dpi, damage mix", n))
    if args.only in (None, "real"):
        tally, n = real_set(shared, args.cache, args.workers)
        out.append((tally, "real scans (shared/data, 3 documents + 1 negative control)", n))
    if args.only in (None, "text"):
        tally, n = text_set(shared)
        out.append((tally, "real-text laws (text only, no boxes)", n))
    for tally, title, n in out:
        print(tally.table(title, n))
        if args.misses and tally.misses:
            print("  " + "\n  ".join(tally.misses))
        print()
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
