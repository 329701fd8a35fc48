"""The ``sohoa`` command line (DESIGN §3).

Exit codes: 0 success; 2 bad arguments or configuration; 3 input rejected;
4 storage unreachable; 1 any other failure. Every listing takes ``--json``
(one object per line on stdout); progress and explanations go to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pipeline import __version__, names
from pipeline.config import Config, ConfigError, load_config
from pipeline.dossier import codes as dossier
from pipeline.flow import custody as ingest
from pipeline.storage import ledger
from pipeline.storage import objects as store
from workers.cli.output import Output
from workers.executors.local import (
    LocalExecutor,
    index_hook_for,
    pool_size,
    run_documents,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED, EXIT_STORAGE = 0, 1, 2, 3, 4
DOC_COLUMNS = (
    "document_id",
    "batch_id",
    "dossier_code",
    "status",
    "pages",
    "pdf_key",
    "metadata_key",
    "text_key",
    "error",
)


class UsageError(ValueError):
    """Bad arguments: exit code 2 with the message."""


def exit_code_for(docs: Sequence[ledger.Document]) -> int:
    states = {d.state for d in docs}
    if ledger.FAILED in states:
        return EXIT_FAILED
    if ledger.REJECTED in states:
        return EXIT_REJECTED
    return EXIT_OK


def _files_of(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            )
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"no such file or directory: {raw}")
    if not files:
        raise UsageError("no files to process")
    return files


def _valid_code(raw: str | None) -> str | None:
    if raw is None:
        return None
    code = dossier.normalize_code(raw)
    if code is None:
        raise UsageError(
            f"not a valid dossier code: {raw!r} (expected e.g. 000.00.13.H38-261127-0001)"
        )
    return code


def cmd_process(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    code = _valid_code(args.dossier)
    files = _files_of(args.paths)
    st = store.connect(cfg)
    store.ensure_buckets(st)
    conn = ledger.connect(cfg.ledger_path)
    actor = ledger.cli_actor()
    # Paths (and a station typed in) may be any bytes: the ledger gets their display form.
    origin = names.display("cli: " + " ".join(args.paths))[:500]
    station = names.display(args.station) if args.station else None
    batch_id = ledger.create_batch(conn, station, origin, actor)
    ids = []
    for path in files:
        doc = ingest.accept_file(
            conn,
            st,
            cfg,
            path.resolve(),
            batch_id=batch_id,
            station=station,
            folder_name=path.resolve().parent.name,
            dossier_hint=code,
            actor=actor,
            keep_source=True,
        )
        ids.append(doc.id)
    return _run_and_print(cfg, st, ids, out, actor)


def cmd_watch(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    from workers.watcher import Watcher

    st = store.connect(cfg)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    out.info(f"watching {cfg.inbox} (stable after {cfg.watch.stable_seconds:g} s)")
    out.header(DOC_COLUMNS)
    with LocalExecutor(pool_size(cfg)) as executor:
        watcher = Watcher(
            cfg,
            st,
            executor,
            index_hook_for(cfg),
            report=lambda d: out.row(d.summary(), DOC_COLUMNS),
            log=out.info,
        )
        watcher.run(once=args.once, stop=stop)
    return exit_code_for(watcher.settled) if args.once else EXIT_OK


def cmd_batches(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    if args.status and args.status not in (*ledger.STATES, "in_progress", "done"):
        raise UsageError(f"unknown status {args.status!r}; one of {', '.join(ledger.STATES)}")
    conn = ledger.connect(cfg.ledger_path)
    cols = (
        "batch_id",
        "station",
        "created_at",
        "documents",
        "status",
        "states",
        "reasons",
        "review",
    )
    out.header(cols)
    for row in ledger.batch_rows(conn):
        if args.status and args.status != row["status"] and args.status not in row["states"]:
            continue
        if not out.json_mode:
            row = {
                **row,
                "states": ",".join(f"{k}={v}" for k, v in sorted(row["states"].items())),
                "reasons": "; ".join(row["reasons"]) or None,
                "review": "; ".join(row["review"]) or None,
            }
        out.row(row, cols)
    return EXIT_OK


def cmd_show(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    conn = ledger.connect(cfg.ledger_path)
    kind, ident = ledger.resolve_id(conn, args.id)
    if kind == "document":
        doc = ledger.get_document(conn, ident)
        history = ledger.events(conn, document_id=ident)
        if out.json_mode:
            out.row({"kind": "document", **doc.__dict__, "events": history})
            return EXIT_OK
        for key, value in doc.__dict__.items():
            out.stream.write(f"{key:16} {'-' if value is None else value}\n")
        out.stream.write("history:\n")
        for ev in history:
            out.stream.write(
                f"  {ev['at']}  {ev['actor']:14} {ev['from_state'] or '-':>13} → "
                f"{ev['to_state'] or '-':13} [{ev['stage'] or '-'}] {ev['reason'] or ''}\n"
            )
        return EXIT_OK
    batch = ledger.get_batch(conn, ident)
    docs = ledger.find_documents(conn, batch_id=ident)
    if out.json_mode:
        out.row(
            {
                "kind": "batch",
                **batch,
                "documents": [d.summary() | {"source_name": d.source_name} for d in docs],
                "events": ledger.events(conn, batch_id=ident),
            }
        )
        return EXIT_OK
    for key, value in batch.items():
        out.stream.write(f"{key:16} {value}\n")
    out.stream.write("documents:\n")
    for d in docs:
        out.stream.write(
            f"  {d.seq:3} {d.id} {d.state:13} {d.dossier_code or '-':28} {d.source_name}"
            f"{'  — ' + d.reason if d.reason and d.state != ledger.INDEXED else ''}"
            f"{'  [review: ' + d.review + ']' if d.review else ''}\n"
        )
    return EXIT_OK


def _run_and_print(
    cfg: Config,
    st: store.Store,
    ids: list[str],
    out: Output,
    actor: str,
    explicit_code: str | None = None,
) -> int:
    """Process documents in the local pool, printing one line per document as it settles."""
    out.header(DOC_COLUMNS)
    with LocalExecutor(pool_size(cfg)) as executor:
        docs = run_documents(
            cfg,
            st,
            ids,
            executor,
            index_hook=index_hook_for(cfg),
            actor=actor,
            explicit_code=explicit_code,
            on_done=lambda d: out.row(d.summary(), DOC_COLUMNS),
        )
    return exit_code_for(docs)


def _rerun(cfg: Config, ids: list[str], out: Output, explicit_code: str | None = None) -> int:
    if not ids:
        out.header(DOC_COLUMNS)
        out.info("nothing to do")
        return EXIT_OK
    st = store.connect(cfg)
    store.ensure_buckets(st)
    return _run_and_print(cfg, st, ids, out, ledger.cli_actor(), explicit_code)


RETRYABLE = (ledger.FAILED, ledger.REJECTED, ledger.NEEDS_DOSSIER, ledger.STORED_RAW)


def cmd_retry(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    conn = ledger.connect(cfg.ledger_path)
    if args.failed == bool(args.batch_ids):
        raise UsageError("give BATCH_ID... or --failed (not both)")
    if not args.failed and (args.since or args.station):
        raise UsageError("--since and --station go with --failed")
    if args.since:
        try:
            args.since = datetime.fromisoformat(args.since).isoformat()
        except ValueError:
            raise UsageError(f"--since takes a date like 2026-11-27, not {args.since!r}") from None
    if args.failed:
        docs = ledger.find_documents(
            conn, states=[ledger.FAILED], station=args.station, since=args.since
        )
    else:
        docs = []
        for ident in args.batch_ids:
            kind, bid = ledger.resolve_id(conn, ident)
            if kind != "batch":
                raise UsageError(f"{ident} is a document, not a batch")
            docs.extend(
                d for d in ledger.find_documents(conn, batch_id=bid) if d.state in RETRYABLE
            )
    for d in docs:
        out.info(f"retrying {d.id} ({d.source_name}, was {d.state}: {d.reason or '-'})")
    return _rerun(cfg, [d.id for d in docs], out)


def cmd_assign(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    code = _valid_code(args.dossier)
    conn = ledger.connect(cfg.ledger_path)
    kind, doc_id = ledger.resolve_id(conn, args.document_id)
    if kind != "document":
        raise UsageError(f"{args.document_id} is a batch, not a document")
    doc = ledger.get_document(conn, doc_id)
    if doc.state not in (ledger.NEEDS_DOSSIER, ledger.FAILED, ledger.REJECTED):
        raise UsageError(
            f"document {doc_id} is {doc.state}; only documents that need a dossier code"
            " (or failed) can be assigned one"
        )
    return _rerun(cfg, [doc_id], out, explicit_code=code)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sohoa", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", help="YAML file overriding configs/default.yaml (or SOHOA_CONFIG)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--version", action="version", version=f"sohoa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("process", help="digitize files now")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--dossier", metavar="CODE", help="dossier code for all files")
    p.add_argument("--station", metavar="NAME", help="scanner station to record")
    p.set_defaults(handler=cmd_process)

    p = sub.add_parser("watch", help="watch the inbox")
    p.add_argument("--once", action="store_true", help="take what is there, finish it, exit")
    p.set_defaults(handler=cmd_watch)

    p = sub.add_parser("batches", help="list batches with their states and reasons")
    p.add_argument("--status", metavar="S")
    p.set_defaults(handler=cmd_batches)

    p = sub.add_parser("show", help="a batch or document with its history")
    p.add_argument("id", metavar="ID")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("retry", help="re-run batches from their raw copies in MinIO")
    p.add_argument("batch_ids", nargs="*", metavar="BATCH_ID")
    p.add_argument("--failed", action="store_true", help="every failed document")
    p.add_argument("--since", metavar="DATE", help="with --failed: received on or after DATE")
    p.add_argument("--station", metavar="S", help="with --failed: only this station")
    p.set_defaults(handler=cmd_retry)

    p = sub.add_parser("assign", help="give a document its dossier code and archive it")
    p.add_argument("document_id", metavar="DOCUMENT_ID")
    p.add_argument("--dossier", metavar="CODE", required=True)
    p.set_defaults(handler=cmd_assign)

    try:
        from workers.cli import search as search_cmds
    except ImportError:
        search_cmds = None  # type: ignore[assignment]
    if search_cmds is not None:
        search_cmds.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Output(json_mode=args.json)
    try:
        cfg = load_config(args.config)
        return int(args.handler(args, cfg, out))
    except (ConfigError, UsageError, ledger.NotFound) as exc:
        out.error(str(exc))
        return EXIT_USAGE
    except store.StorageUnavailable as exc:
        out.error(f"{exc}. Nothing was lost: files stay in the inbox or spool until MinIO is back.")
        return EXIT_STORAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
