"""Storage roles: buckets with versioning and Object Lock, one MinIO user per role (DESIGN §8).

``setup_storage`` is run once by an administrator with the MinIO root key. It
creates (or checks) the buckets, puts the default retention on them, and gives
each process role a user whose policy grants only what that role needs:

=========  =====================================================================
station    put into raw; no read, no list, no delete
worker     put and read raw; read and write archive; read, write and delete work
web        read the current version of archived objects by key (no list);
           put audit anchors
operator   read raw and archive (including old versions); put audit anchors
=========  =====================================================================

Every role that appends to the audit log (worker, web, operator) puts the chain's
anchors into ``archive/audit/anchors/`` (``pipeline/access/anchors.py``): a put on
that prefix and nothing else for web and operator. The archive's default
retention locks each anchor like any archived copy, and the denials below keep
every role from removing one or shortening its lock.

No role may delete in raw or archive, change retention or bypass governance
mode; every policy also carries explicit denials of those actions, so a later
careless "Allow" cannot grant them. The administrator (``admin``) is the root
key itself, the only key that can bypass a governance lock.

Idempotent by design: a second run creates what is missing, re-applies the
policies and retention (so a changed configuration takes effect), and leaves
existing users' secrets alone, returning ``secret_key=None`` for them. Keys
are rotated only for the roles named in ``rotate``; the old secret stops
working at once, so every process of that role needs the new one.

Object Lock can only be switched on when a bucket is created. An existing raw
or archive bucket without it is refused with :class:`ConfigError` saying how to
move to a new bucket, never "fixed" silently.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from minio import Minio, MinioAdmin
from minio.deleteobjects import DeleteObject
from minio.error import MinioAdminException, S3Error
from minio.objectlockconfig import COMPLIANCE, GOVERNANCE, YEARS, ObjectLockConfig
from minio.versioningconfig import ENABLED, VersioningConfig

from pipeline.access.anchors import ANCHOR_PREFIX
from pipeline.config import STORAGE_ROLES, Config, ConfigError, MinioConfig
from pipeline.errors import NotAllowed, StorageUnavailable, UsageError
from pipeline.storage.connect import admin_for, http_client, storage_error

if TYPE_CHECKING:
    from pipeline.access.audit import AuditLog

ROLES: tuple[str, ...] = STORAGE_ROLES

# What each role's policy lets it do, by bucket kind: the same facts as role_policy, in
# the form a process asks before it acts, so it never tries what its key cannot do (a
# station verifies its uploads by the S3 checksum because it has no "get" on raw).
# tests/test_storage_roles.py checks this table against MinIO itself.
GET, PUT, LIST, DELETE = "get", "put", "list", "delete"
CAPABILITIES: dict[str, dict[str, frozenset[str]]] = {
    "station": {"raw": frozenset({PUT})},
    "worker": {
        "raw": frozenset({PUT, GET, LIST}),
        "archive": frozenset({PUT, GET, LIST}),
        "work": frozenset({PUT, GET, LIST, DELETE}),
    },
    "web": {"archive": frozenset({GET})},
    "operator": {"raw": frozenset({GET, LIST}), "archive": frozenset({GET, LIST})},
}
BUCKET_KINDS: tuple[str, ...] = ("raw", "archive", "work")
# Where in raw a station puts: originals by content, and custody records for the intake
# (pipeline.archive.layout.raw_key, pipeline.flow.intake.RECORD_PREFIX).
STATION_PREFIXES: tuple[str, ...] = ("sha256/", "intake/")


def role_can(role: str | None, action: str, kind: str) -> bool:
    """Whether a key of ``role`` may do ``action`` on the bucket of ``kind``.

    ``None`` is an unrestricted key (root, in development): everything is tried and
    MinIO has the last word, as it always does.
    """
    if role is None:
        return True
    return action in CAPABILITIES.get(role, {}).get(kind, frozenset())


# MinIO limits access keys to 3..20 characters: "<prefix>-operator" must fit.
_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,10}$")
_SECRET_BYTES = 30  # token_urlsafe(30) is 40 characters, MinIO's maximum secret length


@dataclass(frozen=True)
class BucketNames:
    raw: str = "raw"
    archive: str = "archive"
    work: str = "work"

    def all(self) -> tuple[str, str, str]:
        return (self.raw, self.archive, self.work)


@dataclass(frozen=True)
class RetentionSpec:
    """Default Object Lock retention: mode (COMPLIANCE or GOVERNANCE) and years."""

    raw_mode: str = COMPLIANCE
    raw_years: int = 10
    archive_mode: str = GOVERNANCE
    archive_years: int = 10

    @classmethod
    def from_config(cls, cfg: Config) -> RetentionSpec:
        st = cfg.storage
        return cls(
            raw_mode=st.raw_lock_mode.upper(),
            raw_years=st.raw_retention_years,
            archive_mode=st.archive_lock_mode.upper(),
            archive_years=st.archive_retention_years,
        )


@dataclass(frozen=True)
class RoleKeys:
    """One role's MinIO key. ``secret_key`` is None when an existing user was kept.

    ``status`` is ``created``, ``rotated`` or ``kept``. The secret exists only in
    this record: print it once, hand it to the role's processes, forget it.
    """

    role: str
    access_key: str
    secret_key: str | None
    status: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:  # a stray print or log line must not leak the secret
        shown = "***" if self.secret_key else None
        return (
            f"RoleKeys(role={self.role!r}, access_key={self.access_key!r}, "
            f"secret_key={shown!r}, status={self.status!r})"
        )

    __str__ = __repr__


def access_key_for(role: str, prefix: str = "sohoa") -> str:
    return f"{prefix}-{role}"


def policy_name_for(role: str, prefix: str = "sohoa") -> str:
    return f"{prefix}-{role}"


def _arn(bucket: str, objects: bool = False) -> str:
    return f"arn:aws:s3:::{bucket}/*" if objects else f"arn:aws:s3:::{bucket}"


def _allow(actions: Iterable[str], resources: Iterable[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": sorted(actions), "Resource": sorted(resources)}


# Whatever a role's "Allow" says, these never pass on raw and archive.
_ALWAYS_DENIED = (
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:BypassGovernanceRetention",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketVersioning",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutLifecycleConfiguration",
    "s3:DeleteBucket",
)
_READ_OBJECT = ("s3:GetObject",)
_READ_BUCKET = ("s3:ListBucket", "s3:GetBucketLocation")
_WRITE_OBJECT = ("s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
# The worker's put on the whole archive already covers its anchors.
_PUT_ANCHOR = ("s3:PutObject",)


def _anchors_arn(archive: str) -> str:
    """The audit anchors' prefix of the archive bucket (the only thing web and operator put)."""
    return f"arn:aws:s3:::{archive}/{ANCHOR_PREFIX}*"


def role_policy(role: str, buckets: BucketNames) -> dict[str, Any]:
    """The IAM policy for ``role``: DESIGN §8's grants and nothing else."""
    raw, archive, work = buckets.raw, buckets.archive, buckets.work
    # GetBucketLocation lets minio-py find the region; it reveals nothing else.
    locate = _allow(["s3:GetBucketLocation"], [_arn(b) for b in (raw, archive, work)])
    statements: list[dict[str, Any]]
    if role == "station":
        # One single-part PUT per original (content-addressed) and per custody record: no
        # multipart, nothing else in raw, nothing anywhere else.
        statements = [
            _allow(
                ["s3:PutObject"],
                [f"arn:aws:s3:::{raw}/{p}*" for p in STATION_PREFIXES],
            )
        ]
    elif role == "worker":
        statements = [
            _allow(_WRITE_OBJECT + _READ_OBJECT, [_arn(raw, True), _arn(archive, True)]),
            # The original as recorded at custody, by its version id (a later PUT over the
            # same key by a station cannot replace what is processed).
            _allow(["s3:GetObjectVersion"], [_arn(raw, True)]),
            _allow(
                (*_WRITE_OBJECT, *_READ_OBJECT, "s3:DeleteObject"),
                [_arn(work, True)],
            ),
            _allow(_READ_BUCKET, [_arn(raw), _arn(archive), _arn(work)]),
        ]
    elif role == "web":
        # The current version of an archived object, fetched by its key; no old versions
        # (the operator's) and no listing. MinIO authorises a GET that names a versionId as
        # plain s3:GetObject (an explicit deny of s3:GetObjectVersion would refuse every
        # GET) and lets s3:ListBucket list versions too, so both are closed here instead;
        # s3:HeadBucket still lets the web check that its bucket is there.
        statements = [
            _allow(_READ_OBJECT, [_arn(archive, True)]),
            _allow(["s3:HeadBucket"], [_arn(archive)]),
            {
                "Effect": "Deny",
                "Action": list(_READ_OBJECT),
                "Resource": [_arn(archive, True)],
                "Condition": {"StringLike": {"s3:versionid": ["?*"]}},
            },
            {
                "Effect": "Deny",
                "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
                "Resource": [_arn(archive)],
            },
            _allow(_PUT_ANCHOR, [_anchors_arn(archive)]),
        ]
    elif role == "operator":
        statements = [
            _allow(
                ("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention"),
                [_arn(raw, True), _arn(archive, True)],
            ),
            _allow((*_READ_BUCKET, "s3:ListBucketVersions"), [_arn(raw), _arn(archive)]),
            _allow(_PUT_ANCHOR, [_anchors_arn(archive)]),
        ]
    else:
        raise ValueError(f"unknown storage role {role!r}; roles are {', '.join(ROLES)}")
    protected = [_arn(raw), _arn(raw, True), _arn(archive), _arn(archive, True)]
    statements += [
        locate,
        {"Effect": "Deny", "Action": list(_ALWAYS_DENIED), "Resource": protected},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def _admin_error(exc: BaseException, endpoint: str, what: str) -> Exception | None:
    """The foreseen error for a failed admin call (None: already in effect, not an error)."""
    if isinstance(exc, MinioAdminException):
        body = str(exc)
        if "XMinioAdminPolicyChangeAlreadyApplied" in body:
            return None
        if "AccessDenied" in body or "XMinioAdminInvalidAccessKey" in body:
            return NotAllowed(
                f"MinIO at {endpoint} refused to {what}: storage setup needs the root key"
            )
        if "InvalidAccessKeyId" in body or "SignatureDoesNotMatch" in body:
            return StorageUnavailable(f"MinIO at {endpoint} rejects the root key given")
        return StorageUnavailable(f"MinIO at {endpoint} failed to {what}: HTTP {exc._code}")
    mapped = storage_error(exc, endpoint)
    if mapped is None:
        return RuntimeError(f"MinIO at {endpoint}: unexpected failure to {what}")
    return mapped


def _admin_call(endpoint: str, what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:
        err = _admin_error(exc, endpoint, what)
        if err is None:
            return None
        raise err from exc


def _user_exists(admin: MinioAdmin, endpoint: str, access_key: str) -> bool:
    try:
        admin.user_info(access_key)
        return True
    except Exception as exc:
        if isinstance(exc, MinioAdminException) and "XMinioAdminNoSuchUser" in str(exc):
            return False
        err = _admin_error(exc, endpoint, f"look up user {access_key}")
        raise (err or exc) from exc


def _lock_config(client: Minio, bucket: str) -> ObjectLockConfig | None:
    try:
        return client.get_object_lock_config(bucket)
    except S3Error as exc:
        if exc.code == "ObjectLockConfigurationNotFoundError":
            return None
        raise


def _ensure_locked_bucket(client: Minio, bucket: str, mode: str, years: int) -> str:
    """Create ``bucket`` with Object Lock, or check an existing one has it; set the default."""
    if client.bucket_exists(bucket):
        created = "checked"
        if _lock_config(client, bucket) is None:
            raise ConfigError(
                f"bucket {bucket} exists without Object Lock, which MinIO can only switch on "
                "when a bucket is created. Create a new bucket by running storage setup with "
                f"another name (e.g. SOHOA_BUCKET_... = {bucket}-locked), copy the objects into "
                f"it (mc mirror --preserve <alias>/{bucket} <alias>/{bucket}-locked), point "
                "the configuration at it, and keep the old bucket until the copy is checked"
            )
    else:
        client.make_bucket(bucket, object_lock=True)
        created = "created"
    client.set_object_lock_config(bucket, ObjectLockConfig(mode, years, YEARS))
    return created


def _ensure_plain_bucket(client: Minio, bucket: str) -> str:
    if client.bucket_exists(bucket):
        return "checked"
    client.make_bucket(bucket)
    return "created"


_STARTING = ("XMinioServerNotInitialized", "ServiceUnavailable", "SlowDown")


def _while_starting(fn: Callable[[], Any], seconds: float = 60.0) -> Any:
    """Run ``fn`` (idempotent), again while a MinIO that has just started is not ready yet:
    setup is often the first thing run after the server comes up."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except S3Error as exc:
            if exc.code not in _STARTING or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def setup_storage(
    root_endpoint: str,
    root_keys: tuple[str, str],
    buckets: BucketNames,
    retention: RetentionSpec,
    *,
    secure: bool = False,
    ca_file: str | None = None,
    prefix: str = "sohoa",
    rotate: Iterable[str] = (),
) -> list[RoleKeys]:
    """Create buckets, retention, users and policies; return each role's key once.

    ``rotate`` names roles whose secret is replaced even though the user exists
    (``ROLES`` for all). Safe to run again: see the module docstring.
    """
    if not _PREFIX_RE.match(prefix):
        raise ConfigError("the role key prefix must be 1-11 characters of a-z, 0-9 and '-'")
    rotate = set(rotate)
    unknown = rotate - set(ROLES)
    if unknown:
        raise ConfigError(f"unknown role(s) to rotate: {', '.join(sorted(unknown))}")
    for mode in (retention.raw_mode, retention.archive_mode):
        if mode not in (COMPLIANCE, GOVERNANCE):
            raise ConfigError(f"retention mode must be {COMPLIANCE} or {GOVERNANCE}, not {mode}")
    if len(set(buckets.all())) != 3:
        raise ConfigError("the raw, archive and work buckets must have three different names")
    minio_cfg = MinioConfig(endpoint=root_endpoint, secure=secure, ca_file=ca_file)
    root_access, root_secret = root_keys
    client = Minio(
        root_endpoint,
        access_key=root_access,
        secret_key=root_secret,
        secure=secure,
        http_client=http_client(minio_cfg),
    )
    admin = admin_for(minio_cfg, root_access, root_secret)

    def buckets_ready() -> None:
        _ensure_locked_bucket(client, buckets.raw, retention.raw_mode, retention.raw_years)
        _ensure_locked_bucket(
            client, buckets.archive, retention.archive_mode, retention.archive_years
        )
        _ensure_plain_bucket(client, buckets.work)
        for bucket in (buckets.raw, buckets.archive):
            # Object Lock implies versioning; saying it again costs nothing and is explicit.
            client.set_bucket_versioning(bucket, VersioningConfig(ENABLED))

    try:
        _while_starting(buckets_ready)
    except S3Error as exc:
        mapped = storage_error(exc, root_endpoint)
        if isinstance(mapped, NotAllowed):
            raise NotAllowed(
                f"MinIO at {root_endpoint} refused bucket setup: storage setup needs the root key"
            ) from exc
        raise (mapped or StorageUnavailable(f"bucket setup failed: {exc.code}")) from exc
    except (ConfigError, NotAllowed, StorageUnavailable):
        raise
    except Exception as exc:
        mapped = storage_error(exc, root_endpoint)
        if mapped is None:
            raise
        raise mapped from exc

    out: list[RoleKeys] = []
    for role in ROLES:
        access_key = access_key_for(role, prefix)
        policy = policy_name_for(role, prefix)
        _admin_call(
            root_endpoint,
            f"store policy {policy}",
            lambda p=policy, r=role: admin.policy_add(p, policy=role_policy(r, buckets)),
        )
        exists = _user_exists(admin, root_endpoint, access_key)
        secret: str | None = None
        if not exists or role in rotate:
            secret = secrets.token_urlsafe(_SECRET_BYTES)
            _admin_call(
                root_endpoint,
                f"create user {access_key}",
                lambda a=access_key, s=secret: admin.user_add(a, s),
            )
        _admin_call(
            root_endpoint,
            f"attach policy {policy}",
            lambda a=access_key, p=policy: admin.attach_policy([p], user=a),
        )
        status = "kept" if secret is None else ("rotated" if exists else "created")
        out.append(RoleKeys(role, access_key, secret, status))
    return out


def role_keys_json_lines(keys: Iterable[RoleKeys]) -> str:
    """DESIGN §3's ``--json`` output: one ``{role, access_key, secret_key}`` object per line."""
    return "".join(
        json.dumps(
            {"role": k.role, "access_key": k.access_key, "secret_key": k.secret_key},
            ensure_ascii=False,
        )
        + "\n"
        for k in keys
    )


def erase_locked_version(
    root: Minio,
    bucket: str,
    key: str,
    version_id: str,
    *,
    audit: AuditLog,
    actor: str,
    reason: str,
    client: str | None = None,
) -> None:
    """Erase one locked version under a legal order: governance mode, root key, audited.

    The audit row is written before the deletion, so no erasure can happen
    unrecorded; a refusal (compliance mode, or a key without the bypass right)
    is recorded too and raised as :class:`NotAllowed`.
    """
    if not reason or not reason.strip():
        raise UsageError("an erasure must name the legal order it carries out (reason)")
    obj = f"{bucket}/{key}"
    audit.append(actor, "erase_original", obj, {"version_id": version_id, "reason": reason}, client)
    errors = list(
        root.remove_objects(bucket, [DeleteObject(key, version_id)], bypass_governance_mode=True)
    )
    if errors:
        audit.append(
            actor, "erase_refused", obj, {"version_id": version_id, "code": errors[0].code}, client
        )
        raise NotAllowed(
            f"{obj} version {version_id} cannot be erased ({errors[0].code}): in compliance "
            "mode nothing is erased before its retention ends; in governance mode only the "
            "root key may"
        )
