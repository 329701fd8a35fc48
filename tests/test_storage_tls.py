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


def test_the_pipeline_store_speaks_tls_with_the_ca(tls_server: MinioServer, tmp_path: Path):
    """``connect`` (what every process uses) builds its client on the TLS-aware pool."""
    from pipeline.storage.objects import connect

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
    worker = next(k for k in keys if k.role == "worker")
    env = _env(
        tls_server,
        tmp_path,
        SOHOA_MINIO_ROLE="worker",
        SOHOA_MINIO_ACCESS_KEY=worker.access_key,
        SOHOA_MINIO_SECRET_KEY=str(worker.secret_key),
        SOHOA_BUCKET_RAW=buckets.raw,
        SOHOA_BUCKET_ARCHIVE=buckets.archive,
        SOHOA_BUCKET_WORK=buckets.work,
    )
    store = connect(load_config(env=env))
    store.ensure_buckets()
    store.put_bytes(store.archive_bucket, "c/c.1.txt", "văn bản".encode())
    assert store.get_bytes(store.archive_bucket, "c/c.1.txt").decode() == "văn bản"
    assert store.presigned_url(store.archive_bucket, "c/c.1.txt", 60).startswith("https://")
    untrusted = connect(load_config(env={**env, "SOHOA_MINIO_CA_FILE": ""}))
    with pytest.raises(StorageUnavailable, match="not trusted"):
        untrusted.ensure_buckets()


def test_serve_over_https_with_its_own_certificate(tmp_path: Path, sohoa_env, minio_server):
    """`sohoa serve --certfile --keyfile`: HTTPS, Secure cookies, nothing secret in its output."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    from tests.support.minio import free_port
    from tests.support.web import PASSWORDS, fast_users, login, role_env, setup_roles

    # serve runs with the web key only (issue 20), never the root key
    sohoa_env = role_env(sohoa_env, setup_roles(minio_server, sohoa_env), "web")
    pki = make_pki(tmp_path / "web-pki")
    cfg = load_config(env=sohoa_env)
    fast_users(cfg)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workers.cli",
            "serve",
            "--port",
            str(port),
            "--certfile",
            str(pki.certs_dir / "public.crt"),
            "--keyfile",
            str(pki.certs_dir / "private.key"),
        ],
        env={**os.environ, **sohoa_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"https://127.0.0.1:{port}"
        with httpx.Client(base_url=base, verify=str(pki.ca_file), timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    page = client.get("/login")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.3)
            assert page.status_code == 200 and "Đăng nhập" in page.text
            assert login(client, "lan", "a-wrong-password-here").status_code == 401
            client.cookies.clear()
            resp = login(client, "lan")
            assert resp.status_code == 303
            cookie = next(v for k, v in resp.headers.multi_items() if k == "set-cookie")
            assert "Secure" in cookie and "HttpOnly" in cookie
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    text = out + err
    assert f"https://127.0.0.1:{port}/" in text
    for secret in (
        *PASSWORDS.values(),
        "a-wrong-password-here",
        sohoa_env["SOHOA_MINIO_SECRET_KEY"],
    ):
        assert secret not in text


def test_serve_refuses_a_half_given_certificate(tmp_path: Path, sohoa_env):
    from tests.support.cli import sohoa

    result = sohoa(sohoa_env, "serve", "--certfile", str(tmp_path / "none.crt"), timeout=60)
    assert result.returncode == 2 and "--keyfile" in result.stderr
