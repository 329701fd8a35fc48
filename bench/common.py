"""Shared bits of the benchmarks: the machine, timing commands, memory of a process tree."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

T = TypeVar("T")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """One line: CPU, cores, RAM, OS, Python and Tesseract, for every table's heading."""
    cpu = cpu_model()
    mem = psutil.virtual_memory().total / 2**30
    tess = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split(
        "\n"
    )[0]
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, {tess}"
    )


@dataclass
class Run:
    seconds: float
    peak_tree_rss: int  # bytes, all processes of the tree together
    peak_proc_rss: int  # bytes, the largest single process (a worker)
    returncode: int
    stdout: str
    stderr: str


def run_measured(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run ``cmd`` and sample the RSS of it and its descendants every 100 ms."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peaks = {"tree": 0, "proc": 0}
    done = threading.Event()

    def sample() -> None:
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                rss = []
                for p in procs:
                    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                        rss.append(p.memory_info().rss)
                peaks["tree"] = max(peaks["tree"], sum(rss))
                peaks["proc"] = max(peaks["proc"], max(rss, default=0))
            except psutil.NoSuchProcess:
                break
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    return Run(
        time.perf_counter() - started, peaks["tree"], peaks["proc"], proc.returncode, out, err
    )


def children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process and its descendants.

    Take the difference around a run: unlike wall time it does not grow when other
    tenants of the machine are busy, so ratios by CPU hold on a noisy VM.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def with_cpu(run: Callable[[], T]) -> tuple[T, float]:
    """``run()``'s result and the CPU seconds its child processes spent (children_cpu)."""
    start = children_cpu()
    result = run()
    return result, children_cpu() - start


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
