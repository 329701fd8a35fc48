"""What a document run is given: the backends, by interface, and the settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pipeline.config import Config
from pipeline.flow.executor import PageExecutor
from pipeline.storage.index import SearchIndex
from pipeline.storage.ledger import Ledger
from pipeline.storage.objects import ObjectStore
from pipeline.storage.work import LOCAL, LocalWork, ObjectWork, WorkStore

if TYPE_CHECKING:  # pipeline.sign loads pyHanko: only the processes that sign pay for it
    from pipeline.sign.records import SignatureRecord


class DocumentSigner(Protocol):
    """The agency's signer as the sign step sees it (``workers.signing`` keeps it alive).

    ``sign`` writes a signed copy of ``src`` to ``dst`` and describes it, or raises a
    :class:`~pipeline.errors.SignError` (nothing at ``dst``); the key store, its PIN
    and its process are the implementation's business, never the step's.
    """

    def sign(self, src: Path, dst: Path) -> SignatureRecord: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Services:
    cfg: Config
    ledger: Ledger
    objects: ObjectStore
    executor: PageExecutor
    index: SearchIndex | None = None
    signer: DocumentSigner | None = None  # set when signing is configured

    @property
    def work(self) -> WorkStore:
        """The work store the executor's workers write page results to."""
        if self.executor.work_kind == LOCAL:
            return LocalWork(self.cfg.work_dir)
        return ObjectWork(self.objects)
