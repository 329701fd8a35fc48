"""Throughput and memory: sohoa end to end vs bare Tesseract vs OCRmyPDF on the same pages.

    .venv/bin/python -m bench.throughput [--pages 12] [--big 200] [--dpi 300]

Generates degraded Vietnamese pages, then in the same run measures:
- sohoa: `sohoa process` on a multi-page PDF (render, cleanup, OCR, PDF/A, verified upload
  to a real MinIO, index), pages/min, CPU seconds per page and peak RSS; once with
  Tesseract in process (the default) and once with the tesseract command per reading;
- bare tesseract on the same page images as PNG: sequential with its default threads, and
  one process per core with OMP_THREAD_LIMIT=1 (its best case here);
- `ocrmypdf --deskew --clean --rotate-pages -l vie` on the same PDF, all cores.
`--big N` also runs sohoa on an N-page PDF to report the peak RSS of a worker.
Needs `pip install -r bench/requirements.txt` and Debian's ghostscript + unpaper for OCRmyPDF.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import img2pdf

from bench.common import machine, run_measured, table, with_cpu
from samples import generate
from tests.support.minio import new_server

KINDS = ["application", "decision", "receipt", "letter"]
PROFILES = ["clean", "skew", "noise", "skew+shadow", "seal", "rotate180"]
CODE = "000.00.13.H38-261127-0001"


def make_pages(n: int, dpi: int, work: Path) -> tuple[list[Path], list[Path], Path]:
    """PNG and JPEG files of ``n`` pages, and one PDF holding the JPEGs at their DPI."""
    pngs, jpgs = [], []
    for i in range(n):
        page = generate.render_page(
            KINDS[i % len(KINDS)], seed=100 + i, dpi=dpi, dossier_code=CODE, seal=(i % 3 == 1)
        )
        page = generate.degrade(page, PROFILES[i % len(PROFILES)], seed=100 + i)
        png = work / f"page-{i:03d}.png"
        jpg = work / f"page-{i:03d}.jpg"
        page.image.save(png, dpi=(page.dpi, page.dpi))
        page.image.save(jpg, quality=90, dpi=(page.dpi, page.dpi))
        pngs.append(png)
        jpgs.append(jpg)
    pdf = work / "pages.pdf"
    pdf.write_bytes(img2pdf.convert([str(j) for j in jpgs]))
    return pngs, jpgs, pdf


def big_pdf(jpgs: list[Path], n: int, out: Path) -> Path:
    out.write_bytes(img2pdf.convert([str(jpgs[i % len(jpgs)]) for i in range(n)]))
    return out


def run_sohoa(pdf: Path, env: dict[str, str], home: Path) -> tuple[float, int, int]:
    env = {**env, "SOHOA_HOME": str(home)}
    run = run_measured(
        [sys.executable, "-m", "workers.cli", "process", str(pdf), "--dossier", CODE], env=env
    )
    if run.returncode != 0:
        raise SystemExit(f"sohoa failed: {run.stderr}\n{run.stdout}")
    if "duplicate" in run.stdout:
        raise SystemExit(f"sohoa skipped the pages as already archived:\n{run.stdout}")
    return run.seconds, run.peak_tree_rss, run.peak_proc_rss


def fresh_buckets(suffix: str) -> dict[str, str]:
    """Bucket names of their own for a second run of the same pages: in the first run's
    archive they would be recognised as already archived and skipped."""
    return {
        f"SOHOA_BUCKET_{kind.upper()}": f"{kind}-{suffix}" for kind in ("raw", "archive", "work")
    }


def run_tesseract_sequential(pngs: list[Path], out: Path) -> tuple[float, int]:
    total, peak = 0.0, 0
    for png in pngs:
        run = run_measured(["tesseract", str(png), str(out / png.stem), "-l", "vie"])
        total += run.seconds
        peak = max(peak, run.peak_proc_rss)
    return total, peak


def run_tesseract_parallel(pngs: list[Path], out: Path, jobs: int) -> tuple[float, int]:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    import time

    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        runs = list(
            pool.map(
                lambda p: run_measured(
                    ["tesseract", str(p), str(out / (p.stem + "-p")), "-l", "vie"], env=env
                ),
                pngs,
            )
        )
    return time.perf_counter() - started, max(r.peak_proc_rss for r in runs)


def run_ocrmypdf(pdf: Path, out: Path, jobs: int) -> tuple[float, int, int] | None:
    exe = shutil.which("ocrmypdf") or str(Path(sys.executable).parent / "ocrmypdf")
    if not Path(exe).exists():
        return None
    run = run_measured(
        [
            exe,
            "--deskew",
            "--clean",
            "--rotate-pages",
            "-l",
            "vie",
            "--jobs",
            str(jobs),
            str(pdf),
            str(out / "ocrmypdf.pdf"),
        ]
    )
    if run.returncode != 0:
        print(f"ocrmypdf failed ({run.returncode}): {run.stderr[-500:]}", file=sys.stderr)
        return None
    return run.seconds, run.peak_tree_rss, run.peak_proc_rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=12)
    ap.add_argument("--dpi", type=int, default=300)
    ap.add_argument("--big", type=int, default=0, help="also run an N-page PDF for peak RSS")
    args = ap.parse_args()
    jobs = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="sohoa-bench-") as tmp:
        work = Path(tmp)
        pngs, jpgs, pdf = make_pages(args.pages, args.dpi, work)
        server = new_server(work / "minio")
        server.start()
        try:
            env = {**os.environ, **server.env()}
            cpu: dict[str, float] = {}
            (s_sec, s_tree, s_proc), cpu["sohoa"] = with_cpu(
                lambda: run_sohoa(pdf, env, work / "home1")
            )
            cli_env = {**env, "SOHOA_OCR_ENGINE": "cli", **fresh_buckets("cli")}
            (c_sec, c_tree, c_proc), cpu["sohoa-cli"] = with_cpu(
                lambda: run_sohoa(pdf, cli_env, work / "h3")
            )
            (t_seq, t_seq_rss), cpu["seq"] = with_cpu(lambda: run_tesseract_sequential(pngs, work))
            (t_par, t_par_rss), cpu["par"] = with_cpu(
                lambda: run_tesseract_parallel(pngs, work, jobs)
            )
            o, cpu["ocrmypdf"] = with_cpu(lambda: run_ocrmypdf(pdf, work, jobs))
            big = None
            if args.big:
                bpdf = big_pdf(jpgs, args.big, work / "big.pdf")
                big = run_sohoa(bpdf, env, work / "home2")
        finally:
            server.stop()
    n = args.pages
    ppm = lambda sec: n / sec * 60  # noqa: E731
    mib = lambda b: f"{b / 2**20:.0f}"  # noqa: E731
    per_page = lambda key: f"{cpu[key] / n:.2f}"  # noqa: E731
    rows = [
        [
            "sohoa process (render+cleanup+OCR+PDF/A+upload+index)",
            f"{s_sec:.1f}",
            f"{ppm(s_sec):.1f}",
            per_page("sohoa"),
            mib(s_proc),
            mib(s_tree),
        ],
        [
            "sohoa, the same with SOHOA_OCR_ENGINE=cli (tesseract command per reading)",
            f"{c_sec:.1f}",
            f"{ppm(c_sec):.1f}",
            per_page("sohoa-cli"),
            mib(c_proc),
            mib(c_tree),
        ],
        [
            "tesseract -l vie, sequential, default threads",
            f"{t_seq:.1f}",
            f"{ppm(t_seq):.1f}",
            per_page("seq"),
            mib(t_seq_rss),
            mib(t_seq_rss),
        ],
        [
            f"tesseract -l vie, {jobs} in parallel, OMP_THREAD_LIMIT=1",
            f"{t_par:.1f}",
            f"{ppm(t_par):.1f}",
            per_page("par"),
            mib(t_par_rss),
            "-",
        ],
    ]
    if o:
        rows.append(
            [
                f"ocrmypdf --deskew --clean --rotate-pages --jobs {jobs}",
                f"{o[0]:.1f}",
                f"{ppm(o[0]):.1f}",
                per_page("ocrmypdf"),
                mib(o[2]),
                mib(o[1]),
            ]
        )
    print(f"machine: {machine()}")
    print(f"pages: {n} generated A4 pages at {args.dpi} dpi, profiles {', '.join(PROFILES)}\n")
    headers = ["run", "seconds", "pages/min", "CPU s/page", "peak RSS/proc MiB"]
    print(table([*headers, "peak RSS tree MiB"], rows))
    best_tess = max(ppm(t_seq), ppm(t_par))
    print(
        f"\nsohoa / best bare tesseract: {ppm(s_sec) / best_tess:.2f}x by wall time,"
        f" {cpu['par'] / cpu['sohoa']:.2f}x by CPU seconds per page"
    )
    if o:
        print(
            f"sohoa / ocrmypdf: {ppm(s_sec) / ppm(o[0]):.2f}x by wall time,"
            f" {cpu['ocrmypdf'] / cpu['sohoa']:.2f}x by CPU seconds per page"
        )
    else:
        print("ocrmypdf: not installed (pip install -r bench/requirements.txt)")
    if big:
        print(
            f"\n{args.big}-page {args.dpi}-dpi PDF through sohoa: {big[0]:.0f} s "
            f"({args.big / big[0] * 60:.1f} pages/min), peak RSS of one process {mib(big[2])} MiB, "
            f"whole tree {mib(big[1])} MiB"
        )


if __name__ == "__main__":
    main()
