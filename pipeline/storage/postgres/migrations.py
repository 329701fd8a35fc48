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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.errors import DatabaseUnavailable
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
