"""Storage roles on a real MinIO: each role can do its job and meets every denial §8 lists."""

from __future__ import annotations

import hashlib
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from minio import Minio, MinioAdmin
from minio.credentials import StaticProvider
from minio.deleteobjects import DeleteObject
from minio.error import MinioAdminException, S3Error

from pipeline.access.audit import SqliteAuditLog
from pipeline.config import ConfigError, load_config
from pipeline.errors import (
    ExitCode,
    NotAllowed,
    StorageIntegrityError,
    StorageUnavailable,
    UsageError,
)
from pipeline.storage.checksum import put_bytes_checksummed, put_file_checksummed, sha256_b64
from pipeline.storage.roles import (
    ROLES,
    BucketNames,
    RetentionSpec,
    RoleKeys,
    erase_locked_version,
    role_keys_json_lines,
    role_policy,
    setup_storage,
)
from tests.support.minio import MinioServer
from tests.support.proxy import TamperingProxy

pytestmark = pytest.mark.integration


def _names() -> tuple[str, BucketNames]:
    tag = secrets.token_hex(3)
    return f"t{tag}", BucketNames(f"raw-{tag}", f"archive-{tag}", f"work-{tag}")


def _root(server: MinioServer) -> Minio:
    return Minio(server.endpoint, server.access_key, server.secret_key, secure=False)


def _client(server: MinioServer, keys: RoleKeys) -> Minio:
    assert keys.secret_key
    return Minio(server.endpoint, keys.access_key, keys.secret_key, secure=False)


def _denied(fn: Callable[[], object]) -> None:
    with pytest.raises(S3Error) as info:
        fn()
    assert info.value.code == "AccessDenied", info.value.code


def _put(client: Minio, bucket: str, key: str, data: bytes = b"x" * 300) -> str | None:
    return put_bytes_checksummed(client, bucket, key, data, "application/octet-stream").version_id


def _get(client: Minio, bucket: str, key: str, version_id: str | None = None) -> bytes:
    resp = client.get_object(bucket, key, version_id=version_id)
    try:
        return resp.read()
    finally:
        resp.close()
        resp.release_conn()


@pytest.fixture
def roles(minio_server: MinioServer) -> tuple[BucketNames, dict[str, Minio], list[RoleKeys]]:
    prefix, buckets = _names()
    keys = setup_storage(
        minio_server.endpoint,
        (minio_server.access_key, minio_server.secret_key),
        buckets,
        RetentionSpec(raw_years=1, archive_years=1),
        prefix=prefix,
    )
    return buckets, {k.role: _client(minio_server, k) for k in keys}, keys


def test_setup_makes_locked_versioned_buckets_and_one_key_per_role(minio_server, roles):
    buckets, _, keys = roles
    root = _root(minio_server)
    assert [k.role for k in keys] == list(ROLES)
    assert all(k.status == "created" and k.secret_key for k in keys)
    assert len({k.secret_key for k in keys}) == 4
    for bucket, mode in ((buckets.raw, "COMPLIANCE"), (buckets.archive, "GOVERNANCE")):
        assert root.get_bucket_versioning(bucket).status == "Enabled"
        lock = root.get_object_lock_config(bucket)
        assert (lock.mode, lock.duration, lock.duration_unit) == (mode, 1, "Years")
    assert root.get_bucket_versioning(buckets.work).status != "Enabled"
    lines = role_keys_json_lines(keys).splitlines()
    assert len(lines) == 4 and all('"secret_key"' in line for line in lines)


def test_second_run_keeps_secrets_and_rotates_only_when_asked(minio_server, roles):
    buckets, clients, keys = roles
    prefix = keys[0].access_key.rsplit("-", 1)[0]
    root_keys = (minio_server.access_key, minio_server.secret_key)
    spec = RetentionSpec(raw_years=1, archive_years=1)
    again = setup_storage(minio_server.endpoint, root_keys, buckets, spec, prefix=prefix)
    assert [(k.status, k.secret_key) for k in again] == [("kept", None)] * 4
    assert clients["web"].bucket_exists(buckets.archive)  # the old web secret still works
    rotated = setup_storage(
        minio_server.endpoint, root_keys, buckets, spec, prefix=prefix, rotate=["web"]
    )
    by_role = {k.role: k for k in rotated}
    assert by_role["web"].status == "rotated" and by_role["web"].secret_key
    assert by_role["worker"].status == "kept"
    with pytest.raises(S3Error) as info:
        _get(clients["web"], buckets.archive, "none")
    assert info.value.code in ("SignatureDoesNotMatch", "InvalidAccessKeyId")
    assert _client(minio_server, by_role["web"]).bucket_exists(buckets.archive)
    _put(clients["worker"], buckets.work, "still-works")


def test_existing_bucket_without_object_lock_is_refused_with_instructions(minio_server):
    prefix, buckets = _names()
    _root(minio_server).make_bucket(buckets.raw)
    with pytest.raises(ConfigError) as info:
        setup_storage(
            minio_server.endpoint,
            (minio_server.access_key, minio_server.secret_key),
            buckets,
            RetentionSpec(),
            prefix=prefix,
        )
    assert "Object Lock" in str(info.value) and "mc mirror" in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


def test_setup_with_a_role_key_or_a_wrong_root_key_fails_cleanly(minio_server, roles):
    prefix, buckets = _names()
    _, _, keys = roles
    worker = next(k for k in keys if k.role == "worker")
    assert worker.secret_key
    with pytest.raises(NotAllowed) as info:
        setup_storage(
            minio_server.endpoint,
            (worker.access_key, worker.secret_key),
            buckets,
            RetentionSpec(),
            prefix=prefix,
        )
    assert worker.secret_key not in str(info.value)
    wrong = secrets.token_hex(16)
    with pytest.raises(StorageUnavailable) as info2:
        setup_storage(
            minio_server.endpoint, (minio_server.access_key, wrong), buckets, RetentionSpec()
        )
    assert wrong not in str(info2.value) and info2.value.exit_code == ExitCode.UNAVAILABLE


def test_role_keys_have_no_admin_api(minio_server, roles):
    _, _, keys = roles
    for k in keys:
        assert k.secret_key
        admin = MinioAdmin(
            endpoint=minio_server.endpoint,
            credentials=StaticProvider(k.access_key, k.secret_key),
            secure=False,
        )
        with pytest.raises(MinioAdminException):
            admin.user_list()


def test_station_puts_raw_and_nothing_else(roles):
    buckets, c, _ = roles
    st = c["station"]
    _put(st, buckets.raw, "sha256/aa")
    _denied(lambda: _get(st, buckets.raw, "sha256/aa"))
    _denied(lambda: st.stat_object(buckets.raw, "sha256/aa"))
    _denied(lambda: list(st.list_objects(buckets.raw)))
    _denied(lambda: st.remove_object(buckets.raw, "sha256/aa"))
    _denied(lambda: _put(st, buckets.archive, "x/x.1.pdf"))
    _denied(lambda: _put(st, buckets.work, "page"))
    _put(c["worker"], buckets.archive, "x/x.1.pdf")
    _denied(lambda: _get(st, buckets.archive, "x/x.1.pdf"))


def test_web_reads_archive_and_writes_nothing(roles):
    buckets, c, _ = roles
    web = c["web"]
    _put(c["worker"], buckets.archive, "c/c.1.pdf", b"pdf" * 200)
    _put(c["station"], buckets.raw, "sha256/bb")
    assert _get(web, buckets.archive, "c/c.1.pdf") == b"pdf" * 200
    _denied(lambda: list(web.list_objects(buckets.archive)))  # by key only (issue 20)
    for bucket in buckets.all():
        _denied(lambda b=bucket: _put(web, b, "new"))
    _denied(lambda: web.remove_object(buckets.archive, "c/c.1.pdf"))
    _denied(lambda: _get(web, buckets.raw, "sha256/bb"))
    _denied(lambda: list(web.list_objects(buckets.raw)))


def test_worker_can_do_what_the_pipeline_needs_and_never_deletes_records(roles):
    buckets, c, _ = roles
    w = c["worker"]
    _put(w, buckets.raw, "sha256/cc", b"original" * 50)
    assert _get(w, buckets.raw, "sha256/cc") == b"original" * 50
    assert w.stat_object(buckets.raw, "sha256/cc").metadata.get("x-amz-meta-sha256")
    assert [o.object_name for o in w.list_objects(buckets.raw, prefix="sha256/")] == ["sha256/cc"]
    for suffix in ("pdf", "json", "txt"):
        _put(w, buckets.archive, f"c/c.1.{suffix}")
        assert _get(w, buckets.archive, f"c/c.1.{suffix}")
    assert len(list(w.list_objects(buckets.archive, recursive=True))) == 3
    _put(w, buckets.work, "b/d/page-0001.json", b"{}")
    assert _get(w, buckets.work, "b/d/page-0001.json") == b"{}"
    w.remove_object(buckets.work, "b/d/page-0001.json")
    assert list(w.list_objects(buckets.work, recursive=True)) == []
    assert w.bucket_exists(buckets.raw) and w.bucket_exists(buckets.archive)
    _denied(lambda: w.remove_object(buckets.raw, "sha256/cc"))
    _denied(lambda: w.remove_object(buckets.archive, "c/c.1.pdf"))
    errors = list(
        w.remove_objects(buckets.archive, [DeleteObject("c/c.1.pdf")], bypass_governance_mode=True)
    )
    assert [e.code for e in errors] == ["AccessDenied"]
    _denied(lambda: w.make_bucket(f"{buckets.raw}-other"))


def test_operator_reads_raw_and_archive_and_writes_nothing(roles):
    buckets, c, _ = roles
    op = c["operator"]
    v = _put(c["station"], buckets.raw, "sha256/dd", b"scan" * 100)
    _put(c["worker"], buckets.archive, "d/d.1.json", b"{}")
    assert _get(op, buckets.raw, "sha256/dd") == b"scan" * 100
    assert _get(op, buckets.raw, "sha256/dd", version_id=v) == b"scan" * 100
    assert _get(op, buckets.archive, "d/d.1.json") == b"{}"
    for bucket in buckets.all():
        _denied(lambda b=bucket: _put(op, b, "op"))
    _denied(lambda: op.remove_object(buckets.raw, "sha256/dd"))
    _denied(lambda: _get(op, buckets.work, "anything"))


def test_nobody_deletes_a_locked_original_in_compliance_mode(minio_server, roles, tmp_path):
    buckets, c, _ = roles
    version = _put(c["station"], buckets.raw, "sha256/ee", b"evidence" * 40)
    root = _root(minio_server)
    for who in [*c.values(), root]:
        with pytest.raises(S3Error):
            who.remove_object(buckets.raw, "sha256/ee", version_id=version)
        errors = list(
            who.remove_objects(
                buckets.raw, [DeleteObject("sha256/ee", version)], bypass_governance_mode=True
            )
        )
        assert len(errors) == 1, errors
    audit = SqliteAuditLog(tmp_path / "ledger.sqlite3")
    with pytest.raises(NotAllowed, match="compliance"):
        erase_locked_version(
            root,
            buckets.raw,
            "sha256/ee",
            str(version),
            audit=audit,
            actor="ad",
            reason="QĐ 1/2026",
        )
    assert [r.action for r in audit.query()] == ["erase_original", "erase_refused"]
    # Root may hide the latest version behind a delete marker; the original stays.
    root.remove_object(buckets.raw, "sha256/ee")
    assert _get(c["operator"], buckets.raw, "sha256/ee", version_id=version) == b"evidence" * 40


def test_governance_mode_lets_only_root_erase_with_bypass(minio_server, tmp_path):
    prefix, buckets = _names()
    keys = setup_storage(
        minio_server.endpoint,
        (minio_server.access_key, minio_server.secret_key),
        buckets,
        RetentionSpec(raw_mode="GOVERNANCE", raw_years=1, archive_years=1),
        prefix=prefix,
    )
    c = {k.role: _client(minio_server, k) for k in keys}
    version = _put(c["station"], buckets.raw, "sha256/ff")
    for role in ROLES:
        errors = list(
            c[role].remove_objects(
                buckets.raw, [DeleteObject("sha256/ff", version)], bypass_governance_mode=True
            )
        )
        assert [e.code for e in errors] == ["AccessDenied"], role
    root = _root(minio_server)
    with pytest.raises(S3Error):
        root.remove_object(buckets.raw, "sha256/ff", version_id=version)  # no bypass header
    audit = SqliteAuditLog(tmp_path / "ledger.sqlite3")
    with pytest.raises(UsageError):
        erase_locked_version(
            root, buckets.raw, "sha256/ff", str(version), audit=audit, actor="ad", reason=" "
        )
    with pytest.raises(NotAllowed):  # a role key has no bypass right, audited all the same
        erase_locked_version(
            c["operator"],
            buckets.raw,
            "sha256/ff",
            str(version),
            audit=audit,
            actor="op",
            reason="QĐ 7/2026",
        )
    erase_locked_version(
        root, buckets.raw, "sha256/ff", str(version), audit=audit, actor="ad", reason="QĐ 7/2026"
    )
    rows = audit.query()
    assert [(r.actor, r.action) for r in rows] == [
        ("op", "erase_original"),
        ("op", "erase_refused"),
        ("ad", "erase_original"),
    ]
    assert rows[-1].details == {"version_id": version, "reason": "QĐ 7/2026"}
    assert audit.verify().ok
    with pytest.raises(S3Error):
        _get(c["operator"], buckets.raw, "sha256/ff", version_id=version)


def test_presigned_link_of_the_web_key_names_the_web_key_not_root(minio_server, roles):
    buckets, c, keys = roles
    _put(c["worker"], buckets.archive, "e/e.1.pdf", b"%PDF" * 100)
    url = c["web"].presigned_get_object(buckets.archive, "e/e.1.pdf", expires=timedelta(minutes=5))
    web_key = next(k for k in keys if k.role == "web")
    assert minio_server.access_key not in url
    assert web_key.access_key in url and str(web_key.secret_key) not in url
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.read() == b"%PDF" * 100
    put_url = c["web"].presigned_put_object(buckets.archive, "e/e.2.pdf")
    req = urllib.request.Request(put_url, data=b"forged", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 403


def test_secrets_never_appear_in_reprs_or_errors(minio_server, roles, capsys):
    _, _, keys = roles
    for k in keys:
        print(k, repr(k), [k])
        assert k.secret_key
    out = capsys.readouterr().out
    assert all(str(k.secret_key) not in out for k in keys)
    assert minio_server.secret_key not in out


_DESTRUCTIVE = {
    "s3:BypassGovernanceRetention",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:DeleteObjectVersion",
    "s3:DeleteBucket",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketVersioning",
    "s3:PutBucketPolicy",
    "s3:*",
}


def test_policies_grant_no_destructive_action_on_records():
    buckets = BucketNames("r", "a", "w")
    for role in ROLES:
        for st in role_policy(role, buckets)["Statement"]:
            if st["Effect"] != "Allow":
                continue
            for action in st["Action"]:
                assert "Delete" not in action or st["Resource"] == ["arn:aws:s3:::w/*"], role
                assert action not in _DESTRUCTIVE, (role, action)


# ------------------------------------------------------------------ checksummed upload


def test_upload_with_the_wrong_sha256_is_refused_by_minio(tmp_path: Path, roles):
    buckets, c, _ = roles
    f = tmp_path / "scan.pdf"
    f.write_bytes(b"%PDF-1.7 scan" * 1000)
    wrong = hashlib.sha256(b"not the file").hexdigest()
    with pytest.raises(StorageIntegrityError) as info:
        put_file_checksummed(c["station"], buckets.raw, f"sha256/{wrong}", f, wrong)
    assert "XAmzContentChecksumMismatch" in str(info.value)
    assert f.exists()
    _denied_or_missing(c["operator"], buckets.raw, f"sha256/{wrong}")


def _denied_or_missing(client: Minio, bucket: str, key: str) -> None:
    with pytest.raises(S3Error) as info:
        client.stat_object(bucket, key)
    assert info.value.code in ("NoSuchKey", "NoSuchObject", "NotFound"), info.value.code


def test_a_byte_flipped_in_flight_is_refused_and_the_file_kept(
    tmp_path: Path, minio_server: MinioServer, roles
):
    buckets, c, keys = roles
    station = next(k for k in keys if k.role == "station")
    assert station.secret_key
    f = tmp_path / "scan.tif"
    data = secrets.token_bytes(200_000)
    f.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    host, port = minio_server.endpoint.split(":")
    with TamperingProxy((host, int(port)), tamper=True) as proxy:
        via = Minio(proxy.endpoint, station.access_key, station.secret_key, secure=False)
        with pytest.raises((StorageIntegrityError, S3Error)):
            put_file_checksummed(via, buckets.raw, f"sha256/{digest}", f, digest)
        assert proxy.flipped >= 1
    assert f.read_bytes() == data
    _denied_or_missing(c["operator"], buckets.raw, f"sha256/{digest}")
    with TamperingProxy((host, int(port)), tamper=False) as proxy:
        via = Minio(proxy.endpoint, station.access_key, station.secret_key, secure=False)
        result = put_file_checksummed(via, buckets.raw, f"sha256/{digest}", f, digest)
    assert result.version_id
    assert _get(c["operator"], buckets.raw, f"sha256/{digest}") == data
    stat = c["operator"].stat_object(
        buckets.raw, f"sha256/{digest}", extra_headers={"x-amz-checksum-mode": "ENABLED"}
    )
    assert stat.metadata.get("x-amz-checksum-sha256") == sha256_b64(digest)


def test_an_upload_the_server_did_not_confirm_is_not_success(tmp_path: Path):
    class Silent:
        def put_object(self, *args, **kwargs):
            class R:
                version_id = "v1"
                http_headers: dict[str, str] = {}  # noqa: RUF012

            return R()

    with pytest.raises(StorageIntegrityError, match="did not confirm"):
        put_bytes_checksummed(Silent(), "raw", "k", b"data", "text/plain")  # type: ignore[arg-type]


def test_role_keys_from_config_reach_the_role_client(minio_server, roles, tmp_path):
    from pipeline.storage.connect import check_reachable, client_for

    buckets, _, keys = roles
    web = next(k for k in keys if k.role == "web")
    env = {
        "SOHOA_HOME": str(tmp_path),
        "SOHOA_MINIO_ENDPOINT": minio_server.endpoint,
        "SOHOA_MINIO_ACCESS_KEY": web.access_key,
        "SOHOA_MINIO_SECRET_KEY": str(web.secret_key),
    }
    cfg = load_config(env=env)
    client = client_for(cfg)
    check_reachable(client, buckets.archive, cfg.minio.endpoint)
    with pytest.raises(NotAllowed):
        check_reachable(client, buckets.raw, cfg.minio.endpoint)
