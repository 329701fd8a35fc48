"""Peak memory per process on odd and hostile inputs: every odd-inputs file and the bombs.

    .venv/bin/python -m bench.memory_odd [--only SUBSTRING] [--no-odd] [--no-bombs]

Runs ``sohoa --json process FILE`` once per file against a real MinIO (the whole
pipeline: custody, inspect, render, cleanup, OCR, PDF/A, verified upload, index) and
prints, per file: size, pages, outcome (status and reason), seconds, and the peak RSS
(VmHWM) of the largest single process in the tree with what that process was
(``sohoa`` the parent, ``worker`` a page worker, ``inspect`` the PDF inspection
child, else the program: tesseract, pdftoppm, ...). The target (issue 9) is under
1 GiB per process on every row.

The bombs come from ``tests/support/bombs.py`` and are made at run time. The
5,000-page PDF is run twice: with ``ingest.max_pages`` at its default and at 10,000.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.common import machine, table
from tests.support import bombs
from tests.support.minio import new_server


def shared_data() -> Path:
    """``$SOHOA_SHARED_DATA``, else the nearest ``shared/data`` beside a parent of the repo."""
    if os.environ.get("SOHOA_SHARED_DATA"):
        return Path(os.environ["SOHOA_SHARED_DATA"])
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    raise SystemExit("shared data not found: set SOHOA_SHARED_DATA")


EXTENSIONS = {".pdf", ".tif", ".tiff", ".jpg", ".jpeg", ".png"}  # what the watcher takes
CODE = "000.00.13.H38-261127-0001"
GiB = 2**30


@dataclass
class TreePeak:
    """Peak VmHWM seen per process of a tree, with what each process was."""

    root: int
    peaks: dict[int, tuple[int, str]] = field(default_factory=dict)

    def label(self, proc: psutil.Process) -> str:
        if proc.pid == self.root:
            return "sohoa"
        name = proc.name()
        if not name.startswith("python"):
            return name
        return "inspect" if "pipeline.read.pdfinspect" in proc.cmdline() else "worker"

    def sample(self) -> None:
        try:
            root = psutil.Process(self.root)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for proc in procs:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
                hwm = int(status.split("VmHWM:", 1)[1].split()[0]) * 1024
                label = self.label(proc)
            except (OSError, IndexError, ValueError, psutil.Error):
                continue  # exited between listing and reading, or a zombie
            best = self.peaks.get(proc.pid, (0, label))[0]
            self.peaks[proc.pid] = (max(best, hwm), label)

    def largest(self) -> tuple[int, str]:
        return max(self.peaks.values(), default=(0, "-"))


@dataclass
class Row:
    name: str
    size: int
    pages: object
    outcome: str
    seconds: float
    peak: int
    who: str


def run_file(path: Path, env: dict[str, str], timeout: float) -> tuple[Row, list[dict]]:
    """``sohoa process`` on one file, sampling the tree's VmHWM every 50 ms."""
    cmd = [sys.executable, "-m", "workers.cli", "--json", "process", str(path), "--dossier", CODE]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    tree = TreePeak(proc.pid)
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            tree.sample()
            done.wait(0.05)

    sampler = threading.Thread(target=poll, daemon=True)
    sampler.start()
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    docs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if timed_out:
        outcome = f"killed after {timeout:.0f} s"
    elif not docs:
        tail = (err.strip().splitlines() or ["no output"])[-1]
        outcome = f"exit {proc.returncode}: {tail[:90]}"
    else:
        outcome = "; ".join(
            d["status"] + (f": {d['error']}" if d.get("error") else "") for d in docs
        )
    pages = ",".join(str(d.get("pages")) for d in docs) or "-"
    peak, who = tree.largest()
    return Row(path.name, path.stat().st_size, pages, outcome, seconds, peak, who), docs


def odd_files(only: str | None) -> list[Path]:
    odd = shared_data() / "odd-inputs"
    files = sorted(p for p in odd.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
    return [p for p in files if not only or only in str(p)]


BOMBS: dict[str, Callable[[Path], Path]] = {
    "bomb-content-stream.pdf": bombs.content_stream_bomb,
    "bomb-objects.pdf": bombs.object_count_bomb,
    "bomb-kids.pdf": bombs.kids_bomb,
    "bomb-kids-count-lies.pdf": lambda p: bombs.kids_bomb(p, declared=1),
    "bomb-deep-tree.pdf": bombs.deep_tree_bomb,
    "bomb-tree-loop.pdf": bombs.page_tree_loop,
    "bomb-one-huge-array.pdf": bombs.huge_array_bomb,
    "bomb-flate-image.pdf": bombs.flate_image_bomb,
    "bomb-flate-overrun.pdf": bombs.flate_overrun_bomb,
    "bomb-text-layer.pdf": bombs.text_layer_bomb,
    "bomb-frames.tif": bombs.tiff_frames_bomb,
    "bomb-frames-loop.tif": lambda p: bombs.tiff_frames_bomb(p, 100, loop=True, side=16),
    "blank-5000.pdf": bombs.blank_pages_pdf,
}


def config_file(folder: Path, max_pages: int | None) -> Path:
    conf = folder / f"bench-{max_pages or 'default'}.yaml"
    body = "minio:\n  retry_seconds: 5\n"
    if max_pages:
        body += f"ingest:\n  max_pages: {max_pages}\n"
    conf.write_text(body, encoding="utf-8")
    return conf


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="run only files whose path contains this")
    ap.add_argument("--no-odd", action="store_true", help="skip the odd-inputs files")
    ap.add_argument("--no-bombs", action="store_true", help="skip the generated bombs")
    ap.add_argument(
        "--no-long", action="store_true", help="skip the 5,000 pages at max_pages 10,000 (~35 min)"
    )
    ap.add_argument("--timeout", type=float, default=5400, help="seconds per file")
    args = ap.parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sohoa-memory-odd-") as tmp:
        work = Path(tmp)
        runs: list[tuple[Path, int | None]] = []
        if not args.no_odd:
            runs += [(p, None) for p in odd_files(args.only)]
        if not args.no_bombs:
            (work / "bombs").mkdir()
            for name, make in BOMBS.items():
                if args.only and args.only not in name:
                    continue
                path = make(work / "bombs" / name)
                runs.append((path, None))
                if name == "blank-5000.pdf" and not args.no_long:
                    runs.append((path, 10_000))
        server = new_server(work / "minio")
        server.start()
        try:
            for n, (path, max_pages) in enumerate(runs):
                env = {
                    **os.environ,
                    **server.env(),
                    "SOHOA_HOME": str(work / f"home-{n}"),
                    "SOHOA_BUCKET_RAW": f"raw-{n}",
                    "SOHOA_BUCKET_ARCHIVE": f"archive-{n}",
                    "SOHOA_CONFIG": str(config_file(work, max_pages)),
                }
                row, _ = run_file(path, env, args.timeout)
                if max_pages:
                    row.name += f" (max_pages {max_pages:,})"
                rows.append(row)
                print(
                    f"{row.name}: {row.outcome[:100]} {row.seconds:.1f} s "
                    f"{row.peak / 2**20:.0f} MiB ({row.who})",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            server.stop()
    print(f"machine: {machine()}\n")
    print(
        table(
            ["file", "bytes", "pages", "outcome", "seconds", "peak RSS MiB", "in"],
            [
                [
                    r.name,
                    f"{r.size:,}",
                    r.pages,
                    r.outcome if len(r.outcome) <= 110 else r.outcome[:107] + "...",
                    f"{r.seconds:.1f}",
                    f"{r.peak / 2**20:.0f}",
                    r.who,
                ]
                for r in rows
            ],
        )
    )
    over = [r for r in rows if r.peak >= GiB]
    print(f"\n{len(rows)} files; {len(over)} over 1 GiB" + (": " if over else ""), end="")
    print(", ".join(r.name for r in over))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
