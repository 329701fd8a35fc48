"""``sohoa database setup``: the office's PostgreSQL schema and one login per machine role.

Run once by the administrator with the database owner's URL in
``SOHOA_DATABASE_URL`` (again after an upgrade, to migrate; ``--rotate`` for new
passwords). Each machine then gets its own role's URL and nothing more
(:mod:`pipeline.storage.postgres.roles`); the owner's URL stays with the
administrator, for this command and ``sohoa users``. Each new password is printed
once, on stdout, and written nowhere else.
"""

from __future__ import annotations

import argparse

from pipeline.config import Config
from pipeline.errors import ConfigError, ExitCode, UsageError
from pipeline.storage.postgres.db import is_postgres_url
from pipeline.storage.postgres.roles import DB_ROLES, DatabaseSetup, setup_database
from workers.cli.access import cli_audit
from workers.cli.output import Output

# Who gets which URL (the station has none: it hands its documents over through MinIO).
MACHINES = {
    "worker": "every worker machine (`sohoa worker`)",
    "web": "the web server (`sohoa serve`)",
    "operator": "operators' PCs (`batches`, `show`, `audit`, `review`, `retry`, `assign`)",
}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("database", parents=[common], help="PostgreSQL schema and machine roles")
    dsub = p.add_subparsers(dest="database_command", required=True, metavar="ACTION")
    s = dsub.add_parser(
        "setup",
        parents=[common],
        help="with the owner's URL: migrate, one login per machine role (printed once)",
    )
    s.add_argument(
        "--rotate",
        action="append",
        default=[],
        metavar="ROLE",
        help=f"give ROLE a new password ({', '.join(DB_ROLES)} or all); repeatable",
    )
    s.add_argument("--prefix", help="roles are named PREFIX_ROLE (default: the database's name)")
    s.set_defaults(handler=cmd_database_setup)


def _rotate(raw: list[str]) -> list[str]:
    out: list[str] = []
    for name in raw:
        if name == "all":
            out.extend(DB_ROLES)
        elif name in DB_ROLES:
            out.append(name)
        else:
            raise UsageError(f"--rotate takes one of {', '.join(DB_ROLES)} or all, not {name!r}")
    return out


def _print(result: DatabaseSetup, out: Output) -> None:
    for login in result.logins:
        if login.password is None:
            out.text(
                f"# {login.role}: {login.user} kept (its password is not shown again;"
                f" --rotate {login.role} makes a new one)"
            )
            continue
        out.text(f"# {login.role} ({login.status}): for {MACHINES[login.role]}, then forget it")
        out.text(f"SOHOA_DATABASE_URL={login.url}")
        out.text("")


def cmd_database_setup(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    url = cfg.database.url
    if not is_postgres_url(url):
        raise ConfigError(
            "database setup needs SOHOA_DATABASE_URL=postgresql://OWNER:…@HOST/DB, the URL of"
            " the role that owns the office's database"
        )
    assert url is not None
    result = setup_database(url, prefix=args.prefix, rotate=_rotate(args.rotate))
    schema = ", ".join(f"{k} {v}" for k, v in sorted(result.versions.items()))
    out.info(
        f"database {result.database} ready (owner {result.owner}; schema {schema});"
        " stations get no database role"
    )
    for note in result.notes:
        out.info(f"note: {note}")
    if result.owner_only:
        out.info(f"tables for the owner alone: {', '.join(result.owner_only)}")
    if out.json_mode:
        for login in result.logins:
            out.row(login.as_json())
    else:
        _print(result, out)
    cli_audit(
        cfg,
        "database_setup",
        result.database,
        roles={login.role: login.status for login in result.logins},
        owner=result.owner,
    )
    return int(ExitCode.OK)
