"""The ledger's speed on both backends, for two versions of the code side by side.

Why: issue 21 rewrote the SQLite and PostgreSQL ledgers as one set of rules over a
small dialect seam (and added the outbox to the same transactions); this shows
whether that made anything slower. Each version of the code runs in a child process
of its own (``PYTHONPATH`` = that tree), against a fresh SQLite file and a fresh
database on one PostgreSQL server started here, one after the other.

Measured, single-threaded as the pipeline calls it:
- ``add_document``: documents recorded per second;
- ``transition``: state changes per second (each document goes received → stored_raw →
  processing → archived → indexed, the path every scan takes);
- ``update_fields``: bookkeeping writes per second (lease renewals);
- ``find_documents``: milliseconds per call (p50) on a ledger of ``--docs`` documents:
  one batch, one state, by SHA-256, and everything;
- the CPU time this process spends per write (``client CPU ms``): what the code itself
  costs, apart from the database's work and from other tenants of a shared machine.

The ``archived`` transitions of the newer code also write their outbox events (issue 21):
the numbers include that.

Usage::

    git archive <old commit> pipeline | tar -x -C /tmp/old   # the code to compare with
    python -m bench.ledger --baseline /tmp/old [--after /tmp/new] [--docs 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, table

REPO = Path(__file__).resolve().parents[1]
STATES = ("stored_raw", "processing", "archived", "indexed")


def _open(kind: str, where: str):
    if kind == "sqlite":
        from pipeline.storage.ledger import SqliteLedger

        return SqliteLedger(Path(where))
    from pipeline.storage.postgres.db import Database
    from pipeline.storage.postgres.ledger import PostgresLedger

    return PostgresLedger(Database(where, name="bench"))


def _p50_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def child(kind: str, where: str, docs: int, timed: int) -> dict[str, float]:
    """One version of the code on one backend (run in a child process)."""
    ledger = _open(kind, where)
    batches = [ledger.create_batch(f"station-{b}", "bench", "bench") for b in range(10)]

    def add(i: int, prefix: str) -> str:
        return ledger.add_document(
            batches[i % len(batches)],
            actor="bench",
            source_name=f"{prefix}{i}.pdf",
            source_path=f"/in/{prefix}{i}.pdf",
            sha256=f"{prefix}{i:063d}"[:64],
            size=1000 + i,
            station=f"station-{i % 10}",
            folder_name=None,
            dossier_hint=None,
        ).id

    # The ledger to search: ``docs`` documents spread over states, as in a working office.
    for i in range(docs):
        doc_id = add(i, "a")
        for state in STATES[: i % 5]:
            ledger.transition(doc_id, state, actor="bench", stage="bench")
    out: dict[str, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    ids = [add(i, "b") for i in range(timed)]
    out["add_document /s"] = timed / (time.perf_counter() - t0)
    out["add_document client CPU ms"] = (time.process_time() - c0) / timed * 1000
    t0, c0 = time.perf_counter(), time.process_time()
    for doc_id in ids:
        for state in STATES:
            ledger.transition(doc_id, state, actor="bench", stage="bench", reason="bench")
    out["transition /s"] = timed * len(STATES) / (time.perf_counter() - t0)
    out["transition client CPU ms"] = (time.process_time() - c0) / (timed * len(STATES)) * 1000
    t0, c0 = time.perf_counter(), time.process_time()
    for doc_id in ids:
        ledger.update_fields(doc_id, lease_until="2030-01-01T00:00:00+00:00")
    out["update_fields /s"] = timed / (time.perf_counter() - t0)
    out["update_fields client CPU ms"] = (time.process_time() - c0) / timed * 1000
    sha = f"a{docs // 2:063d}"[:64]
    out["find_documents(batch) ms"] = _p50_ms(
        lambda: ledger.find_documents(batch_id=batches[3]), 20
    )
    out["find_documents(state) ms"] = _p50_ms(
        lambda: ledger.find_documents(states=["processing"]), 20
    )
    out["find_documents(sha256) ms"] = _p50_ms(lambda: ledger.find_documents(sha256=sha), 200)
    out["find_documents() ms"] = _p50_ms(lambda: ledger.find_documents(), 5)
    out["get_document ms"] = _p50_ms(lambda: ledger.get_document(ids[len(ids) // 2]), 500)
    ledger.close()
    return out


def _run(tree: Path, kind: str, where: str, docs: int, timed: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(REPO)])}
    code = (
        "import json, sys; from bench.ledger import child;"
        f" print(json.dumps(child({kind!r}, {where!r}, {docs}, {timed})))"
    )
    # The bench module comes from this checkout; `pipeline` from ``tree`` (first on the path).
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=str(tree), capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(f"{tree} on {kind} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--baseline", type=Path, required=True, help="a tree holding the older pipeline/"
    )
    ap.add_argument(
        "--after", type=Path, default=REPO, help="the newer tree (default: this checkout)"
    )
    ap.add_argument("--docs", type=int, default=3000, help="documents in the ledger searched")
    ap.add_argument("--timed", type=int, default=300, help="documents written while timed")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs; the best is kept")
    args = ap.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    server = None
    if "postgres" in backends:
        from tests.support.postgres import new_server

        server = new_server()
        server.start()
    trees = {"before": args.baseline.resolve(), "after": args.after.resolve()}
    results: dict[tuple[str, str], dict[str, float]] = {}
    started = time.monotonic()
    try:
        for _ in range(args.rounds):
            for kind in backends:
                for label, tree in trees.items():  # alternate, so load drifts hit both alike
                    with tempfile.TemporaryDirectory() as tmp:
                        where = (
                            str(Path(tmp) / "ledger.sqlite3")
                            if kind == "sqlite"
                            else server.new_database("bench")
                        )
                        got = _run(tree, kind, where, args.docs, args.timed)
                    best = results.setdefault((kind, label), got)
                    for metric, value in got.items():
                        keep = max if metric.endswith("/s") else min
                        best[metric] = keep(best[metric], value)
                    print(f"done: {label} on {kind}", file=sys.stderr)
    finally:
        if server is not None:
            server.remove()
    print(f"machine: {machine()}")
    print(
        f"ledger of {args.docs:,} documents, {args.timed} timed; best of {args.rounds} alternating"
        f" runs; run took {time.monotonic() - started:.0f} s\n"
    )
    for kind in backends:
        before, after = results[(kind, "before")], results[(kind, "after")]
        rows = []
        for metric in before:
            ratio = after[metric] / before[metric]
            better = ratio if metric.endswith("/s") else 1 / ratio
            rows.append(
                [metric, f"{before[metric]:,.2f}", f"{after[metric]:,.2f}", f"{better:.2f}×"]
            )
        print(kind)
        print(table(["", "before", "after", "after vs before (>1 faster)"], rows))
        print()


if __name__ == "__main__":
    main()
