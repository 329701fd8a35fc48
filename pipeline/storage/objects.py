"""MinIO storage: the system of record.

A handful of plain functions over a ``minio.Minio`` client. Every write is
verified by reading the object back and comparing its SHA-256, because an
archive that cannot lose a page must not trust an HTTP 200 alone. Connection
failures are retried with backoff for a bounded time and then surface as
:class:`StorageUnavailable` (CLI exit code 4), never as a half-done state.
"""

from __future__ import annotations

import hashlib
import io
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from minio import Minio
from minio.error import S3Error

from pipeline.config import Config, require_credentials

T = TypeVar("T")
CHUNK = 1024 * 1024
META_SHA256 = "sha256"


class StorageUnavailable(RuntimeError):
    """MinIO cannot be reached (after retrying); nothing was changed locally."""


class StorageIntegrityError(RuntimeError):
    """An object read back does not match what was written."""


@dataclass(frozen=True)
class Store:
    """A client plus the settings its helpers need; cheap to rebuild in each process."""

    client: Minio
    raw_bucket: str
    archive_bucket: str
    retry_seconds: float


def connect(cfg: Config) -> Store:
    """Build a client with short per-attempt timeouts; our own loop does the retrying."""
    access, secret = require_credentials(cfg)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=cfg.minio.connect_timeout, read=120),
        retries=urllib3.Retry(total=0, connect=0, read=0, redirect=0),
        maxsize=16,
    )
    client = Minio(
        cfg.minio.endpoint,
        access_key=access,
        secret_key=secret,
        secure=cfg.minio.secure,
        region=cfg.minio.region,
        http_client=http,
    )
    return Store(client, cfg.buckets.raw, cfg.buckets.archive, cfg.minio.retry_seconds)


_TRANSIENT = (
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
)


def with_retry(store: Store, what: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` and retry transport failures with backoff for ``store.retry_seconds``."""
    deadline = time.monotonic() + store.retry_seconds
    delay = 0.5
    while True:
        try:
            return fn()
        except S3Error as exc:
            if exc.code in ("ServiceUnavailable", "SlowDown", "XMinioServerNotInitialized"):
                last: Exception = exc
            else:
                raise
        except _TRANSIENT as exc:
            last = exc
        if time.monotonic() + delay > deadline:
            raise StorageUnavailable(
                f"storage unreachable while trying to {what}: {last}"
            ) from last
        time.sleep(delay)
        delay = min(delay * 2, 8.0)


def ensure_buckets(store: Store) -> None:
    for bucket in (store.raw_bucket, store.archive_bucket):
        if not with_retry(
            store, f"check bucket {bucket}", lambda b=bucket: store.client.bucket_exists(b)
        ):
            try:
                with_retry(
                    store, f"create bucket {bucket}", lambda b=bucket: store.client.make_bucket(b)
                )
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def encode_meta(meta: dict[str, Any]) -> dict[str, str]:
    """S3 user metadata travels in HTTP headers: percent-encode anything non-ASCII."""
    return {
        k: urllib.parse.quote(str(v), safe=" -_.:/,@+=()") for k, v in meta.items() if v is not None
    }


def decode_meta(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (headers or {}).items():
        lk = key.lower()
        if lk.startswith("x-amz-meta-"):
            out[lk[len("x-amz-meta-") :]] = urllib.parse.unquote(value)
    return out


def stat(store: Store, bucket: str, key: str) -> dict[str, Any] | None:
    """Size and user metadata of an object, or None when it does not exist."""

    def _stat() -> dict[str, Any] | None:
        try:
            st = store.client.stat_object(bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return None
            raise
        return {"size": st.size, "meta": decode_meta(st.metadata), "etag": st.etag}

    return with_retry(store, f"stat {bucket}/{key}", _stat)


def _hash_object(store: Store, bucket: str, key: str) -> tuple[str, int]:
    def _read() -> tuple[str, int]:
        resp = store.client.get_object(bucket, key)
        try:
            h = hashlib.sha256()
            size = 0
            for chunk in resp.stream(CHUNK):
                h.update(chunk)
                size += len(chunk)
            return h.hexdigest(), size
        finally:
            resp.close()
            resp.release_conn()

    return with_retry(store, f"read back {bucket}/{key}", _read)


def put_file_verified(
    store: Store,
    bucket: str,
    key: str,
    path: Path,
    sha256: str,
    content_type: str = "application/octet-stream",
    meta: dict[str, Any] | None = None,
) -> None:
    """Upload ``path`` and prove the stored bytes hash to ``sha256``.

    An object that already holds the same bytes is not uploaded again, which makes
    re-runs after a crash cheap and idempotent.
    """
    existing = stat(store, bucket, key)
    if existing and existing["meta"].get(META_SHA256) == sha256:
        digest, _ = _hash_object(store, bucket, key)
        if digest == sha256:
            return
    headers = encode_meta({**(meta or {}), META_SHA256: sha256})
    with_retry(
        store,
        f"upload {bucket}/{key}",
        lambda: store.client.fput_object(
            bucket, key, str(path), content_type=content_type, metadata=headers
        ),
    )
    digest, _ = _hash_object(store, bucket, key)
    if digest != sha256:
        raise StorageIntegrityError(f"{bucket}/{key}: stored SHA-256 {digest} != source {sha256}")


def put_bytes_verified(
    store: Store,
    bucket: str,
    key: str,
    data: bytes,
    content_type: str,
    meta: dict[str, Any] | None = None,
) -> str:
    """Upload a small object (JSON, text) and verify it; returns its SHA-256."""
    sha256 = hashlib.sha256(data).hexdigest()
    headers = encode_meta({**(meta or {}), META_SHA256: sha256})
    with_retry(
        store,
        f"upload {bucket}/{key}",
        lambda: store.client.put_object(
            bucket, key, io.BytesIO(data), len(data), content_type=content_type, metadata=headers
        ),
    )
    digest, _ = _hash_object(store, bucket, key)
    if digest != sha256:
        raise StorageIntegrityError(f"{bucket}/{key}: stored SHA-256 {digest} != source {sha256}")
    return sha256


def get_bytes(store: Store, bucket: str, key: str) -> bytes:
    def _get() -> bytes:
        resp = store.client.get_object(bucket, key)
        try:
            return resp.read()
        finally:
            resp.close()
            resp.release_conn()

    return with_retry(store, f"download {bucket}/{key}", _get)


def download_file(store: Store, bucket: str, key: str, dest: Path) -> None:
    with_retry(
        store, f"download {bucket}/{key}", lambda: store.client.fget_object(bucket, key, str(dest))
    )


def list_keys(store: Store, bucket: str, prefix: str = "", suffix: str = "") -> Iterator[str]:
    """Keys under ``prefix`` (recursive) ending in ``suffix``, in lexical order."""
    objs = with_retry(
        store,
        f"list {bucket}/{prefix}",
        lambda: list(store.client.list_objects(bucket, prefix=prefix, recursive=True)),
    )
    for obj in objs:
        if obj.object_name and obj.object_name.endswith(suffix):
            yield obj.object_name


def presigned_url(store: Store, bucket: str, key: str, expires_seconds: int) -> str:
    """A time-limited GET link; signing is local, so this never touches the network."""
    return store.client.presigned_get_object(
        bucket, key, expires=timedelta(seconds=expires_seconds)
    )
