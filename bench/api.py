"""Upload through /api/v1 vs a drop into the inbox: the same 10-page scan, to custody and archived.

    .venv/bin/python -m bench.api [--pages 10] [--dpi 300]

Starts a real MinIO (role keys from `storage setup`) and, for each of two settings
(sohoa's defaults, and quick ones: `watch.stable_seconds` 1, `run.pickup_seconds` 1), two
single-machine installations side by side (their own home and buckets, so neither sees
the other's copy as a duplicate), run one after the other on the same machine:

- **api**: `sohoa serve` (web key, the station key for uploads) and a processing
  `sohoa watch` (worker key, which runs the intake); the PDF is POSTed to
  /api/v1/dossiers/{code}/documents. Timed: the 202 (the original and its custody record
  in raw, checked by MinIO), then the ledger's `indexed` (what `document.archived` is
  written with: archived, signed if configured, indexed);
- **inbox**: a processing `sohoa watch` (worker key); the PDF is written into
  inbox/<station>/<code>/. Timed from the end of the write: custody (`stored_raw`,
  after the stability window), then `indexed`.

Prints one table with the machine; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import machine, table  # noqa: E402
from pipeline.storage.ledger import SqliteLedger  # noqa: E402
from samples import generate  # noqa: E402
from tests.support.minio import free_port, new_server  # noqa: E402
from tests.support.web import role_env, setup_roles  # noqa: E402

CODE = "000.00.13.H38-261206-0001"
KINDS = ["application", "decision", "receipt", "letter"]
PROFILES = ["clean", "skew", "noise", "skew+shadow", "seal"]
SETTINGS = {
    "defaults": {},
    "quick": {"watch": {"stable_seconds": 1, "rescan_seconds": 1}, "run": {"pickup_seconds": 1}},
}


def make_pdf(pages: int, dpi: int, out: Path) -> Path:
    scans = [
        generate.degrade(
            generate.render_page(KINDS[i % len(KINDS)], seed=300 + i, dpi=dpi),
            PROFILES[i % len(PROFILES)],
            seed=300 + i,
        )
        for i in range(pages)
    ]
    return generate.write_pdf(scans, out, quality=85)


def write_config(folder: Path, settings: dict) -> str:
    lines = ["api:", "  rate_per_minute: 10000"]
    for section, values in settings.items():
        lines.append(f"{section}:")
        lines += [f"  {k}: {v}" for k, v in values.items()]
    path = folder / "bench.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def installation(server, root: Path, name: str, settings: dict) -> dict[str, dict[str, str]]:
    """Home, inbox, buckets and role keys of one installation; its processes' environments."""
    (root / name).mkdir(parents=True, exist_ok=True)
    base = {
        **server.env(),
        "SOHOA_HOME": str(root / name / "home"),
        "SOHOA_INBOX": str(root / name / "inbox"),
        "SOHOA_BUCKET_RAW": f"raw-{name}",
        "SOHOA_BUCKET_ARCHIVE": f"archive-{name}",
        "SOHOA_BUCKET_WORK": f"work-{name}",
        "SOHOA_CONFIG": write_config(root / name, settings),
        "OMP_THREAD_LIMIT": "1",
    }
    keys = setup_roles(server, base)
    station = keys["station"]
    web = {
        **role_env(base, keys, "web"),
        "SOHOA_UPLOAD_ACCESS_KEY": station.access_key,
        "SOHOA_UPLOAD_SECRET_KEY": station.secret_key or "",
    }
    return {"web": web, "worker": role_env(base, keys, "worker")}


def sohoa(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        check=True,
    )


@contextmanager
def running(env: dict[str, str], *args: str, log: Path):
    """A long-running `sohoa` command (its own process group), stopped on exit."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", *args],
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_for(check, what: str, timeout: float = 1800, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise SystemExit(f"timed out waiting for {what}")


def state_of(home: Path, doc_id: str | None, sha256: str | None) -> str | None:
    path = home / "ledger.sqlite3"
    if not path.exists():
        return None
    ledger = SqliteLedger(path)
    try:
        if doc_id:
            docs = [d for d in ledger.find_documents() if d.id == doc_id]
        else:
            docs = ledger.find_documents(sha256=sha256)
        return docs[0].state if docs else None
    finally:
        ledger.close()


def run_api(envs: dict, pdf: Path, logs: Path) -> tuple[float, float]:
    web, worker = envs["web"], envs["worker"]
    token = sohoa(worker, "clients", "add", "bench", "--scope", "submit").stdout.strip()
    port = free_port()
    home = Path(web["SOHOA_HOME"])
    with ExitStack() as stack:
        stack.enter_context(running(web, "serve", "--port", str(port), log=logs / "serve.log"))
        stack.enter_context(running(worker, "watch", log=logs / "api-watch.log"))
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(url), "sohoa serve")
        time.sleep(3)  # the watcher's first intake pass is done
        data = pdf.read_bytes()
        started = time.monotonic()
        resp = httpx.post(
            f"{url}/api/v1/dossiers/{CODE}/documents",
            content=data,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
            params={"name": "ho-so-10-trang.pdf", "kind": "submitted", "component": "TP01"},
            timeout=600,
        )
        accepted = time.monotonic() - started
        if resp.status_code != 202:
            raise SystemExit(f"upload refused: {resp.status_code} {resp.text}")
        doc_id = resp.json()["document_id"]
        wait_for(lambda: state_of(home, doc_id, None) == "indexed", "the upload indexed")
        return accepted, time.monotonic() - started


def run_inbox(envs: dict, pdf: Path, logs: Path) -> tuple[float, float]:
    worker = envs["worker"]
    home = Path(worker["SOHOA_HOME"])
    folder = Path(worker["SOHOA_INBOX"]) / "motcua-01" / CODE
    folder.mkdir(parents=True, exist_ok=True)
    import hashlib

    sha = hashlib.sha256(pdf.read_bytes()).hexdigest()
    with running(worker, "watch", log=logs / "inbox-watch.log"):
        time.sleep(3)
        shutil.copyfile(pdf, folder / "ho-so-10-trang.pdf")
        started = time.monotonic()
        wait_for(lambda: state_of(home, None, sha) not in (None, "received"), "custody")
        custody = time.monotonic() - started
        wait_for(lambda: state_of(home, None, sha) == "indexed", "the drop indexed")
        return custody, time.monotonic() - started


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of each (median shown; the machine varies)"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="sohoa-bench-api-"))
    server = new_server(root / "minio")
    server.start()
    rows = []
    try:
        pdf = make_pdf(args.pages, args.dpi, root / "scan.pdf")
        size = pdf.stat().st_size
        for label, settings in SETTINGS.items():
            times: dict[str, list[tuple[float, float]]] = {"api": [], "inbox": []}
            for n in range(args.rounds):
                for path, run in (("api", run_api), ("inbox", run_inbox)):
                    name = f"{label}-{path}-{n}"
                    envs = installation(server, root, name, settings)
                    custody, indexed = run(envs, pdf, root / name)
                    times[path].append((custody, indexed))
                    print(f"{name}: custody {custody:.2f} s, indexed {indexed:.1f} s", flush=True)
            for path in ("api", "inbox"):
                custody = statistics.median(c for c, _ in times[path])
                indexed = statistics.median(i for _, i in times[path])
                spread = ", ".join(f"{i:.0f}" for _, i in times[path])
                rows.append(
                    [
                        path,
                        label,
                        f"{custody:.2f} s" + (" (202)" if path == "api" else " (stored_raw)"),
                        f"{indexed:.1f} s",
                        spread,
                        f"{args.pages * 60 / indexed:.1f}",
                    ]
                )
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print()
    print(f"Machine: {machine()}")
    print(
        f"The same {args.pages}-page PDF ({size / 1e6:.1f} MB, {args.dpi} dpi), one run at a"
        f" time, median of {args.rounds}; load average {load_before:.1f} before,"
        f" {os.getloadavg()[0]:.1f} after"
    )
    print()
    print(
        table(
            ["path", "settings", "to custody", "to indexed", "each run (s)", "pages/min"],
            rows,
        )
    )
    print()
    for label in SETTINGS:
        api, inbox = (r for r in rows if r[1] == label)
        ratio = float(api[3].split()[0]) / float(inbox[3].split()[0])
        print(f"{label}: api / inbox to indexed = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
