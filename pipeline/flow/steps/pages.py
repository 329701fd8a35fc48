"""Step ``pages``: every page through the executor, resuming from the pages already finished.

Finished pages live in the work store (written by the workers themselves), so a
crash, a stop or a retry starts where the document left off. A document gets
``run.max_document_seconds`` in all; when it runs out, the pages done so far are
kept and the document fails with a reason that says so (``sohoa retry`` resumes).
"""

from __future__ import annotations

import socket
import time
from collections import Counter

from pipeline.dossier.codes import resolve
from pipeline.errors import TimeBudgetExceeded
from pipeline.flow.run import DocumentRun
from pipeline.flow.steps._stage import stage
from pipeline.model import PageJob, PageOptions
from pipeline.storage.work import work_key

LEASE_RENEW_SECONDS = 30.0


def _code_known(run: DocumentRun) -> bool:
    """Decoding QR codes costs about half a second a page; skip it when the code is known."""
    doc = run.doc
    hint = run.explicit_code or doc.dossier_hint
    return resolve(doc.folder_name, doc.source_name, (), "", explicit=hint) is not None


def _wanted_pages(run: DocumentRun) -> set[int]:
    """Every page of the source, or the range a recorded split gave this document."""
    doc, pages = run.doc, run.info.pages
    if doc.first_page is not None and doc.last_page is not None:
        return set(range(max(0, doc.first_page - 1), min(pages, doc.last_page)))
    return set(range(pages))


@stage("pages")
def read(run: DocumentRun) -> None:
    services, info, ref = run.services, run.info, run.source_ref
    options = PageOptions.from_config(run.cfg)
    # A stack's documents share the pages of their source: all under the source's row.
    key = work_key(run.doc.parent_id or run.doc.id, run.doc.sha256, options.digest())
    work = services.work
    wanted = _wanted_pages(run)
    done = {i: r for i, r in work.done_pages(key).items() if i in wanted}
    # Separators can be on any page; without splitting, only page 1 may name the dossier.
    every_page = run.cfg.split.enabled
    known = every_page or _code_known(run)
    jobs = [
        PageJob(
            document_id=run.doc.id,
            source=ref,
            index=i,
            options=options,
            work_key=key,
            work=work.kind,
            want_codes=every_page or (i == 0 and not known),
            has_text_layer=info.has_text,
        )
        for i in sorted(wanted)
        if i not in done
    ]
    total = len(wanted)
    if jobs:
        work.open(key)
    results = dict(done)
    deadline = run.started + run.cfg.run.max_document_seconds
    renewed = time.monotonic()
    stream = services.executor.run(jobs)
    try:
        for result in stream:
            results[result.index] = result
            now = time.monotonic()
            if now > deadline and len(results) < total:
                raise TimeBudgetExceeded(
                    f"time budget of {run.cfg.run.max_document_seconds:g} s used up with"
                    f" {len(results)} of {total} pages done (run.max_document_seconds);"
                    " the finished pages are kept: sohoa retry resumes"
                )
            if now - renewed > min(LEASE_RENEW_SECONDS, run.cfg.run.lease_seconds / 3):
                services.ledger.update_fields(run.doc.id, lease_until=run.lease_until())
                renewed = now
    finally:
        stream.close()
        run.results = [results[i] for i in sorted(results)]
    run.doc = services.ledger.update_fields(run.doc.id, processed_by=processed_by(run.results))


def processed_by(results) -> str:
    """``"<this host>; pages: <host> ×n, …"``: which machines did the work, for operators."""
    hosts = Counter(r.worker or "?" for r in results)
    pages = ", ".join(f"{h} ×{n}" for h, n in sorted(hosts.items()))
    return f"{socket.gethostname()}; pages: {pages}" if pages else socket.gethostname()
