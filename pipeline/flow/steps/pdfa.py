"""Step ``pdf``: the finished pages joined into one PDF/A-2b."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.flow.run import DocumentRun
from pipeline.flow.steps._stage import stage
from pipeline.lang.textnorm import nfc
from pipeline.output.pdfa import PdfInfo, assemble_pdfa


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
            title=f"{run.match.code} – {nfc(run.doc.source_name)}",
            subject=None,
            keywords=run.match.code,
            language="vi",
            created=created,
            creator_tool="sohoa",
            document_id=run.doc.id,
        ),
    )
