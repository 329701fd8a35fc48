"""The corrector alone on captured OCR words: settings compared without reading pages again.

    run_pages.py --images DIR --out RAW --set ocr.correct=false --words [--tune]
    /work/main/.venv/bin/python bench/realset/correct_offline.py RAW [--set NAME=VALUE ...]
        [--pages dev|holdout|all]

Each ``RAW/<stem>.words.json`` (the page's words before correction, with Tesseract's
confidence) goes through :func:`pipeline.lang.correct.correct_words`, with the module's
constants overridden by ``--set``; the text is scored against the truth (score.py),
before and after, per variant. Tone pairs: of the truth words that the OCR read with the
right letters (same folded spelling), how many carry the right marks, before and after,
for the pairs the issue names and for all words.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import score  # noqa: E402
from rapidfuzz.distance import Levenshtein  # noqa: E402

from pipeline.lang import correct  # noqa: E402
from pipeline.lang.syllables import strip_punct  # noqa: E402
from pipeline.lang.textnorm import fold, nfc  # noqa: E402
from pipeline.ocr.words import Word, words_to_text  # noqa: E402

PAIRS = ("đầy", "đây", "để", "đề", "cậu", "câu", "mấy", "mây", "quần", "quân", "đến", "đền")


def load_words(path: Path) -> list[Word]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [
        Word(t, x0, y0, x1 - x0, y1 - y0, conf, block, par, line)
        for t, x0, y0, x1, y1, conf, block, par, line in rows
    ]


def tone_hits(truth: str, text: str) -> Counter[str]:
    """Counts of letters-right words: ``all``/``all-ok``, ``pair``/``pair-ok``."""
    t = [nfc(strip_punct(w)[1]).lower() for w in truth.split()]
    r = [nfc(strip_punct(w)[1]).lower() for w in text.split()]
    ft, fr = [fold(w) for w in t], [fold(w) for w in r]
    out: Counter[str] = Counter()
    for op in Levenshtein.opcodes(ft, fr):
        if op.tag != "equal":
            continue
        for i, j in zip(
            range(op.src_start, op.src_end), range(op.dest_start, op.dest_end), strict=True
        ):
            if not t[i]:
                continue
            out["all"] += 1
            out["all-ok"] += t[i] == r[j]
            if t[i] in PAIRS:
                out["pair"] += 1
                out["pair-ok"] += t[i] == r[j]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--pages", default="dev", choices=("dev", "holdout", "all"))
    args = parser.parse_args(argv)
    for item in args.set:
        name, value = item.split("=")
        setattr(correct, name, type(getattr(correct, name))(value))
    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    held = set(manifest["holdout"])
    totals: dict[str, list] = {}
    tones: dict[str, Counter[str]] = {}
    for path in sorted(args.raw.glob("*.words.json")):
        stem = path.name.removesuffix(".words.json")
        page, _, variant = stem.partition(".")
        variant = variant or "orig"
        if (args.pages == "dev" and page in held) or (args.pages == "holdout" and page not in held):
            continue
        truth = (HERE / "truth" / f"{page}.txt").read_text(encoding="utf-8")
        words = load_words(path)
        fixed, _ = correct.correct_words(words)
        before, after = words_to_text(words), words_to_text(fixed)
        for key in (variant, "all"):
            row = totals.setdefault(key, [score.Score(), score.Score()])
            row[0] = row[0] + score.score_text(truth, before)
            row[1] = row[1] + score.score_text(truth, after)
            tones.setdefault(key + " before", Counter()).update(tone_hits(truth, before))
            tones.setdefault(key + " after", Counter()).update(tone_hits(truth, after))
    print(
        f"{'variant':<14} {'words':>6}  before ex/fold/CER      after ex/fold/CER"
        "    marks right before→after  pairs"
    )
    for key, (b, a) in totals.items():
        tb, ta = tones[key + " before"], tones[key + " after"]
        print(
            f"{key:<14} {b.words:>6}  {b.exact:.4f} {b.folded:.4f} {b.cer:.4f}"
            f"  {a.exact:.4f} {a.folded:.4f} {a.cer:.4f}"
            f"  {tb['all-ok'] / max(tb['all'], 1):.4f}→{ta['all-ok'] / max(ta['all'], 1):.4f}"
            f"  {tb['pair-ok']}/{tb['pair']}→{ta['pair-ok']}/{ta['pair']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
