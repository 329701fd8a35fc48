"""Memory on a long document: one 300-page, 300-dpi PDF through ``sohoa process``.

    .venv/bin/python -m bench.memory [--pages 300] [--dpi 300] [--distinct 6]

Operators of other OCR tools report out-of-memory kills on long high-resolution PDFs;
sohoa renders and OCRs page by page, so its peak RSS should not grow with the page
count. This runs the real pipeline (render, cleanup, OCR, PDF/A, verified upload to a
real MinIO, index) and prints the time and the peak RSS of the largest single process
and of the whole process tree. Only a handful of distinct pages are rendered; the PDF
repeats them, which keeps generation quick without changing the per-page work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import img2pdf

from bench.common import machine, run_measured, table
from samples import generate
from tests.support.minio import new_server

KINDS = ["application", "decision", "receipt", "letter"]
PROFILES = ["clean", "skew", "noise", "skew+shadow", "seal", "rotate180"]
CODE = "000.00.13.H38-261127-0001"


def distinct_pages(count: int, dpi: int, work: Path) -> list[Path]:
    """``count`` degraded pages as JPEG files (what a scanner's PDF usually holds)."""
    jpgs = []
    for i in range(count):
        page = generate.render_page(
            KINDS[i % len(KINDS)], seed=300 + i, dpi=dpi, dossier_code=CODE, seal=(i % 3 == 1)
        )
        page = generate.degrade(page, PROFILES[i % len(PROFILES)], seed=300 + i)
        jpg = work / f"page-{i:02d}.jpg"
        page.image.save(jpg, quality=85, dpi=(dpi, dpi))
        jpgs.append(jpg)
    return jpgs


def long_pdf(jpgs: list[Path], pages: int, out: Path) -> Path:
    """A ``pages``-page PDF cycling through ``jpgs`` (img2pdf embeds the JPEGs as they are)."""
    out.write_bytes(img2pdf.convert([str(jpgs[i % len(jpgs)]) for i in range(pages)]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--dpi", type=int, default=300)
    ap.add_argument("--distinct", type=int, default=6, help="distinct rendered pages to reuse")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sohoa-memory-") as tmp:
        work = Path(tmp)
        pdf = long_pdf(distinct_pages(args.distinct, args.dpi, work), args.pages, work / "long.pdf")
        pdf_mib = pdf.stat().st_size / 2**20
        server = new_server(work / "minio")
        server.start()
        try:
            env = {**os.environ, **server.env(), "SOHOA_HOME": str(work / "home")}
            cmd = [sys.executable, "-m", "workers.cli", "--json", "process", str(pdf)]
            run = run_measured([*cmd, "--dossier", CODE], env=env)
        finally:
            server.stop()
    rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    doc = rows[-1] if rows else {}
    if run.returncode != 0 or doc.get("status") != "indexed":
        print(f"sohoa failed ({run.returncode}): {run.stderr[-2000:]}\n{run.stdout}")
        return 1
    mib = lambda b: f"{b / 2**20:.0f}"  # noqa: E731
    print(f"machine: {machine()}")
    print(
        f"input: {args.pages}-page PDF, {args.dpi} dpi A4, {args.distinct} distinct generated "
        f"pages repeated, {pdf_mib:.0f} MiB; archived pages: {doc.get('pages')}\n"
    )
    print(
        table(
            ["pages", "seconds", "pages/min", "peak RSS largest proc MiB", "peak RSS tree MiB"],
            [
                [
                    doc.get("pages"),
                    f"{run.seconds:.0f}",
                    f"{args.pages / run.seconds * 60:.1f}",
                    mib(run.peak_proc_rss),
                    mib(run.peak_tree_rss),
                ]
            ],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
