"""Scale-out benchmark: the same generated pages through the local pool and through Celery.

Runs, one after the other, on fresh buckets and a fresh database each time:

1. ``local``: `sohoa process` with the local process pool (one worker per core);
2. ``celery ×1``: the same command with ``SOHOA_EXECUTOR=celery`` and one
   `sohoa worker --concurrency 1` on this machine;
3. ``celery ×2``: one `sohoa worker --concurrency 2`;
4. ``2 hosts``: two worker hosts (network namespaces, one process each) and the
   command on a third, MinIO/PostgreSQL/Redis on a fourth (skipped, and said so,
   where namespaces cannot be made).

Prints pages/min and the ratio to the local pool. Targets (issue 11): celery ×2
≥ 0.95 × local on the same cores; celery ×2 ≥ 1.8 × celery ×1.

    python -m bench.scale                 # 24 A4 pages at 300 dpi in 6 files: ~8 min here
    python -m bench.scale --pages 4 --quick   # small pages, to check the script: ~1 min
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import machine, table  # noqa: E402
from tests.support import office  # noqa: E402
from tests.support.hosts import Hosts  # noqa: E402
from tests.support.minio import free_port, minio_binary, new_server  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.postgres import new_server as new_pg  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402
from tests.support.redis import new_server as new_redis  # noqa: E402

CODE = "000.00.13.H38-261201-0500"
CLI = [sys.executable, "-m", "workers.cli"]


def make_files(folder: Path, pages: int, per_file: int, quick: bool) -> int:
    """``pages`` generated pages in files of ``per_file`` pages (PDF), the same every run."""
    from samples.layouts import render_page
    from samples.writers import write_pages
    from tests.support.files import small_pdf

    folder.mkdir(parents=True, exist_ok=True)
    seeds = list(range(9000, 9000 + pages))
    for n, start in enumerate(range(0, pages, per_file), start=1):
        chunk = seeds[start : start + per_file]
        target = folder / f"ho-so-{n:02d}.pdf"
        if quick:
            small_pdf(chunk, target)
        else:
            write_pages([render_page("letter", seed=s, dpi=300) for s in chunk], target)
    return pages


def _base_env(minio, home: Path) -> dict[str, str]:
    suffix = secrets.token_hex(3)
    return {
        **minio.env(),
        "SOHOA_HOME": str(home),
        "SOHOA_BUCKET_RAW": f"raw-{suffix}",
        "SOHOA_BUCKET_ARCHIVE": f"archive-{suffix}",
        "SOHOA_BUCKET_WORK": f"work-{suffix}",
        "PYTHONPATH": str(REPO),
    }


def _process(env: dict[str, str], files: Path, wrap: list[str] | None = None) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(
        [*(wrap or []), *CLI, "--json", "process", str(files), "--dossier", CODE],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    if out.returncode != 0 or '"indexed"' not in out.stdout:
        raise SystemExit(f"process failed ({out.returncode}): {out.stderr[-2000:]}")
    return seconds


def run_local(minio, files: Path, tmp: Path) -> float:
    return _process({**_base_env(minio, tmp / "local"), "SOHOA_EXECUTOR": "local"}, files)


def run_celery(minio, pg, rd, files: Path, tmp: Path, processes: int) -> float:
    base = _base_env(minio, tmp / f"celery{processes}")
    import redis

    redis.Redis.from_url(rd.url(1)).flushdb()
    env = office.office_env(
        base, tmp, database_url=pg.new_database("bench"), broker_url=rd.url(1), visibility=600
    )
    env["SOHOA_HOME"] = str(tmp / f"celery{processes}")
    worker = office.start_worker(
        {**env, "SOHOA_HOME": str(tmp / f"worker{processes}")}, concurrency=processes, documents=4
    )
    try:
        time.sleep(3)  # the pool's processes start (the local pool pays this inside its run)
        return _process(env, files)
    finally:
        office.kill(worker, 15)


def run_hosts(files: Path, tmp: Path) -> tuple[float, str]:
    hosts = Hosts(["client", "worker-1", "worker-2"]).setup()
    if hosts.mode != "netns":
        hosts.close()
        return float("nan"), f"not run: network namespaces unavailable ({hosts.why_not})"
    root = Path(tempfile.mkdtemp(prefix="sohoa-scale-"))
    os.chmod(root, 0o755)
    storage = hosts.address("storage")
    port, key, secret = free_port(), "bench" + secrets.token_hex(3), secrets.token_hex(16)
    (root / "minio").mkdir()
    hosts.popen(
        "storage",
        [minio_binary(), "server", str(root / "minio"), "--address", f"{storage}:{port}"],
        env={**os.environ, "MINIO_ROOT_USER": key, "MINIO_ROOT_PASSWORD": secret},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pg = PostgresServer(
        root=root / "pg", port=free_port(), host=storage, wrap=hosts.wrap("storage")
    )
    rd = RedisServer(root=root / "rd", port=free_port(), host=storage, wrap=hosts.wrap("storage"))
    try:
        pg.start()
        rd.start()
        env = office.office_env(
            {
                "SOHOA_MINIO_ENDPOINT": f"{storage}:{port}",
                "SOHOA_MINIO_ACCESS_KEY": key,
                "SOHOA_MINIO_SECRET_KEY": secret,
                "PYTHONPATH": str(REPO),
            },
            root,
            database_url=pg.new_database("bench"),
            broker_url=rd.url(0),
            visibility=600,
        )
        for _ in range(100):  # MinIO up, seen from the client host
            url = f"http://{storage}:{port}/minio/health/live"
            if hosts.run("client", ["curl", "-sf", url], capture_output=True).returncode == 0:
                break
            time.sleep(0.3)
        for name in ("worker-1", "worker-2"):
            hosts.popen(
                name,
                [*CLI, "worker", "--concurrency", "1", "--documents", "2"],
                env={**os.environ, **env, "SOHOA_HOME": str(root / name)},
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        time.sleep(3)
        seconds = _process({**env, "SOHOA_HOME": str(root / "client")}, files, hosts.wrap("client"))
        return seconds, "netns: 2 worker hosts × 1 process"
    finally:
        hosts.close()
        rd.remove()
        pg.remove()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=24)
    ap.add_argument("--per-file", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="small pages (a check of the script)")
    ap.add_argument("--skip-hosts", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sohoa-bench-scale-"))
    os.chmod(tmp, 0o755)
    files = tmp / "files"
    pages = make_files(files, args.pages, args.per_file, args.quick)
    started = time.monotonic()
    load_before = os.getloadavg()
    minio = new_server(tmp / "minio")
    minio.start()
    pg, rd = new_pg(), new_redis()
    pg.start()
    rd.start()
    results: list[tuple[str, float, str]] = []
    try:
        results.append(("local pool", run_local(minio, files, tmp), f"{os.cpu_count()} processes"))
        results.append(("celery ×1", run_celery(minio, pg, rd, files, tmp, 1), "1 worker process"))
        results.append(
            ("celery ×2", run_celery(minio, pg, rd, files, tmp, 2), "2 worker processes")
        )
    finally:
        minio.stop()
        rd.remove()
        pg.remove()
    if not args.skip_hosts:
        seconds, note = run_hosts(files, tmp)
        results.append(("2 hosts", seconds, note))
    shutil.rmtree(tmp, ignore_errors=True)
    local = results[0][1]
    one = next(s for n, s, _ in results if n == "celery ×1")
    rows = [
        [
            name,
            f"{seconds:.1f}",
            f"{pages / seconds * 60:.1f}" if seconds == seconds else "-",
            f"{local / seconds:.2f}" if seconds == seconds else "-",
            note,
        ]
        for name, seconds, note in results
    ]
    print(f"machine: {machine()}")
    print(
        f"load average before/after: {' '.join(f'{x:.2f}' for x in load_before)} /"
        f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}; run took"
        f" {time.monotonic() - started:.0f} s"
    )
    kind = "small test pages" if args.quick else "A4 pages at 300 dpi"
    print(f"{pages} generated {kind} in files of {args.per_file}, one `sohoa process` each run\n")
    print(table(["executor", "seconds", "pages/min", "× local", "workers"], rows))
    two = next(s for n, s, _ in results if n == "celery ×2")
    print(
        f"\ncelery ×2 / local = {local / two:.2f} (target ≥ 0.95);"
        f" celery ×2 / celery ×1 = {one / two:.2f} (target ≥ 1.8)"
    )


if __name__ == "__main__":
    main()
