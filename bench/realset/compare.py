"""sohoa, bare Tesseract and OCRmyPDF on the real development set, in one run.

    /work/main/.venv/bin/python -m bench.accuracy --real [--keep DIR] [--systems ...]
    /work/main/.venv/bin/python bench/realset/compare.py --work DIR [--systems ...]
        [--variants NAME,NAME] [--pages ID,ID]

The pages of ``manifest.json`` as scanned (200-300 dpi) and their degraded copies
(degrade.py, seed 14) are read by each system, at most ``--jobs`` images at a time
with ``OMP_THREAD_LIMIT=1``:

- sohoa: the page function (run_pages.py ``--pdf``: cleanup, OCR, correction, the
  one-page PDF), scored on the PDF's text layer as ``pdftotext`` reads it;
- bare ``tesseract IMAGE - -l vie --psm 3`` (baseline.py);
- ``ocrmypdf --deskew --clean --rotate-pages -l vie --jobs 1 --output-type pdf
  --image-dpi DPI`` on the image (the DPI degrade.py recorded: OCRmyPDF refuses a
  JPEG's 80 dpi as not credible), then ``pdftotext``.

Scores are score.py's (exact and folded word recall, CER), pooled per category:
``CATEGORIES`` maps each to the degrade.py variants it is made of. Outputs already in
``DIR`` are kept for Tesseract and OCRmyPDF (they do not change); sohoa always runs.
CPU seconds per page are the systems' own and their children's user + system time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import baseline  # noqa: E402
import degrade  # noqa: E402
import external  # noqa: E402
import score  # noqa: E402

from bench.common import machine  # noqa: E402

# category: the degrade.py variants pooled in it. The degraded ones are the forwarded
# letter (80 dpi, JPEG 75-85), damaged once, as the held-out letter came.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "scan (200-300 dpi)": ("orig",),
    "low-res JPEG": ("letter",),
    "blurred": ("letter-blur",),
    "darkened": ("letter-dark",),
    "noisy": ("letter-noise",),
    "turned": ("letter-turn-ccw", "letter-turn-cw"),
    # made by ImageMagick, GraphicsMagick and Pillow filters (external.py): damage this
    # project did not write, for the held-out evaluation
    "other tools": (
        "im-blur",
        "im-dark",
        "im-rotate",
        "im-jpeg",
        "gm-blur",
        "gm-rotate",
        "pil-bicubic",
        "pil-dark",
    ),
}
SYSTEMS = ("sohoa", "tesseract", "ocrmypdf")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ocrmypdf_exe() -> str | None:
    for exe in (Path(sys.executable).parent / "ocrmypdf", Path("/usr/bin/ocrmypdf")):
        if exe.exists():
            return str(exe)
    return None


def ocrmypdf_one(exe: str, image: Path, dpi: float, out: Path) -> None:
    """OCRmyPDF on one image; its text layer (``pdftotext``) goes to ``out``."""
    if out.exists():
        return
    pdf = out.with_suffix(".pdf")
    cmd = [exe, "--deskew", "--clean", "--rotate-pages", "-l", "vie", "--jobs", "1"]
    cmd += ["--output-type", "pdf", "--image-dpi", str(round(dpi)), str(image), str(pdf)]
    run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
    text = ""
    if run.returncode == 0:
        text = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True
        ).stdout.decode("utf-8")
        pdf.unlink()
    else:
        print(f"ocrmypdf failed on {image.name}: {run.stderr[-300:]}", file=sys.stderr)
    out.write_text(text, encoding="utf-8")


def read_all(
    system: str, rows: list[dict], images: Path, out: Path, jobs: int, reuse: bool = False
) -> float:
    """``system`` on every image of ``rows`` into ``out/<stem>.txt``; CPU seconds per page.

    sohoa runs every time unless ``reuse`` and it left its ``cpu.json`` in ``out``.
    """
    out.mkdir(parents=True, exist_ok=True)
    files = [images / r["file"] for r in rows]
    if system == "sohoa" and reuse and (out / "cpu.json").exists():
        cpu = json.loads((out / "cpu.json").read_text(encoding="utf-8"))
        return sum(cpu.values()) / max(len(cpu), 1)
    if system == "sohoa":
        variants = sorted({r["variant"] for r in rows})
        pages = sorted({r["id"] for r in rows})
        cmd = [sys.executable, str(HERE / "run_pages.py"), "--images", str(images)]
        cmd += ["--out", str(out), "--jobs", str(jobs), "--pdf"]
        cmd += ["--variants", ",".join(variants), "--pages", ",".join(pages)]
        subprocess.run(cmd, check=True)
        cpu = json.loads((out / "cpu.json").read_text(encoding="utf-8"))
        return sum(cpu.values()) / max(len(cpu), 1)
    todo = [
        (f, r) for f, r in zip(files, rows, strict=True) if not (out / f"{f.stem}.txt").exists()
    ]
    before = children_cpu()
    if system == "tesseract":
        baseline.ocr_all([f for f, _ in todo], out, jobs=jobs, lang="vie", psm=3)
    else:
        exe = ocrmypdf_exe()
        if exe is None:
            raise RuntimeError("ocrmypdf not installed (pip install -r bench/requirements.txt)")
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for future in [
                pool.submit(ocrmypdf_one, exe, f, r["dpi"], out / f"{f.stem}.txt") for f, r in todo
            ]:
                future.result()
    return (children_cpu() - before) / len(todo) if todo else float("nan")


def category_of(variant: str) -> str | None:
    for name, variants in CATEGORIES.items():
        if variant in variants:
            return name
    return None


def report(scored: dict[str, list[dict]], cpu: dict[str, float], holdout: set[str]) -> str:
    """Per category, one line per system: words, exact and folded recall, CER."""
    width = max(10, *(len(s) for s in scored))
    lines = [
        f"{'category':<28} {'system':<{width}} {'words':>6} {'exact':>6} {'folded':>6} {'CER':>6}"
    ]

    def add(label: str, keep) -> None:
        for system, rows in scored.items():
            total = score.Score()
            for row in rows:
                if keep(row):
                    total = total + row["score"]
            if total.words:
                lines.append(
                    f"{label:<28} {system:<{width}} {total.words:>6} {total.exact:6.3f} "
                    f"{total.folded:6.3f} {total.cer:6.3f}"
                )

    for name in CATEGORIES:
        add(name, lambda row, name=name: category_of(row["variant"]) == name)
    for part, inside in (("dev", False), ("held-out", True)):
        for name in CATEGORIES:
            add(
                f"{name}, {part}"[:28],
                lambda row, name=name, inside=inside: (
                    category_of(row["variant"]) == name and (row["id"] in holdout) == inside
                ),
            )
    add("all", lambda row: category_of(row["variant"]) is not None)
    add("all, dev pages", lambda row: row["id"] not in holdout)
    add("all, held-out pages", lambda row: row["id"] in holdout)
    lines.append("CPU s/page: " + ", ".join(f"{s} {v:.2f}" for s, v in cpu.items() if v == v))
    lines += below(scored, holdout)
    return "\n".join(lines)


def below(scored: dict[str, list[dict]], holdout: set[str], margin: float = 0.0005) -> list[str]:
    """The images where a sohoa reading finds fewer words (folded) than bare Tesseract."""
    if "tesseract" not in scored:
        return []
    ref = {(r["id"], r["variant"]): r["score"] for r in scored["tesseract"]}
    out = []
    for system, rows in scored.items():
        if not system.startswith("sohoa"):
            continue
        worse = [
            (r["id"], r["variant"], r["score"].folded, ref[(r["id"], r["variant"])].folded)
            for r in rows
            if (r["id"], r["variant"]) in ref
            and r["score"].folded < ref[(r["id"], r["variant"])].folded - margin
        ]
        out.append(f"{system} below tesseract (folded), {len(worse)} images:")
        out += [
            f"  {'held-out ' if i in holdout else 'dev      '}{i}.{v}: {a:.3f} vs {b:.3f}"
            for i, v, a, b in sorted(worse)
        ]
    return out


def run(
    work: Path,
    systems: list[str],
    jobs: int,
    variants=None,
    pages=None,
    reuse: bool = False,
    also: dict[str, Path] | None = None,
) -> str:
    """Make the images if needed, read them with each system, return the tables.

    ``also`` adds earlier outputs (label: folder of texts, e.g. sohoa before a change)
    to the tables, with the CPU seconds of their ``cpu.json`` when there is one.
    """
    names = sorted({v for vs in CATEGORIES.values() for v in vs} - {"orig"})
    if variants:
        names = [v for v in variants if v != "orig"]
    images = work / "images"
    if not (images / "manifest.json").exists():
        own = [n for n in names if n in degrade.VARIANTS]
        degrade.write_set(images, degrade.default_data(), degrade.DEFAULT_SEED, names=own)
        if others := [n for n in names if n in external.VARIANTS]:
            external.main(["--images", str(images), "--variants", ",".join(others)])
    rows = json.loads((images / "manifest.json").read_text(encoding="utf-8"))["images"]
    wanted = set(names) | {"orig"} if variants is None or "orig" in variants else set(names)
    rows = [r for r in rows if r["variant"] in wanted and (not pages or r["id"] in pages)]
    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    truth = score.load_manifest(HERE / "manifest.json")
    stems = {Path(r["file"]).stem for r in rows}
    scored, cpu = {}, {}
    for system in systems:
        started = time.perf_counter()
        cpu[system] = read_all(system, rows, images, work / system, jobs, reuse)
        print(f"{system}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    folders = {s: work / s for s in systems} | dict(also or {})
    for system, folder in folders.items():
        if system not in cpu and (folder / "cpu.json").exists():
            spent = json.loads((folder / "cpu.json").read_text(encoding="utf-8"))
            cpu[system] = sum(spent.values()) / max(len(spent), 1)
        found = score.score_dir(folder, HERE / "truth", truth)
        scored[system] = [
            r
            for r in found
            if (r["id"] if r["variant"] == "orig" else f"{r['id']}.{r['variant']}") in stems
        ]
    head = (
        f"real development set (bench/realset): {len(rows)} images, "
        f"{len({r['id'] for r in rows})} pages, seed {degrade.DEFAULT_SEED}, {jobs} at a time"
    )
    return f"{head}\n{report(scored, cpu, set(manifest.get('holdout', ())))}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (not the repo)")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--variants")
    parser.add_argument("--pages")
    parser.add_argument("--reuse", action="store_true", help="keep sohoa's outputs in --work")
    parser.add_argument(
        "--also", action="append", default=[], metavar="LABEL=DIR", help="earlier outputs too"
    )
    args = parser.parse_args(argv)
    also = {k: Path(v) for k, _, v in (a.partition("=") for a in args.also)}
    print(f"machine: {machine()}")
    print(
        run(
            args.work,
            args.systems.split(","),
            args.jobs,
            args.variants.split(",") if args.variants else None,
            set(args.pages.split(",")) if args.pages else None,
            args.reuse,
            also,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
