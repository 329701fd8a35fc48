"""`sohoa events`: the outbox and its webhooks (issue 21, DESIGN §10).

- ``events deliver [--once]``: the dispatcher (:mod:`pipeline.events.dispatch`), until
  SIGTERM or Ctrl-C, or one round with ``--once`` (cron, tests). ``sohoa worker`` runs it
  too, beside its intake.
- ``events list [--dead | --all]``: deliveries that are not done (waiting for their next
  try, waiting behind an earlier event of their dossier, or dead), or only the dead, or
  every delivery.
- ``events replay ID [--webhook NAME]``: deliver an event again, from its first attempt.
  The request is recorded and the next dispatcher pass carries it out (an operator's PC
  and the web may ask; a worker delivers), and it is audited.
"""

from __future__ import annotations

import argparse
import signal
import threading

from pipeline.config import Config
from pipeline.errors import ExitCode, NotFound, UsageError
from pipeline.events.report import delivery_row
from pipeline.storage.ledger import cli_actor, open_ledger
from pipeline.storage.ledger.outbox import DEAD, DELIVERED, DELIVERY_STATES, PENDING
from workers.cli.access import cli_audit
from workers.cli.output import Output

LIST_COLUMNS = (
    "event_id",
    "type",
    "occurred_at",
    "dossier_code",
    "document_id",
    "webhook",
    "state",
    "attempts",
    "next_try",
    "waiting_for",
    "last_error",
)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "events", parents=[common], help="events for the one-stop system and their webhooks"
    )
    esub = p.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    d = esub.add_parser("deliver", parents=[common], help="POST the events to the webhooks")
    d.add_argument("--once", action="store_true", help="one round, then exit (cron, tests)")
    d.set_defaults(handler=cmd_deliver)
    ls = esub.add_parser("list", parents=[common], help="deliveries not done (or dead, or all)")
    which = ls.add_mutually_exclusive_group()
    which.add_argument("--dead", action="store_true", help="only those that gave up")
    which.add_argument("--all", action="store_true", help="delivered ones too")
    ls.add_argument("--limit", type=int, default=200, metavar="N", help="at most N (200)")
    ls.set_defaults(handler=cmd_list)
    r = esub.add_parser("replay", parents=[common], help="deliver an event again")
    r.add_argument("event_id", metavar="ID", help="the event's id")
    r.add_argument("--webhook", metavar="NAME", help="only to this webhook")
    r.set_defaults(handler=cmd_replay)


def cmd_deliver(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    from pipeline.events.dispatch import Dispatcher

    ledger = open_ledger(cfg)
    try:
        dispatcher = Dispatcher(cfg, ledger, log=out.info)
        if args.once:
            report = dispatcher.pass_once()
            out.row(
                {
                    "delivered": report.delivered,
                    "failed": report.failed,
                    "dead": report.dead,
                    "new_deliveries": report.fanned_out,
                    "replayed": report.replayed,
                }
            )
            return int(ExitCode.OK)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        names = ", ".join(f"{h.name} ({h.url})" for h in dispatcher.endpoints)
        out.info(f"delivering events to {names}; Ctrl-C stops")
        dispatcher.run(stop)
    finally:
        ledger.close()
    return int(ExitCode.OK)


def cmd_list(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    if not 1 <= args.limit <= 10_000:
        raise UsageError("--limit takes 1 to 10000")
    states = (DEAD,) if args.dead else DELIVERY_STATES if args.all else (PENDING, DEAD)
    ledger = open_ledger(cfg)
    try:
        rows = ledger.outbox.deliveries(states=states, limit=args.limit)
        counts = ledger.outbox.counts()
    finally:
        ledger.close()
    out.header(LIST_COLUMNS)
    for d in rows:
        out.row(delivery_row(d), LIST_COLUMNS)
    out.info(
        f"{counts['events']} event(s); deliveries: {counts[PENDING]} pending,"
        f" {counts[DELIVERED]} delivered, {counts[DEAD]} dead"
    )
    return int(ExitCode.OK)


def cmd_replay(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    raw = args.event_id.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise UsageError(f"not an event id: {args.event_id!r}")
    event_id = int(raw)
    ledger = open_ledger(cfg)
    try:
        named = ledger.outbox.request_replay(event_id, args.webhook, cli_actor())
    finally:
        ledger.close()
    if named < 0:
        raise NotFound(f"no event {event_id}")
    if named == 0:
        where = f" to {args.webhook}" if args.webhook else ""
        raise NotFound(
            f"event {event_id} has no delivery{where} yet: the dispatcher has not seen it"
        )
    cli_audit(cfg, "events_replay", str(event_id), webhook=args.webhook, deliveries=named)
    out.info(
        f"event {event_id}: {named} deliver{'y' if named == 1 else 'ies'} asked again; the next"
        " dispatcher pass (`sohoa events deliver`, `sohoa worker`) sends it"
    )
    out.row({"event_id": event_id, "webhook": args.webhook, "deliveries": named})
    return int(ExitCode.OK)
