"""Step ``dossier``: the document's dossier code, or ``needs_dossier`` when none is found.

Order: a code an operator assigned (``sohoa assign``) > the code of the separator that
started this document of a stack (cover sheet, receipt), or of the separator before a
document its own first page started (``split.by_content``) > DESIGN's order for the file
(``--dossier``, folder, file name, QR on the first page, "Mã hồ sơ" text).
"""

from __future__ import annotations

from pipeline.dossier.codes import DossierMatch, resolve
from pipeline.flow.run import DocumentRun
from pipeline.flow.steps._stage import stage
from pipeline.storage.ledger import Document
from pipeline.storage.ledger.states import NEEDS_DOSSIER


@stage("dossier")
def find(run: DocumentRun) -> Document | None:
    doc = run.doc
    first = run.results[0]
    seg = run.segment
    if run.explicit_code is None and seg is not None and seg.started_by and seg.code:
        run.match = DossierMatch(seg.code, seg.code_source)
    else:
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
