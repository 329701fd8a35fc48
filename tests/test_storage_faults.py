"""MinIO answering 500/503/429 on a share of requests: every document archived all the same.

A real `sohoa process` talks to the real MinIO through a proxy that answers 30 % of
writes and 10 % of reads itself with S3's "not now" errors (``SlowDown``,
``InternalError``, ``ServiceUnavailable``, throttling, bare and non-XML 5xx).
"""

from __future__ import annotations

import pytest

from pipeline.config import load_config
from pipeline.storage import objects as store
from tests.support.cli import json_lines, sohoa
from tests.support.fault_proxy import FAULTS, FaultyProxy
from tests.support.files import small_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CODE = "000.00.13.H38-261201-0030"


def test_a_busy_minio_costs_retries_not_documents(sohoa_env, minio_server, tmp_path) -> None:
    store.connect(load_config(env=sohoa_env)).ensure_buckets()
    pages = [small_page(seed, tmp_path / "in" / f"trang-{seed}.png") for seed in (91, 92, 93)]
    with FaultyProxy(("127.0.0.1", minio_server.port)) as proxy:
        env = {**sohoa_env, "SOHOA_MINIO_ENDPOINT": proxy.endpoint}
        run = sohoa(env, "--json", "process", "--dossier", CODE, *map(str, pages))
    assert run.returncode == 0, run.stderr
    rows = json_lines(run.stdout)
    assert [r["status"] for r in rows] == ["indexed"] * 3, rows
    assert proxy.faulted >= len(FAULTS), (proxy.faulted, proxy.forwarded)  # every kind met
    direct = store.connect(load_config(env=sohoa_env))
    for row in rows:  # everything is in MinIO, whole
        for key in (row["pdf_key"], row["metadata_key"], row["text_key"]):
            assert direct.stat(direct.archive_bucket, key) is not None, key
