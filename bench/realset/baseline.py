"""Bare Tesseract on the real development set: the baseline the pipeline must not fall below.

    /work/main/.venv/bin/python bench/realset/baseline.py --work DIR [--data ../shared/data]
        [--seed 14] [--jobs 2] [--pages ID,ID] [--variants NAME,NAME] [--psm 3] [--lang vie]

Writes the originals and degraded copies (degrade.py) to ``DIR/images`` unless they are
there already, runs ``tesseract IMAGE - -l vie --psm 3`` on each, at most ``--jobs`` at
a time with ``OMP_THREAD_LIMIT=1`` (one core each), into ``DIR/tesseract/<image
stem>.txt``, and prints the machine and the score tables (score.py). Outputs already
present are kept, so an interrupted run resumes. Nothing is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import degrade
import score


def machine() -> str:
    """One line: CPU model (lscpu), cores, RAM and the Tesseract version."""
    model, cores = "unknown CPU", str(os.cpu_count())
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for line in lscpu.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Model name":
            model = value.strip()
        elif key.strip() == "CPU(s)":
            cores = value.strip()
    ram = "? GiB"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True)
    tess = (version.stdout or version.stderr).splitlines()[0]
    return f"{model}, {cores} CPUs, {ram} RAM, {tess}"


def ocr_one(image: Path, out: Path, *, lang: str, psm: int) -> Path:
    """Bare ``tesseract`` on one image, single-threaded; the text goes to ``out``."""
    if out.exists():
        return out
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    result = subprocess.run(
        ["tesseract", str(image), "-", "-l", lang, "--psm", str(psm)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        print(f"tesseract failed on {image.name}: {result.stderr.strip()}", file=sys.stderr)
    out.write_text(result.stdout, encoding="utf-8")
    return out


def ocr_all(images: list[Path], out_dir: Path, *, jobs: int, lang: str, psm: int) -> None:
    """Every image read by bare Tesseract, ``jobs`` at a time, into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [
            pool.submit(ocr_one, image, out_dir / f"{image.stem}.txt", lang=lang, psm=psm)
            for image in images
        ]
        for done, future in enumerate(futures, 1):
            future.result()
            if done % 20 == 0 or done == len(futures):
                print(f"{done}/{len(futures)} read", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Command line: generate if needed, read with Tesseract, print machine and scores."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (not the repo)")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=degrade.DEFAULT_SEED)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--pages")
    parser.add_argument("--variants")
    parser.add_argument("--psm", type=int, default=3)
    parser.add_argument("--lang", default="vie")
    parser.add_argument("--quiet", action="store_true", help="leave out the per-page table")
    args = parser.parse_args(argv)
    images_dir = args.work / "images"
    if not (images_dir / "manifest.json").exists():
        degrade.write_set(
            images_dir,
            args.data or degrade.default_data(),
            args.seed,
            ids=args.pages.split(",") if args.pages else None,
            names=args.variants.split(",") if args.variants else None,
        )
    rows = json.loads((images_dir / "manifest.json").read_text(encoding="utf-8"))["images"]
    images = [images_dir / row["file"] for row in rows]
    ocr_dir = args.work / "tesseract"
    ocr_all(images, ocr_dir, jobs=args.jobs, lang=args.lang, psm=args.psm)
    print(f"machine: {machine()}")
    print(f"bare tesseract -l {args.lang} --psm {args.psm}, OMP_THREAD_LIMIT=1, seed {args.seed}\n")
    scored = score.score_dir(
        ocr_dir, score.HERE / "truth", score.load_manifest(score.HERE / "manifest.json")
    )
    print(score.report(scored, per_page=not args.quiet))
    return 0


if __name__ == "__main__":
    sys.exit(main())
