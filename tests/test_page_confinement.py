"""A page job never reaches outside its folders, and a page is read only from verified bytes.

Jobs come off the broker: their names are checked, the spool hint is only a document
id inside ``spool_dir``, whatever file is found is used only if its SHA-256 matches,
and the work store refuses keys that would leave it. Real MinIO for the downloads.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from pipeline.errors import NotAllowed
from pipeline.flow.page_task import PageRuntime, resolve_source
from pipeline.model import PageJob, PageOptions, PageResult, SourceRef, checked_job
from pipeline.storage.objects import connect, sha256_file
from pipeline.storage.work import LocalWork
from tests.support.files import small_page

pytestmark = pytest.mark.integration


def _uploaded(cfg: Config, path: Path) -> SourceRef:
    objects = connect(cfg)
    objects.ensure_buckets()
    sha = sha256_file(path)
    objects.put_file(objects.raw_bucket, f"sha256/{sha}", path, sha)
    return SourceRef(f"sha256/{sha}", sha, path.stat().st_size, "image/png")


def _same_size_other_bytes(source: Path, dest: Path) -> Path:
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(bytes(data))
    return dest


def test_an_absolute_spool_hint_never_opens_that_file(cfg: Config, tmp_path: Path) -> None:
    """A hint naming another file of the same size (an ID card elsewhere on the worker)."""
    source = small_page(41, tmp_path / "source.png")
    ref = _uploaded(cfg, source)
    secret = _same_size_other_bytes(source, tmp_path / "elsewhere" / "id-card.png")
    forged = dataclasses.replace(ref, spool_id=str(secret))
    got = resolve_source(forged, PageRuntime(cfg))
    assert got != secret
    assert got.read_bytes() == source.read_bytes()


def test_a_spool_copy_with_other_bytes_is_not_read(cfg: Config, tmp_path: Path) -> None:
    """Same size, same name, other content (swapped after custody): raw is read instead."""
    source = small_page(42, tmp_path / "source.png")
    ref = dataclasses.replace(_uploaded(cfg, source), spool_id="d0123456789a")
    spooled = _same_size_other_bytes(source, cfg.spool_dir / "d0123456789a")
    got = resolve_source(ref, PageRuntime(cfg))
    assert got != spooled
    assert got.read_bytes() == source.read_bytes()
    # An intact spool copy is used as before (no download needed).
    spooled.write_bytes(source.read_bytes())
    assert resolve_source(ref, PageRuntime(cfg)) == spooled


def _result(index: int = 0) -> PageResult:
    return PageResult(
        index=index,
        pdf_key="",
        text="",
        words=0,
        mean_confidence=None,
        dpi=200.0,
        dpi_source="file",
        colour="gray",
        width_px=1,
        height_px=1,
        rotation=0,
        skew_angle=0.0,
        blank=True,
        codes=(),
        seconds=0.0,
    )


@pytest.mark.parametrize("key", ["../../escape", "/tmp/escape", "d1/../../../escape", "d1/./x"])
def test_the_local_work_store_refuses_keys_that_leave_it(tmp_path: Path, key: str) -> None:
    root = tmp_path / "home" / "work"
    pdf = tmp_path / "page.pdf"
    pdf.write_bytes(b"%PDF-1.4\n")
    with pytest.raises(NotAllowed):
        LocalWork(root).put_page(key, _result(), pdf)
    written = [p for p in tmp_path.rglob("page-00001.*")]
    assert written == []


def _job(**changes: object) -> PageJob:
    cfg = load_config(env={})
    sha = "ab" * 32
    ref = SourceRef(f"sha256/{sha}", sha, 10, "image/png", spool_id="d0123456789a")
    job = PageJob("d0123456789a", ref, 0, PageOptions.from_config(cfg), "d0123456789a/ab-cd")
    source = {k[7:]: v for k, v in changes.items() if k.startswith("source_")}
    rest = {k: v for k, v in changes.items() if not k.startswith("source_")}
    return dataclasses.replace(job, source=dataclasses.replace(ref, **source), **rest)


def test_a_job_made_by_sohoa_passes_the_checks() -> None:
    assert checked_job(_job()) == _job()


@pytest.mark.parametrize(
    "changes",
    [
        {"source_spool_id": "/home/clerk/cccd.png"},
        {"source_spool_id": "../spool/other"},
        {"work_key": "../../escape"},
        {"work_key": "/var/lib/sohoa"},
        {"work_key": "d1/.."},
        {"document_id": "../d1"},
        {"work": "elsewhere"},
        {"index": -1},
        {"source_raw_key": "sha256/../../etc/passwd"},
        {"source_raw_key": "archive-key/other.pdf"},
        {"source_sha256": "not-a-digest"},
    ],
)
def test_a_job_naming_a_path_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(NotAllowed) as refused:
        checked_job(_job(**changes))
    for value in changes.values():  # the refusal names the field, never the value
        assert str(value) not in str(refused.value)
