"""Held-out line error of OCR models, per resolution and per font: CER, exact and folded words.

    python scripts/training/evaluate.py --set DIR --model NAME=TRAINEDDATA [--model ...]
        [--list eval.list] [--markdown]

Each line image of ``DIR/eval.json`` (make_set.py) is read by each model in process
(tesserocr, ``--psm 13``: one line), and compared with its text: the character error
rate (edits / truth characters), and word accuracy as the share of truth words read
exactly and read with the same letters once marks and case are folded (what search
finds). Lines of the held-out font (FreeSerif) are reported apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rapidfuzz.distance import Levenshtein  # noqa: E402

from pipeline.lang.textnorm import fold, nfc  # noqa: E402
from scripts.training import render  # noqa: E402


def word_hits(truth: str, read: str) -> tuple[int, int, int]:
    """(truth words, exact matches, folded matches), words aligned by edit operations."""
    t, r = truth.split(), read.split()
    exact = sum(
        1
        for op in Levenshtein.opcodes(t, r)
        if op.tag == "equal"
        for _ in range(op.src_end - op.src_start)
    )
    ft, fr = [fold(w).lower() for w in t], [fold(w).lower() for w in r]
    folded = sum(
        op.src_end - op.src_start for op in Levenshtein.opcodes(ft, fr) if op.tag == "equal"
    )
    return len(t), exact, folded


def read_lines(traineddata: Path, images: list[Path]) -> list[str]:
    import tesserocr

    lang = traineddata.name.removesuffix(".traineddata")
    with tesserocr.PyTessBaseAPI(path=str(traineddata.parent), lang=lang, psm=13, oem=1) as api:
        out = []
        for image in images:
            api.SetImageFile(str(image))
            out.append(nfc(api.GetUTF8Text()).strip())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, required=True)
    parser.add_argument("--model", action="append", required=True, metavar="NAME=TRAINEDDATA")
    parser.add_argument("--list", type=Path, help="only the lines of this .lstmf list")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    meta = json.loads((args.set / "eval.json").read_text(encoding="utf-8"))
    names = sorted(meta)
    if args.list:
        keep = {Path(line).stem for line in args.list.read_text().split()}
        names = [n for n in names if n in keep]
    images = [args.set / "eval" / f"{n}.png" for n in names]
    table: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    models = [m.partition("=") for m in args.model]
    for label, _, path in models:
        for name, read in zip(names, read_lines(Path(path), images), strict=True):
            truth = meta[name]["text"]
            words, exact, folded = word_hits(truth, read)
            edits = Levenshtein.distance(truth, read)
            group = (
                "held-out font" if meta[name]["font"] in render.HELD_OUT_FONTS else "trained fonts"
            )
            for key in (f"{meta[name]['dpi']} dpi", group, "all"):
                row = table[(label, key)]
                for i, v in enumerate((words, exact, folded, edits, len(truth))):
                    row[i] += v
    keys = [f"{d} dpi" for d in render.DPIS] + ["trained fonts", "held-out font", "all"]
    head = ["lines"] + [label for label, _, _ in models]
    sep = " | " if args.markdown else "  "
    print(
        sep.join(["", "", *head]).strip()
        if args.markdown
        else f"{'':<14}" + "".join(f"{h:>26}" for h in head[1:])
    )
    for key in keys:
        cells = []
        for label, _, _ in models:
            w, ex, fo, ed, ch = table[(label, key)]
            cells.append(f"{ex / max(w, 1):.3f} / {fo / max(w, 1):.3f} / {ed / max(ch, 1):.3f}")
        if args.markdown:
            print(f"| {key} | " + " | ".join(cells) + " |")
        else:
            print(f"{key:<14}" + "".join(f"{c:>26}" for c in cells))
    print("cells: exact words / folded words / CER", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
