"""Score the document-field extractor: right / null / wrong per field (issues 13 and 22).

    python -m bench.fields                          # every set, after only
    python -m bench.fields --before 699aaab         # ... and the extractor of that commit
    python -m bench.fields --only real,eoffice      # some sets: generated eoffice real text
    python -m bench.fields --misses                 # list every null and wrong value

Pages go through the real page function (cleanup, Tesseract ``vie``, correction), the
same as in ``sohoa process``; its results (text and word boxes) are cached in
``--cache`` by page and options, so scoring a changed extractor takes seconds. The
extractor sees only what the pipeline sees: the page results of the document's pages.
``--before REV`` loads ``pipeline/extract`` as it was at ``REV`` (git) beside today's,
so both are scored on the very same page results in one run.

The sets:

- ``real``: the real scans of ``shared/data`` labelled in ``real/*.json``, split by
  document into a tuning part and a held-out part (each label's ``part``; decided
  before any tuning, see README.md), each document as scanned and as five copies damaged
  by other tools (:mod:`bench.fields.copies`);
- ``eoffice``: pages made as the e-office systems make them (issue 22: the Prime
  Minister's and ministries' decisions, circulars, the number and day typed into the
  blanks, the organ's seal image over its name), seed 1 to tune on, seed 2 held out;
- ``generated``: every kind of ``generated.py`` under the damage mix (issue 13);
- ``text``: the real laws of ``real-text/`` (text, no boxes).

Counting, per field: **right** when the value equals the label (NFC, spaces collapsed;
a notation also compared without its spaces; a label of null read as null is right),
**wrong** when a value differs from the label (or a value is read where the label is
null), **null** when nothing was read where the label has a value. The summary line is
over the six fields issue 22 counts (number, notation, date, type, organ, subject).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.extract.fields import FIELD_NAMES, read_document_fields, read_text_fields
from pipeline.lang.textnorm import nfc
from pipeline.model import PageResult

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sohoa-fields"
# The six fields issue 22 counts, by the names the metadata gives them.
COUNTED = ("code_number", "code_notation", "issued_date", "type_name", "organ_name", "subject")
SHORT = {
    "code_number": "number",
    "code_notation": "notation",
    "issued_date": "date",
    "type_name": "type",
    "organ_name": "organ",
    "subject": "subject",
}
# What each real source was scanned at (the copies are rendered from it at this dpi).
NATIVE_DPI = {"danang_1": 200, "danang_2": 300, "danang_3": 200, "udhr_vie": 200}


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
    """Right / wrong / null per field of one extractor over one set."""

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

    def counted(self) -> tuple[int, int, int]:
        """(right, null, wrong) over the six counted fields."""
        c = [self.counts[f] for f in COUNTED]
        return (
            sum(x["right"] for x in c),
            sum(x["null"] for x in c),
            sum(x["wrong"] for x in c),
        )

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


# ---------------------------------------------------------------- extractors


Extractor = Callable[[Sequence[PageResult]], Any]


def extractor_at(rev: str) -> Extractor:
    """``read_document_fields`` of ``pipeline/extract`` as it was at git ``rev``.

    The modules are written into a private package (their imports of each other
    renamed), so the old extractor runs on the same page results in this process.
    """
    root = Path(__file__).resolve().parents[2]
    names = subprocess.run(
        ["git", "-C", str(root), "ls-tree", "--name-only", rev, "pipeline/extract/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    package = "sohoa_extract_" + hashlib.sha256(rev.encode()).hexdigest()[:8]
    folder = Path(tempfile.mkdtemp(prefix="sohoa-extract-")) / package
    folder.mkdir()
    for name in names:
        if not name.endswith(".py"):
            continue
        text = subprocess.run(
            ["git", "-C", str(root), "show", f"{rev}:{name}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (folder / Path(name).name).write_text(
            text.replace("pipeline.extract.", f"{package}."), encoding="utf-8"
        )
    (folder / "__init__.py").touch()
    sys.path.insert(0, str(folder.parent))
    return importlib.import_module(f"{package}.fields").read_document_fields


# ---------------------------------------------------------------- the sets


@dataclass
class Case:
    """One labelled document and the page results of its pages (None: text only)."""

    doc_id: str
    truth: dict[str, Any]
    pages: list[PageResult] | None
    scale: float | None = None
    text: str | None = None


def _png_jobs(items: Sequence[Any], cache: Path) -> list[tuple[str, str, int, str]]:
    from samples import generate

    folder = cache / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = []
    for item in items:
        key = hashlib.sha256(json.dumps(item.truth, sort_keys=True).encode()).hexdigest()[:12]
        png = folder / f"{item.truth['doc_id']}-{key}.png"
        if not png.is_file():
            generate.write_png(item.page, png)
        jobs.append((str(png), "image/png", 0, f"gen-{item.truth['doc_id']}-{key}"))
    return jobs


def generated_cases(
    n: int, seed: int, cache: Path, workers: int, *, eoffice: bool | None = None
) -> list[Case]:
    """Generated pages: every kind under the damage mix, or the e-office set."""
    from bench.fields.generated import EOFFICE_KINDS, KINDS, PROFILE_MIX, labelled_set

    kinds = EOFFICE_KINDS if eoffice else KINDS
    items = labelled_set(n, seed=seed, dpi=200, profiles=PROFILE_MIX, kinds=kinds, eoffice=eoffice)
    results = run_pages(_png_jobs(items, cache), cache, workers)
    out = []
    for item, result in zip(items, results, strict=True):
        truth = item.truth
        upright = result.rotation == 0 and abs(result.skew_angle) < 0.3
        scale = truth["render"]["dpi"] / result.dpi if upright else None
        out.append(Case(truth["doc_id"], truth, [result], scale))
    return out


def real_labels() -> list[dict[str, Any]]:
    return [
        json.loads(f.read_text(encoding="utf-8")) for f in sorted((HERE / "real").glob("*.json"))
    ]


def real_cases(
    shared: Path, cache: Path, workers: int, part: str, variants: Sequence[str]
) -> list[Case]:
    """The real documents of one part ("tune" or "held-out"), as scanned and as copies."""
    from bench.fields.copies import copy_of, media_type

    docs, jobs = [], []
    for truth in real_labels():
        if truth.get("part") != part:
            continue
        src = shared / truth["source"]
        dpi = NATIVE_DPI.get(src.stem, 200)
        first, last = truth["pages"]
        for variant in variants:
            start = len(jobs)
            for page in range(first, last + 1):
                path, index = copy_of(src, page, dpi, variant, cache / "copies")
                key = f"real-{src.stem}-p{page}" + ("" if variant == "orig" else f"-{path.stem}")
                jobs.append((str(path), media_type(path), index, key))
            docs.append((truth, variant, start, len(jobs) - start))
    results = run_pages(jobs, cache, workers)
    out = []
    for truth, variant, start, count in docs:
        pages = results[start : start + count]
        scale = None
        if variant == "orig" and pages[0].rotation == 0:
            scale = truth["render"]["dpi"] / pages[0].dpi
        out.append(Case(f"{truth['doc_id']}/{variant}", truth, pages, scale))
    return out


def text_cases(shared: Path) -> list[Case]:
    out = []
    for f in sorted((HERE / "real-text").glob("*.json")):
        truth = json.loads(f.read_text(encoding="utf-8"))
        text = (shared / truth["source"]).read_text(encoding="utf-8")
        out.append(Case(truth["doc_id"], truth, None, None, text))
    return out


def score(cases: Sequence[Case], extractor: Extractor | None) -> Tally:
    """``extractor`` (None: today's) over every case."""
    tally = Tally()
    for case in cases:
        if case.pages is None:
            got = read_text_fields(case.text or "")
        else:
            got = (extractor or read_document_fields)(case.pages)
        tally.add(case.doc_id, case.truth, got, case.scale)
    return tally


# ---------------------------------------------------------------- tables


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}" if whole else "    -"


def side_by_side(title: str, n: int, tallies: Sequence[tuple[str, Tally]]) -> str:
    """One row per field, right / null / wrong for each extractor; then the six counted."""
    head = f"{'field':16}" + "".join(f" {name:>16}" for name, _t in tallies)
    rows = [f"{title} ({n} documents)", head + "    (right / null / wrong)"]
    for field in FIELD_NAMES:
        cells = []
        for _name, t in tallies:
            c = t.counts[field]
            cells.append(f" {c['right']:>6} {c['null']:>4} {c['wrong']:>4}")
        mark = "*" if field in COUNTED else " "
        rows.append(f"{field:15}{mark}" + "".join(cells))
    cells = []
    for _name, t in tallies:
        right, null, wrong = t.counted()
        total = right + null + wrong
        cells.append(f" {_pct(right, total)}% {_pct(wrong, total)}%")
    rows.append(f"{'* right% wrong%':16}" + "".join(f" {c:>16}" for c in cells))
    return "\n".join(rows)


def main(argv: Iterable[str] | None = None) -> int:
    from bench.common import machine
    from bench.fields.copies import VARIANTS
    from bench.fields.generated import ensure_corpus, shared_data

    parser = argparse.ArgumentParser(prog="python -m bench.fields", description=__doc__)
    parser.add_argument("--only", default="real,eoffice,generated,text")
    parser.add_argument("--n", type=int, default=22, help="generated pages (issue 13's mix)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated mix")
    parser.add_argument("--eoffice-n", type=int, default=24, help="e-office pages per seed")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="copies of real pages")
    parser.add_argument("--before", metavar="REV", help="also score pipeline/extract at REV")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--misses", action="store_true", help="list every wrong and null value")
    args = parser.parse_args(list(argv) if argv is not None else None)
    ensure_corpus()
    shared = shared_data()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    extractors: list[tuple[str, Extractor | None]] = []
    if args.before:
        extractors.append((f"before {args.before[:8]}", extractor_at(args.before)))
    extractors.append(("after", None))
    started = time.monotonic()
    sets: list[tuple[str, list[Case]]] = []
    if "real" in only:
        for part in ("tune", "held-out"):
            cases = real_cases(shared, args.cache, args.workers, part, variants)
            docs = sorted({c.truth["doc_id"] for c in cases})
            title = f"real, {part} part: {', '.join(docs)} × {len(variants)} copies"
            sets.append((title, cases))
    if "eoffice" in only:
        for seed, part in ((1, "tuning"), (2, "held-out")):
            cases = generated_cases(args.eoffice_n, seed, args.cache, args.workers, eoffice=True)
            sets.append((f"e-office pages, seed {seed} ({part}), 200 dpi, damage mix", cases))
    if "generated" in only:
        cases = generated_cases(args.n, args.seed, args.cache, args.workers)
        sets.append((f"generated (issue 13 mix), seed {args.seed}, 200 dpi", cases))
    if "text" in only:
        sets.append(("real-text laws (text only, no boxes)", text_cases(shared)))
    print(machine())
    print()
    for title, cases in sets:
        tallies = [(name, score(cases, ex)) for name, ex in extractors]
        print(side_by_side(title, len(cases), tallies))
        if args.misses:
            misses = tallies[-1][1].misses
            print("  " + "\n  ".join(misses) if misses else "  (no misses)")
        print()
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
