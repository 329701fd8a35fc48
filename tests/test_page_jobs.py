"""A page job travels as plain data: it runs in a fresh process given only its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from pipeline.model import PageJob, PageOptions, PageResult, SourceRef
from pipeline.storage.objects import connect, sha256_file
from pipeline.storage.work import ObjectWork
from tests.support.files import small_page

pytestmark = pytest.mark.integration


def test_page_job_json_round_trips_and_carries_no_secret_and_no_path(cfg: Config) -> None:
    ref = SourceRef("sha256/" + "a" * 64, "a" * 64, 123, "image/png", spool_id="d1")
    job = PageJob("d1", ref, 2, PageOptions.from_config(cfg), "d1/x", "objects", True, False)
    text = job.to_json()
    assert PageJob.from_json(text) == job
    assert cfg.minio.secret_key and cfg.minio.secret_key not in text
    assert cfg.minio.access_key not in text
    assert str(cfg.home) not in text and str(cfg.inbox) not in text


def test_a_fresh_process_runs_a_page_from_the_job_json_and_the_storage_endpoint(
    cfg: Config, sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    """What a Celery worker on another machine does: no spool, no config object, no paths."""
    objects = connect(cfg)
    objects.ensure_buckets()
    page = small_page(31, tmp_path / "page.png")
    sha = sha256_file(page)
    objects.put_file(objects.raw_bucket, f"sha256/{sha}", page, sha)
    ref = SourceRef(f"sha256/{sha}", sha, page.stat().st_size, "image/png")
    job = PageJob("dremote", ref, 0, PageOptions.from_config(cfg), "dremote/k", "objects")
    ObjectWork(objects).open(job.work_key)  # as the document's run does before sending pages

    other_home = tmp_path / "another-machine"  # nothing of the first machine's files
    env = {k: v for k, v in sohoa_env.items() if k != "SOHOA_INBOX"}
    env.update(SOHOA_HOME=str(other_home), PATH=os.environ["PATH"])
    code = (
        "import sys; from pipeline.flow.page_task import run_json;"
        " print(run_json(sys.stdin.read()))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        input=job.to_json(),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert run.returncode == 0, run.stderr
    result = PageResult.from_dict(json.loads(run.stdout))
    assert result.index == 0 and result.words > 10 and "cộng hòa" in result.text.lower()
    assert result.pdf_key == "dremote/k/page-00001.pdf"
    stored = objects.get_bytes(objects.work_bucket, result.pdf_key)
    assert stored.startswith(b"%PDF-")
    checkpoint = json.loads(objects.get_bytes(objects.work_bucket, "dremote/k/page-00001.json"))
    assert checkpoint["text"] == result.text
    # The source came from raw, verified, into that machine's own cache.
    assert (other_home / "cache" / "sources" / sha).read_bytes() == page.read_bytes()
    assert load_config(env=env).home == other_home.resolve()
