"""The steps of a document run, in order (see :mod:`pipeline.flow.run`).

Each step is a function of the run with a ``stage`` name (what a failure in it is
recorded as); it adds what it made to the run, or returns the settled document to
end the run early. A new step is a new function in this list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline.flow.steps import archive, dossier, fields, index, pages, pdfa, sign, source, split

if TYPE_CHECKING:
    from pipeline.flow.run import DocumentRun
    from pipeline.storage.ledger import Document

    Step = Callable[[DocumentRun], Document | None]

STEPS: tuple[Step, ...] = (
    source.fetch,
    source.inspect,
    archive.check_archived,
    pages.read,
    split.cut,
    dossier.find,
    fields.extract,
    pdfa.assemble,
    sign.sign,
    archive.store,
    index.feed,
)
index_archived = index.index_archived

__all__ = ["STEPS", "index_archived"]
