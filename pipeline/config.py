"""Configuration: ``configs/default.yaml`` < ``--config``/``SOHOA_CONFIG`` file < environment.

The result is a tree of frozen dataclasses passed explicitly to every stage, so a
worker process gets exactly the settings its parent had (they pickle) and no
stage reads the environment behind the caller's back.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


class ConfigError(ValueError):
    """The configuration is unusable; the CLI maps this to exit code 2."""


@dataclass(frozen=True)
class MinioConfig:
    endpoint: str = "127.0.0.1:9000"
    access_key: str | None = None
    secret_key: str | None = None
    secure: bool = False
    region: str | None = None
    connect_timeout: float = 5.0
    retry_seconds: float = 60.0


@dataclass(frozen=True)
class BucketsConfig:
    raw: str = "raw"
    archive: str = "archive"


@dataclass(frozen=True)
class WatchConfig:
    stable_seconds: float = 5.0
    rescan_seconds: float = 30.0
    extensions: tuple[str, ...] = ("pdf", "tif", "tiff", "jpg", "jpeg", "png")


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
    max_ocr_pixels: int = 40_000_000  # the OCR copy is scaled down past this (memory)


@dataclass(frozen=True)
class OcrConfig:
    lang: str = "vie"
    tessdata_dir: str | None = None
    psm: int = 3
    oem: int = 1
    reread_missed: bool = True
    timeout_seconds: float = 300.0
    workers: int = 0
    correct: bool = True
    review_min_confidence: float = 70.0
    review_max_invalid_share: float = 0.1
    orientation_recheck_confidence: float = 75.0


@dataclass(frozen=True)
class PdfConfig:
    jpeg_quality: int = 85
    min_output_dpi: int = 200


@dataclass(frozen=True)
class DossierConfig:
    default_agency: str | None = None


@dataclass(frozen=True)
class IndexConfig:
    backend: str = "sqlite"


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    link_expiry_seconds: int = 900


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
    dossier: DossierConfig = field(default_factory=DossierConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    web: WebConfig = field(default_factory=WebConfig)

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


_ENV_MAP: dict[str, tuple[str, ...]] = {
    "SOHOA_HOME": ("home",),
    "SOHOA_INBOX": ("inbox",),
    "SOHOA_MINIO_ENDPOINT": ("minio", "endpoint"),
    "SOHOA_MINIO_ACCESS_KEY": ("minio", "access_key"),
    "SOHOA_MINIO_SECRET_KEY": ("minio", "secret_key"),
    "SOHOA_MINIO_SECURE": ("minio", "secure"),
    "SOHOA_BUCKET_RAW": ("buckets", "raw"),
    "SOHOA_BUCKET_ARCHIVE": ("buckets", "archive"),
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
    "dossier": DossierConfig,
    "index": IndexConfig,
    "web": WebConfig,
}


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
    data = _read_yaml(DEFAULT_CONFIG_PATH) if DEFAULT_CONFIG_PATH.exists() else {}
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
    home = Path(str(data.get("home") or "./var")).expanduser()
    inbox = data.get("inbox")
    data["home"] = home.resolve()
    data["inbox"] = (Path(str(inbox)).expanduser() if inbox else home / "inbox").resolve()
    cfg = _build(Config, data, "")
    _validate(cfg)
    return cfg


def _validate(cfg: Config) -> None:
    if ":" not in cfg.minio.endpoint or "/" in cfg.minio.endpoint:
        raise ConfigError(
            f"minio.endpoint must be host:port without scheme or path, got {cfg.minio.endpoint!r}"
        )
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
    if cfg.buckets.raw == cfg.buckets.archive:
        raise ConfigError("buckets.raw and buckets.archive must differ")


def require_credentials(cfg: Config) -> tuple[str, str]:
    """MinIO keys must come from the environment (or a private config file), never defaults."""
    if not cfg.minio.access_key or not cfg.minio.secret_key:
        raise ConfigError(
            "MinIO credentials missing: set SOHOA_MINIO_ACCESS_KEY and SOHOA_MINIO_SECRET_KEY"
        )
    return cfg.minio.access_key, cfg.minio.secret_key
