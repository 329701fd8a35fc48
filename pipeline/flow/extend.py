"""``sohoa sign --extend``: archived copies whose last time-stamp nears its end, renewed in place.

Why here: renewing is the archive's side of long-term signatures (DESIGN §12). Each
copy whose last time-stamp certificate expires within the margin gets fresh revocation
data and a new document time-stamp (:func:`pipeline.sign.extend.extend_pdf`), and is
written back as a new version of the same object (the archive bucket is versioned and
under Object Lock: the earlier version stays, untouched, and the new one is as locked),
then its metadata JSON says what the file now is. The file's earlier revisions stay
byte for byte (the renewal is appended), so the agency's signature is the same one.

Safe to run again at any point: a copy already renewed is no longer due; one whose new
version was uploaded but whose metadata was not is renewed again from the bytes the
metadata records (its prefix), so the metadata always describes the object.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.archive.reindex import load_archived
from pipeline.config import SignConfig
from pipeline.errors import StorageIntegrityError
from pipeline.flow.context import Services
from pipeline.flow.steps.sign import object_meta, recorded_copy
from pipeline.storage.ledger import Document
from pipeline.storage.ledger.states import ARCHIVED, INDEXED

EXTENDABLE = ("PAdES-B-T", "PAdES-B-LT", "PAdES-B-LTA")


@dataclass(frozen=True)
class ExtendOutcome:
    """One line of the report: what happened to one archived copy."""

    status: str  # "extended", "not-due"
    level: str | None
    renew_before: str | None  # now (after renewal: the new time-stamp's)
    previous_renew_before: str | None = None


def extendable_documents(services: Services) -> list[Document]:
    """Archived documents whose signature carries a time-stamp, oldest first."""
    found = services.ledger.find_documents(states=[ARCHIVED, INDEXED])
    return [d for d in found if d.signature in EXTENDABLE and d.pdf_key and d.metadata_key]


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def extend_archived(
    services: Services,
    doc: Document,
    cfg: SignConfig,
    *,
    margin_days: int,
    actor: str,
    tmp: Path,
    now: datetime | None = None,
) -> ExtendOutcome:
    """Renew ``doc``'s copy when its last time-stamp is due (see the module)."""
    from pipeline.sign import certs, verify_pdf
    from pipeline.sign.extend import extend_pdf, is_due, last_time_stamp

    objects, ledger = services.objects, services.ledger
    bucket = objects.archive_bucket
    pdf_key, meta_key = str(doc.pdf_key), str(doc.metadata_key)
    meta = json.loads(objects.get_bytes(bucket, meta_key).decode("utf-8"))
    signature = meta.get("signature") or {}
    file = meta.get("file") or {}
    renew_before = _when(signature.get("renew_before"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        fetched = tmp / "archived.pdf"
        if renew_before is None:  # recorded before sohoa wrote it down: read the file
            objects.download(bucket, pdf_key, fetched)
            last = last_time_stamp(fetched, certs.trust_roots(cfg.trust)).last_time_stamp
            renew_before = last.expires if last is not None else None
        if not is_due(renew_before, margin_days, now):
            return ExtendOutcome("not-due", signature.get("level"), _iso(renew_before))
        if not fetched.exists():
            objects.download(bucket, pdf_key, fetched)
        recorded = recorded_copy(
            fetched, str(file.get("sha256")), int(file.get("size") or 0), tmp / "recorded.pdf"
        )
        if recorded is None:
            raise StorageIntegrityError(
                f"{bucket}/{pdf_key} does not match the SHA-256 its metadata records; not renewed"
            )
        renewed_path = tmp / "renewed.pdf"
        renewal = extend_pdf(recorded, renewed_path, cfg)
        verdict = verify_pdf(renewed_path, trust=cfg.trust)
        if not verdict.valid:
            raise StorageIntegrityError(
                f"the renewed copy does not verify ({verdict.reason_en}); not uploaded"
            )
        level = f"PAdES-{renewal.level}"
        objects.put_file(
            bucket,
            pdf_key,
            renewed_path,
            renewal.sha256,
            content_type="application/pdf",
            meta=object_meta(services, pdf_key, level),
        )
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        updated = {
            **meta,
            "file": {**file, "sha256": renewal.sha256, "size": renewal.size},
            "signature": {
                **signature,
                "level": level,
                "revocation_info": renewal.revocation,
                "archive_time_stamp": renewal.archive_timestamp,
                "renew_before": renewal.renew_before,
                "sha256": renewal.sha256,
                "extended": [
                    *signature.get("extended", []),
                    {"at": stamp, "archive_time_stamp": renewal.archive_timestamp},
                ],
            },
        }
        objects.put_bytes(
            bucket,
            meta_key,
            json.dumps(updated, ensure_ascii=False, indent=2).encode("utf-8"),
            content_type="application/json; charset=utf-8",
            meta=object_meta(services, meta_key, level),
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    doc = ledger.update_fields(
        doc.id,
        signature=level,
        pdf_sha256=renewal.sha256,
        reason=f"long-term signature renewed ({level}, next renewal before "
        f"{renewal.renew_before}) by {actor} at {stamp}; {bucket}/{pdf_key} has a new version",
    )
    if services.index is not None and doc.state == INDEXED:
        try:  # the index keeps the metadata it shows; a failure leaves the search as it was
            services.index.index_document(*load_archived(objects, meta_key))
        except Exception as exc:
            ledger.update_fields(doc.id, reason=f"{doc.reason}; re-indexing failed: {exc}")
    return ExtendOutcome("extended", level, renewal.renew_before, renewal.previous_renew_before)


def _iso(value: datetime | None) -> str | None:
    from pipeline.sign.appearance import ICT

    return value.astimezone(ICT).isoformat(timespec="seconds") if value is not None else None
