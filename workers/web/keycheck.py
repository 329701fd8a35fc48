"""`sohoa serve` runs with the web key and nothing stronger, checked against MinIO at start.

A web server faces people, so a stolen or misused session must not reach more than the
archive's current files. A key's label (``SOHOA_MINIO_ROLE``, or its name) is what the
process says about itself; MinIO is asked what the key can really do, with requests
that cannot change anything:

- list ``raw`` (the web key may not);
- put into ``raw`` (under each prefix a role may write there), ``archive`` and ``work``
  a body whose ``Content-MD5`` and SHA-256 checksum are both wrong: MinIO checks the
  key's right to write before it reads the body, so a key that may not write gets
  ``AccessDenied``, and a key that may write gets ``BadDigest`` and nothing is stored.

Any other answer than "denied" means the key can do more than the web role, and the
server does not start (exit 5). So does a process without a MinIO key.

**The upload key.** With uploads configured (``SOHOA_UPLOAD_ACCESS_KEY`` /
``SOHOA_UPLOAD_SECRET_KEY``), ``serve`` holds a second key, the station's, used by the
API's upload route alone to put an original and its custody record into raw. It is
held to the station's powers the same way: it must be able to put into raw (a probe
under ``sha256/`` with wrong checksums, refused for its body), and must not list raw,
read anything from raw or the archive (a GET of a key that does not exist: "denied" or
"no such key"), or write into the archive or work. So the serve process holds at most
what a scanner station and the web each hold, never a worker's or an operator's key.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import replace

from minio import Minio
from minio.error import S3Error

from pipeline.config import Config, storage_role
from pipeline.errors import NotAllowed, StorageUnavailable
from pipeline.storage import objects as objects_mod
from pipeline.storage.connect import storage_error

PROBE_PREFIX = "sohoa-key-probe/"
_PROBE_BODY = b"sohoa: this key may not write here"
_WRONG = b"not the body"


def refuse_stronger_key(cfg: Config, command: str = "serve") -> None:
    """Raise :class:`NotAllowed` unless this process's MinIO key is a web key at most."""
    if not cfg.minio.access_key or not cfg.minio.secret_key:
        raise NotAllowed(
            f"sohoa {command} needs the web key from `sohoa storage setup`"
            " (SOHOA_MINIO_ROLE=web, SOHOA_MINIO_ACCESS_KEY, SOHOA_MINIO_SECRET_KEY); none is set"
        )
    role = storage_role(cfg)
    if role is not None and role != "web":
        raise NotAllowed(
            f"sohoa {command} runs with the web key, not the {role} key"
            " (README, Roles and keys: the web reads the archive and nothing else)"
        )
    store = objects_mod.connect(cfg)
    found = powers(store.client, cfg)
    if found:
        label = f"labelled {role}" if role else "without a role"
        raise NotAllowed(
            f"sohoa {command} refuses the MinIO key {cfg.minio.access_key} ({label}): it can"
            f" {', '.join(found)}, more than the web key may; give it the web key from"
            " `sohoa storage setup`"
        )
    if cfg.api.upload_access_key and cfg.api.upload_secret_key:
        refuse_stronger_upload_key(cfg, command)


def refuse_stronger_upload_key(cfg: Config, command: str = "serve") -> None:
    """Raise :class:`NotAllowed` unless the upload key may put into raw and do no more than
    a station key may."""
    upload = replace(
        cfg,
        minio=replace(
            cfg.minio,
            access_key=cfg.api.upload_access_key,
            secret_key=cfg.api.upload_secret_key,
            role="station",
        ),
    )
    client = objects_mod.connect(upload).client
    endpoint, key = cfg.minio.endpoint, cfg.api.upload_access_key
    if not _allowed(lambda: _refused_put(client, cfg.buckets.raw, "sha256/"), endpoint):
        raise NotAllowed(
            f"sohoa {command} was given an upload key ({key}) that may not put originals into"
            f" {cfg.buckets.raw}: SOHOA_UPLOAD_ACCESS_KEY / _SECRET_KEY take the station key"
            " from `sohoa storage setup`"
        )
    found = upload_powers(client, cfg)
    if found:
        raise NotAllowed(
            f"sohoa {command} refuses the upload key {key}: it can {', '.join(found)}, more"
            " than the station key may; give SOHOA_UPLOAD_ACCESS_KEY / _SECRET_KEY the"
            " station key from `sohoa storage setup`"
        )


def upload_powers(client: Minio, cfg: Config) -> list[str]:
    """What the upload key can do beyond a station's, found by requests that change nothing."""
    buckets = cfg.buckets
    missing = f"{PROBE_PREFIX}{secrets.token_hex(8)}"
    checks: list[tuple[str, Callable[[], object]]] = [
        (f"list {buckets.raw}", lambda: next(iter(client.list_objects(buckets.raw)), None)),
        *(
            (f"read {bucket}", lambda b=bucket: client.stat_object(b, f"sha256/{missing}"))
            for bucket in (buckets.raw, buckets.archive, buckets.work)
        ),
        *(
            (f"write into {bucket}", lambda b=bucket: _refused_put(client, b))
            for bucket in (buckets.archive, buckets.work)
        ),
    ]
    return [what for what, call in checks if _allowed(call, cfg.minio.endpoint)]


def powers(client: Minio, cfg: Config) -> list[str]:
    """What the key can do beyond reading the archive, found by requests that change nothing."""
    buckets = cfg.buckets
    endpoint = cfg.minio.endpoint
    # Every prefix some role may write (a station's originals and custody records, any
    # archive or work key), so a key whose grant is narrowed to one of them is still seen.
    targets = (
        (buckets.raw, "sha256/"),
        (buckets.raw, "intake/"),
        (buckets.raw, PROBE_PREFIX),
        (buckets.archive, PROBE_PREFIX),
        (buckets.work, PROBE_PREFIX),
    )
    checks: list[tuple[str, Callable[[], object]]] = [
        (f"list {buckets.raw}", lambda: next(iter(client.list_objects(buckets.raw)), None)),
        *(
            (f"write into {bucket}", lambda b=bucket, p=prefix: _refused_put(client, b, p))
            for bucket, prefix in targets
        ),
    ]
    found = [what for what, call in checks if _allowed(call, endpoint)]
    return list(dict.fromkeys(found))


def _refused_put(client: Minio, bucket: str, prefix: str = PROBE_PREFIX) -> None:
    """A PUT that MinIO refuses either way: not allowed, or a body that fails its checksums."""
    headers = {
        "Content-MD5": base64.b64encode(hashlib.md5(_WRONG).digest()).decode("ascii"),
        "x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(_WRONG).digest()).decode(),
        "x-amz-sdk-checksum-algorithm": "SHA256",
    }
    key = f"{prefix}{PROBE_PREFIX.rstrip('/')}-{secrets.token_hex(8)}"
    # minio-py's public put_object computes its own Content-MD5; _execute sends ours as is.
    client._execute("PUT", bucket, key, body=_PROBE_BODY, headers=headers)


def _allowed(call: Callable[[], object], endpoint: str) -> bool:
    try:
        call()
    except S3Error as exc:
        if exc.code == "AccessDenied":
            return False
        if exc.code in ("BadDigest", "XAmzContentChecksumMismatch", "InvalidDigest"):
            return True  # it may write; the wrong checksums kept anything from being stored
        if exc.code in ("NoSuchKey", "NoSuchVersion"):
            return True  # it may read; there was just nothing at the probe's key
        if exc.code == "NoSuchBucket":
            raise StorageUnavailable(
                f"bucket {exc.bucket_name} does not exist at {endpoint}: run `sohoa storage"
                " setup` (and check SOHOA_BUCKET_* name the same buckets on every machine)"
            ) from None
        mapped = storage_error(exc, endpoint)
        raise (mapped or exc) from None
    except Exception as exc:
        mapped = storage_error(exc, endpoint)
        if mapped is None:
            raise
        raise mapped from None
    return True
