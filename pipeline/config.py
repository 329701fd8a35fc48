"""Configuration: defaults (here, and only here) < a YAML file < ``SOHOA_*`` environment.

The result is a tree of frozen dataclasses passed explicitly to every stage, so a
worker process gets exactly the settings its parent had and no stage reads the
environment behind the caller's back. The defaults are the dataclasses' own, so
an installed package needs no file from a checkout; ``sohoa config`` prints the
effective values, and ``configs/*.example.yaml`` are overrides to start from.
Secrets (MinIO keys, PINs) come from the environment, never from a committed file.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError


@dataclass(frozen=True)
class MinioConfig:
    endpoint: str = "127.0.0.1:9000"  # SOHOA_MINIO_ENDPOINT, host:port
    access_key: str | None = None  # SOHOA_MINIO_ACCESS_KEY: this process's role key
    secret_key: str | None = field(default=None, repr=False)  # SOHOA_MINIO_SECRET_KEY
    secure: bool = False  # SOHOA_MINIO_SECURE: TLS
    ca_file: str | None = None  # SOHOA_MINIO_CA_FILE: CA bundle for a private certificate
    region: str | None = None
    # SOHOA_MINIO_ROLE: station, worker, web or operator (the key's role, DESIGN §8); unset,
    # it is read off a key named "<prefix>-<role>" by storage setup, else no limits are assumed
    role: str | None = None
    # SOHOA_MINIO_PUBLIC_ENDPOINT: where staff PCs reach MinIO (https://files.example.gov.vn);
    # the presigned links the CLI prints name it instead of the internal endpoint
    public_endpoint: str | None = None
    connect_timeout: float = 5.0  # seconds per attempt
    retry_seconds: float = 60.0  # retrying a server that answered before and went away


@dataclass(frozen=True)
class BucketsConfig:
    raw: str = "raw"  # SOHOA_BUCKET_RAW: originals, never deleted
    archive: str = "archive"  # SOHOA_BUCKET_ARCHIVE: PDF/A + .json + .txt
    work: str = "work"  # SOHOA_BUCKET_WORK: page results in flight, never shown to staff


@dataclass(frozen=True)
class WatchConfig:
    stable_seconds: float = 5.0
    rescan_seconds: float = 30.0
    extensions: tuple[str, ...] = ("pdf", "tif", "tiff", "jpg", "jpeg", "png")
    empty_timeout_seconds: float = 3600.0
    check_open_writers: bool = True
    # Run the documents this watcher takes (true) or only take custody, leaving them in
    # stored_raw for a worker (false). Unset: false with a station key (it cannot read raw
    # back), true otherwise.
    process: bool | None = None


@dataclass(frozen=True)
class IngestConfig:
    default_dpi: int = 300
    min_dpi: int = 70
    max_dpi: int = 1200
    pdf_render_dpi: int = 300
    # Cleanup costs ~12 bytes per page pixel on top of the page (17 for colour): a
    # larger page is rendered, or scaled, to fit, so a worker stays under 1 GiB.
    max_page_pixels: int = 50_000_000
    max_file_pixels: int = 100_000_000  # decoding an RGB image costs Pillow 4 bytes/pixel
    # Work per file is bounded (issue 9): a file over a limit is rejected with the
    # limit's name, its original kept in raw like every rejection.
    max_pages: int = 2_000  # pages of a PDF, frames of a TIFF
    max_pdf_objects: int = 500_000  # objects in a PDF's cross-reference table
    pdf_memory_mb: int = 768  # address space of each PDF reader (inspection, render, text)
    pdf_timeout_seconds: float = 120.0  # per inspection, page render and page text extraction


@dataclass(frozen=True)
class CleanupConfig:
    orientation: bool = True
    deskew: bool = True
    crop_borders: bool = True
    max_skew_degrees: float = 10.0
    perspective: bool = True
    remove_colour_ink: bool = True
    normalize_light: bool = True
    despeckle: bool = True
    stretch_contrast: bool = True
    ocr_min_text_px: float = 22.0
    ocr_max_text_px: float = 0.0  # letters over 1.2x this: a smaller OCR copy (0: never; ocr_copy)
    max_ocr_pixels: int = 40_000_000  # the OCR copy is scaled down past this (memory)
    low_res_letter_px: float = 13.0  # letters under this: enlarged before cleanup (ocr_copy)
    work_letter_px: float = 22.0  # ... until they are this tall


@dataclass(frozen=True)
class OcrConfig:
    lang: str = "vie"
    tessdata_dir: str | None = None
    # SOHOA_OCR_MODEL: "auto" reads with the shipped fine-tuned model
    # (pipeline/ocr/data/sohoa_vie.traineddata, issue 22) when it is there and ``lang`` is
    # vie with no tessdata_dir; "system" the installed ``lang``; else a .traineddata path.
    model: str = "auto"
    engine: str = "auto"  # SOHOA_OCR_ENGINE: api (in process), cli, auto (api if installed)
    psm: int = 3
    oem: int = 1
    reread_missed: bool = True
    timeout_seconds: float = 300.0
    workers: int = 0
    correct: bool = True
    review_min_confidence: float = 70.0
    review_max_invalid_share: float = 0.1
    orientation_recheck_confidence: float = 75.0
    # Never a worse page (issue 22): a page read doubtfully (mean confidence under this)
    # is read again as scanned (the same geometry, without the tone filters) and the
    # reading that scores better (pipeline.ocr.judge) is kept; 0 turns it off. 95: the
    # development pages' damaged copies read 91-95, clean scans 95.3-96 (bench/realset).
    compare_below_confidence: float = 95.0
    # The second reading replaces the first only when it scores this much better (a
    # share of the first's score): a reading that dropped a header's number line and
    # gained specks led by 0.45 % (test_fields' ministry decision). Measured on the
    # development images (bench/realset, 165): 0.5 % read 0.930 / 0.964 exact / folded
    # with 14 below bare Tesseract, 2 % 0.926 / 0.961 with 19, none 0.931 / 0.965 with 13.
    compare_margin: float = 0.005


@dataclass(frozen=True)
class PdfConfig:
    jpeg_quality: int = 85
    min_output_dpi: int = 200
    # Leave blank pages (duplex backs) out of the archived PDF; they are listed in the
    # metadata (``dropped_pages``). Off by default: the copy keeps the paper whole.
    drop_blank_pages: bool = False


@dataclass(frozen=True)
class SplitConfig:
    """How a scanned stack becomes documents (separator sheets, receipts; issue 13)."""

    enabled: bool = True  # read codes on every page; cover sheets and receipts start documents
    keep_cover_sheets: bool = False  # archive a cover sheet as its document's first page
    # A page whose QR holds a code and that carries no more words than this is a cover
    # sheet even without sohoa's marker in the QR (an office's own separator sheets).
    cover_max_words: int = 25
    drop_cover_backs: bool = True  # a blank page right after a cover sheet is its back
    # A page that opens a document by what it says (the motto with a type heading, a
    # "Số:" or "V/v" line; a receipt's title) starts one, inside what separators made.
    by_content: bool = True


@dataclass(frozen=True)
class RunConfig:
    """How documents are run: which executor, and the bounds every document lives within."""

    executor: str = "local"  # SOHOA_EXECUTOR: local (process pool), celery, or inline
    max_document_seconds: float = 3600.0  # time budget per document; finished pages are kept
    max_worker_deaths: int = 3  # a page that kills its worker this often fails the document
    # A document's holder renews its lease every quarter of this (a heartbeat while it holds
    # the document); one not heard of this long is stalled, and any machine takes it over.
    lease_seconds: float = 45.0
    # How often `sohoa worker` (and a processing watcher) takes in custody records and
    # takes over stalled documents, and how long a document sent to the queue is left
    # to it before another machine sends it again.
    pickup_seconds: float = 10.0
    sweep_seconds: float = 60.0  # how often a worker clears pages of settled documents
    queue_lease_seconds: float = 600.0
    # The intake lists custody records from this far behind the newest it has seen
    # (stations' clocks drift; records arrive out of order).
    intake_margin_seconds: float = 600.0


@dataclass(frozen=True)
class DatabaseConfig:
    url: str | None = field(default=None, repr=False)  # SOHOA_DATABASE_URL (may hold a password)
    pool_size: int = 4  # connections per pool (one pool each for ledger and index per process)
    connect_timeout: float = 5.0  # seconds; a server never reached is reported at once
    retry_seconds: float = 60.0  # retrying a server that answered before and went away


@dataclass(frozen=True)
class BrokerConfig:
    """Celery on Redis (``run.executor: celery``); DESIGN §5."""

    url: str | None = field(default=None, repr=False)  # SOHOA_BROKER_URL, redis://…
    # A task whose worker vanished (host down, link cut) is handed out again after this
    # long; a page that really takes longer may then run twice, which is harmless.
    visibility_timeout: float = 600.0
    pages_in_flight: int = 4  # queued or running page tasks per document: fairness
    result_timeout: float = 3600.0  # a page not back after this long fails its document
    # SOHOA_TASK_KEY: the HMAC key that signs task messages (workers and the processes that
    # enqueue for them). Unset: derived from the worker's MinIO secret (README, Security).
    task_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    link_expiry_seconds: int = 300  # presigned links the CLI prints; the web streams PDFs itself
    # --- access (issue 15): sessions, login throttling, trusted proxy
    secret: str | None = field(default=None, repr=False)
    session_idle_minutes: float = 30.0
    session_max_hours: float = 10.0
    login_max_failures: int = 5
    login_max_failures_per_client: int = 30
    login_window_minutes: float = 15.0
    lockout_minutes: float = 15.0
    trusted_proxy: str | None = None
    proxy_user_header: str = "X-Remote-User"
    secure_cookies: bool = False
    # --- one identity per request (issue 20): a request counts as the proxy's only when it
    # carries the shared secret (SOHOA_WEB_PROXY_SECRET, from the environment only) in this
    # header; only then are X-Forwarded-* believed, and the user header only with proxy_login.
    proxy_secret_header: str = "X-Sohoa-Proxy-Secret"
    proxy_login: bool = False  # single sign-on by the proxy's user header: off unless set
    # --- every read audited: ranged requests for one PDF by one session share a row this long
    read_audit_window_seconds: float = 60.0
    # --- the page-image cache under $SOHOA_HOME/cache/web (archived PDFs, rendered pages)
    cache_max_mb: float = 512.0
    cache_max_age_hours: float = 24.0


@dataclass(frozen=True)
class StorageConfig:
    """Object Lock retention that ``storage setup`` puts on the buckets (DESIGN §8)."""

    raw_lock_mode: str = "COMPLIANCE"
    raw_retention_years: int = 10
    archive_lock_mode: str = "GOVERNANCE"
    archive_retention_years: int = 10


@dataclass(frozen=True)
class AuditConfig:
    """Anchoring the audit chain in the archive bucket (pipeline/access/anchors.py)."""

    # A process that appends writes the chain's head into an Object-Locked object at most
    # this often (and `audit verify` at every run): rows appended since the newest anchor
    # are what someone who owns the database could still rewrite unnoticed.
    anchor_seconds: float = 300.0
    # This chain's name among the anchors; unset: where its database is (PostgreSQL host,
    # port and database name, or this machine's name and the SQLite file). Set the same
    # name on every machine when they reach one PostgreSQL by different host names.
    chain: str | None = None


# --------------------------------------------------------------------------- webhooks
# Events for the one-stop system (issue 21, DESIGN §10), POSTed signed to each webhook by
# `sohoa events deliver` (and `sohoa worker`). One webhook from the environment
# (SOHOA_WEBHOOK_URL, SOHOA_WEBHOOK_SECRET), or several in the file, each naming the
# environment variable that holds its secret (secret_env): secrets never sit in a file.


@dataclass(frozen=True)
class WebhookEndpoint:
    name: str
    url: str
    secret: str | None = field(default=None, repr=False)  # read from secret_env at load
    secret_env: str | None = None


@dataclass(frozen=True)
class WebhooksConfig:
    url: str | None = None  # SOHOA_WEBHOOK_URL: one webhook, named "default"
    secret: str | None = field(default=None, repr=False)  # SOHOA_WEBHOOK_SECRET
    endpoints: tuple[WebhookEndpoint, ...] = ()  # several: [{name, url, secret_env}]
    timeout_seconds: float = 10.0  # one POST, whole: connect, send, answer
    max_attempts: int = 12  # then the delivery is dead, shown to operators until replayed
    backoff_seconds: float = 5.0  # the wait after the first failure, doubled after each…
    backoff_max_seconds: float = 3600.0  # …up to this; each wait drawn from its upper half
    poll_seconds: float = 2.0  # how often an idle dispatcher looks for new events
    batch: int = 20  # deliveries one dispatcher takes per webhook and pass


_WEBHOOK_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _webhook_secrets(data: dict[str, Any], env: Mapping[str, str]) -> None:
    """Each webhook of the file as a record, its secret read from the variable it names."""
    section = data.get("webhooks")
    if not isinstance(section, Mapping) or "endpoints" not in section:
        return
    raw = section.get("endpoints") or []
    if not isinstance(raw, list):
        raise ConfigError("webhooks.endpoints must be a list of {name, url, secret_env}")
    endpoints = []
    for n, item in enumerate(raw):
        where = f"webhooks.endpoints[{n}]"
        if not isinstance(item, Mapping) or set(item) - {"name", "url", "secret_env"}:
            raise ConfigError(
                f"{where} takes name, url and secret_env (the secret comes from the"
                " environment variable secret_env names, never from the file)"
            )
        secret_env = item.get("secret_env")
        endpoints.append(
            WebhookEndpoint(
                name=str(item.get("name") or ""),
                url=str(item.get("url") or ""),
                secret=env.get(str(secret_env)) if secret_env else None,
                secret_env=str(secret_env) if secret_env else None,
            )
        )
    data["webhooks"] = {**section, "endpoints": tuple(endpoints)}


def webhook_endpoints(cfg: Config) -> list[WebhookEndpoint]:
    """Every configured webhook: SOHOA_WEBHOOK_URL's (``default``), then the file's."""
    hooks = cfg.webhooks
    out = list(hooks.endpoints)
    if hooks.url:
        out.insert(0, WebhookEndpoint("default", hooks.url, hooks.secret, "SOHOA_WEBHOOK_SECRET"))
    return out


def _validate_webhooks(cfg: Config) -> None:
    hooks = cfg.webhooks
    names: set[str] = set()
    for hook in webhook_endpoints(cfg):
        if not _WEBHOOK_NAME_RE.fullmatch(hook.name):
            raise ConfigError(
                f"webhook name {hook.name!r}: 1-40 of a-z, 0-9, '_' and '-', starting with a"
                " letter or digit"
            )
        if hook.name in names:
            raise ConfigError(f"two webhooks are named {hook.name}")
        names.add(hook.name)
        if not hook.url.startswith(("https://", "http://")) or any(c in hook.url for c in " \n"):
            raise ConfigError(f"webhook {hook.name}: the url must be http(s)://…")
        if not hook.secret or len(hook.secret) < 16:
            where = hook.secret_env or "its secret_env"
            raise ConfigError(
                f"webhook {hook.name} needs a secret of at least 16 characters in {where}"
            )
    if hooks.timeout_seconds <= 0 or hooks.poll_seconds <= 0:
        raise ConfigError("webhooks.timeout_seconds and webhooks.poll_seconds must be positive")
    if hooks.max_attempts < 1 or hooks.batch < 1:
        raise ConfigError("webhooks.max_attempts and webhooks.batch must be at least 1")
    if not 0 < hooks.backoff_seconds <= hooks.backoff_max_seconds:
        raise ConfigError("webhooks.backoff_seconds must be > 0 and <= backoff_max_seconds")


# ------------------------------------------------------------------------ end webhooks


# --------------------------------------------------------------------------- signing
# The agency's PAdES signature (DESIGN §3, §9). Everything a signing step needs
# except the secrets: the PIN and passphrase are read by ``pipeline.sign.secrets``
# from SOHOA_SIGN_PIN / SOHOA_SIGN_PASSPHRASE or from a 0600 file named here, so
# they never sit in this (picklable, loggable) tree.


@dataclass(frozen=True)
class SignConfig:
    pkcs12: Path | None = None  # SOHOA_SIGN_PKCS12
    passphrase_file: Path | None = None  # SOHOA_SIGN_PASSPHRASE_FILE
    pkcs11_module: str | None = None  # SOHOA_SIGN_PKCS11_MODULE
    token: str | None = None  # SOHOA_SIGN_PKCS11_TOKEN (token label)
    key_label: str | None = None  # SOHOA_SIGN_PKCS11_KEY_LABEL
    cert_label: str | None = None  # SOHOA_SIGN_PKCS11_CERT_LABEL; defaults to key_label
    pin_file: Path | None = None  # SOHOA_SIGN_PKCS11_PIN_FILE
    tsa_url: str | None = None  # SOHOA_SIGN_TSA_URL
    tsa_timeout: float = 10.0
    trust: Path | None = None  # SOHOA_SIGN_TRUST (PEM trust roots)
    agency_name: str | None = None  # SOHOA_SIGN_AGENCY_NAME; else the certificate's O, then CN
    mark: str = "Bản sao điện tử từ bản giấy"  # SOHOA_SIGN_MARK
    revocation: bool = True  # embed OCSP/CRL data (B-LT) when the certificate names them
    archive_timestamp: bool = True  # then a document time-stamp (B-LTA), renewed by sign --extend
    extend_margin_days: int = 90  # sign --extend renews time-stamps expiring within this
    required: bool = False  # SOHOA_SIGN_REQUIRED: unsigned documents fail instead of waiting

    @property
    def enabled(self) -> bool:
        return bool(self.pkcs12 or self.pkcs11_module)


_SIGN_ENV: dict[str, tuple[str, ...]] = {
    "SOHOA_SIGN_PKCS12": ("sign", "pkcs12"),
    "SOHOA_SIGN_PASSPHRASE_FILE": ("sign", "passphrase_file"),
    "SOHOA_SIGN_PKCS11_MODULE": ("sign", "pkcs11_module"),
    "SOHOA_SIGN_PKCS11_TOKEN": ("sign", "token"),
    "SOHOA_SIGN_PKCS11_KEY_LABEL": ("sign", "key_label"),
    "SOHOA_SIGN_PKCS11_CERT_LABEL": ("sign", "cert_label"),
    "SOHOA_SIGN_PKCS11_PIN_FILE": ("sign", "pin_file"),
    "SOHOA_SIGN_TSA_URL": ("sign", "tsa_url"),
    "SOHOA_SIGN_TRUST": ("sign", "trust"),
    "SOHOA_SIGN_AGENCY_NAME": ("sign", "agency_name"),
    "SOHOA_SIGN_MARK": ("sign", "mark"),
    "SOHOA_SIGN_REQUIRED": ("sign", "required"),
}


def _validate_sign(sign: SignConfig) -> None:
    if sign.pkcs12 and sign.pkcs11_module:
        raise ConfigError("set either sign.pkcs12 or sign.pkcs11_module, not both")
    if sign.pkcs11_module and not (sign.token and (sign.key_label or sign.cert_label)):
        raise ConfigError(
            "a PKCS#11 signer needs SOHOA_SIGN_PKCS11_TOKEN and SOHOA_SIGN_PKCS11_KEY_LABEL"
        )
    if sign.tsa_url and not sign.tsa_url.startswith(("http://", "https://")):
        raise ConfigError(f"sign.tsa_url must be an http(s) URL, got {sign.tsa_url!r}")
    if sign.tsa_timeout <= 0:
        raise ConfigError("sign.tsa_timeout must be positive")
    if sign.extend_margin_days < 1:
        raise ConfigError("sign.extend_margin_days must be at least 1")
    if sign.required and not sign.enabled:
        raise ConfigError("sign.required is set but no signer (PKCS#12 or PKCS#11) is configured")


# ------------------------------------------------------------------------ end signing


# ------------------------------------------------------------------------ /api/v1 (issue 21)
# Systems, not people: a one-stop system reads dossiers and uploads scans with a bearer
# token (workers/web/api). The upload key is the station's MinIO key, held by `sohoa serve`
# only when uploads are wanted and used by the upload route alone (README, Roles and keys).


@dataclass(frozen=True)
class ApiConfig:
    # SOHOA_API_PUBLIC_URL: how a one-stop system reaches sohoa (https://hoso.example.gov.vn);
    # the links in answers, the DVCQG view and the events start with it. Unset: the address
    # the request came to.
    public_url: str | None = None
    rate_per_minute: int = 120  # calls per client per minute (bursts up to this, then 429)
    # The largest upload taken (413 beyond it); the inbox's other limits (ingest.*: pages,
    # pixels, PDF objects) are checked by the worker, which rejects as it does for the inbox.
    max_upload_mb: float = 512.0
    feed_max_limit: int = 1000  # events per page of /api/v1/events at most
    # SOHOA_UPLOAD_ACCESS_KEY / SOHOA_UPLOAD_SECRET_KEY: the station key (put into raw and
    # nothing else) for POST /api/v1/dossiers/{code}/documents; unset: uploads answer 503.
    upload_access_key: str | None = None
    upload_secret_key: str | None = field(default=None, repr=False)


_API_ENV: dict[str, tuple[str, ...]] = {
    "SOHOA_API_PUBLIC_URL": ("api", "public_url"),
    "SOHOA_UPLOAD_ACCESS_KEY": ("api", "upload_access_key"),
    "SOHOA_UPLOAD_SECRET_KEY": ("api", "upload_secret_key"),
}


def _validate_api(api: ApiConfig) -> None:
    if api.public_url is not None and not re.fullmatch(
        r"https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?", api.public_url
    ):
        raise ConfigError(
            "api.public_url (SOHOA_API_PUBLIC_URL) must be http(s)://host[:port][/path],"
            f" without query or user, got {api.public_url!r}"
        )
    if api.rate_per_minute < 1 or api.max_upload_mb <= 0 or api.feed_max_limit < 1:
        raise ConfigError(
            "api.rate_per_minute and api.feed_max_limit must be >= 1, api.max_upload_mb > 0"
        )
    if bool(api.upload_access_key) != bool(api.upload_secret_key):
        raise ConfigError(
            "set both SOHOA_UPLOAD_ACCESS_KEY and SOHOA_UPLOAD_SECRET_KEY (the station key), or"
            " neither"
        )


# ---------------------------------------------------------------------- end /api/v1


@dataclass(frozen=True)
class Config:
    home: Path = Path("./var")
    inbox: Path = Path("./var/inbox")
    minio: MinioConfig = field(default_factory=MinioConfig)
    buckets: BucketsConfig = field(default_factory=BucketsConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    cleanup: CleanupConfig = field(default_factory=CleanupConfig)
    ocr: OcrConfig = field(default_factory=OcrConfig)
    pdf: PdfConfig = field(default_factory=PdfConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    run: RunConfig = field(default_factory=RunConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    web: WebConfig = field(default_factory=WebConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    sign: SignConfig = field(default_factory=SignConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)

    @property
    def ledger_path(self) -> Path:
        return self.home / "ledger.sqlite3"

    @property
    def index_path(self) -> Path:
        return self.home / "index.sqlite3"

    @property
    def spool_dir(self) -> Path:
        """Local copies of originals between the verified raw upload and the end of processing."""
        return self.home / "spool"

    @property
    def tmp_dir(self) -> Path:
        return self.home / "tmp"

    @property
    def work_dir(self) -> Path:
        """Finished pages of documents in flight (this machine's page results)."""
        return self.home / "work"


_ENV_MAP: dict[str, tuple[str, ...]] = {
    "SOHOA_HOME": ("home",),
    "SOHOA_INBOX": ("inbox",),
    "SOHOA_MINIO_ENDPOINT": ("minio", "endpoint"),
    "SOHOA_MINIO_ACCESS_KEY": ("minio", "access_key"),
    "SOHOA_MINIO_SECRET_KEY": ("minio", "secret_key"),
    "SOHOA_MINIO_SECURE": ("minio", "secure"),
    "SOHOA_MINIO_CA_FILE": ("minio", "ca_file"),
    "SOHOA_MINIO_ROLE": ("minio", "role"),
    "SOHOA_MINIO_PUBLIC_ENDPOINT": ("minio", "public_endpoint"),
    "SOHOA_WEB_SECRET": ("web", "secret"),
    "SOHOA_BUCKET_RAW": ("buckets", "raw"),
    "SOHOA_BUCKET_ARCHIVE": ("buckets", "archive"),
    "SOHOA_BUCKET_WORK": ("buckets", "work"),
    "SOHOA_EXECUTOR": ("run", "executor"),
    "SOHOA_OCR_ENGINE": ("ocr", "engine"),
    "SOHOA_OCR_MODEL": ("ocr", "model"),
    "SOHOA_DATABASE_URL": ("database", "url"),
    **_SIGN_ENV,
    "SOHOA_BROKER_URL": ("broker", "url"),
    "SOHOA_TASK_KEY": ("broker", "task_key"),
    **_API_ENV,
    "SOHOA_WEBHOOK_URL": ("webhooks", "url"),
    "SOHOA_WEBHOOK_SECRET": ("webhooks", "secret"),
}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {path} must hold a mapping at the top level")
    return data


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _coerce(value: Any, target: Any, where: str) -> Any:
    """Turn YAML/env values into the dataclass field's type, with a clear error."""
    if value is None:
        return None
    try:
        if target in (bool, "bool"):
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(value)
            return bool(value)
        if target in (int, "int"):
            return int(value)
        if target in (float, "float"):
            return float(value)
        if target in ("tuple[str, ...]",):
            if isinstance(value, str):
                value = [v for v in value.split(",") if v]
            return tuple(str(v).lower().lstrip(".") for v in value)
        if target in ("Path",):
            return Path(str(value))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot use {value!r} here") from exc
    return str(value) if not isinstance(value, str) and "str" in str(target) else value


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    kwargs: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"unknown configuration key {where}{key}")
        ftype = fields[key].type
        sub = _SECTIONS.get(key) if cls is Config else None
        if sub is not None:
            if not isinstance(value, Mapping):
                raise ConfigError(f"configuration section {key} must be a mapping")
            kwargs[key] = _build(sub, value, f"{where}{key}.")
        else:
            base = str(ftype).replace(" | None", "")
            kwargs[key] = _coerce(value, base, f"{where}{key}")
    return cls(**kwargs)


_SECTIONS: dict[str, type] = {
    "minio": MinioConfig,
    "buckets": BucketsConfig,
    "watch": WatchConfig,
    "ingest": IngestConfig,
    "cleanup": CleanupConfig,
    "ocr": OcrConfig,
    "pdf": PdfConfig,
    "split": SplitConfig,
    "run": RunConfig,
    "database": DatabaseConfig,
    "broker": BrokerConfig,
    "web": WebConfig,
    "storage": StorageConfig,
    "sign": SignConfig,
    "audit": AuditConfig,
    "api": ApiConfig,
    "webhooks": WebhooksConfig,
}


def section(cls: type, data: Mapping[str, Any]) -> Any:
    """One configuration section rebuilt from plain data (a page job's options)."""
    return _build(cls, data, f"{cls.__name__}.")


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the effective configuration.

    ``env`` defaults to ``os.environ``; passing it explicitly keeps tests hermetic.
    ``overrides`` (a nested mapping) wins over everything, for programmatic callers.
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    chosen = path or env.get("SOHOA_CONFIG")
    if chosen:
        data = _merge(data, _read_yaml(Path(chosen)))
    for var, keys in _ENV_MAP.items():
        if env.get(var) not in (None, ""):
            patch: dict[str, Any] = {}
            node = patch
            for k in keys[:-1]:
                node = node.setdefault(k, {})
            node[keys[-1]] = env[var]
            data = _merge(data, patch)
    if overrides:
        data = _merge(data, overrides)
    _webhook_secrets(data, env)
    home = Path(str(data.get("home") or "./var")).expanduser()
    inbox = data.get("inbox")
    data["home"] = home.resolve()
    data["inbox"] = (Path(str(inbox)).expanduser() if inbox else home / "inbox").resolve()
    cfg = _build(Config, data, "")
    _validate(cfg)
    return cfg


# S3 bucket naming rules (what MinIO enforces): 3-63 characters of lower-case letters,
# digits, dots and hyphens, starting and ending with a letter or digit, not an IP address.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
EXECUTORS = ("local", "celery", "inline")
OCR_ENGINES = ("auto", "api", "cli")  # pipeline.ocr.tesseract


def valid_port(value: int, where: str) -> int:
    if not 1 <= value <= 65535:
        raise ConfigError(f"{where} must be a TCP port between 1 and 65535, got {value}")
    return value


def _validate(cfg: Config) -> None:
    host, _, port = cfg.minio.endpoint.rpartition(":")
    if not host or "/" in cfg.minio.endpoint or not port.isascii() or not port.isdigit():
        raise ConfigError(
            f"minio.endpoint must be host:port without scheme or path, got {cfg.minio.endpoint!r}"
        )
    valid_port(int(port), "the port of minio.endpoint")
    if cfg.ingest.default_dpi < cfg.ingest.min_dpi or cfg.ingest.default_dpi > cfg.ingest.max_dpi:
        raise ConfigError("ingest.default_dpi must lie within [ingest.min_dpi, ingest.max_dpi]")
    if cfg.watch.stable_seconds < 0 or cfg.watch.rescan_seconds <= 0:
        raise ConfigError("watch.stable_seconds must be >= 0 and watch.rescan_seconds > 0")
    if cfg.cleanup.max_ocr_pixels < 1_000_000:
        raise ConfigError("cleanup.max_ocr_pixels must be at least 1000000")
    ingest = cfg.ingest
    if ingest.max_pages < 1 or ingest.max_pdf_objects < 1:
        raise ConfigError("ingest.max_pages and ingest.max_pdf_objects must be at least 1")
    if ingest.pdf_memory_mb < 64 or ingest.pdf_timeout_seconds <= 0:
        raise ConfigError(
            "ingest.pdf_memory_mb must be at least 64 and ingest.pdf_timeout_seconds > 0"
        )
    if cfg.watch.empty_timeout_seconds < 0:
        raise ConfigError("watch.empty_timeout_seconds must be >= 0")
    names = (cfg.buckets.raw, cfg.buckets.archive, cfg.buckets.work)
    for role, name in zip(("raw", "archive", "work"), names, strict=True):
        if ".." in name or not _BUCKET_RE.fullmatch(name) or _IP_RE.fullmatch(name):
            raise ConfigError(
                f"buckets.{role} {name!r} is not a valid bucket name: 3-63 lower-case letters,"
                " digits, dots or hyphens, starting and ending with a letter or digit"
            )
    if len(set(names)) != len(names):
        raise ConfigError("buckets.raw, buckets.archive and buckets.work must all differ")
    if cfg.run.executor not in EXECUTORS:
        raise ConfigError(
            f"run.executor (SOHOA_EXECUTOR) must be one of {', '.join(EXECUTORS)},"
            f" got {cfg.run.executor!r}"
        )
    if cfg.ocr.engine not in OCR_ENGINES:
        raise ConfigError(
            f"ocr.engine (SOHOA_OCR_ENGINE) must be one of {', '.join(OCR_ENGINES)},"
            f" got {cfg.ocr.engine!r}"
        )
    if cfg.run.max_document_seconds <= 0 or cfg.run.lease_seconds <= 0:
        raise ConfigError("run.max_document_seconds and run.lease_seconds must be positive")
    if min(cfg.run.pickup_seconds, cfg.run.queue_lease_seconds) <= 0:
        raise ConfigError("run.pickup_seconds and run.queue_lease_seconds must be positive")
    if cfg.run.intake_margin_seconds < 0:
        raise ConfigError("run.intake_margin_seconds must be >= 0")
    url = cfg.database.url
    if url and not url.startswith(("sqlite:", "postgresql:", "postgres:")):
        raise ConfigError("database.url (SOHOA_DATABASE_URL) must be sqlite:… or postgresql://…")
    if cfg.database.pool_size < 1 or cfg.database.connect_timeout <= 0:
        raise ConfigError("database.pool_size must be >= 1 and database.connect_timeout > 0")
    if cfg.broker.url and not cfg.broker.url.startswith(("redis://", "rediss://")):
        raise ConfigError("broker.url (SOHOA_BROKER_URL) must be redis://… or rediss://…")
    if cfg.broker.pages_in_flight < 1 or cfg.broker.visibility_timeout <= 0:
        raise ConfigError("broker.pages_in_flight must be >= 1, broker.visibility_timeout > 0")
    if cfg.broker.task_key is not None and len(cfg.broker.task_key) < 32:
        raise ConfigError("SOHOA_TASK_KEY must be at least 32 characters")
    valid_port(cfg.web.port, "web.port")
    _validate_access(cfg)
    _validate_sign(cfg.sign)
    _validate_api(cfg.api)
    _validate_webhooks(cfg)


def _validate_access(cfg: Config) -> None:
    """Checks for the access settings (issue 15); messages never echo a secret."""
    import ipaddress

    if cfg.minio.ca_file and not cfg.minio.secure:
        raise ConfigError(
            "minio.ca_file (SOHOA_MINIO_CA_FILE) is set but TLS is off: set SOHOA_MINIO_SECURE=1"
        )
    if cfg.minio.role is not None and cfg.minio.role not in STORAGE_ROLES:
        raise ConfigError(
            f"minio.role (SOHOA_MINIO_ROLE) must be one of {', '.join(STORAGE_ROLES)},"
            f" got {cfg.minio.role!r}"
        )
    if storage_role(cfg) == "station" and cfg.watch.process:
        raise ConfigError(
            "watch.process is true but the MinIO key is a station key, which cannot read the"
            " originals back to process them: leave watch.process unset (or false) on a station"
        )
    if cfg.minio.public_endpoint is not None:
        public_endpoint(cfg)  # raises ConfigError when malformed
    if not 1 <= cfg.web.link_expiry_seconds <= 7 * 24 * 3600:
        raise ConfigError("web.link_expiry_seconds must be between 1 and 604800 (7 days)")
    for name in ("raw_lock_mode", "archive_lock_mode"):
        if str(getattr(cfg.storage, name)).upper() not in ("COMPLIANCE", "GOVERNANCE"):
            raise ConfigError(f"storage.{name} must be COMPLIANCE or GOVERNANCE")
    if cfg.storage.raw_retention_years < 1 or cfg.storage.archive_retention_years < 1:
        raise ConfigError("storage.*_retention_years must be at least 1")
    web = cfg.web
    if min(web.session_idle_minutes, web.session_max_hours, web.login_window_minutes) <= 0:
        raise ConfigError("web.session_* and web.login_window_minutes must be > 0")
    if (
        web.login_max_failures < 1
        or web.login_max_failures_per_client < 1
        or web.lockout_minutes < 0
    ):
        raise ConfigError("web.login_max_failures* must be >= 1 and web.lockout_minutes >= 0")
    if web.trusted_proxy:
        try:
            ipaddress.ip_address(web.trusted_proxy)
        except ValueError as exc:
            raise ConfigError("web.trusted_proxy must be one IP address") from exc
    if web.secret is not None and len(web.secret) < 32:
        raise ConfigError("SOHOA_WEB_SECRET must be at least 32 characters")
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", web.proxy_secret_header):
        raise ConfigError("web.proxy_secret_header must be an HTTP header name (letters, -)")
    if not 0 <= web.read_audit_window_seconds <= 3600:
        raise ConfigError("web.read_audit_window_seconds must be between 0 and 3600")
    if web.cache_max_mb < 0 or web.cache_max_age_hours <= 0:
        raise ConfigError("web.cache_max_mb must be >= 0 and web.cache_max_age_hours > 0")
    if not cfg.audit.anchor_seconds > 0:
        raise ConfigError("audit.anchor_seconds must be positive")
    if cfg.audit.chain is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", cfg.audit.chain):
        raise ConfigError("audit.chain is 1-64 characters of letters, digits, '.', '_' and '-'")


def public_dict(cfg: Config) -> dict[str, Any]:
    """The effective configuration as plain data, secrets replaced by a mark (``sohoa config``)."""
    data = _plain(dataclasses.asdict(cfg))
    for section, key in (
        ("minio", "secret_key"),
        ("web", "secret"),
        ("broker", "task_key"),
        ("api", "upload_secret_key"),
    ):
        if data[section].get(key):
            data[section][key] = "(set)"
    for section in ("database", "broker"):  # URLs may carry a password
        if data[section].get("url"):
            data[section]["url"] = _without_password(data[section]["url"])
    hooks = data["webhooks"]
    for hook in [hooks, *hooks["endpoints"]]:
        if hook.get("secret"):
            hook["secret"] = "(set)"
    return data


def _without_password(url: str) -> str:
    return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


STORAGE_ROLES: tuple[str, ...] = ("station", "worker", "web", "operator")
_ROLE_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]*-(station|worker|web|operator)$")


def storage_role(cfg: Config) -> str | None:
    """The role of this process's MinIO key: ``minio.role``, else read off the key's name.

    ``storage setup`` names each role's key ``<prefix>-<role>`` (``sohoa-station``), so a
    station that was given its key but not ``SOHOA_MINIO_ROLE`` still behaves as one.
    None means an unrestricted key (the root key in development): nothing is held back.
    """
    if cfg.minio.role:
        return cfg.minio.role
    match = _ROLE_KEY_RE.match(cfg.minio.access_key or "")
    return match.group(1) if match else None


def watch_processes(cfg: Config) -> bool:
    """Whether ``sohoa watch`` runs the documents it takes (``watch.process``, see there)."""
    if cfg.watch.process is not None:
        return cfg.watch.process
    return storage_role(cfg) != "station"


def public_endpoint(cfg: Config) -> tuple[str, bool] | None:
    """``minio.public_endpoint`` as (host:port, TLS), or None when links use the endpoint.

    Accepts ``https://host[:port]``, ``http://host[:port]`` or ``host:port`` (TLS as
    ``minio.secure``); a path, a query or user info is refused.
    """
    raw = (cfg.minio.public_endpoint or "").strip()
    if not raw:
        return None
    secure = cfg.minio.secure
    if "://" in raw:
        scheme, _, rest = raw.partition("://")
        if scheme.lower() not in ("http", "https"):
            raise ConfigError("minio.public_endpoint must start with https:// or http://")
        secure, raw = scheme.lower() == "https", rest.rstrip("/")
    if not raw or any(c in raw for c in "/?#@ \\") or not raw.isascii():
        raise ConfigError(
            "minio.public_endpoint must be https://host[:port] (no path), got "
            f"{cfg.minio.public_endpoint!r}"
        )
    host, _, port = raw.rpartition(":")
    if host and port:
        if not port.isdigit():
            raise ConfigError(f"minio.public_endpoint has a bad port: {port!r}")
        valid_port(int(port), "the port of minio.public_endpoint")
    return raw, secure


def require_credentials(cfg: Config) -> tuple[str, str]:
    """MinIO keys must come from the environment (or a private config file), never defaults."""
    if not cfg.minio.access_key or not cfg.minio.secret_key:
        raise ConfigError(
            "MinIO credentials missing: set SOHOA_MINIO_ACCESS_KEY and SOHOA_MINIO_SECRET_KEY"
        )
    return cfg.minio.access_key, cfg.minio.secret_key


# --- what people read (issue 24): times on the web page and in the CLI's human output are
# shown in the office's clock; stored times stay UTC, JSON carries this zone's offset.
DISPLAY_TIMEZONE = "Asia/Ho_Chi_Minh"
