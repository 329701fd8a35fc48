"""Render the training and evaluation lines and turn them into Tesseract's ``.lstmf`` files.

    python scripts/training/make_set.py --out DIR [--train 4000] [--eval 800] [--jobs 2]

Writes ``DIR/train/NNNNN.png`` + ``.gt.txt`` + ``.lstmf`` (lines not held out, the four
training fonts), ``DIR/eval/...`` (held-out lines; half in the training fonts, half in
the held-out FreeSerif, every resolution equally), ``DIR/train.list``, ``DIR/eval.list``
and ``DIR/eval.json`` (each evaluation line's font, resolution and damage, for
evaluate.py). Same seed, same files: every random draw comes from the seed and the
line's number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.training import lines, render  # noqa: E402

DEFAULT_SEED = 22


def shared_data() -> Path:
    if override := os.environ.get("SOHOA_SHARED_DATA"):
        return Path(override)
    for folder in ROOT.parents:
        if (folder / "shared" / "data").is_dir():
            return folder / "shared" / "data"
    return ROOT.parent / "shared" / "data"


def _one(args: tuple[Path, str, dict]) -> tuple[str, bool]:
    """Render one line, write png + gt.txt, make its .lstmf; (stem, ok)."""
    path, text, style = args
    image = render.render(text, render.Style(**style))
    cv2.imwrite(str(path.with_suffix(".png")), image)
    path.with_suffix(".gt.txt").write_text(text + "\n", encoding="utf-8")
    # One box for the whole line (Tesseract's "WordStr" form), then the end-of-line box.
    height, width = image.shape[:2]
    box = f"WordStr 0 0 {width} {height} 0 #{text}\n\t 0 0 {width} {height} 0\n"
    path.with_suffix(".box").write_text(box, encoding="utf-8")
    run = subprocess.run(
        ["tesseract", str(path.with_suffix(".png")), str(path), "--psm", "13", "lstm.train"],
        capture_output=True,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        check=False,
    )
    return str(path), run.returncode == 0 and path.with_suffix(".lstmf").exists()


def styles(count: int, fonts: tuple[str, ...], texts: list[str], seed: int) -> list[dict]:
    out = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        upper = texts[i].isupper()
        out.append(asdict(render.draw_style(rng, fonts, seed * 1_000_003 + i, upper)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--eval", type=int, default=800)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--base", type=Path, help="lstm-unicharset of the base model")
    args = parser.parse_args(argv)
    charset = lines.read_charset(args.base)
    train_pool, held_pool = lines.corpus_lines(shared_data() / "vi-corpus", charset, args.seed)
    train_text = lines.pick(train_pool, args.train, charset, args.seed)
    eval_text = lines.pick(held_pool, args.eval, charset, args.seed + 1)
    work: list[tuple[Path, str, dict]] = []
    (args.out / "train").mkdir(parents=True, exist_ok=True)
    (args.out / "eval").mkdir(parents=True, exist_ok=True)
    for i, (text, style) in enumerate(
        zip(train_text, styles(args.train, render.TRAIN_FONTS, train_text, args.seed), strict=True)
    ):
        work.append((args.out / "train" / f"{i:05d}", text, style))
    eval_styles = styles(args.eval, render.TRAIN_FONTS, eval_text, args.seed + 1)
    meta = {}
    for i, (text, style) in enumerate(zip(eval_text, eval_styles, strict=True)):
        # every resolution equally often, half the lines in the held-out font
        style = replace(render.Style(**style), dpi=render.DPIS[i % len(render.DPIS)])
        if (i // len(render.DPIS)) % 2:
            style = replace(style, font=render.HELD_OUT_FONTS[0])
        path = args.out / "eval" / f"{i:05d}"
        work.append((path, text, asdict(style)))
        meta[path.name] = {"text": text, **asdict(style)}
    (args.out / "eval.json").write_text(json.dumps(meta, ensure_ascii=False, indent=0), "utf-8")
    done: dict[str, bool] = {}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for n, (stem, ok) in enumerate(pool.map(_one, work, chunksize=16), 1):
            done[stem] = ok
            if n % 500 == 0:
                print(f"{n}/{len(work)} lines", file=sys.stderr, flush=True)
    for name in ("train", "eval"):
        listed = [f"{s}.lstmf" for s, ok in sorted(done.items()) if ok and f"/{name}/" in s]
        (args.out / f"{name}.list").write_text("\n".join(listed) + "\n", encoding="utf-8")
        print(f"{name}: {len(listed)} lines", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
