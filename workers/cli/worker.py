"""`sohoa worker`: the Celery workers of one machine (DESIGN §3, §5).

Two consumers, because a document waits for its pages and must never hold the
slot a page needs (that deadlocks a small office with one worker machine):

- pages: a prefork pool of ``--concurrency`` processes (default: the cores),
  each running one single-threaded Tesseract (``OMP_THREAD_LIMIT=1``);
- documents: ``--documents`` threads in a second process, each orchestrating one
  document (its pages go to the page queue, any machine's workers take them).

``--role pages`` or ``--role documents`` runs only one of them (the second is
how the first starts the other). The documents process ends when its parent does.
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
    if not cfg.database.url:
        out.info(
            "warning: no SOHOA_DATABASE_URL: documents use the SQLite ledger under"
            f" {cfg.home}, which only processes sharing that folder see"
        )
    app = tasks.configure(cfg)
    concurrency = args.concurrency or pool_size(cfg)
    documents = args.documents if args.documents is not None else 4
    os.environ["OMP_THREAD_LIMIT"] = "1"
    if args.role == "documents":
        parent = int(os.environ.get("SOHOA_WORKER_PARENT", "0"))
        if parent:
            _end_with_parent(parent)
        app.worker_main(_celery_argv(tasks.DOCUMENTS_QUEUE, "threads", documents, "documents"))
        return int(ExitCode.OK)
    child = None
    if args.role == "all" and documents > 0:
        argv = [sys.executable, "-m", "workers.cli", "worker", "--role", "documents"]
        argv += ["--documents", str(documents)]
        if args.config:
            argv[3:3] = ["--config", args.config]
        env = {**os.environ, "SOHOA_WORKER_PARENT": str(os.getpid())}
        child = subprocess.Popen(argv, env=env)
    out.info(
        f"worker on {socket.gethostname()}: {concurrency} page processes"
        + (f", {documents} document threads" if child else "")
        + f", broker {_shown(cfg.broker.url)}"
    )
    try:
        app.worker_main(_celery_argv(tasks.PAGES_QUEUE, "prefork", concurrency, "pages"))
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
    return int(ExitCode.OK)


def _shown(url: str) -> str:
    return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)
