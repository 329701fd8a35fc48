"""Renewing a signed copy's long-term form before its last time-stamp stops proving anything.

Why: an archived copy is kept for decades (Circular 05/2025, 70 years for many dossiers),
far longer than any certificate lives. A B-LTA copy stays verifiable as long as its last
document time-stamp does, which is as long as that time-stamp's certificate is valid.
Before it expires, a new document time-stamp over the whole file (and over fresh
revocation data for the last time-stamp's chain) carries the proof forward (ETSI EN
319 142-1, PAdES-BASELINE-LTA; DESIGN §12).

:func:`extend_pdf` does that to one file: it reads the last time-stamp, adds to the
document security store the revocation data its chain needs (and whatever the signer's
chain still lacks, which turns a B-T or B-LT copy into B-LTA), then a new document
time-stamp. Everything is appended: every earlier byte, so every earlier revision, stays
as it was. No agency key is needed, only the time-stamp authority.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation.dss import async_add_validation_info
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from pipeline.config import SignConfig
from pipeline.errors import ConfigError, RejectedInput, SignError
from pipeline.sign import certs, levels
from pipeline.sign.appearance import ICT
from pipeline.sign.pades import ARCHIVE_TIMESTAMP_FIELD, FIELD_NAME, _sign_error_for


@dataclass(frozen=True)
class Renewal:
    """What :func:`extend_pdf` made: the file's new facts, for the metadata."""

    level: str
    archive_timestamp: str  # the new document time-stamp's time, ISO 8601 +07:00
    renew_before: str  # its certificate's expiry: the next renewal is due before this
    previous_renew_before: str | None
    revocation: bool
    sha256: str
    size: int


def last_time_stamp(path: Path, roots: list[x509.Certificate]) -> levels.LevelFacts:
    """The level and time-stamps of the agency signature in ``path``."""
    with open(path, "rb") as fh:
        reader = PdfFileReader(fh, strict=False)
        sig = _agency_signature(reader, path)
        return levels.assess(reader, sig, roots)


def is_due(renew_before: datetime | None, margin_days: int, now: datetime | None = None) -> bool:
    """A time-stamp whose certificate ends within ``margin_days`` must be renewed now."""
    if renew_before is None:
        return False
    now = now or datetime.now(UTC)
    return renew_before - now <= timedelta(days=margin_days)


def extend_pdf(src: Path, dst: Path, cfg: SignConfig) -> Renewal:
    """Append fresh revocation data and a new document time-stamp to ``src``, into ``dst``.

    Raises :class:`~pipeline.errors.SignerUnavailable` (TSA, OCSP or CRL unreachable),
    :class:`~pipeline.errors.CertificateNotUsable` (a chain that no longer validates: too
    late to renew), :class:`~pipeline.errors.SignError` (no time-stamp to renew, or a new
    time-stamp that would not last longer than the last one). ``dst`` exists only on success.
    """
    if not cfg.tsa_url:
        raise ConfigError("sign --extend needs a time-stamp authority: set SOHOA_SIGN_TSA_URL")
    roots = certs.trust_roots(cfg.trust)
    before = last_time_stamp(src, roots)
    last = before.last_time_stamp
    if last is None:
        raise SignError(
            "the signature has no time-stamp (PAdES-B-B): there is nothing to renew; "
            "a copy signed without a time-stamp authority cannot be extended"
        )
    partial = dst.with_name(dst.name + ".part")
    try:
        data = src.read_bytes()
        try:
            extended = asyncio.run(_extend(data, cfg, roots, bool(before.lacking)))
        except (SignError, RejectedInput):
            raise
        except Exception as exc:
            raise _sign_error_for(exc, cfg.tsa_url, "the archived copy") from exc
        if not extended.startswith(data):
            raise SignError("the renewal changed earlier bytes of the file; discarded")
        partial.write_bytes(extended)
        after = last_time_stamp(partial, roots)
        new = after.last_time_stamp
        if after.level != "B-LTA" or new is None or new.kind != "document":
            raise SignError(
                f"the renewed copy reaches {after.level}, not B-LTA "
                f"(no revocation data for: {', '.join(after.lacking) or '-'}); discarded"
            )
        if new.expires <= last.expires:
            raise SignError(
                f"the time-stamp authority's certificate ({new.authority}) expires on "
                f"{_ict(new.expires)}, no later than the last time-stamp's: a renewal would "
                "gain nothing; renew when the authority has a newer certificate, or use another"
            )
        os.replace(partial, dst)
    finally:
        partial.unlink(missing_ok=True)
    return Renewal(
        level=after.level,
        archive_timestamp=_ict(new.time),
        renew_before=_ict(new.expires),
        previous_renew_before=_ict(last.expires),
        revocation=after.revocation,
        sha256=hashlib.sha256(extended).hexdigest(),
        size=len(extended),
    )


async def _extend(
    data: bytes, cfg: SignConfig, roots: list[x509.Certificate], add_signer_data: bool
) -> bytes:
    assert cfg.tsa_url is not None
    timeout = aiohttp.ClientTimeout(total=cfg.tsa_timeout)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        context = ValidationContext(
            trust_roots=roots,
            allow_fetching=True,
            revocation_mode="hard-fail",
            fetcher_backend=AIOHttpFetcherBackend(session=http),
        )
        try:
            buf = io.BytesIO(data)
            if add_signer_data:
                # a B-T or B-LT copy: the signer's chain and the signature time-stamp's
                # chain get their revocation data (and a VRI entry) first
                reader = PdfFileReader(buf, strict=False)
                sig = _agency_signature(reader, None)
                buf = await async_add_validation_info(
                    sig, context, add_vri_entry=True, output=io.BytesIO()
                )
            reader = PdfFileReader(buf, strict=False)
            count = len(reader.embedded_timestamp_signatures)
            stamper = PdfTimeStamper(
                HTTPTimeStamper(cfg.tsa_url, timeout=cfg.tsa_timeout, session=http),
                field_name=f"{ARCHIVE_TIMESTAMP_FIELD}{count + 1}"
                if count
                else ARCHIVE_TIMESTAMP_FIELD,
            )
            out = await stamper.async_update_archival_timestamp_chain(
                reader, context, in_place=False, output=io.BytesIO()
            )
            return out.getvalue()
        finally:
            await context.aclose()


def _agency_signature(reader: PdfFileReader, path: Path | None):  # type: ignore[no-untyped-def]
    found = [s for s in reader.embedded_regular_signatures if s.field_name == FIELD_NAME]
    if len(found) != 1:
        where = path.name if path is not None else "the file"
        raise RejectedInput(f"{where} does not carry exactly one agency signature to renew")
    return found[0]


def _ict(value: datetime) -> str:
    return value.astimezone(ICT).isoformat(timespec="seconds")
