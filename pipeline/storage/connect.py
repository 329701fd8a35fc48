"""MinIO clients built from the configuration, with TLS and errors a person can act on.

One place builds the ``urllib3.PoolManager`` every client uses, so TLS is the same
for the pipeline, the web app and ``storage setup``: with ``minio.secure`` on,
the server certificate must chain to ``minio.ca_file`` (an office's own CA) or,
when unset, to the system's trust store; there is no switch to turn checking
off. :func:`storage_error` turns transport failures into
:class:`~pipeline.errors.StorageUnavailable` (exit 4) with a message that says
what to fix, and never the keys.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import urllib3
from minio import Minio, MinioAdmin
from minio.credentials import StaticProvider
from minio.error import InvalidResponseError, S3Error, ServerError

from pipeline.config import Config, ConfigError, MinioConfig, require_credentials
from pipeline.errors import NotAllowed, StorageDenied, StorageUnavailable

# Codes with which MinIO refuses the keys themselves (as opposed to one action).
_BAD_KEY_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "XMinioAdminInvalidAccessKey")
# S3 answers that mean "not now": the server (or a proxy before it) is overloaded,
# restarting or throttling us. The same request may well succeed a moment later.
BUSY_CODES = (
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "SlowDownRead",
    "SlowDownWrite",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "TooManyRequests",
    "RequestLimitExceeded",
    "RequestTimeout",
    "XMinioServerNotInitialized",
    "XMinioReadQuorum",
    "XMinioWriteQuorum",
)
_BUSY_STATUS = (429, 500, 502, 503, 504)


def http_client(minio: MinioConfig, *, read_timeout: float = 120.0) -> urllib3.PoolManager:
    """The pool every client shares: short timeouts, no hidden retries, verified TLS.

    Retries are zero because callers run their own bounded retry loop; a TLS
    failure must surface at once rather than after urllib3's backoff.
    """
    ca_file = minio.ca_file
    if ca_file and not Path(ca_file).is_file():
        raise ConfigError(f"minio.ca_file: no such file {ca_file}")
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=minio.connect_timeout, read=read_timeout),
        retries=urllib3.Retry(total=0, connect=0, read=0, redirect=0),
        maxsize=16,
        cert_reqs="CERT_REQUIRED",
        ca_certs=ca_file or None,
    )


def client_for(
    cfg: Config, *, access_key: str | None = None, secret_key: str | None = None
) -> Minio:
    """A ``Minio`` client for this process's role key (or the keys given)."""
    if access_key is None or secret_key is None:
        access_key, secret_key = require_credentials(cfg)
    return Minio(
        cfg.minio.endpoint,
        access_key=access_key,
        secret_key=secret_key,
        secure=cfg.minio.secure,
        region=cfg.minio.region,
        http_client=http_client(cfg.minio),
    )


def admin_for(minio: MinioConfig, access_key: str, secret_key: str) -> MinioAdmin:
    """A ``MinioAdmin`` client (root key only: role keys have no admin rights)."""
    return MinioAdmin(
        endpoint=minio.endpoint,
        credentials=StaticProvider(access_key, secret_key),
        secure=minio.secure,
        http_client=http_client(minio),
    )


def server_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is a server's "try again" (HTTP 5xx or 429, or an S3 busy code).

    minio-py raises :class:`S3Error` when the answer has an S3 XML body, :class:`ServerError`
    when it has none (a HEAD, a bare 503), and :class:`InvalidResponseError` when the
    body is not XML (a proxy's error page): all three are the server saying "not now".
    """
    if isinstance(exc, S3Error):
        status = getattr(exc.response, "status", None)
        return exc.code in BUSY_CODES or status in _BUSY_STATUS
    if isinstance(exc, ServerError):
        return exc.status_code in _BUSY_STATUS
    if isinstance(exc, InvalidResponseError):
        return getattr(exc, "_code", None) in _BUSY_STATUS
    return False


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception behind urllib3's wrappers (``reason``) and Python's chaining."""
    seen = exc
    for _ in range(20):
        nxt = getattr(seen, "reason", None)
        if not isinstance(nxt, BaseException):
            nxt = seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen:
            break
        seen = nxt
    return seen


def tls_error(exc: BaseException, endpoint: str) -> StorageUnavailable | None:
    """The TLS failure behind ``exc``, as an error that says what to fix; None if not TLS.

    TLS problems get their own messages because the fix differs: a CA file for
    an untrusted certificate, ``SOHOA_MINIO_SECURE`` for a protocol mismatch.
    """
    cause = _root_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(cause):
        return StorageUnavailable(
            f"TLS: the certificate of MinIO at {endpoint} is not trusted "
            f"({getattr(cause, 'verify_message', None) or 'verification failed'}); "
            "set SOHOA_MINIO_CA_FILE to the CA certificate that signed it"
        )
    if isinstance(cause, ssl.SSLError):
        return StorageUnavailable(
            f"TLS handshake with MinIO at {endpoint} failed ({cause.reason or cause}); "
            "is the server speaking TLS? check SOHOA_MINIO_SECURE and the endpoint"
        )
    return None


def storage_error(exc: BaseException, endpoint: str) -> StorageUnavailable | NotAllowed | None:
    """The foreseen error for a failed MinIO call, or None when ``exc`` is not one we map."""
    tls = tls_error(exc, endpoint)
    if tls is not None:
        return tls
    if isinstance(exc, InvalidResponseError):
        return StorageUnavailable(
            f"MinIO at {endpoint} answered with something that is not S3 "
            f"(HTTP {exc._code}); if the server uses TLS, set SOHOA_MINIO_SECURE=1"
        )
    if isinstance(exc, S3Error):
        if exc.code in _BAD_KEY_CODES:
            return StorageUnavailable(f"MinIO at {endpoint} rejects the configured access key")
        if exc.code == "AccessDenied":
            return StorageDenied(
                f"MinIO at {endpoint}: this role's key may not do that "
                f"({exc.code} on {exc.bucket_name or '-'}/{exc.object_name or ''})"
            )
        return None
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError | OSError):
        cause = _root_cause(exc)
        return StorageUnavailable(f"MinIO at {endpoint} cannot be reached: {type(cause).__name__}")
    return None


def check_reachable(client: Minio, bucket: str, endpoint: str) -> None:
    """One cheap signed request (HEAD bucket) that proves TLS, keys and the bucket.

    Needs ``s3:ListBucket`` on ``bucket``, which every role but ``station`` has;
    a station proves its key with its first checksummed upload instead.

    Raises :class:`StorageUnavailable` for TLS, transport and key problems; a
    bucket this role cannot see is :class:`NotAllowed`.
    """
    try:
        exists = client.bucket_exists(bucket)
    except Exception as exc:
        mapped = storage_error(exc, endpoint)
        if mapped is None:
            raise
        raise mapped from exc
    if not exists:
        raise StorageUnavailable(f"bucket {bucket} does not exist on {endpoint}: run storage setup")
