"""``sohoa office init``: a whole office's first run, once, with nothing filled in by hand.

What ``compose.yaml``'s ``setup`` service runs (README "Office deployment"). Every key
is made by the command that owns it, so there is no circle of secrets to fill in
before anything starts:

1. the servers' own secrets, each in a folder only that server mounts (``--servers``):
   MinIO's root key, the PostgreSQL owner's password (the database server's first
   start creates that role and the database from it, as the README's office section
   does by hand); made once, kept afterwards;
2. waits until MinIO and PostgreSQL answer;
3. ``storage setup`` with the root key, ``database setup`` with the owner's URL and
   ``broker setup`` (the ACL file Redis loads), each giving a new key only to a role
   whose file is missing here (or all, with ``--rotate``), keeping the others;
4. each role's file, ``--out/<role>/sohoa.env`` (mode 0600, folder 0700, owned by
   ``--for-user``, the account the services run as): the keys and URLs that role's
   processes need and nothing else (README "Roles and keys");
5. the first administrator (``--admin``), whose password is written once to
   ``--out/admin/first-password`` (0600), never printed: this runs at every
   ``compose up``, and its output ends up in logs.

Running it again is safe and is how an upgrade migrates the schema: existing keys and
accounts are kept, policies, grants and the schema brought up to date.
"""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shlex
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import quote

from pipeline.config import Config, load_config
from pipeline.errors import ConfigError, DatabaseUnavailable, ExitCode
from workers.cli.output import Output

ROLE_FILE = "sohoa.env"
# Whose files hold what (the station, worker, web and operator services mount their own
# folder; admin is the administrator's: the MinIO root key and the database owner's URL).
MINIO_ROLES = ("station", "worker", "web", "operator")
DB_ROLES = ("worker", "web", "operator")
BROKER_ROLES = ("worker",)
MINIO_ROOT_USER = "sohoa-root"
DB_OWNER = "sohoa"


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("office", parents=[common], help="an office's first run (compose's setup)")
    osub = p.add_subparsers(dest="office_command", required=True, metavar="ACTION")
    s = osub.add_parser(
        "init",
        parents=[common],
        help="servers' secrets, storage/database/broker setup, each role's file, first admin",
    )
    s.add_argument("--out", type=Path, default=Path("/office"), help="role files (/office)")
    s.add_argument(
        "--servers",
        type=Path,
        default=Path("/run/sohoa-servers"),
        help="the servers' own secrets: minio/, postgres/, redis/ (/run/sohoa-servers)",
    )
    s.add_argument("--postgres", default="postgres:5432", help="HOST:PORT (postgres:5432)")
    s.add_argument("--database", default="sohoa", help="the office's database (sohoa)")
    s.add_argument("--broker", default="redis://redis:6379/0", help="Redis as workers reach it")
    s.add_argument("--admin", default="admin", help="the first administrator's name (admin)")
    s.add_argument(
        "--for-user",
        default="sohoa",
        help="the account the services run as, owner of the role files (sohoa)",
    )
    s.add_argument(
        "--inbox",
        type=Path,
        help="the stations' inbox folder, given to --for-user (mode 0770) for the watcher",
    )
    s.add_argument("--wait", type=float, default=300, help="seconds to wait for the servers")
    s.add_argument("--rotate", action="store_true", help="new keys for every role")
    s.set_defaults(handler=cmd_office_init)


# ------------------------------------------------------------------------------ files


def _env_text(values: Mapping[str, str]) -> str:
    """KEY='value' lines: read by ``sh`` (``set -a; . FILE``) and systemd's EnvironmentFile."""
    return "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())


def read_env(path: Path) -> dict[str, str]:
    """The values of a file :func:`_env_text` wrote."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, raw = line.partition("=")
            words = shlex.split(raw)
            out[key.strip()] = words[0] if words else ""
    return out


def _write_private(path: Path, text: str, owner: tuple[int, int] | None, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` (mode ``mode``, folder 0700), owned by ``owner``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    if owner is not None and os.geteuid() == 0:
        os.chown(tmp, *owner)
        os.chown(path.parent, *owner)
    os.replace(tmp, path)


def _server_secret(
    path: Path, make: Callable[[], dict[str, str]], log: Callable[[str], None]
) -> dict[str, str]:
    """A server's own secret file: made once (root's, 0600), read back afterwards."""
    if path.exists():
        return read_env(path)
    values = make()
    _write_private(path, _env_text(values), None)
    log(f"made {path}")
    return values


# ---------------------------------------------------------------------------- servers


def _wait_for(what: str, probe: Callable[[], None], seconds: float, log: Callable[[str], None]):
    deadline = time.monotonic() + seconds
    told = 0.0
    while True:
        try:
            probe()
            log(f"{what} answers")
            return
        except Exception as exc:
            if time.monotonic() >= deadline:
                raise DatabaseUnavailable(
                    f"{what} did not answer within {seconds:g} s: {exc}"
                ) from None
            if time.monotonic() - told > 15:
                told = time.monotonic()
                log(f"waiting for {what} ({exc})")
            time.sleep(1)


def _minio_live(endpoint: str, secure: bool) -> Callable[[], None]:
    url = f"{'https' if secure else 'http'}://{endpoint}/minio/health/live"

    def probe() -> None:
        with urllib.request.urlopen(url, timeout=5) as resp:
            if resp.status != 200:
                raise ConnectionError(f"HTTP {resp.status}")

    return probe


def _postgres_live(url: str) -> Callable[[], None]:
    def probe() -> None:
        import psycopg

        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")

    return probe


# ------------------------------------------------------------------------------- init


def cmd_office_init(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    from pipeline.access.stores import open_users
    from pipeline.broker_acl import setup_broker_acl
    from pipeline.storage.postgres.roles import setup_database
    from pipeline.storage.roles import BucketNames, RetentionSpec, setup_storage

    log = out.info
    try:
        account = pwd.getpwnam(args.for_user)
    except KeyError:
        raise ConfigError(f"--for-user {args.for_user}: no such account here") from None
    owner = (account.pw_uid, account.pw_gid)
    out_dir: Path = args.out
    if not out_dir.is_dir():
        raise ConfigError(f"{out_dir} is not a folder: create it first (mkdir -m 700 office)")
    os.chmod(out_dir, 0o700)
    if args.inbox is not None:  # the watcher moves files out of it, as the image's account
        if not args.inbox.is_dir():
            raise ConfigError(f"{args.inbox} is not a folder: create it first")
        if os.geteuid() == 0:
            os.chown(args.inbox, *owner)
        os.chmod(args.inbox, 0o770)

    def role_file(role: str) -> Path:
        return out_dir / role / ROLE_FILE

    def missing(roles: tuple[str, ...]) -> list[str]:
        return list(roles) if args.rotate else [r for r in roles if not role_file(r).exists()]

    # 1. the servers' own secrets
    root = _server_secret(
        args.servers / "minio" / "root.env",
        lambda: {
            "MINIO_ROOT_USER": MINIO_ROOT_USER,
            "MINIO_ROOT_PASSWORD": secrets.token_hex(24),
        },
        log,
    )
    owner_pw = _server_secret(
        args.servers / "postgres" / "owner.env",
        lambda: {
            "SOHOA_DB_OWNER": DB_OWNER,
            "SOHOA_DB_OWNER_PASSWORD": secrets.token_hex(24),
            "SOHOA_DB_NAME": args.database,
        },
        log,
    )
    owner_url = (
        f"postgresql://{quote(owner_pw['SOHOA_DB_OWNER'], safe='')}:"
        f"{quote(owner_pw['SOHOA_DB_OWNER_PASSWORD'], safe='')}@{args.postgres}/"
        f"{quote(owner_pw['SOHOA_DB_NAME'], safe='')}"
    )

    # 2. the servers answer
    _wait_for(
        f"MinIO at {cfg.minio.endpoint}",
        _minio_live(cfg.minio.endpoint, cfg.minio.secure),
        args.wait,
        log,
    )
    _wait_for(f"PostgreSQL at {args.postgres}", _postgres_live(owner_url), args.wait, log)

    # 3. one key per role in each server, new only where a role has no file yet
    keys = setup_storage(
        cfg.minio.endpoint,
        (root["MINIO_ROOT_USER"], root["MINIO_ROOT_PASSWORD"]),
        BucketNames(cfg.buckets.raw, cfg.buckets.archive, cfg.buckets.work),
        RetentionSpec.from_config(cfg),
        secure=cfg.minio.secure,
        ca_file=cfg.minio.ca_file,
        rotate=missing(MINIO_ROLES),
    )
    log("storage: buckets with Object Lock, one key per role")
    db = setup_database(owner_url, rotate=missing(DB_ROLES))
    log(f"database {db.database}: schema {', '.join(f'{k} {v}' for k, v in db.versions.items())}")
    acl = args.servers / "redis" / "users.acl"
    acl.parent.mkdir(parents=True, exist_ok=True)
    brokers = setup_broker_acl(acl, args.broker, rotate=missing(BROKER_ROLES))
    os.chmod(acl, 0o644)  # Redis (its own account) reads it; it holds SHA-256 hashes only
    log(f"broker: {acl} (the default user off, the workers' user)")

    # 4. each role's file, for the roles that got new secrets just now
    minio_keys = {k.role: k for k in keys if k.secret_key}
    db_urls = {x.role: x.url for x in db.logins if x.password}
    broker_urls = {x.role: x.url for x in brokers if x.password}
    new_files = {
        "station": {},
        "worker": {
            "SOHOA_DATABASE_URL": db_urls.get("worker"),
            "SOHOA_BROKER_URL": broker_urls.get("worker"),
            "SOHOA_TASK_KEY": secrets.token_hex(32),
        },
        "web": {
            "SOHOA_DATABASE_URL": db_urls.get("web"),
            "SOHOA_WEB_SECRET": secrets.token_urlsafe(32),
        },
        "operator": {"SOHOA_DATABASE_URL": db_urls.get("operator")},
    }
    for role, extra in new_files.items():
        key = minio_keys.get(role)
        if key is None:
            log(f"{role}: {role_file(role)} kept")
            continue
        values = {
            "SOHOA_MINIO_ROLE": role,
            "SOHOA_MINIO_ACCESS_KEY": key.access_key,
            "SOHOA_MINIO_SECRET_KEY": str(key.secret_key),
        }
        unmade = [name for name, value in extra.items() if value is None]
        if unmade:  # a server kept a key whose secret this folder no longer has
            raise ConfigError(
                f"{role}: {', '.join(unmade)} was kept by its server but {role_file(role)}"
                " is missing: run office init --rotate"
            )
        values.update({k: str(v) for k, v in extra.items()})
        _write_private(role_file(role), _env_text(values), owner)
        log(f"{role}: wrote {role_file(role)}")
    _write_private(
        role_file("admin"),
        _env_text(
            {
                "SOHOA_MINIO_ACCESS_KEY": root["MINIO_ROOT_USER"],
                "SOHOA_MINIO_SECRET_KEY": root["MINIO_ROOT_PASSWORD"],
                "SOHOA_DATABASE_URL": owner_url,
            }
        ),
        owner,
    )

    # 5. the first administrator
    admin_cfg = load_config(env={**os.environ, "SOHOA_DATABASE_URL": owner_url})
    users = open_users(admin_cfg)
    if users.get(args.admin) is None:
        password = secrets.token_urlsafe(15)
        users.add(args.admin, "admin", password)
        first = out_dir / "admin" / "first-password"
        _write_private(first, password + "\n", owner)
        log(
            f"administrator {args.admin}: password in {first} (change it: sohoa users passwd"
            f" {args.admin})"
        )
    else:
        log(f"administrator {args.admin} kept")
    from workers.cli.access import cli_audit

    cli_audit(
        admin_cfg,
        "office_init",
        db.database,
        storage={k.role: k.status for k in keys},
        database={x.role: x.status for x in db.logins},
        broker={x.role: x.status for x in brokers},
    )
    log(f"office ready: role files under {out_dir}")
    return int(ExitCode.OK)
