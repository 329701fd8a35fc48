"""`sohoa worker`: the Celery workers of one machine (DESIGN §3, §5).

Two consumers, because a document waits for its pages and must never hold the
slot a page needs (that deadlocks a small office with one worker machine):

- pages: a prefork pool of ``--concurrency`` processes (default: the cores),
  each running one single-threaded Tesseract (``OMP_THREAD_LIMIT=1``);
- documents: ``--documents`` threads, each orchestrating one document (its pages
  go to the page queue, any machine's workers take them).

``sohoa worker`` runs each as a child process (``--role pages`` / ``--role
documents``) and starts one again if it ends by itself; children end with it.
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

from pipeline.config import Config
from pipeline.errors import ConfigError, ExitCode
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
        app = tasks.configure(cfg)
        parent = int(os.environ.get("SOHOA_WORKER_PARENT", "0"))
        if parent:
            _end_with_parent(parent)
        if args.role == "documents":
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
    roles = {"pages": ["--concurrency", str(concurrency)]}
    if documents > 0:
        roles["documents"] = ["--documents", str(documents)]
    out.info(
        f"worker on {socket.gethostname()}: {concurrency} page processes"
        + (f", {documents} document threads" if documents > 0 else "")
        + f", broker {_shown(cfg.broker.url)}"
    )
    return _supervise(args, roles, out)


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
