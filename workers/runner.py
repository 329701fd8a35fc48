"""Documents run concurrently, their pages sharing one executor: the loop the CLI and watcher share.

A document is run in a thread (``run_document`` spends its time waiting for
pages), so several documents are in flight at once and the executor interleaves
their pages. A storage outage stops new documents from starting and is kept so
the caller can report it once the documents in flight have been put back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from pipeline.errors import Interrupted, Unavailable
from pipeline.flow.context import Services
from pipeline.flow.run import run_document
from pipeline.storage.ledger import Document


class DocumentRunner:
    def __init__(
        self,
        services: Services,
        *,
        actor: str,
        on_done: Callable[[Document], None] | None = None,
        threads: int | None = None,
    ) -> None:
        self.services = services
        self.actor = actor
        self.on_done = on_done
        # Enough documents in flight to keep every worker busy, plus one being assembled.
        size = threads or max(2, services.executor.workers + 1)
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="document")
        self._lock = threading.Lock()
        self.outage: Unavailable | None = None
        self.interrupted = False
        self.settled: list[Document] = []

    def submit(self, doc_id: str, explicit_code: str | None = None) -> Future[Document | None]:
        return self._threads.submit(self._one, doc_id, explicit_code)

    def _one(self, doc_id: str, explicit_code: str | None) -> Document | None:
        if self.outage is not None or self.interrupted:
            return None
        try:
            doc = run_document(self.services, doc_id, actor=self.actor, explicit_code=explicit_code)
        except Unavailable as exc:
            with self._lock:
                self.outage = exc
            return None
        except Interrupted:
            with self._lock:
                self.interrupted = True
            return None
        # A stack that split settled as several documents: all of them count.
        members = [doc]
        if doc.parent_id is None and doc.segment is not None:
            members = self.services.ledger.family(doc.id)
        with self._lock:
            self.settled.extend(members)
        if self.on_done is not None:
            self.on_done(doc)
        return doc

    def run_all(self, doc_ids: Iterable[str], explicit_code: str | None = None) -> list[Document]:
        """Run documents and return them in input order (those that settled), each split
        stack followed by its further documents."""
        futures = [self.submit(i, explicit_code) for i in doc_ids]
        out: list[Document] = []
        for doc in (f.result() for f in futures):
            if doc is None:
                continue
            if doc.parent_id is None and doc.segment is not None:
                out.extend(self.services.ledger.family(doc.id))
            else:
                out.append(doc)
        return out

    def close(self) -> None:
        self._threads.shutdown(wait=True)
