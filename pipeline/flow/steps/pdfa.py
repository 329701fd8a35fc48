"""Step ``pdf``: the finished pages joined into one PDF/A-2b."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.extract.fields import DocumentFields
from pipeline.flow.run import DocumentRun
from pipeline.flow.steps._stage import stage
from pipeline.lang.textnorm import nfc
from pipeline.output.pdfa import PdfInfo, assemble_pdfa


def document_title(code: str, fields: DocumentFields) -> str:
    """The PDF's title: the dossier code and, when read, the document's type.

    Never the original file name: clerks name scans after the citizen ("CCCD Nguyen Van
    A.pdf"), and a viewer or indexer shows the title to whoever opens the copy.
    """
    kind = fields.value("type_name")
    return f"{code} – {nfc(kind)}" if kind else code


@stage("pdf")
def assemble(run: DocumentRun) -> None:
    work = run.services.work
    page_files = [
        work.fetch_pdf(r.pdf_key, run.tmp / f"page-{r.index:05d}.pdf") for r in run.results
    ]
    run.pdf_path = run.tmp / "document.pdf"
    created = datetime.now(UTC)
    run.digitized_at = created.isoformat(timespec="seconds")
    run.pdfa = assemble_pdfa(
        page_files,
        run.pdf_path,
        PdfInfo(
            title=document_title(run.match.code, run.fields),
            subject=None,
            keywords=run.match.code,
            language="vi",
            created=created,
            creator_tool="sohoa",
            document_id=run.doc.id,
        ),
    )
