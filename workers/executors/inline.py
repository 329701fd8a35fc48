"""The trivial executor: every page in this process, one after another (tests, debugging)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from pipeline.config import Config
from pipeline.errors import Interrupted
from pipeline.flow.page_task import PageRuntime, run_page_job
from pipeline.model import PageJob, PageResult
from pipeline.storage.work import LOCAL


class InlineExecutor:
    workers = 1
    work_kind = LOCAL

    def __init__(self, cfg: Config) -> None:
        self.runtime = PageRuntime(cfg)
        self._stop = threading.Event()

    def run(self, jobs: Sequence[PageJob]) -> Iterator[PageResult]:
        for job in jobs:
            if self._stop.is_set():
                raise Interrupted("stopping: pages not started are left for the next run")
            yield run_page_job(job, self.runtime)

    def close(self, cancel: bool = False) -> None:
        if cancel:
            self._stop.set()

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
