"""What a document run is given: the backends, by interface, and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import Config
from pipeline.flow.executor import PageExecutor
from pipeline.storage.index import SearchIndex
from pipeline.storage.ledger import Ledger
from pipeline.storage.objects import ObjectStore
from pipeline.storage.work import LOCAL, LocalWork, ObjectWork, WorkStore


@dataclass(frozen=True)
class Services:
    cfg: Config
    ledger: Ledger
    objects: ObjectStore
    executor: PageExecutor
    index: SearchIndex | None = None

    @property
    def work(self) -> WorkStore:
        """The work store the executor's workers write page results to."""
        if self.executor.work_kind == LOCAL:
            return LocalWork(self.cfg.work_dir)
        return ObjectWork(self.objects)
