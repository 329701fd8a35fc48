"""Step ``fields``: the document's own fields (Decree 30 header, type, subject, signer).

Read from this document's own pages (a stack's further documents read theirs), with
the OCR word boxes, so a number split across the two header columns is still one
number; see :mod:`pipeline.extract.fields`.
"""

from __future__ import annotations

from pipeline.extract.fields import read_document_fields
from pipeline.flow.run import DocumentRun
from pipeline.flow.steps._stage import stage


@stage("fields")
def extract(run: DocumentRun) -> None:
    run.fields = read_document_fields(run.results)
