"""The operator's commands: batches, show, retry, assign, ledger rebuild, config.

``retry``, ``assign`` and ``review --rerun`` run documents with the worker key. On an
operator's PC (the operator key, which reads originals but writes nothing) they record
the decision instead, as the web does (:mod:`pipeline.flow.requeue`): each document goes
back to ``stored_raw`` without an owner, with the operator as the actor, and a worker
takes it up.
"""

from __future__ import annotations

import argparse
from datetime import datetime

import yaml

from pipeline.archive.rebuild import rebuild_ledger
from pipeline.config import Config, public_dict, storage_role
from pipeline.display import actor_vi, local_time, reason_vi, stage_vi, state_vi
from pipeline.dossier.place import KINDS, Place, amended
from pipeline.errors import ExitCode, NotAllowed, UsageError
from pipeline.flow import requeue
from pipeline.flow.intake import take_in_records
from pipeline.flow.placing import place_archived
from pipeline.flow.recover import stuck
from pipeline.names import display
from pipeline.storage.heartbeats import live_workers
from pipeline.storage.ledger import (
    Document,
    Ledger,
    batch_rows,
    cli_actor,
    open_ledger,
    owner_gone,
)
from pipeline.storage.ledger.records import stalled
from pipeline.storage.ledger.states import (
    ARCHIVED,
    ATTENTION_STATES,
    FAILED,
    INDEXED,
    NEEDS_DOSSIER,
    PROCESSING,
    REJECTED,
    RETRYABLE_STATES,
    STATES,
    STORED_RAW,
)
from workers.cli.access import cli_audit
from workers.cli.columns import BATCH_TABLE, DOC_TABLE, REVIEW_TABLE
from workers.cli.output import Column, Output
from workers.cli.process import (
    doc_row,
    require_worker_key,
    run_and_print,
    valid_code,
)
from workers.cli.progress import progress_for
from workers.services import services

BATCH_COLUMNS = tuple(c.key for c in BATCH_TABLE)  # the machine columns (README: CLI)


BATCH_STATUSES = (*STATES, "in_progress", "done", "stalled")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "batches",
        parents=[common],
        help="batches with their states and reasons",
        description="Every batch with its documents' states, the reasons of those that need"
        " attention, and the machines that ran them.",
    )
    p.add_argument(
        "--status",
        choices=BATCH_STATUSES,
        metavar="S",
        help="only batches with this status, or with a document in this state: %(choices)s",
    )
    p.set_defaults(handler=cmd_batches)

    p = sub.add_parser(
        "show",
        parents=[common],
        help="a batch or document with its history",
        description="A batch (its documents) or a document (its fields and history), by id or"
        " a unique prefix of one.",
    )
    p.add_argument("id", metavar="ID", help="a batch or document id, or a unique prefix")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser(
        "retry",
        parents=[common],
        help="re-run from the raw copies in MinIO",
        description="Run failed, rejected or interrupted documents again from their raw copies"
        " (with the operator key: queued for a worker).",
    )
    p.add_argument("batch_ids", nargs="*", metavar="BATCH_ID", help="batches to retry")
    p.add_argument("--failed", action="store_true", help="every failed or interrupted document")
    p.add_argument("--since", metavar="DATE", help="with --failed: received on or after DATE")
    p.add_argument("--station", metavar="S", help="with --failed: only this station")
    p.set_defaults(handler=cmd_retry)

    p = sub.add_parser(
        "assign",
        parents=[common],
        help="give a document its dossier code and its place in the dossier",
        description=(
            "A document waiting for its dossier code (or failed) gets --dossier CODE and is"
            " archived under it. --component, --kind and --procedure give its place in the"
            " dossier (MaThanhPhanHoSo, a submitted paper or a result, MaTTHC): with the"
            " code, or alone for a document already archived, whose metadata, index entry"
            " and ledger row then change (with the worker's key) and whose one-stop system"
            " is told again (document.archived)."
        ),
    )
    p.add_argument("document_id", metavar="DOCUMENT_ID", help="the document (id or prefix)")
    p.add_argument("--dossier", metavar="CODE", help="its dossier code")
    p.add_argument("--component", metavar="C", help="the component code (MaThanhPhanHoSo)")
    p.add_argument("--kind", choices=KINDS, help="a submitted paper or a result")
    p.add_argument("--procedure", metavar="P", help="the procedure code (MaTTHC)")
    p.set_defaults(handler=cmd_assign)

    p = sub.add_parser(
        "review",
        parents=[common],
        help="documents with pages flagged for an operator",
        description="List the documents with pages flagged for an operator, accept one as"
        " read, or run it again now.",
    )
    p.add_argument("document_id", nargs="?", metavar="DOCUMENT_ID", help="the document to act on")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--accept", action="store_true", help="the pages stand as read")
    act.add_argument("--rerun", action="store_true", help="run the document again now")
    p.set_defaults(handler=cmd_review)

    p = sub.add_parser(
        "ledger",
        parents=[common],
        help="ledger maintenance",
        description="Maintenance of the ledger of batches and documents.",
    )
    lsub = p.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    r = lsub.add_parser(
        "rebuild",
        parents=[common],
        help="restore the ledger from raw + archive",
        description="Restore batches, documents, states and numbering from the raw and archive"
        " buckets (after a lost ledger; safe to run twice).",
    )
    r.set_defaults(handler=cmd_ledger_rebuild)

    p = sub.add_parser(
        "config",
        parents=[common],
        help="print the effective configuration",
        description="The effective configuration (defaults < file < environment), secrets hidden.",
    )
    p.set_defaults(handler=cmd_config)


def cmd_batches(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    ledger = open_ledger(cfg)
    try:
        out.header(BATCH_TABLE)
        rows = batch_rows(ledger, args.status)
        for row in rows:
            if not out.json_mode and not out.terminal:
                row = {
                    **row,
                    "states": ",".join(f"{k}={v}" for k, v in sorted(row["states"].items())),
                    "reasons": "; ".join(row["reasons"]) or None,
                    "review": "; ".join(row["review"]) or None,
                    "signatures": ",".join(f"{k}={v}" for k, v in sorted(row["signatures"].items()))
                    or None,
                    "workers": ", ".join(row["workers"]) or None,
                }
            out.row(row, BATCH_TABLE)
        if ledger.is_empty():
            out.info(
                "the ledger is empty; if it was lost, `sohoa ledger rebuild` restores its"
                " batches and documents from MinIO"
            )
    finally:
        ledger.close()
    return int(ExitCode.OK)


def cmd_show(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    ledger = open_ledger(cfg)
    try:
        kind, ident = ledger.resolve_id(args.id)
        if kind == "document":
            doc = ledger.get_document(ident)
            _show_document(doc, ledger.events(document_id=ident), out, _signature_check(cfg, doc))
        else:
            _show_batch(ledger, ident, out)
    finally:
        ledger.close()
    return int(ExitCode.OK)


def _signature_check(cfg: Config, doc: Document) -> dict | None:
    """An archived copy's signature as the file (held to its metadata) says, not the ledger."""
    if not doc.pdf_key or doc.state not in ("archived", "indexed"):
        return None
    from workers.cli.sign import archived_verdict

    return archived_verdict(cfg, doc.pdf_key)


# What `show` prints for a person: the fields a clerk or an operator acts on, in
# Vietnamese; internal ones (the owner's lease, the name's raw bytes, hashes) only in
# --json and --tsv.
_DOC_FIELDS = (
    ("id", "Tài liệu", None),
    ("batch_id", "Lô", None),
    ("source_name", "Tệp", None),
    ("station", "Trạm quét", None),
    ("state", "Trạng thái", state_vi),
    ("reason", "Lý do", reason_vi),
    ("dossier_code", "Mã hồ sơ", None),
    ("pages", "Số trang", None),
    ("pdf_key", "PDF", None),
    ("signature", "Chữ ký số", None),
    ("review", "Cần kiểm tra", reason_vi),
    ("duplicate_of", "Trùng với", None),
    ("processed_by", "Máy xử lý", None),
    ("created_at", "Nhận lúc", local_time),
    ("updated_at", "Cập nhật", local_time),
)
_BATCH_FIELDS = (
    ("id", "Lô", None),
    ("station", "Trạm quét", None),
    ("origin", "Nguồn", reason_vi),
    ("created_at", "Nhận lúc", local_time),
)
HISTORY_TABLE = (
    Column("at", "Lúc", local_time, width=16),
    Column("actor", "Người / tiến trình", actor_vi, width=16),
    Column("from_state", "Từ", state_vi, width=12),
    Column("to_state", "Sang", state_vi, width=12),
    Column("stage", "Bước", stage_vi, width=12),
    Column("reason", "Lý do", reason_vi, width=40),
)
MEMBER_TABLE = (
    Column("seq", "#", width=3),
    Column("id", "Tài liệu", width=18),
    Column("state", "Trạng thái", state_vi, width=12),
    Column("dossier_code", "Mã hồ sơ", width=26),
    Column("source_name", "Tệp", width=20),
    Column("reason", "Lý do", reason_vi, width=30),
)


def _fields(record: dict, chosen: tuple, out: Output) -> None:
    shown = [
        (title, show(value) if show else _line(value))
        for key, title, show in chosen
        if (value := record.get(key)) not in (None, "")
    ]
    pad = max(len(title) for title, _ in shown)
    for title, text in shown:
        out.field(title, text, pad)


def _show_document(doc: Document, history: list[dict], out: Output, check: dict | None) -> None:
    held = stalled(doc)
    if out.json_mode:
        out.row(
            {
                "kind": "document",
                **doc.__dict__,
                "stalled": held,
                "signature_check": check,
                "events": history,
            }
        )
        return
    if not out.terminal:  # every field, one "key<TAB>value" line each, then the history
        for key, value in doc.__dict__.items():
            out.text(f"{key}\t{'-' if value is None else _line(value)}")
        if held:
            out.text("stalled\tyes")
        if check is not None:
            out.text(f"signature_check\t{_line(check['verdict'])}")
        out.text("history:")  # then the events, a header line and one line each
        out.header(HISTORY_TABLE)
        for ev in history:
            out.row(ev, HISTORY_TABLE)
        return
    record = dict(doc.__dict__)
    if doc.state not in ATTENTION_STATES:
        record["reason"] = None  # "page text indexed" on a finished document says nothing
    _fields(record, _DOC_FIELDS, out)
    if held:
        out.field(
            "Đình trệ",
            f"{_line(doc.owner or '-')} không còn gia hạn quyền xử lý (hết hạn"
            f" {local_time(doc.lease_until)}); máy xử lý khác hoặc `sohoa retry --failed`"
            " sẽ tiếp nhận",
            15,
        )
    if check is not None:
        out.field("Kiểm tra chữ ký", _line(check["verdict"]), 15)
    out.text("")
    out.text("Lịch sử:")
    out.header(HISTORY_TABLE)
    for ev in history:
        out.row(ev, HISTORY_TABLE)
    out.finish()


def _show_batch(ledger: Ledger, ident: str, out: Output) -> None:
    batch = ledger.get_batch(ident)
    docs = ledger.find_documents(batch_id=ident)
    if out.json_mode:
        out.row(
            {
                "kind": "batch",
                **batch,
                "documents": [d.summary() | {"source_name": d.source_name} for d in docs],
                "events": ledger.events(batch_id=ident),
            }
        )
        return
    if not out.terminal:
        for key, value in batch.items():
            out.text(f"{key}\t{_line(value)}")
    else:
        _fields(batch, _BATCH_FIELDS, out)
        out.text("")
        out.text("Tài liệu:")
    out.header(MEMBER_TABLE)
    for d in docs:
        row = dict(d.__dict__)
        if d.state not in ATTENTION_STATES:
            row["reason"] = None
        if d.review:
            row["reason"] = "; ".join(x for x in (row["reason"], d.review) if x)
        out.row(row, MEMBER_TABLE)
    out.finish()


def _line(value: object) -> str:

    return display(str(value))


def _since(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).isoformat()
    except ValueError:
        raise UsageError(f"--since takes a date like 2026-11-27, not {raw!r}") from None


def queues_for_a_worker(cfg: Config) -> bool:
    """An operator's PC records retry, assign and re-run for a worker: its key runs nothing."""
    return storage_role(cfg) == "operator"


def _print_queued(docs: list[Document], out: Output, was: dict[str, str], cfg: Config) -> None:
    """The decisions recorded: one row per document, and a line saying who carries them out."""
    out.header(DOC_TABLE)
    for doc in docs:
        if doc.state == STORED_RAW:
            out.info(f"queued {doc.id} ({_line(doc.source_name)}, was {was[doc.id]}) for a worker")
        else:
            out.info(f"{doc.id}: {doc.state}, {_line(doc.reason or '')}")
        out.row({**doc_row(doc), "queued": doc.state == STORED_RAW}, DOC_TABLE)
    queued = sum(d.state == STORED_RAW for d in docs)
    if queued:
        out.info(
            f"{queued} document(s) queued: a worker (`sohoa worker`) runs them;"
            " `sohoa batches` shows when they are done"
        )
        live = live_workers(cfg)
        if live == []:  # said only when it is known; None: the heartbeats could not be read
            out.info(
                "no worker has been heard from in the last"
                f" {cfg.run.lease_seconds:g} s: nothing happens until one is started"
                " (`sohoa worker`, or `sohoa watch` with the worker key on one machine)"
            )


def _queue_retry(args: argparse.Namespace, cfg: Config, out: Output, since: str | None) -> int:
    ledger = open_ledger(cfg)
    try:
        if args.failed:
            found = ledger.find_documents(
                states=[FAILED, STORED_RAW, PROCESSING], station=args.station, since=since
            )
        else:
            found = []
            for ident in args.batch_ids:
                kind, bid = ledger.resolve_id(ident)
                if kind != "batch":
                    raise UsageError(f"{ident} is a document, not a batch")
                found.extend(ledger.find_documents(batch_id=bid))
        docs = [d for d in found if requeue.can_retry(d)]
        held = [d for d in found if d.state == PROCESSING and owner_gone(d.owner, d.lease_until)]
        for d in held:
            out.info(
                f"{d.id} was left in processing by a process that is gone: a worker takes it"
                " over by itself"
            )
        if not docs:
            out.header(DOC_TABLE)
            out.info("nothing to do")
            return int(ExitCode.OK)
        actor = cli_actor()
        was = {d.id: d.state for d in docs}
        queued = [requeue.queue_retry(ledger, d.id, actor) for d in docs]
        cli_audit(cfg, "retry", None, documents=[d.id for d in queued], queued=True)
        _print_queued(queued, out, was, cfg)
    finally:
        ledger.close()
    return int(ExitCode.OK)


def cmd_retry(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    if args.failed == bool(args.batch_ids):
        raise UsageError("give BATCH_ID... or --failed (not both)")
    if not args.failed and (args.since or args.station):
        raise UsageError("--since and --station go with --failed")
    since = _since(args.since)
    if queues_for_a_worker(cfg):
        return _queue_retry(args, cfg, out, since)
    require_worker_key(cfg, "retry")
    with services(cfg) as svc:
        ledger = svc.ledger
        if args.failed:
            take_in_records(svc, out.info)  # stations' custody records not recorded yet
            docs = ledger.find_documents(states=[FAILED], station=args.station, since=since)
            # Interrupted work whose process is gone is resumed too, not left stuck.
            docs += [
                d
                for d in stuck(svc)
                if (not args.station or d.station == args.station)
                and (not since or d.created_at >= since)
            ]
        else:
            docs = []
            for ident in args.batch_ids:
                kind, bid = ledger.resolve_id(ident)
                if kind != "batch":
                    raise UsageError(f"{ident} is a document, not a batch")
                docs.extend(
                    d
                    for d in ledger.find_documents(batch_id=bid)
                    if (d.state in RETRYABLE_STATES and d.state != STORED_RAW)
                    or (d.state in (STORED_RAW, PROCESSING) and owner_gone(d.owner, d.lease_until))
                )
        docs = sorted({d.id: d for d in docs}.values(), key=lambda d: (d.created_at, d.seq))
        if not docs:
            out.header(DOC_TABLE)
            out.info("nothing to do")
            return int(ExitCode.OK)
        svc.objects.ensure_buckets()
        for d in docs:
            out.info(f"retrying {d.id} ({_line(d.source_name)}, was {d.state}: {d.reason or '-'})")
        actor = cli_actor()
        cli_audit(cfg, "retry", None, documents=[d.id for d in docs])
        return run_and_print(
            svc, [d.id for d in docs], [d.source_path or "" for d in docs], out, actor
        )


def _assigned_document(ledger: Ledger, ident: str) -> Document:
    kind, doc_id = ledger.resolve_id(ident)
    if kind != "document":
        raise UsageError(f"{ident} is a batch, not a document")
    return ledger.get_document(doc_id)


def _place_of(doc: Document) -> Place:
    return Place(doc.component_code, doc.kind, doc.procedure_code, doc.place_source)


def cmd_assign(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    code = valid_code(args.dossier)
    placing = any(v is not None for v in (args.component, args.kind, args.procedure))
    if code is None and not placing:
        raise UsageError("give --dossier CODE, or --component/--kind/--procedure (or both)")
    ledger = open_ledger(cfg)
    try:
        doc = _assigned_document(ledger, args.document_id)
    finally:
        ledger.close()
    place = amended(_place_of(doc), args.component, args.kind, args.procedure)
    if doc.state in (ARCHIVED, INDEXED):
        return _place_archived(args, cfg, out, doc, code, place if placing else None)
    if code is None:
        raise UsageError(
            f"document {doc.id} is {doc.state}: it is archived once it has its dossier code;"
            " give --dossier CODE with its place"
        )
    placed = place if placing else None
    audit = {"dossier_code": code, **(place.fields() if placing else {})}
    if queues_for_a_worker(cfg):
        ledger = open_ledger(cfg)
        try:
            was = {doc.id: doc.state}
            doc = requeue.queue_assign(ledger, doc.id, code, cli_actor(), placed)
        finally:
            ledger.close()
        cli_audit(cfg, "assign", doc.id, dossier=code, queued=True, **audit)
        _print_queued([doc], out, was, cfg)
        return int(ExitCode.OK)
    require_worker_key(cfg, "assign")
    with services(cfg) as svc:
        if doc.state not in (NEEDS_DOSSIER, FAILED, REJECTED):
            raise UsageError(
                f"document {doc.id} is {doc.state}; only documents that need a dossier code"
                " (or failed) can be assigned one"
            )
        if placed is not None:
            svc.ledger.update_fields(doc.id, **placed.fields())
        svc.objects.ensure_buckets()
        cli_audit(cfg, "assign", doc.id, dossier=code, **audit)
        return run_and_print(svc, [doc.id], [doc.source_path or ""], out, cli_actor(), code)


def _place_archived(
    args: argparse.Namespace,
    cfg: Config,
    out: Output,
    doc: Document,
    code: str | None,
    place: Place | None,
) -> int:
    """An archived document keeps its code and number; its place changes where it lies
    (:mod:`pipeline.flow.placing`: metadata, index, ledger and a new event)."""
    if code is not None and code != doc.dossier_code:
        raise UsageError(
            f"document {doc.id} is archived as {doc.pdf_key}: its dossier code stays"
            f" {doc.dossier_code}; only its place (--component, --kind, --procedure) changes"
        )
    if place is None:
        raise UsageError(f"document {doc.id} already has the dossier code {doc.dossier_code}")
    if queues_for_a_worker(cfg) or storage_role(cfg) not in (None, "worker"):
        raise NotAllowed(
            "the place of an archived document is written into its metadata in the archive,"
            " which needs the worker key: run `sohoa assign` on a worker or a single machine"
        )
    with services(cfg, signing=False) as svc:
        doc = place_archived(svc, doc, place, actor=cli_actor())
    cli_audit(
        cfg, "assign", doc.id, dossier=doc.dossier_code, pdf_key=doc.pdf_key, **place.fields()
    )
    out.row(
        {
            "document_id": doc.id,
            "dossier_code": doc.dossier_code,
            "component_code": doc.component_code,
            "kind": doc.kind,
            "procedure_code": doc.procedure_code,
            "metadata_key": doc.metadata_key,
        }
    )
    return int(ExitCode.OK)


REVIEW_COLUMNS = tuple(c.key for c in REVIEW_TABLE)  # the machine columns (README: CLI)


def cmd_review(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    """The review queue of the web page, from the terminal: list, accept, or re-run now."""
    if (args.accept or args.rerun) != bool(args.document_id):
        raise UsageError("give DOCUMENT_ID with --accept or --rerun (or neither, to list)")
    if not args.document_id:
        ledger = open_ledger(cfg)
        try:
            out.header(REVIEW_TABLE)
            for d in requeue.flagged(ledger):
                row = {"document_id": d.id, **{k: getattr(d, k) for k in REVIEW_COLUMNS[1:]}}
                out.row(row, REVIEW_TABLE)
        finally:
            ledger.close()
        return int(ExitCode.OK)
    if args.accept:
        ledger = open_ledger(cfg)
        try:
            _, doc_id = ledger.resolve_id(args.document_id)
            doc = requeue.accept_review(ledger, doc_id, cli_actor())
        finally:
            ledger.close()
        cli_audit(cfg, "review_accept", doc.pdf_key, document=doc.id)
        out.info(f"{doc.id}: accepted as read")
        return int(ExitCode.OK)
    if queues_for_a_worker(cfg):
        ledger = open_ledger(cfg)
        try:
            _, doc_id = ledger.resolve_id(args.document_id)
            was = {doc_id: ledger.get_document(doc_id).state}
            doc = requeue.queue_rerun(ledger, doc_id, cli_actor())
        finally:
            ledger.close()
        cli_audit(cfg, "review_rerun", doc.pdf_key, document=doc.id, queued=True)
        _print_queued([doc], out, was, cfg)
        return int(ExitCode.OK)
    require_worker_key(cfg, "review --rerun")
    with services(cfg) as svc:
        _, doc_id = svc.ledger.resolve_id(args.document_id)
        doc = requeue.queue_rerun(svc.ledger, doc_id, cli_actor())
        cli_audit(cfg, "review_rerun", doc.pdf_key, document=doc.id)
        svc.objects.ensure_buckets()
        return run_and_print(svc, [doc.id], [doc.source_path or ""], out, cli_actor())


def cmd_ledger_rebuild(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    from pipeline.flow.recover import recover

    with services(cfg, signing=False) as svc:
        with progress_for(out, "ledger rebuild") as progress:
            report = rebuild_ledger(svc.ledger, svc.objects, actor=cli_actor(), progress=progress)
        recover(svc, actor=cli_actor())  # index what came back archived
        out.row(
            {
                "archived": report.archived,
                "originals_without_archive": report.originals_without_archive,
                "already_known": report.already_known,
                "ledger": str(cfg.ledger_path),
            }
        )
        if report.originals_without_archive:
            out.info(
                f"{report.originals_without_archive} original(s) in raw had no archived document;"
                " they are listed as failed: `sohoa retry --failed` runs them again"
            )
    return int(ExitCode.OK)


def cmd_config(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    data = public_dict(cfg)
    if out.json_mode:
        out.row(data)
    else:
        out.text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False).rstrip())
    return int(ExitCode.OK)
