"""A page job for a local file, as the document run would build it (for page-level tests)."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Config
from pipeline.model import PageJob, PageOptions, SourceRef
from pipeline.storage.objects import sha256_file


def page_job(source: Path, media_type: str, index: int, cfg: Config, **kw: object) -> PageJob:
    ref = SourceRef(
        raw_key=f"sha256/{sha256_file(source)}",
        sha256=sha256_file(source),
        size=source.stat().st_size,
        media_type=media_type,
    )
    return PageJob(
        document_id="dtest",
        source=ref,
        index=index,
        options=PageOptions.from_config(cfg),
        work_key="dtest/x",
        **kw,  # type: ignore[arg-type]
    )
