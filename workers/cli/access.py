"""Who may do what, from the command line: ``storage setup``, ``users`` and ``audit`` (DESIGN §8).

``storage setup`` is the one command that uses the MinIO root key, and it takes
that key from the environment only, so it never sits in a configuration file.
Passwords are read from stdin (twice at a terminal, without echo), never from an
argument, which would leave them in the shell history and in ``ps``. Every
change made here is appended to the audit log with the person at the terminal
(``cli:<login>``) as its actor.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys
from datetime import datetime
from typing import Any

from pipeline.access.audit import AuditRow
from pipeline.access.stores import chain_identity, open_anchor_store, open_audit, open_users
from pipeline.access.users import USER_ROLES, User
from pipeline.config import Config, storage_role
from pipeline.errors import ConfigError, ExitCode, NotAllowed, SohoaError, UsageError
from pipeline.storage.ledger import cli_actor
from pipeline.storage.roles import ROLES, BucketNames, RetentionSpec, RoleKeys, setup_storage
from workers.cli.columns import AUDIT_TABLE, USER_TABLE
from workers.cli.output import Output

USER_COLUMNS = tuple(c.key for c in USER_TABLE)  # the machine columns (README: CLI)
AUDIT_COLUMNS = tuple(c.key for c in AUDIT_TABLE)
ROOT_ENV = ("SOHOA_MINIO_ACCESS_KEY", "SOHOA_MINIO_SECRET_KEY")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("storage", parents=[common], help="buckets, Object Lock and role keys")
    ssub = p.add_subparsers(dest="storage_command", required=True, metavar="ACTION")
    s = ssub.add_parser(
        "setup",
        parents=[common],
        help="with the MinIO root key: buckets, retention, one key per role (printed once)",
    )
    s.add_argument(
        "--rotate",
        action="append",
        default=[],
        metavar="ROLE",
        help=f"give ROLE a new secret ({', '.join(ROLES)} or all); repeatable",
    )
    s.add_argument("--prefix", default="sohoa", help="role keys are named PREFIX-ROLE (sohoa)")
    s.set_defaults(handler=cmd_storage_setup)

    p = sub.add_parser("users", parents=[common], help="people who log in to the web page")
    usub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    a = usub.add_parser("add", parents=[common], help="add a user (password from stdin)")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=USER_ROLES)
    a.set_defaults(handler=cmd_users_add)
    for action, helptext, handler in (
        ("passwd", "set a new password (from stdin); ends the user's sessions", cmd_users_passwd),
        ("disable", "the user can no longer log in; ends their sessions", cmd_users_disable),
        ("enable", "let a disabled user log in again", cmd_users_enable),
    ):
        x = usub.add_parser(action, parents=[common], help=helptext)
        x.add_argument("name")
        x.set_defaults(handler=handler)
    r = usub.add_parser("role", parents=[common], help="change a user's role; ends their sessions")
    r.add_argument("name")
    r.add_argument("role", choices=USER_ROLES)
    r.set_defaults(handler=cmd_users_role)
    ls = usub.add_parser("list", parents=[common], help="every user with role and last login")
    ls.set_defaults(handler=cmd_users_list)

    p = sub.add_parser(
        "audit",
        parents=[common],
        help="who searched, viewed, opened or changed what; `audit verify` checks the chain",
    )
    p.add_argument(
        "what",
        nargs="?",
        choices=["verify"],
        help="verify: check the chain against its anchors in the archive bucket, then anchor it",
    )
    p.add_argument("--user", metavar="U", help="rows of this actor (a web user's name, cli:LOGIN)")
    p.add_argument("--dossier", metavar="CODE", help="rows about this dossier")
    p.add_argument("--since", metavar="DATE", help="rows at or after DATE (2026-12-01[T08:00])")
    p.add_argument("--action", metavar="A", help="only this action (search, pdf_open, login, …)")
    p.add_argument("--limit", type=int, default=1000, metavar="N", help="the newest N rows (1000)")
    p.add_argument(
        "--anchor", metavar="ID:HASH", help="with verify: a row id and hash noted earlier"
    )
    p.set_defaults(handler=cmd_audit)


# ------------------------------------------------------------------------------ audit


def cli_audit(
    cfg: Config, action: str, obj: str | None = None, dossier: str | None = None, **details: Any
) -> None:
    """Append one row for something done at this terminal (search, retry, a user change)."""
    open_audit(cfg).append(cli_actor(), action, obj, details or None, client="cli", dossier=dossier)


# ---------------------------------------------------------------------------- storage


def _root_keys(cfg: Config) -> tuple[str, str]:
    """The root key, from the environment and nowhere else."""
    access, secret = (os.environ.get(name) for name in ROOT_ENV)
    if not access or not secret:
        raise ConfigError(
            "storage setup takes the MinIO root key from the environment only: export"
            " SOHOA_MINIO_ACCESS_KEY and SOHOA_MINIO_SECRET_KEY (the root user) for this command"
        )
    if storage_role(cfg) is not None or cfg.minio.access_key != access:
        raise NotAllowed(
            "storage setup needs the MinIO root key, not a role key: unset SOHOA_MINIO_ROLE and"
            " export the root user's keys for this one command"
        )
    return access, secret


def _rotate(raw: list[str]) -> list[str]:
    out: list[str] = []
    for name in raw:
        if name == "all":
            out.extend(ROLES)
        elif name in ROLES:
            out.append(name)
        else:
            raise UsageError(f"--rotate takes one of {', '.join(ROLES)} or all, not {name!r}")
    return out


def _print_keys(keys: list[RoleKeys], out: Output) -> None:
    """Each new secret once, as the environment lines its processes need."""
    for k in keys:
        if k.secret_key is None:
            out.text(f"# {k.role}: {k.access_key} kept (its secret is not shown again)")
            continue
        out.text(f"# {k.role} ({k.status}): give these to every {k.role} process, then forget")
        out.text(f"SOHOA_MINIO_ROLE={k.role}")
        out.text(f"SOHOA_MINIO_ACCESS_KEY={k.access_key}")
        out.text(f"SOHOA_MINIO_SECRET_KEY={k.secret_key}")
        out.text("")


def cmd_storage_setup(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    root = _root_keys(cfg)
    rotate = _rotate(args.rotate)
    buckets = BucketNames(cfg.buckets.raw, cfg.buckets.archive, cfg.buckets.work)
    retention = RetentionSpec.from_config(cfg)
    keys = setup_storage(
        cfg.minio.endpoint,
        root,
        buckets,
        retention,
        secure=cfg.minio.secure,
        ca_file=cfg.minio.ca_file,
        prefix=args.prefix,
        rotate=rotate,
    )
    out.info(
        f"buckets ready: {buckets.raw} (Object Lock {retention.raw_mode},"
        f" {retention.raw_years} years), {buckets.archive} (Object Lock"
        f" {retention.archive_mode}, {retention.archive_years} years), {buckets.work}"
    )
    if out.json_mode:
        for k in keys:
            out.row({"role": k.role, "access_key": k.access_key, "secret_key": k.secret_key})
    else:
        _print_keys(keys, out)
    cli_audit(
        cfg,
        "storage_setup",
        f"{buckets.raw},{buckets.archive},{buckets.work}",
        roles={k.role: k.status for k in keys},
        raw_lock=f"{retention.raw_mode}/{retention.raw_years}y",
        archive_lock=f"{retention.archive_mode}/{retention.archive_years}y",
    )
    return int(ExitCode.OK)


# ------------------------------------------------------------------------------ users


def read_password(confirm: bool = True) -> str:
    """A password from stdin: without echo (and twice) at a terminal, else its first line."""
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if confirm and getpass.getpass("again: ") != first:
            raise UsageError("the two passwords differ")
        return first
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def _user_row(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "last_login_at": user.last_login_at,
    }


def cmd_users_add(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    users = open_users(cfg)
    if users.get(args.name) is not None:
        raise UsageError(f"user {args.name} already exists")
    user = users.add(args.name, args.role, read_password())
    cli_audit(cfg, "user_add", user.name, role=user.role)
    out.header(USER_TABLE)
    out.row(_user_row(user), USER_TABLE)
    return int(ExitCode.OK)


def cmd_users_passwd(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    users = open_users(cfg)
    user = users.get(args.name)
    if user is None:
        raise UsageError(f"no user {args.name}")
    users.passwd(user.name, read_password())
    cli_audit(cfg, "user_passwd", user.name)
    out.info(f"password of {user.name} changed; their open sessions have ended")
    return int(ExitCode.OK)


def _change(cfg: Config, name: str, action: str, out: Output, **details: Any) -> User:
    users = open_users(cfg)
    user = users.get(name)
    if user is None:
        raise UsageError(f"no user {name}")
    if action == "user_disable":
        users.disable(user.name)
    elif action == "user_enable":
        users.enable(user.name)
    else:
        users.set_role(user.name, details["role"])
    cli_audit(cfg, action, user.name, **details)
    changed = users.get(user.name)
    assert changed is not None
    out.header(USER_TABLE)
    out.row(_user_row(changed), USER_TABLE)
    return changed


def cmd_users_disable(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    _change(cfg, args.name, "user_disable", out)
    return int(ExitCode.OK)


def cmd_users_enable(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    _change(cfg, args.name, "user_enable", out)
    return int(ExitCode.OK)


def cmd_users_role(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    _change(cfg, args.name, "user_role", out, role=args.role)
    return int(ExitCode.OK)


def cmd_users_list(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    out.header(USER_TABLE)
    for user in open_users(cfg).list():
        out.row(_user_row(user), USER_TABLE)
    return int(ExitCode.OK)


# ------------------------------------------------------------------------------ audit


def _since(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(
            f"--since takes a date like 2026-12-01 or 2026-12-01T08:00, not {raw!r}"
        ) from None
    return raw


def _anchor(raw: str | None) -> tuple[int, str] | None:
    if not raw:
        return None
    ident, _, digest = raw.partition(":")
    if not ident.isdigit() or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise UsageError("--anchor takes ID:HASH as `sohoa audit verify` printed it")
    return int(ident), digest


def _audit_row(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "object": row.object,
        "dossier": row.dossier,
        "client": row.client,
        "details": row.details,
    }


def cmd_audit(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    if args.what == "verify":
        return _verify(args, cfg, out)
    if args.anchor:
        raise UsageError("--anchor goes with `sohoa audit verify`")
    if not 1 <= args.limit <= 1_000_000:
        raise UsageError("--limit takes a number between 1 and 1000000")
    rows = open_audit(cfg).query(
        user=args.user,
        dossier=args.dossier,
        since=_since(args.since),
        action=args.action,
        limit=args.limit,
        newest_first=True,
    )
    out.header(AUDIT_TABLE)
    for row in rows:
        record = _audit_row(row)
        if not out.json_mode and not out.terminal:
            record["details"] = json.dumps(row.details, ensure_ascii=False, sort_keys=True)
        out.row(record, AUDIT_TABLE)
    return int(ExitCode.OK)


def _verify(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    """Check the chain against every anchor in the archive bucket, then anchor its head."""
    noted = _anchor(args.anchor)
    store = open_anchor_store(cfg)
    index = store.index() if store is not None else None  # listed before the rows are read
    check = open_audit(cfg).verify(noted, index)
    anchored: str | None = None
    failure: SohoaError | None = None
    if store is not None and check.head is not None:
        try:
            anchored = store.write(
                check.head,
                host=socket.gethostname(),
                role=storage_role(cfg),
                identity=chain_identity(cfg),
            )
        except SohoaError as exc:
            failure = exc
    if out.json_mode:
        out.row(
            {
                "ok": check.ok,
                "checked": check.checked,
                "first_broken_id": check.first_broken_id,
                "reason": check.reason,
                "anchor": check.anchor,
                "head_id": check.head_id,
                "head_hash": check.head_hash,
                "anchors": check.anchors,
                "anchored": anchored,
                "chain": chain_identity(cfg),
            }
        )
    if store is None:
        out.info(
            "warning: no MinIO key configured (SOHOA_MINIO_ACCESS_KEY): the chain was not"
            " checked against its anchors in the archive bucket, and none was written"
        )
    elif index is not None:
        for key in index.overwritten:
            out.info(
                f"warning: anchor {key} has more than one version: a role key put over it"
                " (its name, which verification reads, cannot change)"
            )
        for key in index.unreadable:
            out.info(f"warning: {key} is not an anchor sohoa wrote")
    if not check.ok:
        where = f" (anchor {check.anchor})" if check.anchor else ""
        out.error(f"audit chain broken at row {check.first_broken_id}: {check.reason}{where}")
        return int(ExitCode.FAILED)
    if not out.json_mode:
        head = f"{check.head_id}:{check.head_hash}" if check.head_id else "(empty)"
        out.text(f"audit chain intact: {check.checked} rows; last row {head}")
        if store is not None:
            out.info(
                f"checked against {check.anchors} anchors in"
                f" {store.bucket}/{store.folder}"
                + (f"; anchored as {anchored}" if anchored else "")
            )
    if failure is not None:
        out.error(f"the verified head could not be anchored: {failure}")
        return int(failure.exit_code)
    return int(ExitCode.OK)
