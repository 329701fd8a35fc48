"""Check a signed copy on its way out: does the agency's signature still hold?

What is checked, in the order an operator would ask:

1. the file reads as a PDF and carries a signature;
2. integrity: the digest over the signed byte ranges matches, the signature
   value verifies, and nothing but validation data (DSS, document time-stamps)
   was appended after signing;
3. the signing certificate chains to a trust root (``SOHOA_SIGN_TRUST`` or the
   system's bundle) and may sign documents;
4. the time-stamp, when present, is intact and from a trusted TSA; the chain is
   then judged at the time-stamp's time, so a copy signed while the certificate
   was valid stays valid after the certificate expires;
5. revocation, where revocation data is present in the file (B-LT): checked
   against it; with ``fetch=True`` also online.

The result is a :class:`Verdict` with a short reason in Vietnamese and English.
Verifying never raises for a bad signature; :func:`require_valid` turns an
invalid verdict into :class:`SignatureInvalid` (exit 5) for callers that want that.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESSubIndic
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import DocumentSecurityStore
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
)
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from pipeline.errors import SignatureInvalid
from pipeline.sign import certs, levels
from pipeline.sign.appearance import ICT
from pipeline.sign.pades import _timestamp_time
from pipeline.sign.records import Verdict

log = logging.getLogger(__name__)
ALLOWED_AFTER = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)


def _bad(code: str, vi: str, en: str, **facts: Any) -> Verdict:
    return Verdict(valid=False, code=code, reason_vi=vi, reason_en=en, **facts)


def verify_pdf(
    path: Path,
    *,
    trust: Path | None = None,
    roots: Sequence[x509.Certificate] | None = None,
    fetch: bool = False,
) -> Verdict:
    """The verdict on every signature of ``path``: valid only if all of them hold.

    ``roots`` (certificates) or ``trust`` (a PEM file) name the trust roots; with
    neither, the system's bundle is used. ``fetch`` allows OCSP/CRL look-ups for
    signatures that carry no revocation data of their own.
    """
    path = Path(path)
    anchors = list(roots) if roots is not None else certs.trust_roots(trust)
    try:
        with open(path, "rb") as fh:
            reader = PdfFileReader(fh, strict=False)
            sigs = list(reader.embedded_regular_signatures)
            if not sigs:
                return _bad(
                    "unsigned",
                    "Tài liệu chưa được ký số",
                    "The document carries no digital signature",
                )
            dss = DocumentSecurityStore.read_dss(reader) if "/DSS" in reader.root else None
            verdicts = [_verify_one(reader, sig, dss, anchors, fetch) for sig in sigs]
    except OSError as exc:
        return _bad(
            "unreadable", "Không mở được tệp", f"The file cannot be opened ({exc.strerror})"
        )
    except Exception as exc:
        log.debug("verification of %s failed to parse", path, exc_info=True)
        return _bad(
            "damaged",
            "Tệp bị hỏng hoặc đã bị sửa, không đọc được chữ ký",
            "The file is damaged or was altered; its signature cannot be read "
            f"({type(exc).__name__})",
        )
    bad = [v for v in verdicts if not v.valid]
    chosen = bad[0] if bad else verdicts[-1]
    return Verdict(**{**chosen.as_dict(), "signatures": len(sigs)})


def require_valid(verdict: Verdict) -> Verdict:
    """``verdict`` itself when valid; :class:`SignatureInvalid` (exit 5) otherwise."""
    if not verdict.valid:
        raise SignatureInvalid(verdict.text())
    return verdict


def _context(
    anchors: list[x509.Certificate],
    dss: DocumentSecurityStore | None,
    moment: datetime | None,
    fetch: bool,
) -> ValidationContext:
    kwargs: dict[str, Any] = {
        "trust_roots": anchors,
        "allow_fetching": fetch,
        # with revocation data in the file (or online look-ups allowed), a missing or
        # bad answer fails; without either there is nothing to check against
        "revocation_mode": "hard-fail"
        if (dss is not None and dss.ocsps + dss.crls) or fetch
        else "soft-fail",
    }
    if moment is not None:
        kwargs["moment"] = moment
        kwargs["best_signature_time"] = moment
    if dss is not None:
        return dss.as_validation_context(kwargs)
    return ValidationContext(**kwargs)


async def _validate(sig: EmbeddedPdfSignature, vc: ValidationContext) -> PdfSignatureStatus:
    try:
        return await async_validate_pdf_signature(
            sig, signer_validation_context=vc, ts_validation_context=vc
        )
    finally:
        await vc.aclose()


def _verify_one(
    reader: PdfFileReader,
    sig: EmbeddedPdfSignature,
    dss: DocumentSecurityStore | None,
    anchors: list[x509.Certificate],
    fetch: bool,
) -> Verdict:
    cert = sig.signer_cert
    claimed_ts = _timestamp_time(sig.signed_data)
    facts: dict[str, Any] = {
        "signer": certs.subject_text(cert.subject),
        "agency": _agency(cert),
        "serial": certs.serial_hex(cert),
        "issuer": certs.subject_text(cert.issuer),
        "signed_at": _when(sig.self_reported_timestamp),
        "timestamp": _when(claimed_ts),
        "level": levels.assess(reader, sig, anchors).level,
        "revocation_checked": dss is not None or fetch,
        "value_sha256": hashlib.sha256(sig.pkcs7_content).hexdigest(),
    }
    # the chain is judged when the signature provably existed: at the time-stamp if any
    status = asyncio.run(_validate(sig, _context(anchors, dss, claimed_ts, fetch)))

    if not status.intact:
        return _bad(
            "modified",
            "Nội dung đã bị thay đổi sau khi ký (mã băm không khớp)",
            "The signed content was changed after signing (digest mismatch)",
            **facts,
        )
    if not status.valid:
        return _bad(
            "bad-signature",
            "Giá trị chữ ký số không đúng",
            "The signature value does not verify",
            **facts,
        )
    if status.coverage is None or status.coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        return _bad(
            "partial",
            "Chữ ký không bao trùm toàn bộ tài liệu",
            "The signature does not cover the whole document",
            **facts,
        )
    if status.modification_level not in ALLOWED_AFTER or status.docmdp_ok is False:
        return _bad(
            "changed-after",
            "Tài liệu đã bị sửa đổi sau khi ký",
            "The document was changed after it was signed",
            **facts,
        )
    if status.revoked:
        return _bad(
            "revoked",
            "Chứng thư số của người ký đã bị thu hồi",
            "The signing certificate has been revoked",
            **facts,
        )
    if not status.trusted:
        return _trust_verdict(status.trust_problem_indic, facts)
    ts = status.timestamp_validity
    if claimed_ts is not None and (ts is None or not (ts.intact and ts.valid)):
        return _bad(
            "timestamp-invalid",
            "Dấu thời gian không hợp lệ",
            "The time-stamp is not valid",
            **facts,
        )
    if ts is not None and not ts.trusted:
        return _bad(
            "timestamp-untrusted",
            "Dấu thời gian không do đơn vị cung cấp dịch vụ tin cậy cấp",
            "The time-stamp is not from a trusted time-stamp authority",
            **facts,
        )
    return Verdict(
        valid=True,
        code="valid",
        reason_vi=f"Chữ ký số hợp lệ của {facts['agency']}, ký lúc {facts['signed_at']}",
        reason_en=f"Valid signature of {facts['agency']}, signed at {facts['signed_at']}",
        **facts,
    )


def _trust_verdict(indic: AdESSubIndic | None, facts: dict[str, Any]) -> Verdict:
    # pyHanko splits the sub-indications over two enums (failed / indeterminate): match names
    name = getattr(indic, "name", None)
    if name in ("EXPIRED", "OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED"):
        return _bad(
            "expired",
            "Chứng thư số đã hết hạn tại thời điểm ký",
            "The signing certificate had expired when the document was signed",
            **facts,
        )
    if name == "NOT_YET_VALID":
        return _bad(
            "not-yet-valid",
            "Chứng thư số chưa có hiệu lực tại thời điểm ký",
            "The signing certificate was not yet valid when the document was signed",
            **facts,
        )
    if name in ("REVOKED", "REVOKED_NO_POE", "REVOKED_CA_NO_POE"):
        return _bad(
            "revoked",
            "Chứng thư số của người ký đã bị thu hồi",
            "The signing certificate has been revoked",
            **facts,
        )
    if name in ("TRY_LATER", "REVOCATION_OUT_OF_BOUNDS_NO_POE"):
        return _bad(
            "revocation-unknown",
            "Không xác định được tình trạng thu hồi của chứng thư số",
            "The signing certificate's revocation status could not be established",
            **facts,
        )
    if name == "CHAIN_CONSTRAINTS_FAILURE":
        return _bad(
            "not-for-signing",
            "Chứng thư số không được phép dùng để ký tài liệu",
            "The signing certificate may not be used to sign documents",
            **facts,
        )
    return _bad(
        "untrusted",
        "Chứng thư số không thuộc tổ chức chứng thực tin cậy",
        "The signing certificate does not chain to a trusted root",
        **facts,
    )


def _agency(cert: x509.Certificate) -> str | None:
    try:
        return certs.agency_name(cert)
    except Exception:
        return None


def _when(value: datetime | None) -> str | None:
    return value.astimezone(ICT).isoformat(timespec="seconds") if value is not None else None
