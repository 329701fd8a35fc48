"""The Celery executor: pages (and whole documents) run by workers on other machines, over Redis.

Two kinds of task, each carrying only plain JSON from :mod:`pipeline.model`:

- ``sohoa.page`` (queue ``sohoa.pages``): one :class:`PageJob`. The worker runs
  it with its *own* configuration (its role key, its ``SOHOA_HOME``) and stores the
  one-page PDF and its result in the ``work`` bucket (:func:`run_page_job`); the
  result backend only hears "done" (or "stale", or the page's error), so no page
  text ever sits in Redis: the executor reads the result from the work bucket.
  Idempotent: a page already in the work bucket is not run again.
- ``sohoa.document`` (queue ``sohoa.documents``): one :class:`DocumentRef`. A
  worker's document consumer runs the document (:func:`run_document`) with this
  executor, so its pages fan out to the page workers. ``sohoa watch`` with
  ``SOHOA_EXECUTOR=celery`` only takes custody and sends this.

Both are acknowledged late (``acks_late``) and rejected back onto the queue when
their worker process dies (``reject_on_worker_lost``); a worker host that
vanishes has its tasks handed out again after ``broker.visibility_timeout``. A
page that keeps killing the processes that run it is counted (each start is
counted in Redis, each finish clears it) and fails its document after
``run.max_worker_deaths`` starts, as in the local pool. A worker that cannot
reach MinIO gives the page back for another try instead of failing it.

The executor keeps at most ``broker.pages_in_flight`` page tasks queued or
running per document, so documents share the queue fairly: a one-page scan
dropped beside a 2,000-page file waits behind a few of its pages, not all.

Every task argument is sealed with an HMAC (:mod:`workers.executors.task_auth`):
a message that did not come from a holder of the task key is refused, logged in
one line and dropped, before anything in it is parsed; a page job's names are then
checked (:func:`pipeline.model.checked_job`), so no path ever comes off the broker.

Neither secrets nor bulk data go through Redis: a task names its source by
object key and hash, its result is a word, keys stay on each machine.
Celery's own queue, retry and redelivery do the distribution; nothing here
queues or schedules work itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from pipeline import errors
from pipeline.config import Config, load_config
from pipeline.errors import (
    BrokerUnavailable,
    Interrupted,
    PipelineError,
    SohoaError,
    TaskRefused,
    Unavailable,
)
from pipeline.flow.context import Services
from pipeline.model import DocumentRef, PageJob, PageResult, checked_job, checked_ref
from pipeline.storage import heartbeats
from pipeline.storage.ledger import Document
from pipeline.storage.ledger.states import PROCESSING, UNFINISHED_STATES
from pipeline.storage.work import OBJECTS, ObjectWork
from workers.executors import lifeline, reconnect, task_auth

PAGES_QUEUE = "sohoa.pages"
DOCUMENTS_QUEUE = "sohoa.documents"
PAGE_TASK = "sohoa.page"
DOCUMENT_TASK = "sohoa.document"
BROKER_PATIENCE_SECONDS = 60.0  # how long a publisher or poller waits for Redis to come back
_POLL_SECONDS = 0.25
_WORK_CHECK_SECONDS = 10.0
_MAX_RESENDS = 5

app = Celery("sohoa")
_state: dict[str, Any] = {}  # this process's configuration and what it built from it
_state_lock = threading.Lock()


def configure(cfg: Config) -> Celery:
    """Point the app at ``cfg``'s broker; the same settings for publishers and workers."""
    if not cfg.broker.url:
        raise errors.ConfigError(
            "run.executor celery needs a broker: set SOHOA_BROKER_URL=redis://…"
        )
    reconnect.install()  # a lost broker connection closes without crashing the consumer
    transport = {
        "visibility_timeout": int(cfg.broker.visibility_timeout),
        # Look for tasks of vanished workers every few seconds (kombu's default: ~100 s).
        "unacked_restore_interval": 5,
        "unacked_restore_throttle": 1,
        # A cut link leaves TCP connections hanging without an error: time them out.
        "socket_timeout": 30,
        "socket_connect_timeout": 10,
        "socket_keepalive": True,
        "health_check_interval": 10,
    }
    app.conf.update(
        broker_url=cfg.broker.url,
        result_backend=cfg.broker.url,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        result_expires=86400,
        task_routes={PAGE_TASK: {"queue": PAGES_QUEUE}, DOCUMENT_TASK: {"queue": DOCUMENTS_QUEUE}},
        task_publish_retry=True,
        task_publish_retry_policy={
            "max_retries": 40,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 2.0,
        },
    )
    with _state_lock:
        _state["cfg"] = cfg
        _state.pop("task_key", None)
        _state["pool_parent"] = os.getpid()  # the consumer whose prefork processes we are
    return app


def _cfg() -> Config:
    with _state_lock:
        if "cfg" not in _state:
            _state["cfg"] = load_config()
        return _state["cfg"]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _task_key() -> bytes:
    with _state_lock:
        key = _state.get("task_key")
    if key is None:
        key = task_auth.task_key(_cfg())
        with _state_lock:
            _state["task_key"] = key
    return key


def _refused(self: Any, exc: TaskRefused) -> str:
    """Log a refused task in one line and answer so; returning acknowledges it (no retry)."""
    task_auth.log_refusal(self.name, getattr(self.request, "id", None), exc)
    return json.dumps({"refused": True, "worker": worker_name()})


# --------------------------------------------------------------------- the page task


@worker_process_init.connect
def _page_process_init(**_: Any) -> None:
    """Each pool process: one single-threaded Tesseract and OpenCV, models loaded once.

    Celery's prefork already asks for SIGKILL when the consumer dies; the check that
    the consumer is still the parent closes the window before that request (the fork
    race), as the local pool does (:mod:`workers.executors.lifeline`).
    """
    with _state_lock:
        parent = _state.get("pool_parent")
    if parent:
        lifeline.bind_to(parent)
    os.environ["OMP_THREAD_LIMIT"] = "1"
    import cv2

    cv2.setNumThreads(1)
    with _state_lock:
        _state.pop("runtime", None)  # never share a parent's MinIO connections after fork


def _runtime():
    from pipeline.flow.page_task import PageRuntime, warm_up

    with _state_lock:
        rt = _state.get("runtime")
    if rt is None:
        warm_up(_cfg())
        rt = PageRuntime(_cfg())
        with _state_lock:
            _state["runtime"] = rt
    return rt


def _starts_key(job: PageJob) -> str:
    return f"sohoa:page-starts:{job.work_key}:{job.index}"


def _error(exc: BaseException) -> str:
    stage = getattr(exc, "stage", None)
    return json.dumps({"error": {"type": type(exc).__name__, "message": str(exc), "stage": stage}})


@app.task(
    name=PAGE_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def page_task(self: Any, message: str) -> str:
    """Run one sealed page job; answer done, stale, refused or the page's own error.

    The page's result (text included) is in the work bucket, never in the answer.
    """
    from pipeline.flow.page_task import run_page_job

    try:
        job = _open_page_job(message)
    except TaskRefused as exc:
        return _refused(self, exc)
    rt = _runtime()
    work = rt.work(job.work)
    try:
        done = work.done_page(job.work_key, job.index)
        wanted = done is not None or work.is_open(job.work_key)
    except Unavailable as exc:
        raise self.retry(exc=exc, countdown=5) from None
    if done is not None:  # delivered again after it finished: nothing to run
        return _done(job)
    if not wanted:  # delivered again after its document settled: nothing to do
        return json.dumps({"stale": True, "worker": worker_name()})
    counter = app.backend.client
    try:
        starts = int(counter.incr(_starts_key(job)))
        counter.expire(_starts_key(job), 7 * 86400)
    except Exception as exc:  # Redis is away: the message comes back once it is not
        raise self.retry(exc=exc, countdown=5) from None
    limit = max(1, rt.cfg.run.max_worker_deaths)
    if starts > limit:
        counter.delete(_starts_key(job))
        return _error(
            errors.PageWorkerLost(
                f"page {job.index + 1}: its worker process died {starts - 1} times (out of memory?)"
            )
        )
    try:
        run_page_job(job, rt)
    except TaskRefused as exc:
        _clear(counter, job)
        return _refused(self, exc)
    except Unavailable as exc:
        with contextlib.suppress(Exception):
            counter.decr(_starts_key(job))  # not a death: this worker's storage is away
        raise self.retry(exc=exc, countdown=5) from None
    except Exception as exc:  # the page's own failure goes back to its document
        _clear(counter, job)
        return _error(exc)
    _clear(counter, job)
    return _done(job)


def _open_page_job(message: str) -> PageJob:
    """The page job in a sealed message, checked; :class:`TaskRefused` for anything else."""
    body = task_auth.unseal(_task_key(), PAGE_TASK, message)
    try:
        job = PageJob.from_json(body)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise TaskRefused("page job refused: not a page job") from None
    if job.work != OBJECTS:  # a worker's own folders are never a job's to name
        raise TaskRefused("page job refused: a Celery page must go to the work bucket")
    return checked_job(job)


def _done(job: PageJob) -> str:
    return json.dumps({"done": True, "index": job.index, "worker": worker_name()})


def _clear(counter: Any, job: PageJob) -> None:
    with contextlib.suppress(Exception):  # a stale counter only expires later
        counter.delete(_starts_key(job))


def _raise_remote(error: dict[str, Any]) -> None:
    """The page's exception, rebuilt from its name when it is one of ours."""
    cls = getattr(errors, str(error.get("type")), None)
    message = str(error.get("message") or "")
    if isinstance(cls, type) and issubclass(cls, SohoaError) and cls is not errors.DuplicateContent:
        exc = cls(message)
    else:
        exc = PipelineError(f"{error.get('type')}: {message}")
    if error.get("stage") and isinstance(exc, PipelineError):
        exc.stage = error["stage"]
    raise exc


# ----------------------------------------------------------------- the executor side


class _InFlight:
    def __init__(self, job: PageJob, result: Any) -> None:
        self.job = job
        self.result = result
        self.sent = self.checked = time.monotonic()
        self.resent = 0


def _broker_call(fn: Callable[[], Any], what: str) -> Any:
    """``fn()``, retried while Redis is away for up to ``BROKER_PATIENCE_SECONDS``."""
    deadline = time.monotonic() + BROKER_PATIENCE_SECONDS
    while True:
        try:
            return fn()
        except Exception as exc:
            if not _is_connection_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise BrokerUnavailable(f"the broker is unreachable while {what}: {exc}") from None
            time.sleep(1.0)


def _is_connection_error(exc: BaseException) -> bool:
    import kombu.exceptions
    import redis.exceptions

    return isinstance(
        exc,
        (
            kombu.exceptions.OperationalError,
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            ConnectionError,
            TimeoutError,
        ),
    )


class CeleryExecutor:
    """The ``PageExecutor`` over Celery page tasks (results by value, PDFs in the work bucket)."""

    work_kind = OBJECTS

    def __init__(self, cfg: Config, objects: Any | None = None) -> None:
        self.cfg = cfg
        configure(cfg)
        self._key = task_auth.task_key(cfg)
        # Documents one process runs at once (the DocumentRunner sizes itself from this).
        self.workers = cfg.ocr.workers if cfg.ocr.workers > 0 else 4
        self.window = cfg.broker.pages_in_flight
        self._objects = objects
        self._closing = threading.Event()
        self._inflight_ids: set[str] = set()
        self._lock = threading.Lock()

    def _work(self) -> ObjectWork:
        if self._objects is None:
            from pipeline.storage import objects as objects_mod

            self._objects = objects_mod.connect(self.cfg)
        return ObjectWork(self._objects)

    def _send(self, job: PageJob) -> _InFlight:
        message = task_auth.seal(self._key, PAGE_TASK, job.to_json())
        result = _broker_call(
            lambda: page_task.apply_async((message,), queue=PAGES_QUEUE),
            "sending a page",
        )
        with self._lock:
            self._inflight_ids.add(result.id)
        return _InFlight(job, result)

    def _collect(self, item: _InFlight) -> PageResult | None:
        """The page's result if it is back (raises the page's own error), else None."""
        if _broker_call(item.result.ready, "waiting for a page"):
            payload = _broker_call(
                # Waiting inside a document task is safe: pages run in another pool.
                lambda: item.result.get(timeout=30, propagate=False, disable_sync_subtasks=False),
                "reading a page",
            )
            self._forget(item)
            if not isinstance(payload, str):
                # The task failed outside the page (the worker lost Redis or MinIO while
                # finishing): the page is run again, a few times at most.
                return self._resend(item, payload)
            data = json.loads(payload)
            if "error" in data:
                _raise_remote(data["error"])
            if data.get("refused"):  # that worker's task key differs from ours
                return self._resend(item, "refused: its SOHOA_TASK_KEY differs from this one's")
            if data.get("done"):
                stored = self._stored(item)
                return stored if stored is not None else self._resend(item, "no stored result")
            # stale cannot happen to a document still waiting: send it again
            return self._resend(item, payload)
        now = time.monotonic()
        if now - item.checked > _WORK_CHECK_SECONDS:
            # The work bucket is the record: a result the backend lost is still there.
            item.checked = now
            stored = self._stored(item)
            if stored is not None:
                self._forget(item)
                return stored
        return None

    def _stored(self, item: _InFlight) -> PageResult | None:
        """The page's result as its worker stored it in the work bucket (None: not there)."""
        deadline = time.monotonic() + self.cfg.minio.retry_seconds
        while True:
            try:
                return self._work().done_page(item.job.work_key, item.job.index)
            except Unavailable:
                if time.monotonic() >= deadline or self._closing.is_set():
                    return None
                self._closing.wait(1.0)

    def _resend(self, item: _InFlight, why: Any) -> None:
        item.resent += 1
        if item.resent > _MAX_RESENDS:
            raise PipelineError(f"page {item.job.index + 1}: worker error {why!r}")
        fresh = self._send(item.job)
        item.result, item.checked = fresh.result, fresh.checked
        return None

    def _forget(self, item: _InFlight) -> None:
        with self._lock:
            self._inflight_ids.discard(item.result.id)
        with contextlib.suppress(Exception):  # only tidying the result backend
            item.result.forget()

    def run(self, jobs: Sequence[PageJob]) -> Iterator[PageResult]:
        if self._closing.is_set():
            raise Interrupted("stopping: no new pages are started")
        pending = deque(jobs)
        inflight: list[_InFlight] = []
        deadline_per_page = self.cfg.broker.result_timeout
        try:
            while pending or inflight:
                if self._closing.is_set():
                    raise Interrupted("stopping: pages not finished are resumed")
                while pending and len(inflight) < self.window:
                    inflight.append(self._send(pending.popleft()))
                progressed = False
                for item in list(inflight):
                    result = self._collect(item)
                    if result is not None:
                        inflight.remove(item)
                        progressed = True
                        heartbeats.note_page(item.job.document_id, item.job.index)
                        yield result
                    elif time.monotonic() - item.sent > deadline_per_page:
                        raise errors.PageWorkerLost(
                            f"page {item.job.index + 1}: no worker returned it within"
                            f" {deadline_per_page:g} s (broker.result_timeout)"
                        )
                if not progressed:
                    self._closing.wait(_POLL_SECONDS)
        finally:
            for item in inflight:  # left running: their results stay in the work bucket
                self._forget(item)

    def close(self, cancel: bool = False) -> None:
        """Stop waiting for pages; tasks already sent finish on their workers (and are kept)."""
        if cancel:
            self._closing.set()


# ------------------------------------------------------------------- the document task


def _services() -> Services:
    """This worker process's backends, built once and shared by its document threads."""
    with _state_lock:
        svc = _state.get("services")
    if svc is not None:
        return svc
    from pipeline.storage import objects as objects_mod
    from pipeline.storage.index import open_index
    from pipeline.storage.ledger import open_ledger

    cfg = _cfg()
    objects = objects_mod.connect(cfg)
    svc = Services(cfg, open_ledger(cfg), objects, CeleryExecutor(cfg, objects), open_index(cfg))
    with _state_lock:
        _state.setdefault("services", svc)
        return _state["services"]


@app.task(
    name=DOCUMENT_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def document_task(self: Any, ref_json: str) -> str:
    """Run one document to a settled state; come back later while another process holds it."""
    from pipeline.flow.run import run_document
    from pipeline.storage.ledger import owner_gone

    try:
        ref = _open_document_ref(ref_json)
    except TaskRefused as exc:
        task_auth.log_refusal(DOCUMENT_TASK, getattr(self.request, "id", None), exc)
        return "refused"
    try:
        svc = _services()
        doc = svc.ledger.get_document(ref.document_id)
        if doc.state == PROCESSING and not owner_gone(doc.owner, doc.lease_until):
            raise self.retry(countdown=15)  # held by a live (or not yet timed-out) process
        doc = run_document(
            svc,
            ref.document_id,
            actor=f"worker@{socket.gethostname()}",
            explicit_code=ref.explicit_code,
        )
    except (Unavailable, Interrupted) as exc:
        raise self.retry(exc=exc, countdown=10) from None
    if doc.state in UNFINISHED_STATES:
        raise self.retry(countdown=15)
    return doc.state


def _open_document_ref(message: str) -> DocumentRef:
    body = task_auth.unseal(_task_key(), DOCUMENT_TASK, message)
    try:
        data = json.loads(body)
        ref = DocumentRef(data["document_id"], data.get("explicit_code"))
    except (ValueError, TypeError, KeyError, AttributeError):
        raise TaskRefused("document task refused: not a document reference") from None
    return checked_ref(ref)


def enqueue_document(doc_id: str, explicit_code: str | None = None) -> None:
    ref = DocumentRef(doc_id, explicit_code)
    message = task_auth.seal(_task_key(), DOCUMENT_TASK, json.dumps(ref.__dict__))
    _broker_call(
        lambda: document_task.apply_async((message,), queue=DOCUMENTS_QUEUE),
        "sending a document",
    )


class EnqueueRunner:
    """What ``sohoa watch`` uses with Celery: documents are sent to the workers, not run here.

    It has the :class:`workers.runner.DocumentRunner` interface the watcher expects:
    ``submit`` returns a future that completes when the ledger shows the document
    settled (by whichever worker), so the watcher reports it, keeps holding identical
    files until then, and removes its spool copy of the original.
    """

    def __init__(
        self,
        services: Services,
        *,
        actor: str,
        on_done: Callable[[Document], None] | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        configure(services.cfg)
        self.services = services
        self.actor = actor
        self.on_done = on_done
        self.poll_seconds = poll_seconds
        self.outage: Unavailable | None = None
        self._interrupted = False
        self.settled: list[Document] = []
        self._waiting: dict[str, Future[Document | None]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="settled-poll", daemon=True)
        self._thread.start()

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    @interrupted.setter
    def interrupted(self, value: bool) -> None:
        """A stopping watcher waits for nothing: what it sent stays queued for the workers."""
        self._interrupted = value
        if value:
            self._release()

    def _release(self) -> None:
        with self._lock:
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_result(None)
            self._waiting.clear()

    def submit(self, doc_id: str, explicit_code: str | None = None) -> Future[Document | None]:
        fut: Future[Document | None] = Future()
        if self.outage is not None or self.interrupted:
            fut.set_result(None)
            return fut
        try:
            enqueue_document(doc_id, explicit_code)
        except Unavailable as exc:
            self.outage = exc
            fut.set_result(None)
            return fut
        with self._lock:
            self._waiting[doc_id] = fut
        return fut

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            with self._lock:
                waiting = list(self._waiting.items())
            for doc_id, fut in waiting:
                try:
                    doc = self.services.ledger.get_document(doc_id)
                except Exception:  # the database is away: look again at the next tick
                    break
                if doc.state in UNFINISHED_STATES:
                    continue
                with self._lock:
                    self._waiting.pop(doc_id, None)
                    self.settled.append(doc)
                (self.services.cfg.spool_dir / doc_id).unlink(missing_ok=True)
                if self.on_done is not None:
                    self.on_done(doc)
                fut.set_result(doc)

    def close(self) -> None:
        """Stop reporting; documents sent stay queued for the workers."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._release()
