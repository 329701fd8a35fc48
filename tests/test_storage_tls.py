"""TLS to MinIO: a CA made by the test, MinIO with --certs-dir, clients with and without the CA."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.errors import ExitCode, StorageUnavailable
from pipeline.storage.connect import check_reachable, client_for
from pipeline.storage.roles import BucketNames, RetentionSpec, setup_storage
from tests.support.minio import MinioServer, new_server
from tests.support.tls import make_pki

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    where = tmp_path_factory.mktemp("tls")
    pki = make_pki(where)
    server = new_server(where)
    server.certs_dir, server.ca_file = pki.certs_dir, pki.ca_file
    server.start()
    yield server
    server.stop()


def _env(server: MinioServer, home: Path, **over: str) -> dict[str, str]:
    env = {"SOHOA_HOME": str(home), **server.env()}
    env.update(over)
    return {k: v for k, v in env.items() if v != ""}


def test_with_the_ca_the_role_keys_work_over_tls(tls_server: MinioServer, tmp_path: Path):
    tag = secrets.token_hex(3)
    buckets = BucketNames(f"raw-{tag}", f"archive-{tag}", f"work-{tag}")
    keys = setup_storage(
        tls_server.endpoint,
        (tls_server.access_key, tls_server.secret_key),
        buckets,
        RetentionSpec(raw_years=1, archive_years=1),
        secure=True,
        ca_file=str(tls_server.ca_file),
        prefix=f"t{tag}",
    )
    web = next(k for k in keys if k.role == "web")
    cfg = load_config(
        env=_env(
            tls_server,
            tmp_path,
            SOHOA_MINIO_ACCESS_KEY=web.access_key,
            SOHOA_MINIO_SECRET_KEY=str(web.secret_key),
        )
    )
    assert cfg.minio.secure and cfg.minio.ca_file == str(tls_server.ca_file)
    client = client_for(cfg)
    check_reachable(client, buckets.archive, cfg.minio.endpoint)
    assert client.presigned_get_object(buckets.archive, "x").startswith("https://")


def test_without_the_ca_the_certificate_is_refused_with_a_clear_error(
    tls_server: MinioServer, tmp_path: Path
):
    cfg = load_config(env=_env(tls_server, tmp_path, SOHOA_MINIO_CA_FILE=""))
    assert cfg.minio.secure and cfg.minio.ca_file is None
    with pytest.raises(StorageUnavailable) as info:
        check_reachable(client_for(cfg), "raw", cfg.minio.endpoint)
    msg = str(info.value)
    assert "not trusted" in msg and "SOHOA_MINIO_CA_FILE" in msg
    assert info.value.exit_code == ExitCode.UNAVAILABLE == 4
    assert tls_server.secret_key not in msg


def test_plain_http_against_a_tls_server_fails_clearly(tls_server: MinioServer, tmp_path: Path):
    cfg = load_config(
        env=_env(tls_server, tmp_path, SOHOA_MINIO_SECURE="0", SOHOA_MINIO_CA_FILE="")
    )
    with pytest.raises(StorageUnavailable) as info:
        check_reachable(client_for(cfg), "raw", cfg.minio.endpoint)
    assert info.value.exit_code == 4


def test_a_ca_file_without_tls_or_missing_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="SOHOA_MINIO_SECURE=1"):
        load_config(env={"SOHOA_HOME": str(tmp_path), "SOHOA_MINIO_CA_FILE": "/x/ca.crt"})
    cfg = load_config(
        env={
            "SOHOA_HOME": str(tmp_path),
            "SOHOA_MINIO_SECURE": "1",
            "SOHOA_MINIO_CA_FILE": str(tmp_path / "missing.crt"),
            "SOHOA_MINIO_ACCESS_KEY": "k" * 8,
            "SOHOA_MINIO_SECRET_KEY": "s" * 16,
        }
    )
    with pytest.raises(ConfigError, match="no such file"):
        client_for(cfg)
