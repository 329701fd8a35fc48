"""`sohoa process` and `sohoa watch`: documents in, one line per document out."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pipeline import dossier, names
from pipeline.config import Config, storage_role, watch_processes
from pipeline.errors import ExitCode, NotAllowed, UsageError
from pipeline.flow import custody
from pipeline.flow.context import Services
from pipeline.storage.ledger import Document, cli_actor
from pipeline.storage.ledger.states import FAILED, REJECTED
from workers.cli.columns import DOC_TABLE
from workers.cli.output import Output
from workers.cli.progress import progress_for
from workers.runner import DocumentRunner
from workers.services import ledger_lost_warning, services

DOC_COLUMNS = tuple(c.key for c in DOC_TABLE)  # the machine columns (README: CLI)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "process",
        parents=[common],
        help="digitize files now",
        description=(
            "Digitize files (or every file under a folder) now, with the worker key: one row"
            " per document, in the order given."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    p.add_argument("--dossier", metavar="CODE", help="dossier code for all files")
    p.add_argument("--station", metavar="NAME", help="scanner station to record")
    p.set_defaults(handler=cmd_process)

    p = sub.add_parser(
        "watch",
        parents=[common],
        help="watch the inbox",
        description="Take in every stable file that arrives in the inbox, until stopped.",
    )
    p.add_argument("--once", action="store_true", help="take what is there, finish it, exit")
    p.set_defaults(handler=cmd_watch)


def doc_row(doc: Document, source: str | None = None) -> dict[str, object]:
    return {"source": source if source is not None else doc.source_path, **doc.summary()}


def require_worker_key(cfg: Config, command: str) -> None:
    """Commands that run documents read raw and write the archive: the worker's key (§8)."""
    role = storage_role(cfg)
    if role not in (None, "worker"):
        raise NotAllowed(
            f"sohoa {command} runs documents, which needs the worker key; this process has the"
            f" {role} key (SOHOA_MINIO_ROLE={role})"
            + (": a station takes files in with `sohoa watch`" if role == "station" else "")
        )


def exit_code_for(docs: Sequence[Document]) -> int:
    states = {d.state for d in docs}
    if FAILED in states:
        return int(ExitCode.FAILED)
    if REJECTED in states:
        return int(ExitCode.REJECTED)
    return int(ExitCode.OK)


def valid_code(raw: str | None) -> str | None:
    if raw is None:
        return None
    code = dossier.normalize_code(raw)
    if code is None:
        raise UsageError(
            f"not a valid dossier code: {raw!r} (expected e.g. 000.00.13.H38-261127-0001)"
        )
    return code


def _files_of(paths: Sequence[str]) -> list[tuple[str, Path]]:
    """(as the user named it, file) for every file given or found under a folder given."""
    files: list[tuple[str, Path]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            files.extend((names.display(p), p) for p in found)
        elif path.is_file():
            files.append((names.display(raw), path))
        else:
            raise UsageError(f"no such file or directory: {raw}")
    if not files:
        raise UsageError("no files to process")
    return files


def stack_of(svc: Services, doc: Document) -> list[Document]:
    """The document, and when it is a stack that split, its further documents after it."""
    if doc.parent_id is None and doc.segment is not None:
        return svc.ledger.family(doc.id)
    return [doc]


class OrderedRows:
    """Print one row per document in input order, each as soon as it and those before it settle.

    A file that split into several documents prints one row for each, in stack order.
    """

    def __init__(
        self, out: Output, ids: Sequence[str], sources: Sequence[str], svc: Services
    ) -> None:
        self.out, self.ids, self.sources, self.svc = out, list(ids), list(sources), svc
        self.done: dict[str, Document] = {}
        self.next = 0
        self.lock = threading.Lock()

    def __call__(self, doc: Document) -> None:
        with self.lock:
            self.done[doc.id] = doc
            while self.next < len(self.ids) and self.ids[self.next] in self.done:
                i = self.next
                for member in stack_of(self.svc, self.done[self.ids[i]]):
                    self.out.row(doc_row(member, self.sources[i]), DOC_TABLE)
                self.next += 1


def run_and_print(
    svc: Services,
    ids: Sequence[str],
    sources: Sequence[str],
    out: Output,
    actor: str,
    explicit_code: str | None = None,
) -> int:
    """Run documents, printing their rows in input order; raises an outage after they settle."""
    out.header(DOC_TABLE, stream=True)
    printer = OrderedRows(out, ids, sources, svc)
    with _progress(out, "documents", len(ids)) as progress:
        done = [0]

        def on_done(doc: Document) -> None:
            printer(doc)
            done[0] += 1
            progress(done[0], len(ids))

        runner = DocumentRunner(svc, actor=actor, on_done=on_done)
        try:
            docs = runner.run_all(ids, explicit_code)
        finally:
            runner.close()
    if runner.outage is not None:
        raise runner.outage
    return exit_code_for(docs)


BACKLOG_FILES = 20  # from this many files on, `process` shows its progress


@contextmanager
def _progress(out: Output, label: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A progress bar for a backlog import; nothing for a handful of files."""
    if total < BACKLOG_FILES:
        yield lambda done, total: None
        return
    with progress_for(out, label) as progress:
        progress(0, total)
        yield progress


def cmd_process(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    require_worker_key(cfg, "process")
    code = valid_code(args.dossier)
    files = _files_of(args.paths)
    actor = cli_actor()
    with services(cfg) as svc:
        svc.objects.ensure_buckets()
        if warning := ledger_lost_warning(svc):
            out.info(warning)
        # Paths (and a station typed in) may be any bytes: the ledger gets their display form.
        origin = names.display("cli: " + " ".join(args.paths))[:500]
        station = names.display(args.station) if args.station else None
        batch_id = svc.ledger.create_batch(station, origin, actor)
        ids = []
        with _progress(out, "custody", len(files)) as progress:
            for n, (_, path) in enumerate(files, start=1):
                ids.append(_take(svc, cfg, path, batch_id, station, code, actor).id)
                progress(n, len(files))
        return run_and_print(svc, ids, [shown for shown, _ in files], out, actor)


def _take(
    svc: Services,
    cfg: Config,
    path: Path,
    batch_id: str,
    station: str | None,
    code: str | None,
    actor: str,
) -> Document:
    """One file into custody (kept where it is: these are the user's own files)."""
    resolved = path.resolve()
    return custody.accept_file(
        svc.ledger,
        svc.objects,
        cfg,
        resolved,
        batch_id=batch_id,
        station=station,
        folder_name=resolved.parent.name,
        dossier_hint=code,
        actor=actor,
        keep_source=True,
    )


def cmd_watch(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    from workers.watcher import Watcher, station_services

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    processing = watch_processes(cfg)
    if not processing:
        # Custody only (a station): no page workers to start.
        cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, executor="inline"))
        out.info(
            "custody only: originals and custody records go into raw; a worker's intake"
            " records and runs them"
        )
    elif storage_role(cfg) not in (None, "worker"):
        require_worker_key(cfg, "watch")
    out.info(f"watching {cfg.inbox} (stable after {cfg.watch.stable_seconds:g} s)")
    out.header(DOC_TABLE, stream=True)
    opened = services(cfg, cancel_on_exit=True) if processing else station_services(cfg)
    with opened as svc:

        def report(doc: Document) -> None:
            for member in stack_of(svc, doc):
                out.row(doc_row(member), DOC_TABLE)

        if cfg.run.executor == "celery":  # custody here, the documents on the workers
            from workers.executors.celery import EnqueueRunner

            runner = EnqueueRunner(svc, actor="watcher", on_done=report)
        else:
            runner = DocumentRunner(svc, actor="worker", on_done=report)
        watcher = Watcher(svc, runner, report=report, log=out.info)
        try:
            watcher.run(once=args.once, stop=stop)
        finally:
            runner.close()
    if stop.is_set():
        out.info(f"stopped (pid {os.getpid()}); unfinished documents resume at the next start")
    return exit_code_for(watcher.settled) if args.once else int(ExitCode.OK)
