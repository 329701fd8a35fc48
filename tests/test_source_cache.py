"""The machine's source cache is pruned without pulling a file from under a running page.

Several processes (as a worker's page processes and document threads are) resolve
originals through one cache kept tiny, so every download prunes: none of them may
ever find its source gone, nor trip over a file another one pruned meanwhile.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import time
from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from pipeline.model import SourceRef
from pipeline.storage.objects import connect

pytestmark = pytest.mark.integration
PROCESSES = 4
ROUNDS = 40


def _use_sources(env: dict[str, str], refs: list[SourceRef], seed: int, out) -> None:
    """One process: resolve sources at random and read each a few times, as a page does."""
    from pipeline.flow import page_task

    page_task.SOURCE_CACHE_FILES = 2  # every download prunes
    rt = page_task.PageRuntime(load_config(env=env))
    rnd = random.Random(seed)
    problems: list[str] = []
    for _ in range(ROUNDS):
        ref = rnd.choice(refs)
        try:
            path = page_task.resolve_source(ref, rt)
            for _ in range(3):
                if hashlib.sha256(path.read_bytes()).hexdigest() != ref.sha256:
                    problems.append(f"other bytes under {path.name}")
                time.sleep(0.003)
        except Exception as exc:  # what the issue saw: FileNotFoundError … cache/sources/<hash>
            problems.append(f"{type(exc).__name__}: {exc}")
    out.put(problems)


def _sources(cfg: Config, folder: Path, count: int) -> list[SourceRef]:
    objects = connect(cfg)
    objects.ensure_buckets()
    refs = []
    rnd = random.Random(7)
    for i in range(count):
        path = folder / f"source-{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rnd.randbytes(256 * 1024 + i))
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        objects.put_file(objects.raw_bucket, f"sha256/{sha}", path, sha)
        refs.append(SourceRef(f"sha256/{sha}", sha, path.stat().st_size, "application/pdf"))
    return refs


def test_concurrent_processes_never_lose_a_source_to_pruning(
    cfg: Config, sohoa_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = _sources(cfg, tmp_path / "originals", 10)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_use_sources, args=(sohoa_env, refs, seed, out))
        for seed in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    try:
        problems = [p for _ in procs for p in out.get(timeout=300)]
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    assert problems == []
    # Once the processes are gone nobody holds anything: pruning gets the cache to its size.
    from pipeline.flow import page_task

    cache = cfg.home / "cache" / "sources"
    monkeypatch.setattr(page_task, "SOURCE_CACHE_FILES", 2)
    page_task._prune(cache)
    assert len([p for p in os.listdir(cache) if not p.endswith(".part")]) == 2
