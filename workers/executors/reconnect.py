"""What a broker (Redis) restart costs a worker: a few log lines, not a crashed consumer.

Three things made one restart of Redis cost each ``sohoa worker`` hundreds of lines
and a consumer (measured with Celery 5.7, kombu 5.7, redis-py 8:
``tests/test_broker_restart.py``):

- **the crash**: on a lost connection Celery's consumer first ``collect()``s its
  connection, which detaches the transport from it, then ``close()``s it; closing the
  Redis channel tries to put back the messages it delivered and not yet acknowledged,
  which needs a connection pool built from the detached transport's URL: an
  ``AttributeError`` (``'NoneType' object has no attribute 'hostname'``) that nothing
  catches, logged CRITICAL as "Unrecoverable error", and the consumer process ends
  (``sohoa worker`` started it again, banner and all). :class:`Transport` answers that
  one call with the connection error it is (the broker is gone), which the closing
  code expects and ignores. Nothing is lost either way: kombu keeps every delivered
  message in Redis's ``unacked`` hash until it is acknowledged, and hands it out again
  after ``broker.visibility_timeout``; sohoa's tasks are idempotent.
- **tracebacks for an expected event**: every task whose result or acknowledgement
  met the closed connection logged the whole redis-py/kombu stack (30-80 lines each),
  an acknowledgement that failed so at CRITICAL. :class:`OneLine` keeps such a record
  to its first line, names the cause, and logs it as an ERROR at most (the message
  stays in Redis and is delivered again); retry notices are thinned to the first
  and every tenth.
- **a deprecation notice at every reconnect** (Celery's 9-line text about
  ``worker_cancel_long_running_tasks_on_connection_loss``). sohoa keeps the default on
  purpose, letting a running page finish rather than cancelling it (a cancelled page
  would count as a worker death): the notice is silenced, not the behaviour changed.

Also silenced in the consumers: Celery's "superuser privileges" warning, which it
repeats at every consumer start; ``sohoa worker`` says it once itself (see
:func:`root_notice`).
"""

from __future__ import annotations

import logging
import os
import re
import warnings

import redis.exceptions
from kombu.transport import redis as kombu_redis

# Exceptions that mean "the broker connection is gone", wherever in a chain they sit.
_LOST = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False):  # type: ignore[no-untyped-def]
        if self.connection.client is None:
            # The consumer already let go of this transport (see the module's docstring):
            # there is no broker to reach through it, which is what closing expects to hear.
            raise redis.exceptions.ConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    """kombu's Redis transport, with the channel above."""

    Channel = Channel


TRANSPORT = f"{__name__}:Transport"


def install() -> None:
    """This process's ``redis://`` and ``rediss://`` brokers use :class:`Transport`.

    By kombu's alias table rather than Celery's ``broker_transport`` setting: the URL keeps
    its scheme (kombu turns TLS on for ``rediss`` by the scheme's name, and log lines show
    ``redis://``). Called before the first connection of the process.
    """
    from kombu import transport as kombu_transport

    for scheme in ("redis", "rediss"):
        kombu_transport.TRANSPORT_ALIASES[scheme] = TRANSPORT
        kombu_transport._transport_cache.pop(scheme, None)


def _lost_broker(exc: BaseException | None) -> BaseException | None:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, _LOST):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


# Retries Celery logs once per attempt while the broker is away: the first is kept, then
# every tenth (a longer outage still shows it is being retried).
_ATTEMPT = re.compile(r"(?:Trying again .*\((\d+)/|Connection to Redis lost: Retry \((\d+)/)")
# Warnings (captured into logging as ``py.warnings``) that a reconnect repeats.
_SILENT = re.compile(
    r".*(?:In Celery 5\.1 we introduced an optional breaking change"
    r"|Exception raised outside body: .*(?:ConnectionError|OperationalError))",
    re.S,
)


class OneLine(logging.Filter):
    """A broker outage in a few lines: a record whose exception is a lost connection keeps
    its first line; retry notices are thinned; notices repeated at every reconnect go."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "py.warnings" and _SILENT.match(str(record.msg)):
            return False
        exc = record.exc_info[1] if record.exc_info else None
        lost = _lost_broker(exc)
        if lost is not None:
            text = record.getMessage().splitlines()[0] if record.getMessage() else ""
            record.msg = f"{text} (broker connection lost: {type(lost).__name__}: {lost})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            if record.levelno > logging.ERROR:  # "Couldn't ack": delivered again, not lost
                record.levelno, record.levelname = logging.ERROR, "ERROR"
            return True
        if record.levelno >= logging.WARNING:
            found = _ATTEMPT.search(record.getMessage())
            if found:
                attempt = int(found.group(1) or found.group(2))
                return attempt <= 1 or attempt % 10 == 0
        return True


def quiet_consumer_logs() -> None:
    """In a consumer process: :class:`OneLine` on every handler Celery sets up, and
    Celery's superuser warning (repeated at every consumer start) silenced."""
    from celery.exceptions import SecurityWarning
    from celery.signals import after_setup_logger, after_setup_task_logger

    warnings.filterwarnings("ignore", category=SecurityWarning)

    def attach(logger: logging.Logger | None = None, **_: object) -> None:
        for target in (logger or logging.getLogger(), logging.getLogger()):
            for handler in target.handlers:
                if not any(isinstance(f, OneLine) for f in handler.filters):
                    handler.addFilter(OneLine())

    after_setup_logger.connect(attach, weak=False)
    after_setup_task_logger.connect(attach, weak=False)


def root_notice() -> str | None:
    """The one line ``sohoa worker`` prints when it runs as root (None otherwise).

    Celery's own warning says the same at every consumer start; ``C_FORCE_ROOT`` would
    not quiet it (with JSON-only content Celery warns regardless, the variable only lifts
    its refusal of pickle, which sohoa never accepts), so it is said here once instead.
    """
    if os.geteuid() != 0:
        return None
    return (
        "warning: running as root: the page workers open files that came from outside;"
        " run sohoa worker as an unprivileged account (the image runs as user sohoa)"
    )
