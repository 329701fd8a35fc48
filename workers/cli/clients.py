"""``sohoa clients``: the systems that may use ``/api/v1`` (DESIGN §10).

``clients add NAME --scope read,submit,events`` prints the new token once, on stdout
(``--json``: one object with it); only its SHA-256 is stored, so it cannot be shown
again: a lost token is replaced by a new client (and the old one revoked). ``clients
list`` shows each client's scopes, the first characters of its token (to tell them
apart), when it was made and revoked. ``clients revoke NAME`` ends its token at once.
With PostgreSQL these need the owner's URL (the web's role may only read the clients).
Every change is audited with the person at the terminal (``cli:<login>``).
"""

from __future__ import annotations

import argparse

from pipeline.access.clients import SCOPES, open_clients
from pipeline.config import Config
from pipeline.errors import ExitCode
from workers.cli.access import cli_audit
from workers.cli.output import Output

COLUMNS = ("name", "scopes", "token", "created_at", "revoked_at")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "clients", parents=[common], help="systems that use /api/v1 (bearer tokens, scopes)"
    )
    csub = p.add_subparsers(dest="clients_command", required=True, metavar="ACTION")
    a = csub.add_parser("add", parents=[common], help="add a client; prints its token once")
    a.add_argument("name")
    a.add_argument(
        "--scope",
        required=True,
        metavar="S[,S…]",
        help=f"what it may do: {', '.join(SCOPES)} (comma-separated)",
    )
    a.set_defaults(handler=cmd_clients_add)
    ls = csub.add_parser("list", parents=[common], help="every client, its scopes, revoked or not")
    ls.set_defaults(handler=cmd_clients_list)
    r = csub.add_parser("revoke", parents=[common], help="end a client's token now")
    r.add_argument("name")
    r.set_defaults(handler=cmd_clients_revoke)


def cmd_clients_add(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    made = open_clients(cfg).add(args.name, args.scope)
    client = made.client
    cli_audit(cfg, "client_add", client.name, scopes=",".join(client.scopes))
    if out.json_mode:
        out.row({**client.as_dict(), "token": made.token})
    else:
        out.info(
            f"client {client.name} ({', '.join(client.scopes)}): its token follows, shown this"
            " once; give it to the system as Authorization: Bearer <token>"
        )
        out.text(made.token)
    return int(ExitCode.OK)


def cmd_clients_list(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    out.header(COLUMNS)
    for client in open_clients(cfg).list():
        out.row(client.as_dict(), COLUMNS)
    return int(ExitCode.OK)


def cmd_clients_revoke(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    client = open_clients(cfg).revoke(args.name)
    cli_audit(cfg, "client_revoke", client.name)
    out.header(COLUMNS)
    out.row(client.as_dict(), COLUMNS)
    return int(ExitCode.OK)
