"""The local executor: one process pool for the pages of every document in flight.

Each worker runs Tesseract single-threaded (``OMP_THREAD_LIMIT=1``): faster than
Tesseract's own threads on a busy machine, and one page's pixels per process.

Documents share the pool fairly. Each ``run`` call is a stream of jobs; a
dispatcher thread keeps the pool just full (one job per worker plus one) and
takes the next job from the streams in turn, so a 2,000-page PDF and a 1-page
PNG dropped beside it both make progress, the PNG within a page's time.

Worker death is handled here, not in the pipeline: when a worker dies (out of
memory, killed) the pool is rebuilt and the jobs it held are run again, each one
alone, so that the next death is blamed on the page that caused it and not on
the pages that happened to share the pool; a page that has killed its worker
``run.max_worker_deaths`` times fails its document with :class:`PageWorkerLost`.

``close(cancel=True)`` (SIGTERM) stops dispatching, lets running pages finish for
a few seconds (each stores its own result, so it is kept for the resume) and then
ends the workers. A parent killed outright (SIGKILL) takes its workers with it
(:mod:`workers.executors.lifeline`).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from pipeline.config import Config
from pipeline.errors import Interrupted, PageWorkerLost
from pipeline.flow.page_task import PageRuntime, run_page_job, warm_up
from pipeline.model import PageJob, PageResult
from pipeline.storage import heartbeats
from pipeline.storage.work import LOCAL
from workers.executors.lifeline import bind_to

STOP_GRACE_SECONDS = 8.0
PageTask = Callable[[PageJob, PageRuntime], PageResult]
_PRELOAD = ["workers.executors.local", "cv2", "numpy"]
_RUNTIME: PageRuntime | None = None
_TASK: PageTask = run_page_job


def _worker_init(cfg: Config, task: PageTask, owner: int) -> None:
    global _RUNTIME, _TASK
    bind_to(owner)  # first: a worker must never outlive the process that runs the pool
    os.environ["OMP_THREAD_LIMIT"] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    import cv2

    cv2.setNumThreads(1)
    warm_up(cfg)  # the language model, syllable index and OCR engine, once per worker
    _RUNTIME = PageRuntime(cfg)
    _TASK = task


def _run(job: PageJob) -> PageResult:
    assert _RUNTIME is not None, "worker not initialised"
    return _TASK(job, _RUNTIME)


def _ready() -> None:
    """A task that does nothing: submitting it starts the pool's processes."""


def _context(method: str | None = None) -> multiprocessing.context.BaseContext:
    """How to start workers: fork (cheapest, ~0.8 s less per start) while this process has
    a single thread; from a clean forkserver once it has others (documents, the
    dispatcher), whose locks a forked child would inherit held and deadlock on. A process
    that ran OpenCV itself has native threads Python does not count: it asks for
    ``forkserver`` explicitly."""
    method = method or ("fork" if threading.active_count() == 1 else "forkserver")
    if method != "forkserver":
        return multiprocessing.get_context(method)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def pool_size(cfg: Config) -> int:
    return cfg.ocr.workers if cfg.ocr.workers > 0 else max(1, os.cpu_count() or 1)


class _Stream:
    """The jobs of one ``run`` call and the queue its results come back on."""

    def __init__(self, jobs: Sequence[PageJob]) -> None:
        self.pending: deque[PageJob] = deque(jobs)
        self.out: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.cancelled = False
        self.deaths: dict[int, int] = {}


class LocalExecutor:
    """The ``PageExecutor`` over a local process pool."""

    work_kind = LOCAL

    def __init__(
        self,
        cfg: Config,
        workers: int | None = None,
        task: PageTask = run_page_job,
        start_method: str | None = None,
    ) -> None:
        """``task`` runs one page in a worker (a module-level function: it is sent by name);
        ``start_method`` overrides how worker processes start (see ``_context``)."""
        self.cfg = cfg
        self.task = task
        self.start_method = start_method
        self.workers = workers or pool_size(cfg)
        self.max_deaths = max(1, cfg.run.max_worker_deaths)
        self._cond = threading.Condition()
        self._streams: deque[_Stream] = deque()
        self._inflight = 0
        self._closing = False
        self._broken: ProcessPoolExecutor | None = None
        self._solo: PageJob | None = None  # a suspect of a worker death, running alone
        self._pool = self._new_pool()
        self._thread = threading.Thread(target=self._dispatch, name="page-dispatch", daemon=True)
        self._thread.start()

    def _new_pool(self) -> ProcessPoolExecutor:
        # A forked worker inherits OpenCV's thread pool with its threads gone; its own
        # cv2.setNumThreads(1) then waits forever on their condition variables. Emptying the
        # parent's pool first (the parent does little image work) makes the fork clean.
        cv2 = sys.modules.get("cv2")
        if cv2 is not None:
            cv2.setNumThreads(1)
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=_context(self.start_method),
            initializer=_worker_init,
            initargs=(self.cfg, self.task, os.getpid()),
        )
        # Start the workers now, so their set-up overlaps the parent's hashing and upload.
        pool.submit(_ready)
        return pool

    # -- the caller's side -----------------------------------------------------------------
    def run(self, jobs: Sequence[PageJob]) -> Iterator[PageResult]:
        stream = _Stream(jobs)
        remaining = len(stream.pending)
        with self._cond:
            if self._closing:
                raise Interrupted("stopping: no new pages are started")
            self._streams.append(stream)
            self._cond.notify_all()
        try:
            while remaining:
                kind, value = stream.out.get()
                if kind == "error":
                    raise value
                remaining -= 1
                heartbeats.note_page(jobs[0].document_id, value.index)
                yield value
        finally:
            with self._cond:
                stream.cancelled = True
                stream.pending.clear()
                if stream in self._streams:
                    self._streams.remove(stream)
                self._cond.notify_all()

    def close(self, cancel: bool = False) -> None:
        """Stop; with ``cancel``, within seconds, leaving unstarted pages for the next run."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            streams = list(self._streams)
            self._cond.notify_all()
        if cancel:
            for stream in streams:
                stream.out.put(("error", Interrupted("stopping: pages not finished are resumed")))
        pool = self._pool
        pool.shutdown(wait=not cancel, cancel_futures=cancel)
        if cancel:
            _end_workers(pool, STOP_GRACE_SECONDS)
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the dispatcher's side -------------------------------------------------------------
    def _next(self) -> tuple[_Stream, PageJob, ProcessPoolExecutor] | None:
        """Wait for room in the pool and a job; the streams are served in turn.

        A job that was in the pool when a worker died runs alone: nothing else is
        dispatched until it is done.
        """
        with self._cond:
            while True:
                if self._closing:
                    return None
                ready = (
                    self._solo is None
                    and self._inflight <= self.workers
                    and any(s.pending for s in self._streams)
                )
                if ready:
                    while not self._streams[0].pending:
                        self._streams.rotate(-1)
                    stream = self._streams[0]
                    job = stream.pending[0]
                    suspect = stream.deaths.get(job.index, 0) > 0
                    if not suspect or self._inflight == 0:
                        break
                self._cond.wait()
            self._streams.rotate(-1)
            stream.pending.popleft()
            if suspect:
                self._solo = job
            if self._broken is self._pool:
                self._pool.shutdown(wait=False)
                self._pool = self._new_pool()
            self._inflight += 1
            return stream, job, self._pool

    def _dispatch(self) -> None:
        while True:
            picked = self._next()
            if picked is None:
                return
            stream, job, pool = picked
            try:
                future = pool.submit(_run, job)
            except (BrokenProcessPool, RuntimeError) as exc:
                failed: Future[PageResult] = Future()
                failed.set_exception(
                    exc if isinstance(exc, BrokenProcessPool) else BrokenProcessPool(str(exc))
                )
                self._done(stream, job, pool, failed)
                continue
            future.add_done_callback(lambda f, s=stream, j=job, p=pool: self._done(s, j, p, f))

    def _done(
        self, stream: _Stream, job: PageJob, pool: ProcessPoolExecutor, future: Future[Any]
    ) -> None:
        with self._cond:
            self._inflight -= 1
            if self._solo is job:
                self._solo = None
            self._cond.notify_all()
            if stream.cancelled:
                return
            if future.cancelled():
                stream.out.put(("error", Interrupted("stopping: pages not finished are resumed")))
                return
            exc = future.exception()
            if exc is None:
                stream.out.put(("result", future.result()))
                return
            if not isinstance(exc, BrokenProcessPool):
                stream.out.put(("error", exc))
                return
            if self._pool is pool:
                self._broken = pool
            deaths = stream.deaths[job.index] = stream.deaths.get(job.index, 0) + 1
            if deaths >= self.max_deaths:
                stream.out.put(
                    (
                        "error",
                        PageWorkerLost(
                            f"page {job.index + 1}: its worker process died {deaths} times"
                            " (out of memory?)"
                        ),
                    )
                )
            elif self._closing:
                stream.out.put(("error", Interrupted("stopping: pages not finished are resumed")))
            else:
                stream.pending.appendleft(job)


def _end_workers(pool: ProcessPoolExecutor, grace: float) -> None:
    """Give running pages ``grace`` seconds to finish, then end their processes."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    deadline = time.monotonic() + grace
    for proc in processes:
        proc.join(timeout=max(0.0, deadline - time.monotonic()))
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout=2)
