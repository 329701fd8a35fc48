"""The executor interface: how the document run hands pages out, without knowing to whom.

Implementations live with the processes (``workers/executors/``: inline, local
process pool, Celery). The contract, which every implementation keeps:

- ``run(jobs)`` yields each job's :class:`PageResult` as it completes, in any order;
- a worker that dies is the executor's business: the job is run again, and only
  after ``run.max_worker_deaths`` deaths does ``run`` raise :class:`PageWorkerLost`;
- an error raised by the page itself (``RejectedInput``, ``OcrError``…) is raised
  from ``run`` unchanged;
- when the executor is shutting down, ``run`` raises :class:`Interrupted`;
- closing the iterator early cancels the jobs not yet started;
- documents share the workers fairly: a long document never holds them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from pipeline.model import PageJob, PageResult


class PageExecutor(Protocol):
    workers: int
    work_kind: str  # the work store its workers write to ("local" or "objects")

    def run(self, jobs: Sequence[PageJob]) -> Iterator[PageResult]: ...
    def close(self, cancel: bool = False) -> None: ...
