"""`sohoa worker`: the Celery workers of one machine (DESIGN §3, §5).

Two consumers, because a document waits for its pages and must never hold the
slot a page needs (that deadlocks a small office with one worker machine):

- pages: a prefork pool of ``--concurrency`` processes (default: the cores),
  each running one single-threaded Tesseract (``OMP_THREAD_LIMIT=1``);
- documents: ``--documents`` threads, each orchestrating one document (its pages
  go to the page queue, any machine's workers take them).

``sohoa worker`` runs each as a child process (``--role pages`` / ``--role
documents``) and starts one again if it ends by itself; children end with it.
The supervisor itself runs the intake and the pick-up (:class:`Pickup`, a thread):
custody records of the stations into the ledger, and stalled documents taken over,
each sent to the documents queue once; and, when webhooks are configured, the events'
delivery (:class:`EventDelivery`, another thread). Before anything starts it checks that
MinIO, the database and the broker accept this machine's keys, and refuses to
start, with one line, when one does not.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from pipeline.config import Config, webhook_endpoints
from pipeline.errors import BrokerUnavailable, ConfigError, ExitCode
from workers.cli.output import Output


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("worker", parents=[common], help="run this machine's Celery workers")
    p.add_argument(
        "--concurrency", type=int, metavar="N", help="page processes (default: the cores)"
    )
    p.add_argument(
        "--documents", type=int, metavar="M", help="documents orchestrated at once (default 4)"
    )
    p.add_argument("--role", choices=("all", "pages", "documents"), default="all")
    p.set_defaults(handler=cmd_worker)


def _celery_argv(queue: str, pool: str, concurrency: int, name: str) -> list[str]:
    return [
        "worker",
        "--queues",
        queue,
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}@{socket.gethostname()}",
        "--prefetch-multiplier",
        "1",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        os.environ.get("SOHOA_WORKER_LOGLEVEL", "WARNING"),
    ]


def _end_with_parent(parent: int) -> None:
    """The documents process must not outlive the ``sohoa worker`` that started it."""

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            threading.Event().wait(1.0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def cmd_worker(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    from workers.executors import celery as tasks
    from workers.executors.local import pool_size

    if not cfg.broker.url:
        raise ConfigError("sohoa worker needs SOHOA_BROKER_URL (redis://…)")
    concurrency = args.concurrency or pool_size(cfg)
    documents = args.documents if args.documents is not None else 4
    os.environ["OMP_THREAD_LIMIT"] = "1"
    if args.role != "all":  # one consumer, started (and restarted) by `sohoa worker`
        from workers.executors import reconnect

        reconnect.quiet_consumer_logs()
        app = tasks.configure(cfg)
        parent = int(os.environ.get("SOHOA_WORKER_PARENT", "0"))
        if parent:
            _end_with_parent(parent)
        if args.role == "documents":
            from pipeline.storage import heartbeats  # pages noted on the supervisor's row

            heartbeats.register(cfg, "worker", heartbeats.process_name("worker", parent or None))
            argv = _celery_argv(tasks.DOCUMENTS_QUEUE, "threads", documents, "documents")
        else:
            argv = _celery_argv(tasks.PAGES_QUEUE, "prefork", concurrency, "pages")
        app.worker_main(argv)
        return int(ExitCode.OK)
    if not cfg.database.url:
        out.info(
            "warning: no SOHOA_DATABASE_URL: documents use the SQLite ledger under"
            f" {cfg.home}, which only processes sharing that folder see"
        )
    check_keys(cfg)
    from workers.executors.reconnect import root_notice

    if notice := root_notice():
        out.info(notice)
    roles = {"pages": ["--concurrency", str(concurrency)]}
    if documents > 0:
        roles["documents"] = ["--documents", str(documents)]
    out.info(
        f"worker on {socket.gethostname()}: {concurrency} page processes"
        + (f", {documents} document threads" if documents > 0 else "")
        + f", broker {_shown(cfg.broker.url)}"
    )
    tasks.configure(cfg)  # the pick-up sends documents to the queue
    pickup = Pickup(cfg, out.info)
    pickup.start()
    delivery = EventDelivery(cfg, out.info) if webhook_endpoints(cfg) else None
    if delivery is not None:
        delivery.start()
    try:
        return _supervise(args, roles, out)
    finally:
        pickup.close()
        if delivery is not None:
            delivery.close()
        from pipeline.storage import heartbeats

        heartbeats.leave()  # no longer shown as running


def check_keys(cfg: Config) -> None:
    """Refuse to start unless MinIO, the database and the broker take this machine's keys.

    A worker with a wrong key would otherwise start, take documents and put each back
    as "storage unreachable" while the others wait for it. Raises the one error to show
    (exit 4: refused or unreachable; exit 5: a key of another role).
    """
    from pipeline.storage import objects as objects_mod
    from pipeline.storage.ledger import open_ledger
    from workers.cli.process import require_worker_key

    require_worker_key(cfg, "worker")
    objects_mod.connect(cfg).ensure_buckets()  # one signed request per bucket
    open_ledger(cfg).close()
    _check_broker(cfg)


def _check_broker(cfg: Config) -> None:
    import redis

    url = str(cfg.broker.url)
    if not url.startswith(("redis://", "rediss://")):
        return  # another transport: Celery itself reports it
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as exc:
        raise BrokerUnavailable(
            f"the broker {_shown(url)} refuses this machine's credentials ({exc}):"
            " check SOHOA_BROKER_URL"
        ) from None
    except redis.exceptions.RedisError as exc:
        raise BrokerUnavailable(f"the broker {_shown(url)} is unreachable: {exc}") from None
    finally:
        client.close()


class Pickup:
    """The supervisor's thread: every ``run.pickup_seconds``, custody records into the ledger
    and stalled documents taken over, each claimed for the queue and sent to it once.

    A document it claimed waits in the queue under ``queued@<host>`` for
    ``run.queue_lease_seconds``; should its message be lost, any machine sends it again
    after that. A claim whose message could not be sent is released at once.
    """

    def __init__(self, cfg: Config, log: Callable[[str], None]) -> None:
        self.cfg, self.log = cfg, log
        self._stop = threading.Event()
        self._told: str | None = None
        self._swept = 0.0  # monotonic time of the last sweep of the work store
        self._thread = threading.Thread(target=self._loop, name="pickup", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        from pipeline.flow import intake
        from pipeline.flow.context import Services
        from pipeline.storage import objects as objects_mod
        from pipeline.storage.index import open_index
        from pipeline.storage.ledger import open_ledger
        from workers.executors import InlineExecutor

        svc: Services | None = None
        cursor: intake.Cursor | None = None
        while True:
            try:
                if svc is None:
                    svc = Services(
                        self.cfg,
                        open_ledger(self.cfg),
                        objects_mod.connect(self.cfg),
                        InlineExecutor(self.cfg),
                        open_index(self.cfg),
                    )
                    cursor = intake.cursor_for(svc)
                assert cursor is not None
                self.once(svc, cursor)
                self._told = None
            except Exception as exc:  # the next pass tries again; say so once
                text = f"pick-up: {exc}"
                if text != self._told:
                    self._told = text
                    self.log(text)
            if self._stop.wait(self.cfg.run.pickup_seconds):
                break
        if svc is not None:
            svc.ledger.close()
            if svc.index is not None:
                svc.index.close()

    def once(self, svc: Any, cursor: Any) -> None:
        from pipeline.flow import intake
        from pipeline.flow.recover import pick_up, sweep_work
        from pipeline.storage import heartbeats
        from pipeline.storage.ledger.records import lease, queued_owner

        heartbeats.alive(self.cfg, "worker")  # the web and operators see it looking for work
        owner = queued_owner()
        host = socket.gethostname()
        for doc in intake.take_in(
            svc,
            cursor,
            actor=f"intake@{host}",
            owner=owner,
            lease_until=lease(self.cfg.run.queue_lease_seconds),
            log=self.log,
        ):
            self._send(svc, doc.id, owner, f"took in {doc.id} from {doc.station or '?'}")
        for doc in pick_up(svc, actor=f"worker@{host}", owner=owner):
            self._send(svc, doc.id, owner, f"took up {doc.id} ({doc.reason or doc.state})")
        if time.monotonic() - self._swept >= self.cfg.run.sweep_seconds:
            self._swept = time.monotonic()
            cleared = sweep_work(svc)
            if cleared:
                self.log(f"cleared the finished pages of {cleared} settled documents")

    def _send(self, svc: Any, doc_id: str, owner: str, note: str) -> None:
        from pipeline.storage.ledger.states import STORED_RAW
        from workers.executors.celery import enqueue_document

        try:
            enqueue_document(doc_id)
        except Exception:
            svc.ledger.claim(
                doc_id, states=(STORED_RAW,), owner=None, lease_until=None, expect_owner=owner
            )
            raise
        self.log(note)


class EventDelivery:
    """The supervisor's other thread: the outbox's events POSTed to the webhooks
    (:mod:`pipeline.events.dispatch`), as ``sohoa events deliver`` does. Every worker
    machine may run one: their leases keep them off each other's deliveries. A ledger
    that cannot be opened, or a dispatcher that stops on an error, is started again."""

    def __init__(self, cfg: Config, log: Callable[[str], None]) -> None:
        self.cfg, self.log = cfg, log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3 * self.cfg.webhooks.timeout_seconds + 30)

    def _loop(self) -> None:
        from pipeline.events.dispatch import Dispatcher
        from pipeline.storage.ledger import open_ledger

        told: str | None = None
        while not self._stop.is_set():
            ledger = None
            try:
                ledger = open_ledger(self.cfg)
                Dispatcher(self.cfg, ledger, log=self.log).run(self._stop)
            except Exception as exc:  # tried again after a pause; said once
                text = f"events: {exc}"
                if text != told:
                    told = text
                    self.log(text)
                self._stop.wait(self.cfg.webhooks.poll_seconds)
            finally:
                if ledger is not None:
                    ledger.close()


def _supervise(args: argparse.Namespace, roles: dict[str, list[str]], out: Output) -> int:
    """Run each consumer as a child and start it again if it ends by itself.

    A Celery consumer can give up for good when its broker connection breaks at the
    wrong moment (kombu: "Unrecoverable error"); its unacknowledged tasks are safe in
    Redis, so starting it again is all that recovery needs. SIGTERM/SIGINT stop the
    children (a warm shutdown: running tasks finish) and then this process.
    """
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    env = {**os.environ, "SOHOA_WORKER_PARENT": str(os.getpid())}

    def start(role: str) -> subprocess.Popen:
        argv = [sys.executable, "-m", "workers.cli"]
        if args.config:
            argv += ["--config", args.config]
        return subprocess.Popen([*argv, "worker", "--role", role, *roles[role]], env=env)

    children = {role: start(role) for role in roles}
    while not stop.wait(1.0):
        for role, child in list(children.items()):
            if child.poll() is not None and not stop.is_set():
                out.info(f"the {role} consumer ended ({child.returncode}); starting it again")
                stop.wait(2.0)
                children[role] = start(role)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 60
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return int(ExitCode.OK)


def _shown(url: str) -> str:
    return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)
