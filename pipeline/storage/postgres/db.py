"""One PostgreSQL database behind a connection pool, with every operation retried across a restart.

Everything that talks to PostgreSQL goes through :meth:`Database.run`: one
function, one transaction. A connection that breaks (the server restarted, a
network cut) is thrown away by the pool and the whole transaction is run again
on a fresh one for up to ``database.retry_seconds``; the functions are written
so that running them twice is the same as once (ids are chosen before the
first try, inserts skip what is there, a state change already made is seen as
done). A server never reached at all is reported at once as
:class:`DatabaseUnavailable` (exit 4), as MinIO is. A statement this
connection's role may not run (``sohoa database setup`` gives each machine's
role only what its job needs) is :class:`NotAllowed` (exit 5), naming the role.

psycopg stays in ``pipeline/storage/``: callers see records and ``SohoaError``s.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from pipeline.config import Config
from pipeline.errors import DatabaseUnavailable, NotAllowed

T = TypeVar("T")
Connection = psycopg.Connection[dict[str, Any]]


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql:", "postgres:"))


def shown_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)


class Database:
    """A pool of connections to one database; see the module docstring for the retry rule."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 4,
        connect_timeout: float = 5.0,
        retry_seconds: float = 60.0,
        name: str = "sohoa",
    ) -> None:
        self.url = url
        self.shown = shown_url(url)
        self.connect_timeout = connect_timeout
        self.retry_seconds = retry_seconds
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            open=False,
            name=name,
            timeout=connect_timeout,
            # No check on checkout (a round trip per call): a connection the server dropped
            # fails its first statement, and run() then retries on a fresh one.
            kwargs={
                "row_factory": dict_row,
                # No server-side prepared statements: after a few runs PostgreSQL would plan a
                # search generically, blind to how rare its words are (measured: 5-10× slower),
                # and a pooler in front (PgBouncer) may not keep them anyway.
                "prepare_threshold": None,
                "connect_timeout": max(1, int(connect_timeout)),
                "application_name": f"sohoa-{name}",
            },
        )
        try:
            # One plain attempt first: a refused connection or a wrong password is reported
            # at once, in the server's words, instead of after the pool's whole timeout.
            with psycopg.connect(url, connect_timeout=max(1, int(connect_timeout))) as first:
                self.role = first.info.user  # the database role, for refusals and messages
        except psycopg.Error as exc:
            # The reason is this attempt's own: asking again could meet a database created
            # in between and report a timeout that never happened.
            raise DatabaseUnavailable(
                f"cannot connect to the database {self.shown}: {self._said(exc)}"
            ) from None
        try:
            self.pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            self.pool.close(timeout=0)
            raise DatabaseUnavailable(
                f"cannot connect to the database {self.shown}: {self._reason()}"
            ) from None
        self._closed = False
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: Config, name: str) -> Database:
        db = cfg.database
        return cls(
            str(db.url),
            pool_size=db.pool_size,
            connect_timeout=db.connect_timeout,
            retry_seconds=db.retry_seconds,
            name=name,
        )

    def _reason(self) -> str:
        """Why a connection cannot be made, in the server's or the network's words."""
        try:
            psycopg.connect(self.url, connect_timeout=max(1, int(self.connect_timeout))).close()
        except psycopg.Error as exc:
            return self._said(exc)
        return "no connection within the time allowed"

    def _said(self, exc: psycopg.Error) -> str:
        """The last line of a driver error, with the password hidden."""
        text = str(exc).strip().splitlines()
        return (text[-1] if text else type(exc).__name__).replace(self.url, self.shown)

    def run(self, fn: Callable[[Connection, int], T]) -> T:
        """``fn(conn, attempt)`` in one transaction, retried on a broken connection."""
        deadline: float | None = None
        attempt = 0
        while True:
            try:
                with self.pool.connection() as conn, conn.transaction():
                    return fn(conn, attempt)
            except psycopg.errors.InsufficientPrivilege as exc:
                raise NotAllowed(self.refusal(exc)) from None
            # A connection the server dropped fails with OperationalError, or InterfaceError
            # when it breaks inside a pipeline (one round trip per document in the index).
            except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
                if self._closed:
                    raise DatabaseUnavailable(f"the database {self.shown} is closed") from None
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.retry_seconds
                if now >= deadline:
                    detail = str(exc).strip().splitlines()
                    raise DatabaseUnavailable(
                        f"the database {self.shown} is unreachable"
                        f" ({detail[-1] if detail else type(exc).__name__}); gave up after"
                        f" {self.retry_seconds:g} s (database.retry_seconds)"
                    ) from None
                time.sleep(min(0.2 * 2**attempt, 2.0))
                attempt += 1

    def refusal(self, exc: psycopg.Error) -> str:
        """One line for a statement the server refused this role, in the server's words."""
        said = (exc.diag.message_primary or str(exc)).strip().splitlines()
        return f"the database role {self.role} may not do that: {said[0] if said else 'refused'}"

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.pool.close(timeout=5)
