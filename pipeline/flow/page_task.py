"""A page job run by a worker: find the source, run the page, store the result.

This is all a worker process needs, whatever executor sent the job: its own
configuration (from its environment: its own role keys, its own ``SOHOA_HOME``)
and the job itself. The source is the spool copy when the job runs on the
machine that took custody, else a verified download of the raw original, cached
by content hash so the pages of one document download it once per machine.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import Config, load_config
from pipeline.errors import StorageIntegrityError
from pipeline.flow.page import process_page
from pipeline.model import PageJob, PageResult, SourceRef
from pipeline.storage import objects as objects_mod
from pipeline.storage.objects import ObjectStore, sha256_file
from pipeline.storage.work import LOCAL, LocalWork, ObjectWork, WorkStore

SOURCE_CACHE_FILES = 16  # originals kept per machine; older ones are removed


@dataclass
class PageRuntime:
    """What a page worker keeps for its whole life; built once per process."""

    cfg: Config
    _objects: ObjectStore | None = field(default=None, repr=False)

    def objects(self) -> ObjectStore:
        if self._objects is None:
            self._objects = objects_mod.connect(self.cfg)
        return self._objects

    def work(self, kind: str) -> WorkStore:
        return LocalWork(self.cfg.work_dir) if kind == LOCAL else ObjectWork(self.objects())


def warm_up(cfg: Config) -> None:
    """Load, in a worker's set-up, what every page needs: the language model, the syllable
    index and the OCR engine; a worker that does not pays for them on its first page."""
    from pipeline import ocr
    from pipeline.lang import correct, syllables

    correct.default_model()
    syllables.skeleton_index()
    ocr.warm_up(cfg.ocr)


def resolve_source(ref: SourceRef, rt: PageRuntime) -> Path:
    """A local file holding the source's exact bytes."""
    if ref.spool_id:
        spooled = rt.cfg.spool_dir / ref.spool_id
        if spooled.is_file() and spooled.stat().st_size == ref.size:
            return spooled
    cache = rt.cfg.home / "cache" / "sources"
    cached = cache / ref.sha256
    if cached.is_file() and cached.stat().st_size == ref.size:
        return cached
    cache.mkdir(parents=True, exist_ok=True)
    part = cache / f"{ref.sha256}.{os.getpid()}.part"
    objects = rt.objects()
    objects.download(objects.raw_bucket, ref.raw_key, part, version_id=ref.raw_version)
    if sha256_file(part) != ref.sha256:
        part.unlink(missing_ok=True)
        raise StorageIntegrityError(f"raw copy {ref.raw_key} does not match its SHA-256")
    os.replace(part, cached)
    _prune(cache)
    return cached


def _prune(cache: Path) -> None:
    files = sorted(
        (p for p in cache.iterdir() if p.is_file() and not p.name.endswith(".part")),
        key=lambda p: p.stat().st_mtime,
    )
    for old in files[:-SOURCE_CACHE_FILES]:
        old.unlink(missing_ok=True)


def run_page_job(job: PageJob, rt: PageRuntime) -> PageResult:
    """Run one page and store its PDF and result in the job's work store."""
    source = resolve_source(job.source, rt)
    rt.cfg.tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-page-", dir=rt.cfg.tmp_dir))
    try:
        out = tmp / "page.pdf"
        result = dataclasses.replace(process_page(job, source, out), worker=socket.gethostname())
        return rt.work(job.work).put_page(job.work_key, result, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_json(job_json: str, cfg: Config | None = None) -> str:
    """Run a job given as JSON with this process's own configuration; the result as JSON.

    What a worker on another machine does with a task message: nothing but the
    job travels, the keys and folders are the worker's own.
    """
    import json

    result = run_page_job(PageJob.from_json(job_json), PageRuntime(cfg or load_config()))
    return json.dumps(result.to_dict(), ensure_ascii=False)
