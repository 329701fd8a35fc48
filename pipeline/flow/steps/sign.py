"""Step ``sign``: the agency's PAdES signature on the PDF/A, before anything is archived.

Law 20/2023 art. 12 and Decree 30/2020 Annex I (DESIGN §9): a digitized paper
document is an electronic copy only once the converting agency has signed it. The
step sits between ``pdfa.assemble`` and ``archive.store``, so the PDF that is
archived, and the SHA-256 the metadata records, are the signed file's.

When signing is not configured nothing happens and the metadata says
``"signature": null``. When it is configured but fails (token absent, PIN refused,
certificate expired or revoked, time-stamp authority down):

- ``sign.required`` true: the document fails at stage ``sign`` and nothing is
  archived. Its finished pages stay in the work store, so ``sohoa retry`` signs
  and archives it once the signer works, without reading a page again.
- ``sign.required`` false: it is archived unsigned, with the ledger's ``signature``
  column at ``pending`` and the metadata's ``signature_pending`` saying why;
  ``sohoa sign --pending`` (:func:`sign_archived`) signs it later, in place: the
  same key gets a new object version, never a second document.

A file is never recorded as signed unless the signer handed back a signed file
whose hash matches its record (the signer checks the signature it made too).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.archive import metadata
from pipeline.archive.reindex import load_archived
from pipeline.errors import SignError, SignerSetupError, SohoaError, StorageIntegrityError
from pipeline.flow.context import Services
from pipeline.flow.run import DocumentRun
from pipeline.flow.steps._stage import stage
from pipeline.storage.ledger import Document
from pipeline.storage.ledger.states import ARCHIVED, FAILED, INDEXED
from pipeline.storage.objects import CHUNK, META_SHA256, sha256_file

if TYPE_CHECKING:  # pyHanko is loaded only where a signer runs
    from pipeline.sign.records import SignatureRecord


def failure_reason(exc: BaseException) -> str:
    """One line for the ledger: our own errors say it well; anything else names its type."""
    if isinstance(exc, SohoaError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _sign_file(services: Services, src: Path, dst: Path) -> SignatureRecord:
    """The signer's record for ``dst``, checked against the bytes actually there."""
    if services.signer is None:
        raise SignerSetupError("signing is configured but this process was given no signer")
    try:
        record = services.signer.sign(src, dst)
        if sha256_file(dst) != record.sha256:
            raise SignError("the signed file does not match the signer's record")
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    return record


@stage("sign")
def sign(run: DocumentRun) -> Document | None:
    """Sign ``run.pdf_path``; on failure fail the document or let it be archived unsigned."""
    cfg = run.cfg.sign
    run.signature, run.unsigned_reason = None, None
    if not cfg.enabled:
        return None
    signed = run.tmp / "document.signed.pdf"
    try:
        run.signature = _sign_file(run.services, run.pdf_path, signed)
    except Exception as exc:
        reason = failure_reason(exc)
        if cfg.required:
            return run.settle(
                FAILED,
                "sign",
                f"not signed: {reason}; nothing was archived (sign.required is on): "
                "sohoa retry finishes it once the signer works",
            )
        run.unsigned_reason = reason
        return None
    run.pdf_path = signed
    return None


# ------------------------------------------------------------------ sohoa sign --pending


def pending_documents(
    services: Services, limit: int | None = None, *, include_unsigned: bool = False
) -> list[Document]:
    """Archived documents waiting for their signature, oldest first; with
    ``include_unsigned`` also those archived unsigned before signing was configured
    (their ledger row has no signature at all, not even "pending")."""
    if include_unsigned:
        found = services.ledger.find_documents(states=[ARCHIVED, INDEXED])
        found = [d for d in found if d.signature in (None, metadata.SIGNATURE_PENDING)]
    else:
        found = services.ledger.find_documents(
            states=[ARCHIVED, INDEXED], signature=metadata.SIGNATURE_PENDING
        )
    docs = [d for d in found if d.pdf_key and d.metadata_key]
    return docs[:limit] if limit else docs


def recorded_copy(path: Path, sha256: str, size: int, out: Path) -> Path | None:
    """The bytes the metadata records: ``path`` itself, or its first ``size`` bytes when an
    interrupted ``sign --pending`` or ``sign --extend`` had already uploaded a new version
    (an incremental update keeps the recorded bytes as a prefix); None when neither matches."""
    if sha256_file(path) == sha256:
        return path
    if path.stat().st_size <= size:
        return None
    with open(path, "rb") as src, open(out, "wb") as dst:
        left = size
        while left:
            chunk = src.read(min(CHUNK, left))
            if not chunk:
                break
            dst.write(chunk)
            left -= len(chunk)
    if sha256_file(out) == sha256:
        return out
    out.unlink()
    return None


def object_meta(services: Services, key: str, level: str) -> dict[str, Any]:
    """The object's user metadata as written at archiving (source hash, pages, document id…),
    with the signature level added; its own hash is set again by the upload."""
    info = services.objects.stat(services.objects.archive_bucket, key)
    kept = {k: v for k, v in (info.meta if info else {}).items() if k != META_SHA256}
    return {**kept, metadata.LEVEL_OBJECT_META: level}


def _make_room_in_words(services: Services, meta_key: str, record: SignatureRecord) -> None:
    """The words object follows page 1 when the mark made room above it (a new version)."""
    from pipeline.archive.layout import words_key
    from pipeline.flow.steps.archive import with_room_above

    room = float((record.mark or {}).get("room_added") or 0.0)
    objects, key = services.objects, words_key(meta_key)
    if room <= 0 or objects.stat(objects.archive_bucket, key) is None:
        return
    words = json.loads(objects.get_bytes(objects.archive_bucket, key).decode("utf-8"))
    moved = with_room_above(words, room)
    if moved is not words:
        info = objects.stat(objects.archive_bucket, key)
        kept = {k: v for k, v in (info.meta if info else {}).items() if k != META_SHA256}
        objects.put_bytes(
            objects.archive_bucket,
            key,
            json.dumps(moved, ensure_ascii=False).encode("utf-8"),
            content_type="application/json; charset=utf-8",
            meta=kept,
        )


def sign_archived(services: Services, doc: Document, *, actor: str, tmp: Path) -> Document:
    """Sign an archived, unsigned document where it lies (``sohoa sign --pending``).

    The PDF is re-written under the same key (a new object version in a versioned
    bucket), read back to its SHA-256 like every write, then the metadata JSON is
    updated: ``signature`` filled in, ``signature_pending`` cleared, ``file`` describing
    the signed bytes. The source marker and the text are untouched; the ledger's
    ``signature`` column takes the level. Safe to run again after an interruption at
    any point: a signed copy already uploaded is recognised by its unsigned prefix.
    Raises the signer's errors (:class:`~pipeline.errors.SignError`) unchanged.
    """
    objects, ledger = services.objects, services.ledger
    bucket = objects.archive_bucket
    pdf_key, meta_key = str(doc.pdf_key), str(doc.metadata_key)
    meta = json.loads(objects.get_bytes(bucket, meta_key).decode("utf-8"))
    file = meta.get("file") or {}
    done = meta.get("signature")
    stored = objects.stat(bucket, pdf_key)
    if stored is None:
        raise StorageIntegrityError(f"{bucket}/{pdf_key} is missing from the archive")
    if isinstance(done, dict) and done.get("sha256"):
        # signed before an interruption kept the ledger from hearing of it
        if stored.meta.get(META_SHA256) != done["sha256"]:
            raise StorageIntegrityError(
                f"{bucket}/{pdf_key} does not match the signature its metadata records"
            )
        return ledger.update_fields(doc.id, signature=done["level"], pdf_sha256=done["sha256"])
    tmp.mkdir(parents=True, exist_ok=True)
    fetched = tmp / "archived.pdf"
    objects.download(bucket, pdf_key, fetched)
    original = recorded_copy(
        fetched, str(file.get("sha256")), int(file.get("size") or 0), tmp / "unsigned.pdf"
    )
    if original is None:
        raise StorageIntegrityError(
            f"{bucket}/{pdf_key} does not match the SHA-256 its metadata records; not signed"
        )
    signed = tmp / "signed.pdf"
    record = _sign_file(services, original, signed)
    level = record.as_metadata()["level"]
    objects.put_file(
        bucket,
        pdf_key,
        signed,
        record.sha256,
        content_type="application/pdf",
        meta=object_meta(services, pdf_key, level),
    )
    _make_room_in_words(services, meta_key, record)
    updated = metadata.with_signature(meta, record.as_metadata(), record.size)
    objects.put_bytes(
        bucket,
        meta_key,
        json.dumps(updated, ensure_ascii=False, indent=2).encode("utf-8"),
        content_type="application/json; charset=utf-8",
        meta=object_meta(services, meta_key, level),
    )
    shutil.rmtree(tmp, ignore_errors=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    doc = ledger.update_fields(
        doc.id,
        signature=level,
        pdf_sha256=record.sha256,
        reason=f"signed ({level}) after archiving by {actor} at {stamp}; {bucket}/{pdf_key}"
        " has a new version",
    )
    if services.index is not None and doc.state == INDEXED:
        try:  # the index keeps the metadata it shows; a failure here leaves the search as it was
            services.index.index_document(*load_archived(objects, meta_key))
        except Exception as exc:
            doc = ledger.update_fields(doc.id, reason=f"{doc.reason}; re-indexing failed: {exc}")
    return doc
