"""Step ``split``: a scanned stack cut into documents at cover sheets and receipts, and
where a page opens a new document by what it says (``split.by_content``).

The cut is decided once, from every page of the source (the QR codes the page
function read on each, and the words at the top of each page: layout work on the word
boxes already read, a few milliseconds a page), and recorded in the ledger
(``Ledger.record_split``), one row per document whatever made the cut: the
source's row keeps the first document, each further one gets a row of its own that
runs through the same steps later, from the pages already in the work store. A re-run
(after a crash, a retry) reads the recorded cut instead of deciding again, so a stack
never splits two ways and no document is made twice.

Then the document's own pages are chosen: its range of the source, without blank pages
when ``pdf.drop_blank_pages`` is on (they are listed in the metadata).
"""

from __future__ import annotations

from pipeline import faults
from pipeline.dossier.split import Segment, plan_split, segment_from_info
from pipeline.flow.run import DocumentRun
from pipeline.flow.steps._stage import stage
from pipeline.model import PageResult
from pipeline.storage.ledger import Document
from pipeline.storage.ledger.records import SegmentRow
from pipeline.storage.ledger.states import REJECTED


@stage("split")
def cut(run: DocumentRun) -> Document | None:
    doc, cfg = run.doc, run.cfg
    if doc.first_page is not None and doc.last_page is not None:
        run.segment = segment_from_info(doc.first_page, doc.last_page, doc.segment_info)
    else:
        plan = plan_split(run.results, cfg.split)
        if not plan.segments:
            return run.settle(
                REJECTED,
                "split",
                f"only separator sheets, no content: {len(run.results)} page(s), each a cover"
                " sheet or its blank back; nothing to archive",
            )
        if plan.is_split:
            rows = [
                SegmentRow(n, s.first + 1, s.last + 1, s.info_json())
                for n, s in enumerate(plan.segments, start=1)
            ]
            family = run.services.ledger.record_split(doc.id, rows, actor=run.actor)
            run.doc = family[0]
            faults.crash_point("after_split")
            doc = run.doc
            run.segment = segment_from_info(doc.first_page, doc.last_page, doc.segment_info)
    run.results, run.dropped = choose_pages(run.results, run.segment, cfg.pdf.drop_blank_pages)
    return None


def choose_pages(
    results: list[PageResult], segment: Segment | None, drop_blank: bool
) -> tuple[list[PageResult], list[tuple[int, str]]]:
    """The pages this document archives, and the (source index, why) of those left out."""
    if segment is not None:
        results = [r for r in results if segment.first <= r.index <= segment.last]
    if drop_blank:
        kept = [r for r in results if not r.blank]
        if kept:  # a document of blank pages only keeps them: there must be something
            return kept, [(r.index, "blank") for r in results if r.blank]
    return results, []
