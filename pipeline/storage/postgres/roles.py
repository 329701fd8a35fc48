"""Database roles: one PostgreSQL login per machine role, granted what its processes run.

``setup_database`` is run once by an administrator with the database owner's URL
(the role that owns the schema: it migrates, manages users and is the only one
that may alter the audit log). It migrates every component, then creates (or
checks) one LOGIN role per machine role and grants it exactly the statements its
code paths run, from :data:`GRANTS` below:

- ``worker`` reads and writes the ledger and the index; appends to the audit log;
- ``web`` reads the ledger and the index, records an operator's decisions (see
  below), reads accounts and writes what a login changes, keeps sessions and the
  login throttle, appends to the audit log; for ``/api/v1`` it reads the clients
  (token checks) and keeps their call rate and their uploads by idempotency key;
- ``operator`` (an operator's PC: ``batches``, ``show``, ``audit``, ``review``,
  ``retry`` and ``assign`` queued for a worker) the same without accounts and
  sessions, which its commands never read.

A station has no database role at all: what it hands over reaches the ledger
through a worker. No role may update, delete or truncate ``audit_log``, alter a
table (so no trigger is switched off) or create anything; ``audit_chain.last_id``
may be raised by an appender and never lowered (its trigger).

**Operator decisions.** Retry, assign, re-run and accepting a review (from the web
or an operator's PC, :mod:`pipeline.flow.requeue`) are ordinary ledger writes.
Column grants keep them to the columns those writes set; on top, a trigger on
``documents`` (and one on ``events``) lets the ``web`` and ``operator`` roles make
exactly those moves and no other: back to ``stored_raw`` without an owner from a
settled state, freeing a waiting document, clearing a review note, or settling as
the duplicate of the live document holding the same bytes. A column grant alone
would let those roles set any state on any document (hide an archived one as
``failed``, say); the trigger closes that.

Idempotent like ``sohoa storage setup``: a second run migrates what is new,
re-applies the grants (revoking whatever is not in the table any more), and keeps
existing roles' passwords unless ``rotate`` names them. Passwords are generated
here and sent to the server as SCRAM-SHA-256 verifiers, so the server (and its
log) never sees them; they exist only in the returned records.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from psycopg import sql

from pipeline.errors import ConfigError, NotAllowed
from pipeline.storage.ledger.states import (
    DUPLICATE,
    FAILED,
    INDEXED,
    NEEDS_DOSSIER,
    REJECTED,
    STORED_RAW,
)
from pipeline.storage.postgres.db import Connection, Database

DB_ROLES: tuple[str, ...] = ("worker", "web", "operator")

# The columns an operator's decision writes (requeue.py through Ledger.transition and
# update_fields, and mark_duplicate when the bytes turn out to be archived already).
DECISION_COLUMNS = (
    "state, stage, reason, updated_at, owner, dossier_hint, review,"
    " duplicate_of, pdf_key, metadata_key, text_key, dossier_code, pages,"
    " component_code, kind, procedure_code, place_source"
)
_READ = "SELECT"
_APPEND = "SELECT, INSERT"
_WRITE = "SELECT, INSERT, UPDATE"
_ALL = "SELECT, INSERT, UPDATE, DELETE"
_DECIDE = f"SELECT, UPDATE ({DECISION_COLUMNS})"  # narrowed further by a trigger, see above
_LOGIN = "SELECT, UPDATE (last_login_at, password_hash)"  # a login stamps, and may rehash
_CHAIN = "SELECT, UPDATE (last_id)"  # FOR UPDATE is the appenders' lock; a trigger: never down
_NONE = ""

# Who may do what, table by table. A new table of another component gets its line
# here (a table missing here is the owner's alone, and tests/test_db_roles.py fails
# until every table of the schema is listed); a new column needs nothing unless a
# column grant below should include it.
# fmt: off
GRANTS: dict[str, tuple[str, str, str]] = {
    #                     worker                     web        operator
    "schema_migrations": (_READ,                     _READ,     _READ),
    # ledger
    "batches":           (_WRITE,                    _READ,     _READ),
    "documents":         (_WRITE,                    _DECIDE,   _DECIDE),
    "ordinals":          (_WRITE,                    _NONE,     _NONE),
    "events":            (_APPEND,                   _APPEND,   _APPEND),
    # the outbox (issue 21): a decision may settle a duplicate, whose event the web and
    # operator roles write (a trigger holds every event to the ledger's row); they read the
    # deliveries and ask for replays, which a worker's dispatcher carries out
    "outbox":            (_APPEND,                   _APPEND,   _APPEND),
    "outbox_cursors":    (_WRITE,                    _NONE,     _NONE),
    "outbox_deliveries": (_WRITE,                    _READ,     _READ),
    "outbox_replays":    (_WRITE,                    _APPEND,   _APPEND),
    # index (a document indexed again is deleted and written anew; its pages go by cascade)
    "search_docs":       ("SELECT, INSERT, DELETE",  _READ,     _READ),
    "search_pages":      (_APPEND,                   _READ,     _READ),
    # access (users are managed by the owner: `sohoa users` with the owner's URL)
    "users":             (_NONE,                     _LOGIN,    _NONE),
    "login_throttle":    (_NONE,                     _ALL,      _NONE),
    "web_sessions":      (_NONE,                     _ALL,      _NONE),
    "audit_log":         (_APPEND,                   _APPEND,   _APPEND),
    "audit_chain":       (_CHAIN,                    _CHAIN,    _CHAIN),
    # /api/v1 (clients are managed by the owner: `sohoa clients` with the owner's URL)
    "api_clients":       (_NONE,                     _READ,     _NONE),
    "api_rate":          (_NONE,                     _WRITE,    _NONE),
    "api_uploads":       (_NONE,                     _WRITE,    _NONE),
    # heartbeats: the processes that run documents, for the web's and operators' "is one
    # running?" (a worker prunes rows a week old)
    "worker_heartbeats": (_ALL,                      _READ,     _READ),
}
# fmt: on
# The roles whose document writes the decisions trigger restricts.
DECIDERS: tuple[str, ...] = ("web", "operator")

_PRIVILEGES_RE = re.compile(r"^[A-Z]+( \([a-z_, ]+\))?(, [A-Z]+( \([a-z_, ]+\))?)*$")
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_SECRET_BYTES = 30
_RETRY_FROM = (FAILED, REJECTED, NEEDS_DOSSIER)
# A document's place in its dossier: set by an assign (with its code), kept by every other
# decision.
_PLACE_COLUMNS = ("component_code", "kind", "procedure_code", "place_source")


def grants_of(role: str) -> dict[str, str]:
    """``{table: privileges}`` of one machine role (tables it may not touch left out)."""
    col = DB_ROLES.index(role)
    return {table: privs[col] for table, privs in GRANTS.items() if privs[col]}


def role_names(prefix: str) -> dict[str, str]:
    """The database role of each machine role: ``<prefix>_worker`` and so on."""
    return {role: f"{prefix}_{role}" for role in DB_ROLES}


def default_prefix(database: str) -> str:
    """Roles are named after the database (roles are cluster-wide; databases are not)."""
    cleaned = re.sub(r"[^a-z0-9_]", "_", database.lower()).strip("_") or "sohoa"
    if not cleaned[0].isalpha():
        cleaned = f"db_{cleaned}"
    return cleaned[:40]


@dataclass(frozen=True)
class RoleLogin:
    """One machine role's database login. ``password`` is None when an existing role was
    kept (``status`` ``kept``); then ``url`` carries no password either."""

    role: str
    user: str
    password: str | None
    url: str
    status: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:  # a stray print or log line must not leak the password
        shown = "***" if self.password else None
        return (
            f"RoleLogin(role={self.role!r}, user={self.user!r}, password={shown!r},"
            f" status={self.status!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class DatabaseSetup:
    owner: str
    database: str
    schema: str
    versions: dict[str, int]
    logins: list[RoleLogin]
    owner_only: list[str]  # tables no machine role may touch (not in GRANTS)
    notes: list[str]


def role_url(owner_url: str, user: str, password: str | None) -> str:
    """The owner's URL with another role's name (and password) in it: same host and database."""
    parts = urlsplit(owner_url)
    where = parts.netloc.rpartition("@")[2]
    who = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit((parts.scheme, f"{who}@{where}", parts.path, parts.query, parts.fragment))


def _check_privileges(text: str) -> sql.SQL:
    if not _PRIVILEGES_RE.match(text):
        raise ValueError(f"not a privilege list: {text!r}")
    return sql.SQL(text)  # a constant of this module, checked above


def _decisions_sql(deciders: list[str]) -> list[sql.Composable]:
    """The triggers that keep the deciding roles to an operator's decisions."""
    who = sql.SQL("current_user <> ALL (ARRAY[{}]::name[])").format(
        sql.SQL(", ").join(sql.Literal(n) for n in deciders)
    )
    retry_from = sql.SQL(", ").join(sql.Literal(s) for s in _RETRY_FROM)
    refuse = (
        "RAISE EXCEPTION 'the role % records operator decisions only (retry, assign, re-run,"
        " accept a review)', current_user USING ERRCODE = 'insufficient_privilege';"
    )
    # What only a duplicate marking changes (pointing at the copy that holds the bytes).
    kept = (
        "ROW(NEW.pdf_key, NEW.metadata_key, NEW.text_key, NEW.dossier_code, NEW.pages,"
        " NEW.duplicate_of) IS NOT DISTINCT FROM ROW(OLD.pdf_key, OLD.metadata_key,"
        " OLD.text_key, OLD.dossier_code, OLD.pages, OLD.duplicate_of)"
    )
    documents = sql.SQL(
        "CREATE OR REPLACE FUNCTION sohoa_decisions_only() RETURNS trigger"
        " LANGUAGE plpgsql AS $body$ BEGIN"
        " IF {who} THEN RETURN NEW; END IF;"
        " IF {kept} THEN"
        # a flagged archived document accepted as read: its note cleared, nothing else
        "  IF OLD.state = {indexed} AND NEW.state = {indexed} AND OLD.review IS NOT NULL"
        "   AND NEW.review IS NULL AND ROW(NEW.stage, NEW.reason, NEW.owner, NEW.dossier_hint,"
        "   {place_new}) IS NOT DISTINCT FROM ROW(OLD.stage, OLD.reason, OLD.owner,"
        "   OLD.dossier_hint, {place_old})"
        "  THEN RETURN NEW; END IF;"
        # a document waiting in custody for a process that is gone, freed for a worker
        "  IF OLD.state = {stored} AND NEW.state = {stored} AND NEW.owner IS NULL"
        "   AND ROW(NEW.stage, NEW.reason, NEW.dossier_hint, NEW.review, {place_new})"
        "   IS NOT DISTINCT FROM ROW(OLD.stage, OLD.reason, OLD.dossier_hint, OLD.review,"
        "   {place_old})"
        "  THEN RETURN NEW; END IF;"
        # retry, assign (a new hint) or re-run: queued for a worker, nobody holding it
        "  IF NEW.state = {stored} AND NEW.owner IS NULL AND NEW.stage = 'operator'"
        "   AND NEW.review IS NOT DISTINCT FROM OLD.review"
        "   AND (OLD.state IN ({retry_from}) OR (OLD.state = {indexed} AND OLD.review IS NOT NULL))"
        "  THEN RETURN NEW; END IF;"
        # queued bytes that another live document holds: settled as its duplicate
        " ELSIF NEW.state = {duplicate} AND NEW.stage = 'dedupe' AND NEW.owner IS NULL"
        "  AND OLD.state IN ({retry_from})"
        "  AND ROW(NEW.review, NEW.dossier_hint, {place_new})"
        "  IS NOT DISTINCT FROM ROW(OLD.review, OLD.dossier_hint, {place_old})"
        "  AND EXISTS (SELECT 1 FROM documents p WHERE p.id = NEW.duplicate_of AND p.id <> OLD.id"
        "   AND p.sha256 = OLD.sha256 AND ROW(p.pdf_key, p.metadata_key, p.text_key,"
        "   p.dossier_code, p.pages) IS NOT DISTINCT FROM ROW(NEW.pdf_key, NEW.metadata_key,"
        "   NEW.text_key, NEW.dossier_code, NEW.pages))"
        " THEN RETURN NEW;"
        " END IF; {refuse} END $body$"
    ).format(
        who=who,
        place_new=sql.SQL(", ".join(f"NEW.{c}" for c in _PLACE_COLUMNS)),
        place_old=sql.SQL(", ".join(f"OLD.{c}" for c in _PLACE_COLUMNS)),
        kept=sql.SQL(kept),
        indexed=sql.Literal(INDEXED),
        stored=sql.Literal(STORED_RAW),
        duplicate=sql.Literal(DUPLICATE),
        retry_from=retry_from,
        refuse=sql.SQL(refuse),
    )
    events = sql.SQL(
        "CREATE OR REPLACE FUNCTION sohoa_decision_events() RETURNS trigger"
        " LANGUAGE plpgsql AS $body$ BEGIN"
        " IF {who} THEN RETURN NEW; END IF;"
        # the event of the decision just written to the document's row, and no other
        " IF NEW.stage IN ('operator', 'dedupe') AND EXISTS (SELECT 1 FROM documents d"
        "  WHERE d.id = NEW.document_id AND d.state = NEW.to_state AND d.stage = NEW.stage"
        "  AND d.batch_id IS NOT DISTINCT FROM NEW.batch_id"
        "  AND d.reason IS NOT DISTINCT FROM NEW.reason)"
        " THEN RETURN NEW; END IF; {refuse} END $body$"
    ).format(who=who, refuse=sql.SQL(refuse))
    return [
        documents,
        events,
        sql.SQL("DROP TRIGGER IF EXISTS sohoa_decisions_only ON documents"),
        sql.SQL(
            "CREATE TRIGGER sohoa_decisions_only BEFORE UPDATE ON documents"
            " FOR EACH ROW EXECUTE FUNCTION sohoa_decisions_only()"
        ),
        sql.SQL("DROP TRIGGER IF EXISTS sohoa_decision_events ON events"),
        sql.SQL(
            "CREATE TRIGGER sohoa_decision_events BEFORE INSERT ON events"
            " FOR EACH ROW EXECUTE FUNCTION sohoa_decision_events()"
        ),
    ]


def _check_owner(conn: Connection, names: dict[str, str]) -> dict[str, Any]:
    """Who runs setup, and whether that role can: it creates roles and owns the tables."""
    me = conn.execute(
        "SELECT current_user AS name, current_database() AS db, current_schema() AS schema,"
        " r.rolsuper AS super, r.rolcreaterole AS createrole FROM pg_roles r"
        " WHERE r.rolname = current_user"
    ).fetchone()
    if me["name"] in names.values():
        raise NotAllowed(
            f"database setup was given the URL of {me['name']}, a machine's role: it needs"
            " the database owner's URL"
        )
    if not (me["super"] or me["createrole"]):
        raise NotAllowed(
            f"database setup needs the database owner's URL with the right to create roles;"
            f" the role {me['name']} has no CREATEROLE (ALTER ROLE {me['name']} CREATEROLE,"
            " as the PostgreSQL superuser)"
        )
    return me


def _foreign_tables(conn: Connection) -> list[tuple[str, str]]:
    """sohoa's tables here that this role does not own (then it cannot grant on them)."""
    rows = conn.execute(
        "SELECT c.relname AS name, pg_get_userbyid(c.relowner) AS owner FROM pg_class c"
        " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')"
        " AND c.relname = ANY(%s) AND NOT pg_has_role(current_user, c.relowner, 'USAGE')",
        ([*GRANTS],),
    ).fetchall()
    return [(r["name"], r["owner"]) for r in rows]


def _migrate(db: Database) -> None:
    """Every component's schema, created or brought up to date by the owner."""
    from pipeline.storage import heartbeats
    from pipeline.storage.postgres.access import PostgresAccess
    from pipeline.storage.postgres.index import PostgresIndex
    from pipeline.storage.postgres.ledger import PostgresLedger

    PostgresLedger(db, owns_db=False)
    PostgresIndex(db, owns_db=False)
    PostgresAccess(db, owns_db=False)
    heartbeats.migrate_postgres(db)


def _ensure_role(conn: Connection, name: str, password: str | None) -> str:
    """Create ``name`` as a plain login, or check an existing one is still that; set the
    password when given. Returns ``created``, ``rotated`` or ``kept``."""
    row = conn.execute(
        "SELECT rolsuper, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = %s", (name,)
    ).fetchone()
    verifier = None
    if password is not None:
        # The server gets the SCRAM verifier, never the password (nor does its log).
        verifier = conn.pgconn.encrypt_password(
            password.encode(), name.encode(), b"scram-sha-256"
        ).decode()
    if row is None:
        assert verifier is not None
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN INHERIT PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(verifier)
            )
        )
        return "created"
    if row["rolsuper"] or row["rolreplication"] or row["rolbypassrls"]:
        raise ConfigError(
            f"the database role {name} exists with SUPERUSER, REPLICATION or BYPASSRLS: a"
            " machine's role must not have them; drop it (DROP OWNED BY, DROP ROLE) or choose"
            " another --prefix"
        )
    member_of = [
        r["name"]
        for r in conn.execute(
            "SELECT pg_get_userbyid(roleid) AS name FROM pg_auth_members WHERE member ="
            " (SELECT oid FROM pg_roles WHERE rolname = %s)",
            (name,),
        )
    ]
    if member_of:
        raise ConfigError(
            f"the database role {name} is a member of {', '.join(sorted(member_of))} and would"
            f" have its rights: REVOKE them from {name} first"
        )
    conn.execute(
        sql.SQL("ALTER ROLE {} LOGIN INHERIT NOCREATEDB NOCREATEROLE").format(sql.Identifier(name))
    )
    if verifier is None:
        return "kept"
    conn.execute(
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(name), sql.Literal(verifier))
    )
    return "rotated"


def _grant(conn: Connection, names: dict[str, str], notes: list[str]) -> list[str]:
    """Database, schema and table privileges of every machine role, as :data:`GRANTS` says
    and nothing more. Returns the tables left to the owner alone."""
    roles = sql.SQL(", ").join(sql.Identifier(n) for n in names.values())
    where = conn.execute(
        "SELECT current_database() AS db, current_schema() AS schema,"
        " (SELECT pg_has_role(current_user, datdba, 'USAGE') FROM pg_database"
        "  WHERE datname = current_database()) AS owns_db,"
        " (SELECT pg_has_role(current_user, nspowner, 'USAGE') FROM pg_namespace"
        "  WHERE nspname = current_schema()) AS owns_schema"
    ).fetchone()
    db, schema = sql.Identifier(where["db"]), sql.Identifier(where["schema"])
    if where["owns_db"]:
        # Nobody else connects or makes temporary tables; the machine roles connect only.
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, roles))
    else:
        notes.append(
            f"the database {where['db']} belongs to another role: who may connect to it and"
            " make temporary tables there is left as it is"
        )
    if where["owns_schema"]:
        conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(schema))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, roles))
    relations = conn.execute(
        "SELECT c.relname AS name, c.relkind AS kind FROM pg_class c"
        " WHERE c.relnamespace = current_schema()::regnamespace"
        " AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')"
        " AND pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY c.relname"
    ).fetchall()
    tables = set()
    for rel in relations:  # start from nothing: a grant dropped from the table goes too
        kind = "SEQUENCE" if rel["kind"] == "S" else "TABLE"
        conn.execute(
            sql.SQL("REVOKE ALL ON {} {} FROM {}").format(
                sql.SQL(kind), sql.Identifier(rel["name"]), roles
            )
        )
        if rel["kind"] in ("r", "p"):
            tables.add(rel["name"])
    missing = set(GRANTS) - tables
    if missing:
        raise ConfigError(f"the schema lacks the tables {', '.join(sorted(missing))}")
    for table, privileges in GRANTS.items():
        for role, text in zip(DB_ROLES, privileges, strict=True):
            if text:
                conn.execute(
                    sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                        _check_privileges(text), sql.Identifier(table), sql.Identifier(names[role])
                    )
                )
    for statement in _decisions_sql([names[r] for r in DECIDERS]):
        conn.execute(statement)
    for name in names.values():
        bad = conn.execute(
            "SELECT has_schema_privilege(%s, current_schema(), 'CREATE') AS schema,"
            " has_database_privilege(%s, current_database(), 'CREATE') AS db",
            (name, name),
        ).fetchone()
        if bad["schema"] or bad["db"]:
            raise ConfigError(
                f"the database role {name} may still create objects in {where['db']}"
                f" (schema {where['schema']}): run setup as the owner of the database and schema"
            )
    return sorted(tables - set(GRANTS))


def setup_database(
    url: str, *, prefix: str | None = None, rotate: Iterable[str] = ()
) -> DatabaseSetup:
    """Migrate, create the machine roles and grant them their rights; see the module docstring.

    ``rotate`` names roles (of :data:`DB_ROLES`) that get a new password although they
    exist. Every change is made in one transaction: a failure leaves things as they were.
    """
    rotate = set(rotate)
    unknown = rotate - set(DB_ROLES)
    if unknown:
        raise ConfigError(f"unknown role(s) to rotate: {', '.join(sorted(unknown))}")
    if prefix is not None and not _PREFIX_RE.match(prefix):
        raise ConfigError(
            "the database role prefix is 1-41 characters of a-z, 0-9 and _, starting with a letter"
        )
    db = Database(url, pool_size=1, name="setup")
    try:
        database = db.run(
            lambda conn, attempt: conn.execute("SELECT current_database() AS d").fetchone()["d"]
        )
        names = role_names(prefix or default_prefix(database))
        me = db.run(lambda conn, attempt: _check_owner(conn, names))
        foreign = db.run(lambda conn, attempt: _foreign_tables(conn))
        if foreign:
            listed = ", ".join(f"{t} ({o})" for t, o in foreign)
            raise NotAllowed(
                f"the role {me['name']} does not own {listed}: run database setup with the URL of"
                " the role that owns the schema"
            )
        _migrate(db)
        passwords = {role: secrets.token_urlsafe(_SECRET_BYTES) for role in DB_ROLES}
        notes: list[str] = []

        def apply(conn: Connection, attempt: int) -> tuple[dict[str, str], list[str]]:
            notes.clear()
            status = {}
            for role, name in names.items():
                exists = conn.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)
                ).fetchone()
                wanted = passwords[role] if (exists is None or role in rotate) else None
                status[role] = _ensure_role(conn, name, wanted)
            return status, _grant(conn, names, notes)

        status, owner_only = db.run(apply)
        from pipeline.storage.postgres.migrations import versions

        logins = []
        for role, name in names.items():
            password = passwords[role] if status[role] != "kept" else None
            logins.append(
                RoleLogin(role, name, password, role_url(url, name, password), status[role])
            )
        return DatabaseSetup(
            owner=me["name"],
            database=database,
            schema=me["schema"],
            versions=versions(db),
            logins=logins,
            owner_only=owner_only,
            notes=notes,
        )
    finally:
        db.close()
