"""The access tables (users, login throttle, web sessions, audit log) in PostgreSQL.

The stores themselves are the ones SQLite uses (:class:`~pipeline.access.users.SqlUserStore`,
:class:`~pipeline.access.sessions.SqlSessionStore`, :class:`~pipeline.access.audit.SqlAuditLog`);
this module is only the :class:`~pipeline.access.db.AccessBackend` they run on: ``?``
placeholders become psycopg's, every call is one :meth:`Database.run` transaction
(so it survives a restart of the server), and the schema is the ``access``
component of :mod:`~pipeline.storage.postgres.migrations`.

The audit log is append-only in the database: a trigger raises on any UPDATE,
DELETE or TRUNCATE of ``audit_log``. Appends from every machine serialize on the
single ``audit_chain`` row, locked ``FOR UPDATE`` before the last row is read
(READ COMMITTED: the statements after the lock see what the previous holder
committed), so the chain stays one line. That row also keeps the highest id ever
given out, and its own trigger lets it only move forward, so a truncated tail is
found as it is on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from pipeline.access.users import USER_ROLES
from pipeline.config import Config
from pipeline.storage.postgres.db import Connection, Database
from pipeline.storage.postgres.migrations import Migration, migrate

T = TypeVar("T")
COMPONENT = "access"
# Advisory locks taken by the stores (``Tx.lock``) use this class id and a hash of their
# key, a space apart from the migrations' one-number lock.
_LOCK_CLASS = 0x61636373  # "accs"


def _schema() -> list[str]:
    roles = ", ".join(f"'{r}'" for r in USER_ROLES)
    refuse = (
        "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " RAISE EXCEPTION 'audit rows are append-only' USING ERRCODE = 'insufficient_privilege';"
        " END $$"
    )
    return [
        # COLLATE "C": names and ISO times order and compare byte by byte, as on SQLite.
        'CREATE TABLE users (name TEXT COLLATE "C" PRIMARY KEY,'
        f" role TEXT NOT NULL CHECK (role IN ({roles})), password_hash TEXT NOT NULL,"
        " disabled BOOLEAN NOT NULL DEFAULT FALSE, created_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL, last_login_at TEXT)",
        "CREATE TABLE login_throttle (key TEXT PRIMARY KEY, failures INTEGER NOT NULL,"
        " window_start DOUBLE PRECISION NOT NULL,"
        " locked_until DOUBLE PRECISION NOT NULL DEFAULT 0)",
        "CREATE TABLE web_sessions (sid_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL,"
        " csrf_token TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,"
        " last_seen DOUBLE PRECISION NOT NULL, client TEXT)",
        "CREATE INDEX web_sessions_user ON web_sessions (user_name)",
        "CREATE TABLE audit_log (id BIGINT PRIMARY KEY CHECK (id > 0),"
        ' at TEXT COLLATE "C" NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, object TEXT,'
        " dossier TEXT, client TEXT, details TEXT NOT NULL, prev_hash TEXT NOT NULL,"
        " hash TEXT NOT NULL)",
        "CREATE INDEX audit_log_actor ON audit_log (actor, at)",
        "CREATE INDEX audit_log_dossier ON audit_log (dossier, at)",
        "CREATE INDEX audit_log_action ON audit_log (action, at)",
        f"CREATE FUNCTION audit_log_refuse() {refuse}",
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
        " FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
        " FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()",
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
        " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()",
        # The chain's head: one row, the lock every appender takes and the highest id given.
        "CREATE TABLE audit_chain (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),"
        " last_id BIGINT NOT NULL CHECK (last_id >= 0))",
        "INSERT INTO audit_chain (one, last_id) VALUES (TRUE, 0)",
        "CREATE FUNCTION audit_chain_forward() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF TG_OP = 'UPDATE' AND NEW.one = OLD.one AND NEW.last_id >= OLD.last_id THEN"
        " RETURN NEW; END IF;"
        " RAISE EXCEPTION 'the audit chain only moves forward'"
        " USING ERRCODE = 'insufficient_privilege'; END $$",
        "CREATE TRIGGER audit_chain_forward BEFORE UPDATE OR DELETE ON audit_chain"
        " FOR EACH ROW EXECUTE FUNCTION audit_chain_forward()",
        "CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain"
        " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()",
    ]


def _attempts() -> list[str]:
    """Every login attempt in the window is numbered, refused ones too (for the audit)."""
    return ["ALTER TABLE login_throttle ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0"]


def _api() -> list[str]:
    """Systems that use /api/v1 (issue 21): clients and their hashed tokens, each client's
    rate (its theoretical arrival time, GCRA), and uploads by idempotency key."""
    return [
        'CREATE TABLE api_clients (name TEXT COLLATE "C" PRIMARY KEY,'
        " token_hash TEXT NOT NULL UNIQUE, token_hint TEXT NOT NULL, scopes TEXT NOT NULL,"
        ' created_at TEXT COLLATE "C" NOT NULL, revoked_at TEXT COLLATE "C")',
        'CREATE TABLE api_rate (client TEXT COLLATE "C" PRIMARY KEY,'
        " tat DOUBLE PRECISION NOT NULL)",
        "CREATE TABLE api_uploads (document_id TEXT PRIMARY KEY,"
        ' client TEXT COLLATE "C" NOT NULL, idempotency_key TEXT COLLATE "C",'
        ' batch_id TEXT NOT NULL, dossier_code TEXT COLLATE "C" NOT NULL,'
        " sha256 TEXT NOT NULL, request TEXT NOT NULL,"
        ' created_at TEXT COLLATE "C" NOT NULL, handed_over_at TEXT COLLATE "C",'
        " UNIQUE (client, idempotency_key))",
        "CREATE INDEX api_uploads_dossier ON api_uploads (dossier_code)",
    ]


# The access tables' migrations; a later schema change is appended here, never edited in.
MIGRATIONS = (
    Migration(1, "users, login throttle, web sessions, append-only audit log", _schema),
    Migration(2, "login_throttle.attempts: every attempt counted, refused ones too", _attempts),
    Migration(3, "api_clients, api_rate, api_uploads: systems that use /api/v1", _api),
)


def _pg(sql: str) -> str:
    """The stores' ``?`` placeholders in psycopg's style (their SQL has no ``%`` or ``?`` else)."""
    if "%" in sql:
        raise ValueError("access SQL must not contain %")
    return sql.replace("?", "%s")


class _PgTx:
    """:class:`~pipeline.access.db.Tx` on one psycopg connection inside ``Database.run``."""

    def __init__(self, conn: Connection, attempt: int) -> None:
        self.conn = conn
        self.attempt = attempt

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.conn.execute(_pg(sql), tuple(args))

    def stream(self, sql: str, args: Sequence[Any] = ()) -> Iterator[Any]:
        """Rows fetched a thousand at a time (a server-side cursor), not all into memory."""
        with self.conn.cursor(name="sohoa_access_stream") as cur:
            cur.itersize = 1000
            cur.execute(_pg(sql), tuple(args))
            yield from cur

    def lock(self, key: str) -> None:
        self.conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, key)
        ).fetchone()

    def audit_high_water(self, *, lock: bool) -> int:
        row = self.conn.execute(
            "SELECT last_id FROM audit_chain WHERE one" + (" FOR UPDATE" if lock else "")
        ).fetchone()
        return int(row["last_id"]) if row else 0

    def audit_advance(self, row_id: int) -> None:
        self.conn.execute("UPDATE audit_chain SET last_id = %s WHERE one", (row_id,))


class PostgresAccess:
    """The access tables on one PostgreSQL database, shared by every machine of an office."""

    def __init__(self, db: Database, *, owns_db: bool = True) -> None:
        self.db = db
        self._owns_db = owns_db
        self.created = migrate(db, COMPONENT, MIGRATIONS)

    @classmethod
    def from_config(cls, cfg: Config) -> PostgresAccess:
        return cls(Database.from_config(cfg, "access"))

    def _run(self, fn: Callable[[_PgTx], T]) -> T:
        return self.db.run(lambda conn, attempt: fn(_PgTx(conn, attempt)))

    # Reads and writes alike are one transaction, retried whole after a broken connection.
    read = _run
    write = _run

    def close(self) -> None:
        if self._owns_db:
            self.db.close()
