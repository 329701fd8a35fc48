"""Uploads that MinIO itself verifies: the SHA-256 travels as the S3 checksum.

A station's key may put into raw but not read, so it cannot prove a write by
reading it back. Instead each upload carries ``x-amz-checksum-sha256`` (the
base64 of the digest custody computed from the stable file); MinIO hashes the
body it receives and refuses the object when the two differ, so a byte changed
on the wire, in a buffer or on disk after hashing never becomes an original.
The server echoes the checksum it stored; a reply without it (an old server or
a gateway that ignores the header) is treated as unverified, not as success.

minio-py 7.2 has no checksum argument on ``put_object``: any ``x-amz-*`` key in
``metadata`` is sent as a header, which is how the checksum goes out. The body
goes in one PUT (no multipart), because a multipart object's checksum is a
checksum of part checksums, not the file's SHA-256; S3 allows 5 GiB per PUT
and the whole file is held in memory while it is sent.

The functions raise :class:`~pipeline.errors.StorageIntegrityError` when the
bytes were refused or not verified and let transport errors through unchanged,
so a caller's retry loop (``MinioStore``) can retry them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minio import Minio
from minio.error import S3Error
from minio.helpers import MIN_PART_SIZE

from pipeline.errors import RejectedInput, StorageIntegrityError

MAX_SINGLE_PUT = 5 * 1024**3
CHECKSUM_HEADER = "x-amz-checksum-sha256"
# What MinIO answers when the body does not hash to what the request said.
_MISMATCH_CODES = frozenset(
    {"XAmzContentChecksumMismatch", "BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest"}
)


@dataclass(frozen=True)
class PutResult:
    bucket: str
    key: str
    version_id: str | None
    sha256: str


def sha256_b64(sha256_hex: str) -> str:
    """The S3 form of a SHA-256: base64 of the 32 raw bytes, not of the hex text."""
    raw = bytes.fromhex(sha256_hex)
    if len(raw) != 32:
        raise ValueError("a SHA-256 has 32 bytes")
    return base64.b64encode(raw).decode("ascii")


def _headers(sha256_hex: str, meta: dict[str, Any] | None) -> dict[str, str]:
    headers = {
        k: urllib.parse.quote(str(v), safe=" -_.:/,@+=()")
        for k, v in (meta or {}).items()
        if v is not None
    }
    headers["sha256"] = sha256_hex
    headers[CHECKSUM_HEADER] = sha256_b64(sha256_hex)
    return headers


def _put(
    client: Minio,
    bucket: str,
    key: str,
    stream: io.BufferedIOBase | io.BytesIO,
    size: int,
    sha256_hex: str,
    content_type: str,
    meta: dict[str, Any] | None,
) -> PutResult:
    if size > MAX_SINGLE_PUT:
        raise RejectedInput(f"{key}: {size} bytes is more than one verified upload can carry")
    sha256_hex = sha256_hex.lower()
    expected = sha256_b64(sha256_hex)
    try:
        result = client.put_object(
            bucket,
            key,
            stream,
            size,
            content_type=content_type,
            metadata=_headers(sha256_hex, meta),
            part_size=max(MIN_PART_SIZE, size),
        )
    except S3Error as exc:
        if exc.code in _MISMATCH_CODES:
            raise StorageIntegrityError(
                f"{bucket}/{key}: MinIO refused the upload because the bytes it received do "
                f"not hash to SHA-256 {sha256_hex} ({exc.code}); nothing was stored"
            ) from exc
        raise
    echoed = result.http_headers.get(CHECKSUM_HEADER) if result.http_headers else None
    if echoed != expected:
        raise StorageIntegrityError(
            f"{bucket}/{key}: MinIO did not confirm SHA-256 {sha256_hex}; "
            "treat the upload as unverified (does this server check x-amz-checksum-sha256?)"
        )
    return PutResult(bucket, key, result.version_id, sha256_hex)


def put_file_checksummed(
    client: Minio,
    bucket: str,
    key: str,
    path: Path,
    sha256_hex: str,
    content_type: str = "application/octet-stream",
    meta: dict[str, Any] | None = None,
) -> PutResult:
    """Upload ``path`` so that MinIO stores it only if it hashes to ``sha256_hex``.

    Needs only ``s3:PutObject``. The local file is never touched: the caller
    removes it after this returns, and keeps it when this raises.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        return _put(client, bucket, key, fh, size, sha256_hex, content_type, meta)


def put_bytes_checksummed(
    client: Minio,
    bucket: str,
    key: str,
    data: bytes,
    content_type: str,
    meta: dict[str, Any] | None = None,
) -> PutResult:
    """Upload a small object (JSON, text) with its SHA-256 checked by the server."""
    sha256_hex = hashlib.sha256(data).hexdigest()
    return _put(client, bucket, key, io.BytesIO(data), len(data), sha256_hex, content_type, meta)
