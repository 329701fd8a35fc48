"""The local executor: a process pool for pages, a few threads feeding it documents.

Pages of all documents in flight share one pool sized to the cores, each worker
running Tesseract single-threaded (``OMP_THREAD_LIMIT=1``): that is faster than
Tesseract's own threads on a busy machine and keeps one page's pixels per
process. The pipeline only sees :meth:`LocalExecutor.map_pages`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from pipeline.config import Config
from pipeline.flow import document
from pipeline.storage import ledger
from pipeline.storage import objects as store


def _worker_init() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    import cv2

    from pipeline.lang import correct, syllables

    cv2.setNumThreads(1)
    # Load the language model once per worker, not on the first page of every document.
    correct.default_model()
    syllables.skeleton_index()


def _ready() -> None:
    """A task that does nothing: submitting it starts the pool's processes."""


def pool_size(cfg: Config) -> int:
    return cfg.ocr.workers if cfg.ocr.workers > 0 else max(1, os.cpu_count() or 1)


class LocalExecutor:
    """Owns the process pool; rebuilds it if a worker dies (OOM killer, kill -9)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_worker_init)
        # Start the workers now (a fork pool starts all of them on its first task), so
        # their set-up overlaps the parent's hashing and raw upload of the first file.
        pool.submit(_ready)
        return pool

    def map_pages(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> list[Any]:
        with self._lock:
            pool = self._pool
        futures: list[Future[Any]] = []
        try:
            futures = [pool.submit(fn, job) for job in jobs]
            return [f.result() for f in futures]
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = self._new_pool()
            raise
        finally:
            for f in futures:
                f.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_until_settled(
    conn: ledger.sqlite3.Connection,
    st: store.Store,
    cfg: Config,
    doc_id: str,
    executor: LocalExecutor,
    *,
    index_hook: document.IndexHook | None,
    actor: str,
    explicit_code: str | None = None,
) -> ledger.Document:
    """Run a document, starting it again if a page worker died (bounded inside the pipeline)."""
    while True:
        try:
            return document.run_document(
                conn,
                st,
                cfg,
                doc_id,
                map_pages=executor.map_pages,
                index_hook=index_hook,
                actor=actor,
                explicit_code=explicit_code,
            )
        except document.WorkerDied:
            continue


def run_documents(
    cfg: Config,
    st: store.Store,
    doc_ids: Iterable[str],
    executor: LocalExecutor,
    *,
    index_hook: document.IndexHook | None,
    actor: str,
    explicit_code: str | None = None,
    on_done: Callable[[ledger.Document], None] | None = None,
) -> list[ledger.Document]:
    """Run documents concurrently (pages interleave in the shared pool), in input order.

    A storage outage stops new work and is re-raised once the documents in
    flight have settled, so the caller can exit 4 with nothing half-done.
    """
    ids = list(doc_ids)
    outage: list[store.StorageUnavailable] = []
    results: dict[str, ledger.Document] = {}

    def one(doc_id: str) -> None:
        if outage:
            return
        conn = ledger.connect(cfg.ledger_path)
        try:
            doc = run_until_settled(
                conn,
                st,
                cfg,
                doc_id,
                executor,
                index_hook=index_hook,
                actor=actor,
                explicit_code=explicit_code,
            )
            results[doc_id] = doc
            if on_done:
                on_done(doc)
        except store.StorageUnavailable as exc:
            outage.append(exc)
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=max(2, executor.workers)) as threads:
        list(threads.map(one, ids))
    if outage:
        raise outage[0]
    return [results[i] for i in ids if i in results]


def index_hook_for(cfg: Config) -> document.IndexHook | None:
    """Feed the search index after archiving (None until an index backend is available)."""
    try:
        from pipeline.storage import index
    except ImportError:
        return None

    def hook(meta: dict[str, Any], texts: list[str]) -> None:
        conn = index.open_index(cfg.index_path)
        try:
            index.index_document(conn, meta, texts)
        finally:
            conn.close()

    return hook
