"""Step ``dossier``: the document's dossier code, or ``needs_dossier`` when none is found."""

from __future__ import annotations

from pipeline.dossier.codes import resolve
from pipeline.flow.run import DocumentRun
from pipeline.flow.steps._stage import stage
from pipeline.storage.ledger import Document
from pipeline.storage.ledger.states import NEEDS_DOSSIER


@stage("dossier")
def find(run: DocumentRun) -> Document | None:
    doc = run.doc
    first = run.results[0]
    run.match = resolve(
        doc.folder_name,
        doc.source_name,
        first.codes,
        first.text,
        explicit=run.explicit_code or doc.dossier_hint,
    )
    if run.match is not None:
        return None
    return run.settle(
        NEEDS_DOSSIER,
        "dossier",
        "no dossier code in folder name, file name, QR/barcode or 'Mã hồ sơ' text;"
        f" run: sohoa assign {doc.id} --dossier CODE",
        pages=len(run.results),
    )
