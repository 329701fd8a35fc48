"""The web's MinIO key: current archive files only, and `sohoa serve` with nothing stronger
(issue 20, smaller rows), against a real MinIO with the keys `storage setup` makes."""

from __future__ import annotations

import httpx
import pytest
from minio import Minio
from minio.error import S3Error

from pipeline.storage.checksum import put_bytes_checksummed
from pipeline.storage.objects import connect
from pipeline.storage.roles import BucketNames, role_policy
from tests.support.cli import sohoa
from tests.support.minio import MinioServer, free_port
from tests.support.web import role_cfg, role_env, setup_roles, sohoa_serve
from workers.web.keycheck import PROBE_PREFIX

pytestmark = pytest.mark.integration
KEY = "000.00.13.H38-261120-0001/000.00.13.H38-261120-0001.1.pdf"


@pytest.fixture
def keys(minio_server: MinioServer, sohoa_env: dict[str, str]):
    return setup_roles(minio_server, sohoa_env)


def _client(server: MinioServer, access: str, secret: str | None) -> Minio:
    return Minio(server.endpoint, access, secret, secure=False)


def _code(call) -> str:
    with pytest.raises(S3Error) as info:
        call()
    return info.value.code


def test_the_web_key_reads_current_versions_only(minio_server, sohoa_env, keys):
    archive = sohoa_env["SOHOA_BUCKET_ARCHIVE"]
    worker = _client(minio_server, keys["worker"].access_key, keys["worker"].secret_key)
    web = _client(minio_server, keys["web"].access_key, keys["web"].secret_key)
    operator = _client(minio_server, keys["operator"].access_key, keys["operator"].secret_key)
    first = put_bytes_checksummed(worker, archive, KEY, b"unsigned" * 50, "application/pdf")
    put_bytes_checksummed(worker, archive, KEY, b"signed!!" * 50, "application/pdf")
    old = first.version_id
    assert old

    resp = web.get_object(archive, KEY)
    assert resp.read() == b"signed!!" * 50
    resp.close()
    assert _code(lambda: web.get_object(archive, KEY, version_id=old).read()) == "AccessDenied"
    assert _code(lambda: web.stat_object(archive, KEY, version_id=old)) == "AccessDenied"
    versions = lambda: list(web.list_objects(archive, recursive=True, include_version=True))  # noqa: E731
    assert _code(versions) == "AccessDenied"
    assert _code(lambda: list(web.list_objects(archive, recursive=True))) == "AccessDenied"
    # what the web does need still works: HEAD of a missing key is "not found", not denied
    assert _code(lambda: web.stat_object(archive, "x/x.1.words.json")) == "NoSuchKey"
    assert web.bucket_exists(archive)
    store = connect(role_cfg(sohoa_env, keys, "web"))
    assert store.stat(archive, "x/x.1.words.json") is None
    assert store.stat(archive, KEY).size == 400
    # old versions stay the operator's
    resp = operator.get_object(archive, KEY, version_id=old)
    assert resp.read() == b"unsigned" * 50
    resp.close()


def test_the_web_policy_grants_no_version_or_list_action():
    policy = role_policy("web", BucketNames("raw", "archive", "work"))
    allowed = {a for s in policy["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
    assert allowed == {"s3:GetObject", "s3:HeadBucket", "s3:GetBucketLocation", "s3:PutObject"}
    puts = [
        s for s in policy["Statement"] if s["Effect"] == "Allow" and "s3:PutObject" in s["Action"]
    ]
    assert [s["Resource"] for s in puts] == [["arn:aws:s3:::archive/audit/anchors/*"]]
    denied = {a for s in policy["Statement"] if s["Effect"] == "Deny" for a in s["Action"]}
    assert {"s3:ListBucket", "s3:ListBucketVersions"} <= denied


# ------------------------------------------------------------------------ sohoa serve


def _serve_refused(env: dict[str, str], word: str) -> None:
    result = sohoa(env, "serve", "--port", str(free_port()), timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 5, (result.returncode, result.stderr)
    assert len(lines) == 1 and word in lines[0], lines
    assert "Traceback" not in result.stderr


def test_serve_refuses_any_key_that_can_do_more_than_the_web_key(minio_server, sohoa_env, keys):
    root = {**sohoa_env, "SOHOA_MINIO_ROLE": ""}
    _serve_refused(root, "can list")
    for role in ("worker", "operator", "station"):  # each labelled web, as a slip would
        labelled = {**role_env(sohoa_env, keys, role), "SOHOA_MINIO_ROLE": "web"}
        _serve_refused(labelled, "more than the web key may")
    _serve_refused(role_env(sohoa_env, keys, "worker"), "not the worker key")
    nothing = {**sohoa_env, "SOHOA_MINIO_ACCESS_KEY": "", "SOHOA_MINIO_SECRET_KEY": ""}
    _serve_refused(nothing, "needs the web key")
    # the probes wrote nothing anywhere, not even a version hidden behind a delete marker
    admin = _client(minio_server, minio_server.access_key, minio_server.secret_key)
    for kind in ("RAW", "ARCHIVE", "WORK"):
        bucket = sohoa_env[f"SOHOA_BUCKET_{kind}"]
        left = admin.list_objects(bucket, recursive=True, include_version=True)
        assert [o.object_name for o in left if PROBE_PREFIX.rstrip("/") in o.object_name] == []


def test_serve_starts_with_the_web_key(sohoa_env, keys):
    web = role_env(sohoa_env, keys, "web")
    with sohoa_serve(web) as running:
        assert httpx.get(running.url + "/login", timeout=10).status_code == 200
    assert keys["web"].secret_key not in running.output
    unlabelled = {**web, "SOHOA_MINIO_ROLE": ""}  # a web key named <prefix>-web is enough
    with sohoa_serve(unlabelled) as running:
        assert httpx.get(running.url + "/health", timeout=10).text == "ok"


def test_the_probe_of_a_key_that_may_write_leaves_nothing(minio_server, sohoa_env, keys):
    """The check itself, at the level of one request: a worker key may write into archive,
    its probe is refused by the checksums, and the bucket holds no version of it."""
    from pipeline.config import load_config
    from workers.web.keycheck import powers

    cfg = load_config(env=role_env(sohoa_env, keys, "worker"))
    found = powers(connect(cfg).client, cfg)
    raw, archive, work = (sohoa_env[f"SOHOA_BUCKET_{k}"] for k in ("RAW", "ARCHIVE", "WORK"))
    assert found == [
        f"list {raw}",
        f"write into {raw}",
        f"write into {archive}",
        f"write into {work}",
    ]
    web_cfg = load_config(env=role_env(sohoa_env, keys, "web"))
    assert powers(connect(web_cfg).client, web_cfg) == []
    admin = _client(minio_server, minio_server.access_key, minio_server.secret_key)
    for bucket in (raw, archive, work):
        assert list(admin.list_objects(bucket, recursive=True, include_version=True)) == []
