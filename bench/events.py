"""How fast events reach a one-stop system: delivery rate, and delay while pages are processed.

Two measurements, on SQLite and on PostgreSQL, against the reference receiver of the tests
(tests/support/onestop.py: a real HTTP server on loopback that checks every signature):

1. **Rate**: ``--events`` events already in the outbox (over ``--dossiers`` dossiers, and
   then all in one dossier, where each event waits for the one before it), delivered by
   one dispatcher (``Dispatcher.pass_once`` until done): events per second, with the
   dispatcher's CPU seconds per event.
2. **Delay while processing**: ``--docs`` small real pages processed by ``sohoa process``
   (Tesseract, MinIO, PDF/A, index) while ``sohoa events deliver`` runs beside it. A thread
   polls the ledger every 20 ms for when each document became ``archived`` and ``indexed``;
   the receiver notes when its ``document.archived`` arrived. The event is written with
   the ``archived`` state (the copy is in the archive; indexing follows), so the delay
   from ``indexed`` can be below zero. An idle dispatcher looks for new events every
   ``webhooks.poll_seconds``: the delay is measured at the default (2 s) and at 0.2 s.

Usage: ``python -m bench.events [--events 2000] [--dossiers 200] [--docs 12]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, table
from pipeline.config import load_config
from pipeline.events.dispatch import Dispatcher
from pipeline.storage.ledger import open_ledger
from pipeline.storage.ledger import states as st
from tests.support.onestop import Receiver

SECRET = "bench-webhook-secret-0123456789"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _fill(ledger, events: int, dossiers: int) -> None:
    """``events`` events: archived documents (signed: two events each) over ``dossiers``."""
    batch = ledger.create_batch("bench", "bench", "bench")
    for i in range(events // 2):
        code = f"000.00.13.H38-261127-{i % dossiers + 1:04d}"
        doc = ledger.add_document(
            batch,
            actor="bench",
            source_name=f"{i}.pdf",
            source_path=None,
            sha256=f"{i:064x}",
            size=1,
            station="bench",
            folder_name=None,
            dossier_hint=None,
        )
        for state in (st.STORED_RAW, st.PROCESSING):
            ledger.transition(doc.id, state, actor="bench", stage="bench")
        n = ledger.allocate_ordinal(doc.id, code)
        ledger.transition(
            doc.id,
            st.ARCHIVED,
            actor="bench",
            stage="archive",
            dossier_code=code,
            pdf_key=f"{code}/{code}.{n}.pdf",
            signature="PAdES-B-LT",
            pdf_sha256="e" * 64,
        )


def rate(env: dict[str, str], events: int, dossiers: int) -> dict[str, str]:
    receiver = Receiver(SECRET).up()
    env = {**env, "SOHOA_WEBHOOK_URL": receiver.url, "SOHOA_WEBHOOK_SECRET": SECRET}
    cfg = load_config(env=env)
    ledger = open_ledger(cfg)
    try:
        _fill(ledger, events, dossiers)
        dispatcher = Dispatcher(cfg, ledger)
        cpu0, t0 = time.process_time(), time.perf_counter()
        while len(receiver.accepted) < events:
            if dispatcher.pass_once().attempted == 0 and len(receiver.accepted) < events:
                time.sleep(0.01)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        ledger.close()
        receiver.down()
    assert receiver.verdicts() == {"accepted": events}, receiver.verdicts()
    return {
        "events/s": f"{events / seconds:,.0f}",
        "ms/event": f"{seconds / events * 1000:.2f}",
        "dispatcher CPU ms/event (receiver in-process too)": f"{cpu / events * 1000:.2f}",
    }


def _pages(folder: Path, count: int) -> list[Path]:
    from tests.support.files import small_page

    return [small_page(500 + i, folder / f"page-{i}.png") for i in range(count)]


def delay(env: dict[str, str], docs: int, poll: float, folder: Path) -> dict[str, str]:
    """Documents processed with a dispatcher running beside: delivery delay per document."""
    receiver = Receiver(SECRET).up()
    conf = folder / "bench-events.yaml"
    conf.write_text(f"webhooks:\n  poll_seconds: {poll}\nocr:\n  workers: 1\n", encoding="utf-8")
    env = {
        **env,
        "SOHOA_WEBHOOK_URL": receiver.url,
        "SOHOA_WEBHOOK_SECRET": SECRET,
        "SOHOA_CONFIG": str(conf),
    }
    cfg = load_config(env=env)
    seen: dict[str, dict[str, float]] = {}
    stop = threading.Event()

    def watch() -> None:
        ledger = open_ledger(cfg)
        try:
            while not stop.is_set():
                now = time.time()
                for doc in ledger.find_documents(states=[st.ARCHIVED, st.INDEXED]):
                    marks = seen.setdefault(doc.id, {})
                    marks.setdefault(st.ARCHIVED, now)
                    if doc.state == st.INDEXED:
                        marks.setdefault(st.INDEXED, now)
                stop.wait(0.02)
        finally:
            ledger.close()

    full_env = {**os.environ, **env}
    open_ledger(cfg).close()  # the schema, before two processes race to make it
    dispatcher = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "events", "deliver"],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        pages = _pages(folder / "in", docs)
        t0 = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "workers.cli", "--json", "process", "--dossier",
             "000.00.13.H38-261127-0777", *map(str, pages)],
            env=full_env, capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        busy = time.perf_counter() - t0
        assert run.returncode == 0, run.stderr[-2000:]
        deadline = time.monotonic() + 60
        while len(receiver.accepted) < 2 * docs and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        watcher.join()
        dispatcher.terminate()
        dispatcher.wait(timeout=60)
        receiver.down()
    arrived = {
        r.event_id: r.at for r in receiver.requests if r.verdict == "accepted"
    }  # first arrival of each event
    from_archived, from_indexed = [], []
    for event in receiver.accepted:
        if event["type"] != "document.archived":
            continue
        marks = seen.get(event["document_id"], {})
        at = arrived[event["id"]]
        if st.ARCHIVED in marks:
            from_archived.append(at - marks[st.ARCHIVED])
        if st.INDEXED in marks:
            from_indexed.append(at - marks[st.INDEXED])

    def p(values: list[float]) -> str:
        if not values:
            return "-"
        return f"{_percentile(values, 0.5):.2f} / {_percentile(values, 0.95):.2f} s"

    return {
        "documents": str(docs),
        "delay from archived, p50 / p95": p(from_archived),
        "delay from indexed, p50 / p95": p(from_indexed),
        "pages processed per minute (while delivering)": f"{docs / busy * 60:.1f}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--dossiers", type=int, default=200)
    ap.add_argument("--docs", type=int, default=12)
    ap.add_argument("--backends", default="sqlite,postgres")
    args = ap.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    from tests.support.minio import new_server as new_minio
    from tests.support.postgres import new_server as new_postgres

    started = time.monotonic()
    pg = None
    rates: dict[str, dict[str, str]] = {}
    delays: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="sohoa-bench-events-") as tmp:
        work = Path(tmp)
        minio = new_minio(work / "minio")
        minio.start()
        if "postgres" in backends:
            pg = new_postgres()
            pg.start()
        try:
            for n, kind in enumerate(backends):

                def env(tag: str, kind: str = kind, n: int = n) -> dict[str, str]:
                    out = {"SOHOA_HOME": str(work / f"{kind}-{tag}"), **minio.env()}
                    out.update(
                        SOHOA_BUCKET_RAW=f"raw-{n}-{tag}",
                        SOHOA_BUCKET_ARCHIVE=f"archive-{n}-{tag}",
                        SOHOA_BUCKET_WORK=f"work-{n}-{tag}",
                    )
                    if kind == "postgres":
                        out["SOHOA_DATABASE_URL"] = pg.new_database("bench")
                    return out

                rates[f"{kind}, {args.dossiers} dossiers"] = rate(
                    env("rate"), args.events, args.dossiers
                )
                rates[f"{kind}, 1 dossier"] = rate(env("one"), args.events // 4, 1)
                for poll in (2.0, 0.2):
                    folder = work / f"{kind}-delay-{poll}"
                    folder.mkdir()
                    delays[f"{kind}, poll {poll:g} s"] = delay(
                        env(f"delay{poll}".replace(".", "")), args.docs, poll, folder
                    )
                print(f"done: {kind}", file=sys.stderr)
        finally:
            minio.stop()
            if pg is not None:
                pg.remove()
    print(f"machine: {machine()}")
    print(f"run took {time.monotonic() - started:.0f} s\n")
    print(
        f"1. delivery rate: one dispatcher, {args.events} events ({args.events // 4} in one"
        " dossier), the reference receiver on loopback checking every signature"
    )
    names = list(rates)
    metrics = list(rates[names[0]])
    print(table(["", *names], [[m, *(rates[c][m] for c in names)] for m in metrics]))
    print(
        f"\n2. delay to delivery while `sohoa process` reads {args.docs} pages (one page"
        " worker), `sohoa events deliver` beside it"
    )
    names = list(delays)
    metrics = list(delays[names[0]])
    print(table(["", *names], [[m, *(delays[c][m] for c in names)] for m in metrics]))


if __name__ == "__main__":
    main()
