"""Object storage (MinIO, any S3): the system of record.

``ObjectStore`` is the interface the pipeline uses; ``MinioStore`` implements it
over a ``minio.Minio`` client. Every write is verified by reading the object back
and comparing its SHA-256, because an archive that cannot lose a page must not
trust an HTTP 200 alone.

Each process holds one role's key (DESIGN §8; ``minio.role``, see
:func:`pipeline.config.storage_role`), and the store never tries what that key
cannot do. A key that cannot read what it wrote (a scanner station's) sends the
SHA-256 as the S3 checksum instead and MinIO refuses any body that does not hash
to it (:mod:`pipeline.storage.checksum`); a key that cannot create buckets only
checks they exist. What MinIO refuses anyway is :class:`StorageDenied` (exit 5)
naming the role, handled like an outage so no document is failed for a key.

Failures are sorted by whether waiting can help. A refused or unreachable
server before this process ever reached it, and keys the server rejects, fail
at once as :class:`StorageUnavailable` (exit 4): retrying a wrong secret for a
minute helps nobody. Once the server has answered, transport errors and the
server's "not now" answers (HTTP 500/502/503/504 and 429: ``InternalError``,
``SlowDown``, ``ServiceUnavailable``, throttling; :func:`connect.server_busy`) are
retried with exponential backoff and jitter for ``retry_seconds`` (a MinIO restart
or overload mid-batch), then surface the same way, never as a half-done state.
Every operation here can be repeated safely: uploads write the same bytes under
the same key and are verified, reads and removals change nothing twice.
"""

from __future__ import annotations

import hashlib
import io
import random
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from pipeline.config import Config, public_endpoint, require_credentials, storage_role
from pipeline.errors import ConfigError, StorageDenied, StorageIntegrityError, StorageUnavailable
from pipeline.storage import connect as connect_mod
from pipeline.storage.checksum import (
    CHECKSUM_HEADER,
    put_bytes_checksummed,
    put_file_checksummed,
    sha256_b64,
)
from pipeline.storage.roles import GET, LIST, role_can

T = TypeVar("T")
CHUNK = 1024 * 1024
META_SHA256 = "sha256"
# What S3 answers a conditional write whose object changed (or appeared) since it was read.
_CHANGED_MEANWHILE = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
_NOT_FOUND = ("NoSuchKey", "NoSuchObject", "NotFound")
_BAD_KEYS = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken")


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    meta: dict[str, str]
    etag: str | None = None
    last_modified: datetime | None = None
    version_id: str | None = None


class ObjectStore(Protocol):
    """What the pipeline needs from object storage; buckets are named by role."""

    raw_bucket: str
    archive_bucket: str
    work_bucket: str

    def ensure_buckets(self) -> None: ...
    def stat(self, bucket: str, key: str) -> ObjectInfo | None: ...
    def put_file(
        self,
        bucket: str,
        key: str,
        path: Path,
        sha256: str,
        *,
        content_type: str = "application/octet-stream",
        meta: dict[str, Any] | None = None,
    ) -> str | None: ...
    def put_bytes(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        meta: dict[str, Any] | None = None,
    ) -> str: ...
    def replace_bytes(
        self, bucket: str, key: str, data: bytes, *, etag: str | None, content_type: str
    ) -> bool: ...
    def get_bytes(self, bucket: str, key: str) -> bytes: ...
    def download(
        self, bucket: str, key: str, dest: Path, version_id: str | None = None
    ) -> None: ...
    def list_keys(
        self, bucket: str, prefix: str = "", suffix: str = "", start_after: str | None = None
    ) -> Iterator[str]: ...
    def remove(self, bucket: str, key: str) -> None: ...
    def presigned_url(self, bucket: str, key: str, expires_seconds: int) -> str: ...


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


_TRANSIENT = (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)


class MinioStore:
    """``ObjectStore`` over minio-py, with short per-attempt timeouts and our own retry loop.

    ``role`` is the key's storage role (None: unrestricted); ``link_client`` signs the
    presigned links people open (the public endpoint), ``client`` does the work.
    """

    def __init__(
        self,
        client: Minio,
        endpoint: str,
        buckets: Any,
        retry_seconds: float,
        *,
        role: str | None = None,
        access_key: str | None = None,
        link_client: Minio | None = None,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.raw_bucket: str = buckets.raw
        self.archive_bucket: str = buckets.archive
        self.work_bucket: str = buckets.work
        self.retry_seconds = retry_seconds
        self.role = role
        self.access_key = access_key
        self._link_client = link_client or client
        self._kinds = {buckets.raw: "raw", buckets.archive: "archive", buckets.work: "work"}
        self._reached = False  # set once the server has answered us

    # -- the role --------------------------------------------------------------------------
    def can(self, action: str, bucket: str) -> bool:
        """Whether this key's role may ``action`` (get, put, list, delete) in ``bucket``."""
        return role_can(self.role, action, self._kinds.get(bucket, ""))

    def _who(self) -> str:
        key = f" ({self.access_key})" if self.access_key else ""
        return f"the {self.role} key{key}" if self.role else f"the key{key}"

    def _denied(self, what: str) -> StorageDenied:
        if self.role is None:
            hint = (
                "if this is a role key from `sohoa storage setup`, set SOHOA_MINIO_ROLE to its role"
            )
        elif self.role == "station":
            hint = "a station key only puts originals into raw; processing needs the worker key"
        else:
            hint = (
                "check that this process has the right role's key and that `sohoa storage"
                " setup` was run for these bucket names (SOHOA_BUCKET_*)"
            )
        return StorageDenied(
            f"MinIO at {self.endpoint} refused to {what}: {self._who()} may not do that; {hint}"
        )

    # -- the retry policy ----------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        started = time.monotonic()
        delay = 0.25
        while True:
            try:
                result = fn()
                self._reached = True
                return result
            except S3Error as exc:
                self._reached = True
                if exc.code in _BAD_KEYS:
                    raise StorageUnavailable(
                        f"MinIO at {self.endpoint} rejects the configured keys ({exc.code}):"
                        " check SOHOA_MINIO_ACCESS_KEY and SOHOA_MINIO_SECRET_KEY"
                    ) from None
                if exc.code == "AccessDenied":
                    raise self._denied(what) from None
                if exc.code == "NoSuchBucket":
                    raise _missing_bucket(exc.bucket_name or "?", self.endpoint) from None
                if not connect_mod.server_busy(exc):
                    raise
                last: Exception = exc
            except (ServerError, InvalidResponseError) as exc:
                self._reached = True
                if not connect_mod.server_busy(exc):
                    raise
                last = exc
            except _TRANSIENT as exc:
                tls = connect_mod.tls_error(exc, self.endpoint)
                if tls is not None:  # a certificate does not get better by waiting
                    raise tls from None
                last = exc
            # A server that answered (even "busy") is waited for; one never reached is not.
            deadline = started + (self.retry_seconds if self._reached else 2.0)
            pause = random.uniform(delay / 2, delay)  # jitter: retries of many workers spread
            if time.monotonic() + pause > deadline:
                raise StorageUnavailable(
                    f"storage at {self.endpoint} unreachable while trying to {what}: {_short(last)}"
                ) from None
            time.sleep(pause)
            delay = min(delay * 2, 8.0)

    # -- buckets ---------------------------------------------------------------------------
    def ensure_buckets(self) -> None:
        """Check the buckets this key works with exist; only an unrestricted key creates them.

        ``sohoa storage setup`` creates the buckets (with versioning and Object Lock, which
        MinIO can switch on only at creation); a role key finding one missing stops with
        the fix. A station key cannot see buckets at all: its first upload proves raw.
        """
        for bucket in (self.raw_bucket, self.archive_bucket, self.work_bucket):
            if not self.can(LIST, bucket):
                continue
            if self._call(f"check bucket {bucket}", lambda b=bucket: self.client.bucket_exists(b)):
                continue
            if self.role is not None:
                raise _missing_bucket(bucket, self.endpoint)
            try:
                self._call(f"create bucket {bucket}", lambda b=bucket: self.client.make_bucket(b))
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    # -- reading ---------------------------------------------------------------------------
    def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        def _stat() -> ObjectInfo | None:
            try:
                st = self.client.stat_object(bucket, key)
            except S3Error as exc:
                if exc.code in _NOT_FOUND:
                    return None
                raise
            return ObjectInfo(
                int(st.size or 0),
                decode_meta(st.metadata),
                st.etag,
                st.last_modified,
                st.version_id,
            )

        return self._call(f"stat {bucket}/{key}", _stat)

    def _hash_object(self, bucket: str, key: str) -> str:
        def _read() -> str:
            resp = self.client.get_object(bucket, key)
            try:
                h = hashlib.sha256()
                for chunk in resp.stream(CHUNK):
                    h.update(chunk)
                return h.hexdigest()
            finally:
                resp.close()
                resp.release_conn()

        return self._call(f"read back {bucket}/{key}", _read)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        def _get() -> bytes:
            resp = self.client.get_object(bucket, key)
            try:
                return resp.read()
            finally:
                resp.close()
                resp.release_conn()

        return self._call(f"download {bucket}/{key}", _get)

    def open_range(self, bucket: str, key: str, offset: int, length: int) -> Any:
        """A response streaming ``length`` bytes of the object from ``offset`` (web downloads).

        The caller reads it (``stream(n)``) and must ``close()`` and ``release_conn()`` it.
        Only opening is retried; a stream cut midway is the reader's to report.
        """
        return self._call(
            f"read {bucket}/{key}",
            lambda: self.client.get_object(bucket, key, offset=offset, length=length),
        )

    def download(self, bucket: str, key: str, dest: Path, version_id: str | None = None) -> None:
        """``key`` into ``dest``; with ``version_id``, exactly that version (a locked original
        stays readable whatever was put over its key later)."""
        self._call(
            f"download {bucket}/{key}",
            lambda: self.client.fget_object(bucket, key, str(dest), version_id=version_id),
        )

    def list_keys(
        self, bucket: str, prefix: str = "", suffix: str = "", start_after: str | None = None
    ) -> Iterator[str]:
        """Keys under ``prefix`` (recursive) ending in ``suffix``, in lexical order; with
        ``start_after``, only the keys after it (one request when nothing is new)."""
        objs = self._call(
            f"list {bucket}/{prefix}",
            lambda: list(
                self.client.list_objects(
                    bucket, prefix=prefix, recursive=True, start_after=start_after
                )
            ),
        )
        for obj in objs:
            if obj.object_name and obj.object_name.endswith(suffix):
                yield obj.object_name

    def presigned_url(self, bucket: str, key: str, expires_seconds: int) -> str:
        """A time-limited GET link; signing is local, so this never touches the network."""
        return self._link_client.presigned_get_object(
            bucket, key, expires=timedelta(seconds=expires_seconds)
        )

    # -- writing ---------------------------------------------------------------------------
    def put_file(
        self,
        bucket: str,
        key: str,
        path: Path,
        sha256: str,
        *,
        content_type: str = "application/octet-stream",
        meta: dict[str, Any] | None = None,
    ) -> str | None:
        """Upload ``path`` and prove the stored bytes hash to ``sha256``; return the version id
        that holds them (None on a bucket without versioning).

        An object that already holds the same bytes is not uploaded again, which makes
        re-runs after a crash cheap and idempotent. A key that cannot read ``bucket``
        (a station's) uploads with the S3 checksum instead: MinIO stores the object only
        if what it received hashes to ``sha256``, and the caller keeps its file until
        this returns.
        """
        if not self.can(GET, bucket):
            put = self._call(
                f"upload {bucket}/{key}",
                lambda: put_file_checksummed(
                    self.client, bucket, key, path, sha256, content_type, meta
                ),
            )
            return put.version_id
        existing = self.stat(bucket, key)
        if (
            existing
            and existing.meta.get(META_SHA256) == sha256
            and self._hash_object(bucket, key) == sha256
        ):
            return existing.version_id
        headers = encode_meta({**(meta or {}), META_SHA256: sha256})
        written = self._call(
            f"upload {bucket}/{key}",
            lambda: self.client.fput_object(
                bucket, key, str(path), content_type=content_type, metadata=headers
            ),
        )
        self._verify(bucket, key, sha256)
        return written.version_id

    def put_bytes(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        meta: dict[str, Any] | None = None,
    ) -> str:
        """Upload a small object (JSON, text) and verify it; returns its SHA-256."""
        sha256 = hashlib.sha256(data).hexdigest()
        if not self.can(GET, bucket):
            self._call(
                f"upload {bucket}/{key}",
                lambda: put_bytes_checksummed(self.client, bucket, key, data, content_type, meta),
            )
            return sha256
        headers = encode_meta({**(meta or {}), META_SHA256: sha256})
        self._call(
            f"upload {bucket}/{key}",
            lambda: self.client.put_object(
                bucket,
                key,
                io.BytesIO(data),
                len(data),
                content_type=content_type,
                metadata=headers,
            ),
        )
        self._verify(bucket, key, sha256)
        return sha256

    def replace_bytes(
        self, bucket: str, key: str, data: bytes, *, etag: str | None, content_type: str
    ) -> bool:
        """Write a small object only if it is still the version read (``etag``; None: still
        absent), its SHA-256 checked by the server. False when another writer came first:
        read it again and redo the change. For objects several machines update (the source
        markers), where a plain read-modify-write would lose one machine's change."""
        sha256 = hashlib.sha256(data).hexdigest()
        headers = {
            "Content-Type": content_type,
            CHECKSUM_HEADER: sha256_b64(sha256),
            f"x-amz-meta-{META_SHA256}": sha256,
            **({"If-Match": f'"{etag}"'} if etag else {"If-None-Match": "*"}),
        }

        def put() -> bool:
            try:
                # minio-py's put_object would turn the conditional into user metadata.
                self.client._put_object(bucket, key, data, headers=headers)
            except S3Error as exc:
                if exc.code in _CHANGED_MEANWHILE:
                    return False
                raise
            return True

        return self._call(f"upload {bucket}/{key}", put)

    def _verify(self, bucket: str, key: str, sha256: str) -> None:
        digest = self._hash_object(bucket, key)
        if digest != sha256:
            raise StorageIntegrityError(
                f"{bucket}/{key}: stored SHA-256 {digest} != source {sha256}"
            )

    def remove(self, bucket: str, key: str) -> None:
        self._call(f"remove {bucket}/{key}", lambda: self.client.remove_object(bucket, key))


def can(objects: ObjectStore, action: str, bucket: str) -> bool:
    """Whether ``objects``' key may ``action`` in ``bucket`` (stores without roles: yes)."""
    check = getattr(objects, "can", None)
    return True if check is None else bool(check(action, bucket))


def _short(exc: Exception) -> str:
    """The useful end of a urllib3 error chain ("Connection refused"), not its repr soup."""
    text = str(exc)
    for marker in ("] ", "): "):
        if marker in text:
            text = text.rsplit(marker, 1)[-1]
    return text.rstrip(")'\"") or type(exc).__name__


def _missing_bucket(bucket: str, endpoint: str) -> StorageUnavailable:
    return StorageUnavailable(
        f"bucket {bucket} does not exist at {endpoint}: run `sohoa storage setup` with the"
        " MinIO root key to create the buckets (and check SOHOA_BUCKET_* name the same"
        " buckets on every machine)"
    )


def connect(cfg: Config) -> MinioStore:
    """Build a client for the configured endpoint and role key (no network traffic yet).

    TLS comes from :func:`pipeline.storage.connect.http_client` (verified against
    ``minio.ca_file`` or the system store). Links are signed for ``minio.public_endpoint``
    when set, with the region given so signing never needs the network.
    """
    access, secret = require_credentials(cfg)
    http = connect_mod.http_client(cfg.minio)
    public = public_endpoint(cfg)
    try:
        client = Minio(
            cfg.minio.endpoint,
            access_key=access,
            secret_key=secret,
            secure=cfg.minio.secure,
            region=cfg.minio.region,
            http_client=http,
        )
        link = None
        if public is not None:
            link = Minio(
                public[0],
                access_key=access,
                secret_key=secret,
                secure=public[1],
                region=cfg.minio.region or "us-east-1",
                http_client=http,
            )
    except ValueError as exc:
        raise ConfigError(f"minio.endpoint {cfg.minio.endpoint!r}: {exc}") from None
    return MinioStore(
        client,
        cfg.minio.endpoint,
        cfg.buckets,
        cfg.minio.retry_seconds,
        role=storage_role(cfg),
        access_key=access,
        link_client=link,
    )
