"""Score where files split into documents by content (issue 22, build 5).

    python -m bench.fields.splits [--seeds 1,2,3] [--variants orig,gm-turn,...]

Two sets, every page through the real page function (results cached with the fields
bench's, ``--cache``), then :func:`pipeline.dossier.split.plan_split` with
``split.by_content`` off (before: every file is one document, as before issue 22)
and on (after):

- **generated files**: several documents scanned one after another without a cover
  sheet, as a one-stop shop's dossiers come in (an application, the decision on it, a
  letter; a receipt and the application; a decision with its later page and annexes
  "PHỤ LỤC"), each page damaged (skew, photocopy, blur and JPEG, 150 dpi);
- **real files**: the real multi-page scans of ``shared/data`` (each one document: a
  letter with its appendix of five pages, two two-page letters, the five pages of the
  UDHR), as scanned and as copies made by other tools (:mod:`bench.fields.copies`);
  and the three Đà Nẵng letters one after another in one file (three documents).

Counted per file: **right** when the documents are exactly the true ones; per cut:
**found** (a true boundary cut), **missed**, **false** (a cut inside a document).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.fields.__main__ import DEFAULT_CACHE, NATIVE_DPI, run_pages
from pipeline.config import SplitConfig
from pipeline.dossier.split import plan_split
from pipeline.model import PageResult

CODE = "000.00.13.H38-261201-0007"
# (page kinds, the documents as lists of page positions)
GENERATED_FILES: tuple[tuple[tuple[str, ...], tuple[tuple[int, ...], ...]], ...] = (
    (("application", "decision", "letter"), ((0,), (1,), (2,))),
    (("receipt", "application"), ((0,), (1,))),
    (("decision", "continuation", "annex"), ((0, 1, 2),)),
    (
        ("application", "decision", "continuation", "letter", "continuation"),
        ((0,), (1, 2), (3, 4)),
    ),
    (("letter", "continuation", "decision", "annex", "annex"), ((0, 1), (2, 3, 4))),
    (("decision", "annex", "letter"), ((0, 1), (2,))),
)
PROFILES = ("clean", "skew", "photocopy", "blur_jpeg", "dpi150")
REAL_FILES = (
    ("odd-inputs/vn-real-scans-vietadmin/danang_1.pdf", 2),
    ("odd-inputs/vn-real-scans-vietadmin/danang_2.pdf", 2),
    ("odd-inputs/vn-real-scans-vietadmin/danang_3.pdf", 6),
    ("odd-inputs/vn-udhr-ohchr-pdf/udhr_vie.pdf", 5),
)


@dataclass
class SplitCase:
    name: str
    pages: list[PageResult]  # in file order, indexes 0..n-1
    truth: tuple[tuple[int, ...], ...]


def _reindexed(results: Sequence[PageResult]) -> list[PageResult]:
    return [dataclasses.replace(r, index=i) for i, r in enumerate(results)]


def generated_cases(seeds: Sequence[int], cache: Path, workers: int) -> list[SplitCase]:
    from samples import generate

    folder = cache / "split-pages"
    folder.mkdir(parents=True, exist_ok=True)
    plans, jobs = [], []
    for seed in seeds:
        for f, (kinds, truth) in enumerate(GENERATED_FILES):
            start = len(jobs)
            for i, kind in enumerate(kinds):
                page_seed = 7919 * seed + 101 * f + i
                profile = PROFILES[(seed + f + i) % len(PROFILES)]
                key = hashlib.sha256(f"{kind}|{page_seed}|{profile}".encode()).hexdigest()[:12]
                png = folder / f"{kind}-{key}.png"
                if not png.is_file():
                    page = generate.render_page(
                        kind, seed=page_seed, dossier_code=CODE, dpi=200, seal=kind == "decision"
                    )
                    generate.write_png(generate.degrade(page, profile, seed=page_seed), png)
                jobs.append((str(png), "image/png", 0, f"split-{kind}-{key}"))
            plans.append((f"seed {seed}: {' + '.join(kinds)}", truth, start, len(jobs)))
    results = run_pages(jobs, cache, workers)
    return [SplitCase(name, _reindexed(results[a:b]), truth) for name, truth, a, b in plans]


def real_cases(shared: Path, cache: Path, workers: int, variants: Sequence[str]) -> list[SplitCase]:
    from bench.fields.copies import copy_of, media_type

    out, jobs, plans = [], [], []
    for variant in variants:
        spans = []
        for source, count in REAL_FILES:
            src = shared / source
            start = len(jobs)
            for page in range(1, count + 1):
                path, index = copy_of(
                    src, page, NATIVE_DPI.get(src.stem, 200), variant, cache / "copies"
                )
                key = f"real-{src.stem}-p{page}" + ("" if variant == "orig" else f"-{path.stem}")
                jobs.append((str(path), media_type(path), index, key))
            spans.append((src.stem, start, len(jobs)))
            plans.append((f"{src.stem} ({variant})", (tuple(range(count)),), start, len(jobs)))
        # The three letters one after another: a file of three real documents.
        letters = [s for s in spans if s[0].startswith("danang")]
        plans.append((f"danang 1+2+3 ({variant})", letters, None, None))
    results = run_pages(jobs, cache, workers)
    for name, truth, a, b in plans:
        if a is not None:
            out.append(SplitCase(name, _reindexed(results[a:b]), truth))
            continue
        pages, docs = [], []
        for _stem, s, e in truth:
            docs.append(tuple(range(len(pages), len(pages) + e - s)))
            pages += results[s:e]
        out.append(SplitCase(name, _reindexed(pages), tuple(docs)))
    return out


@dataclass
class Score:
    files: int = 0
    right: int = 0
    found: int = 0
    missed: int = 0
    false: int = 0
    wrong_files: list[str] = dataclasses.field(default_factory=list)

    def add(self, case: SplitCase, got: tuple[tuple[int, ...], ...]) -> None:
        self.files += 1
        want_cuts = {d[0] for d in case.truth[1:]}
        got_cuts = {d[0] for d in got[1:]}
        self.found += len(want_cuts & got_cuts)
        self.missed += len(want_cuts - got_cuts)
        self.false += len(got_cuts - want_cuts)
        if got == case.truth:
            self.right += 1
        else:
            self.wrong_files.append(f"{case.name}: got {got}, want {case.truth}")


def documents(case: SplitCase, by_content: bool) -> tuple[tuple[int, ...], ...]:
    plan = plan_split(case.pages, SplitConfig(by_content=by_content))
    return tuple(tuple(range(s.first, s.last + 1)) for s in plan.segments)


def main(argv: Iterable[str] | None = None) -> int:
    from bench.common import machine
    from bench.fields.copies import VARIANTS
    from bench.fields.generated import ensure_corpus, shared_data

    parser = argparse.ArgumentParser(prog="python -m bench.fields.splits", description=__doc__)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--misses", action="store_true", help="list every file split wrong")
    args = parser.parse_args(list(argv) if argv is not None else None)
    ensure_corpus()
    started = time.monotonic()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    sets = [
        ("generated multi-document files", generated_cases(seeds, args.cache, args.workers)),
        ("real multi-page files", real_cases(shared_data(), args.cache, args.workers, variants)),
    ]
    print(machine())
    print()
    head = f"{'set':32} {'by_content':>10} {'files':>6} {'right':>6} {'cuts':>5} "
    print(head + f"{'found':>6} {'missed':>7} {'false':>6}")
    wrong = []
    for title, cases in sets:
        for on in (False, True):
            score = Score()
            for case in cases:
                score.add(case, documents(case, on))
            cuts = score.found + score.missed
            print(
                f"{title:32} {'on' if on else 'off':>10} {score.files:>6} {score.right:>6}"
                f" {cuts:>5} {score.found:>6} {score.missed:>7} {score.false:>6}"
            )
            if on:
                wrong += score.wrong_files
    if args.misses:
        print("\n  " + "\n  ".join(wrong) if wrong else "\n  (every file split right)")
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
