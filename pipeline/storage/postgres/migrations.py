"""Versioned schema migrations, safe to run from many machines at once.

Each component (``ledger``, ``index``, and the access tables' ``access``) has
its own numbered list of migrations. :func:`migrate` runs in
one transaction under a transaction-level advisory lock, so when ten workers
start together one of them creates the schema while the others wait on the lock
and then find nothing left to do; PostgreSQL's DDL is transactional, so a
migration is applied whole or not at all. ``schema_migrations`` records what
ran. A database whose schema is newer than the program is refused (upgrade
sohoa), never altered.

A new table or column is a new :class:`Migration` at the end of its
component's list; earlier ones are never edited. A migration whose new columns are
derived from what the rows already hold fills them in its ``backfill`` step, run in
the same transaction right after its statements (so once, by whoever migrates).

Only the role that owns the schema migrates. Every process first looks, in a
read-only transaction and without the lock, whether its component is current:
all its migrations recorded, and ``reconcile`` finding nothing to add (it runs
on a connection that lets its reads through and stops it, unsent, at the first
statement that would change anything). A current schema is
used as it is, which is all a machine's role (``sohoa database setup``) ever
sees; a schema behind the program is migrated by a role that may (the owner,
as in a single-user setup), and for any other role the process stops with one
line naming the command that brings it up to date. So no application role ever
sends DDL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from psycopg import sql

from pipeline.errors import ConfigError, DatabaseUnavailable
from pipeline.storage.ledger.records import now
from pipeline.storage.postgres.db import Connection, Database

# One lock for every component: migrations are rare and short.
MIGRATION_LOCK = 0x736F686F61  # "sohoa"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: Callable[[], Sequence[str]]
    backfill: Callable[[Connection], None] | None = None


def migrate(
    db: Database,
    component: str,
    migrations: Sequence[Migration],
    reconcile: Callable[[Connection], None] | None = None,
) -> bool:
    """Bring ``component`` to its newest version; True when its schema was created just now.

    ``reconcile`` runs after the migrations, under the same lock, for what is derived
    from the program's records (columns of new ``Document`` fields).
    """
    latest = max(m.version for m in migrations)
    done = _current(db, component, migrations, reconcile)
    if done is None:
        return False
    if not may_migrate(db):
        raise ConfigError(_behind(db, component, done, latest))

    def apply(conn: Connection, attempt: int) -> bool:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " component TEXT NOT NULL, version INTEGER NOT NULL, description TEXT NOT NULL,"
            " applied_at TEXT NOT NULL, PRIMARY KEY (component, version))"
        )
        done = {
            r["version"]
            for r in conn.execute(
                "SELECT version FROM schema_migrations WHERE component = %s", (component,)
            )
        }
        if done and max(done) > latest:
            raise DatabaseUnavailable(
                f"the {component} schema in {db.shown} is at version {max(done)}, newer than"
                f" this program ({latest}): upgrade sohoa on this machine"
            )
        for m in sorted(migrations, key=lambda m: m.version):
            if m.version in done:
                continue
            for statement in m.statements():
                conn.execute(statement)
            if m.backfill is not None:
                m.backfill(conn)
            conn.execute(
                "INSERT INTO schema_migrations (component, version, description, applied_at)"
                " VALUES (%s, %s, %s, %s)",
                (component, m.version, m.description, now()),
            )
        if reconcile is not None:
            reconcile(conn)
        return not done

    return db.run(apply)


def _done(conn: Connection, component: str) -> set[int] | None:
    """The versions of ``component`` recorded, or None when there is no ``schema_migrations``."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') AS t").fetchone()
    if not exists or exists["t"] is None:
        return None
    return {
        r["version"]
        for r in conn.execute(
            "SELECT version FROM schema_migrations WHERE component = %s", (component,)
        )
    }


def _current(
    db: Database,
    component: str,
    migrations: Sequence[Migration],
    reconcile: Callable[[Connection], None] | None,
) -> set[int] | None:
    """None when ``component`` is current; else the versions it has (empty: none at all).

    Read-only and without the lock: a ``reconcile`` that would add a column is refused
    by PostgreSQL before it touches anything, which says the schema is behind.
    """
    wanted = {m.version for m in migrations}
    latest = max(wanted)

    def look(conn: Connection, attempt: int) -> set[int] | None:
        conn.execute("SET TRANSACTION READ ONLY")
        done = _done(conn, component)
        if done and max(done) > latest:
            raise DatabaseUnavailable(
                f"the {component} schema in {db.shown} is at version {max(done)}, newer than"
                f" this program ({latest}): upgrade sohoa on this machine"
            )
        if done is None or not wanted <= done:
            return done or set()
        if reconcile is not None:
            try:
                reconcile(cast(Connection, _ReadsOnly(conn)))
            except _WouldChange:
                return done
        return None

    return db.run(look)


_READ_RE = re.compile(r"^\s*(SELECT|WITH|SHOW)\b", re.IGNORECASE)


class _WouldChange(Exception):
    """``reconcile`` had something to change: the schema is behind the program."""


class _ReadsOnly:
    """A connection that runs reads and stops, before sending it, any other statement."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        text = query.as_string(self._conn) if isinstance(query, sql.Composable) else str(query)
        if not _READ_RE.match(text):
            raise _WouldChange(text)
        return self._conn.execute(query, params, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name in ("cursor", "pipeline"):  # statements the check could not see
            raise _WouldChange(name)
        return getattr(self._conn, name)


def may_migrate(db: Database) -> bool:
    """Whether this connection's role may change the schema: a superuser, or a role that
    may create tables here and owns ``schema_migrations`` when there is one."""

    def look(conn: Connection, attempt: int) -> bool:
        row = conn.execute(
            "SELECT r.rolsuper AS super,"
            " has_schema_privilege(current_schema(), 'CREATE') AS can_create,"
            " (SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c"
            "  WHERE c.oid = to_regclass('schema_migrations')) AS owns"
            " FROM pg_roles r WHERE r.rolname = current_user"
        ).fetchone()
        return bool(row and (row["super"] or (row["can_create"] and row["owns"] is not False)))

    return db.run(look)


def _behind(db: Database, component: str, done: set[int], latest: int) -> str:
    where = f"the database {db.shown}"
    have = (
        f"has no sohoa {component} tables yet"
        if not done
        else f"holds the {component} schema at version {max(done)}, older than this program"
        f" ({latest})"
    )
    return (
        f"{where} {have}, and the database role {db.role} may not change it: run"
        " `sohoa database setup` with the owner's URL"
    )


def versions(db: Database) -> dict[str, int]:
    """The newest applied version of each component (for ``sohoa config`` and tests)."""

    def read(conn: Connection, attempt: int) -> dict[str, int]:
        exists = conn.execute("SELECT to_regclass('schema_migrations') AS t").fetchone()
        if not exists or exists["t"] is None:
            return {}
        rows = conn.execute(
            "SELECT component, max(version) AS v FROM schema_migrations GROUP BY component"
        )
        return {r["component"]: int(r["v"]) for r in rows}

    return db.run(read)
