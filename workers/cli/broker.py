"""``sohoa broker setup``: the Redis ACL file that gives the workers, and only them, a user.

Run on the Redis machine by whoever administers it (it writes the file Redis reads
with ``aclfile``; see :mod:`pipeline.broker_acl` for why a file). The worker's
password is printed once, inside the URL its machines need, and written nowhere
else (the file holds its SHA-256).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.broker_acl import BROKER_ROLES, setup_broker_acl
from pipeline.config import Config
from pipeline.errors import ConfigError, ExitCode, UsageError
from workers.cli.output import Output


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("broker", parents=[common], help="Redis users (an ACL file)")
    bsub = p.add_subparsers(dest="broker_command", required=True, metavar="ACTION")
    s = bsub.add_parser(
        "setup",
        parents=[common],
        help="write Redis's ACL file: default user off, the workers' user (printed once)",
    )
    s.add_argument(
        "--acl-file", required=True, type=Path, metavar="FILE", help="e.g. /etc/redis/users.acl"
    )
    s.add_argument(
        "--url",
        metavar="redis://HOST:PORT/DB",
        help="the broker as workers reach it, for the URL printed (default: SOHOA_BROKER_URL)",
    )
    s.add_argument(
        "--rotate",
        action="append",
        default=[],
        metavar="ROLE",
        help=f"give ROLE a new password ({', '.join(BROKER_ROLES)} or all)",
    )
    s.add_argument("--prefix", default="sohoa", help="users are named PREFIX-ROLE (sohoa)")
    s.set_defaults(handler=cmd_broker_setup)


def _rotate(raw: list[str]) -> list[str]:
    out: list[str] = []
    for name in raw:
        if name == "all":
            out.extend(BROKER_ROLES)
        elif name in BROKER_ROLES:
            out.append(name)
        else:
            raise UsageError(
                f"--rotate takes one of {', '.join(BROKER_ROLES)} or all, not {name!r}"
            )
    return out


def cmd_broker_setup(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    address = args.url or cfg.broker.url
    if not address:
        raise ConfigError(
            "give the broker's address as the workers reach it: --url redis://HOST:6379/0"
            " (or SOHOA_BROKER_URL)"
        )
    logins = setup_broker_acl(
        args.acl_file, address, prefix=args.prefix, rotate=_rotate(args.rotate)
    )
    out.info(
        f"wrote {args.acl_file}: the default user off, {', '.join(x.user for x in logins)};"
        f" with `aclfile {args.acl_file}` in redis.conf, restart redis-server to load it"
    )
    if out.json_mode:
        for login in logins:
            out.row(login.as_json())
        return int(ExitCode.OK)
    for login in logins:
        if login.password is None:
            out.text(
                f"# {login.role}: {login.user} kept (its password is not shown again;"
                f" --rotate {login.role} makes a new one)"
            )
            continue
        out.text(f"# {login.role} ({login.status}): for every worker machine, then forget it")
        out.text(f"SOHOA_BROKER_URL={login.url}")
    return int(ExitCode.OK)
