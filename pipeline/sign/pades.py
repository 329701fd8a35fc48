"""Sign an archived PDF/A with the agency's key: PAdES baseline, as an incremental update.

The original bytes stay as they are and the signature is appended after them,
so the PDF/A-2b file and its text layer are untouched and still validate. What is
appended depends on what is configured (DESIGN §9, §12):

- the signature (B-B), with its signing certificate once and that certificate's chain
  up to the root, nothing else (:mod:`pipeline.sign.chain`);
- with ``sign.tsa_url``: an RFC 3161 time-stamp over the signature (B-T);
- with it, and a certificate that names OCSP/CRL locations: a revision after the
  signature that puts the revocation data for the signer's chain and for the time-stamp
  authority's chain into the document security store (DSS), with a VRI entry keyed by
  the signature (B-LT), the form PAdES baseline and EU DSS expect;
- unless ``sign.archive_timestamp`` is off: a document time-stamp last (B-LTA), which
  ``sohoa sign --extend`` renews before its certificate expires.

The level recorded is the one the signed file reaches, read back from it
(:mod:`pipeline.sign.levels`), never the one configured. A file appears at the
destination only once it is completely signed; on any failure nothing is left there,
so no file ever claims a signature it lacks.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator import errors as cv_errors
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from pipeline.config import SignConfig
from pipeline.errors import (
    CertificateNotUsable,
    RejectedInput,
    SignError,
    SignerUnavailable,
)
from pipeline.sign import certs, levels, placement
from pipeline.sign.appearance import ICT, Appearance, appearance
from pipeline.sign.keys import AgencyKey, load_key
from pipeline.sign.placement import Placement
from pipeline.sign.records import SignatureRecord

log = logging.getLogger(__name__)
FIELD_NAME = "SohoaAgencySignature"
ARCHIVE_TIMESTAMP_FIELD = "SohoaArchiveTimeStamp"  # the first document time-stamp (B-LTA)


@dataclass(eq=False)
class AgencySigner:
    """Everything reused from one document to the next: key, TSA client, box, trust.

    It also keeps one event loop and one HTTP client session (keep-alive to the
    TSA and OCSP responder): a fresh aiohttp session per signature builds a new
    TLS context from the system's CA bundle, ~30 ms, a third of the budget.
    Use one signer per thread or process; calls on one signer are serialised.
    """

    key: AgencyKey
    cfg: SignConfig
    appearance: Appearance
    timestamper: _RecordingTimeStamper | None
    trust: list[x509.Certificate]
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop, repr=False)
    _http: aiohttp.ClientSession | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def checks_revocation(self) -> bool:
        """The certificate's status is asked before every signature (a revoked key signs
        nothing) whenever it names where to ask."""
        return self.cfg.revocation and certs.names_revocation(self.key.cert)

    @property
    def wants_revocation(self) -> bool:
        """Long-term data (B-LT) is added only over a time-stamp: without one there is no
        proof of when the revocation answers were good."""
        return self.timestamper is not None and self.checks_revocation

    @property
    def wants_archive_timestamp(self) -> bool:
        return self.wants_revocation and self.cfg.archive_timestamp

    def run(self, coro: Any) -> Any:
        """Run ``coro`` on this signer's loop, with its HTTP session available."""
        with self._lock:
            return self._loop.run_until_complete(coro)

    async def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.cfg.tsa_timeout)
            )
            if self.timestamper is not None:
                self.timestamper = _RecordingTimeStamper(
                    self.cfg.tsa_url, timeout=self.cfg.tsa_timeout, session=self._http
                )
        return self._http

    def close(self) -> None:
        try:
            if self._http is not None and not self._loop.is_closed():
                self._loop.run_until_complete(self._http.close())
        finally:
            self._http = None
            if not self._loop.is_closed():
                self._loop.close()
            self.key.close()

    def __enter__(self) -> AgencySigner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_signer(cfg: SignConfig, env: Mapping[str, str] | None = None) -> AgencySigner:
    """Load the key store and prepare a signer for many documents (one per worker process)."""
    key = load_key(cfg, env)
    try:
        box = appearance(cfg.mark, certs.agency_name(key.cert, cfg.agency_name))
        if cfg.trust is not None:
            trust = certs.trust_roots(cfg.trust)
        else:
            own = [c for c in key.chain if c.self_signed]
            trust = own or certs.trust_roots(None)
        timestamper = HTTPTimeStamper(cfg.tsa_url, timeout=cfg.tsa_timeout) if cfg.tsa_url else None
    except Exception:
        key.close()
        raise
    return AgencySigner(key, cfg, box, timestamper, trust)


class _SignerAt(PdfSigner):
    """pyHanko's signer with the signing time fixed by us, in +07:00.

    The same instant then goes into /M, the text on the page and our record;
    pyHanko would otherwise take the machine's local zone for all three.
    """

    def __init__(self, *args: Any, at: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._at = at

    def init_signing_session(self, pdf_out, existing_fields_only=False):  # type: ignore[no-untyped-def]
        session = super().init_signing_session(pdf_out, existing_fields_only)
        session.system_time = self._at
        return session


def _media_box(writer: IncrementalPdfFileWriter) -> tuple[float, float, float, float]:
    page_ref, _ = writer.prev.find_page_for_modification(0)
    node = page_ref.get_object()
    while node is not None:
        for key in ("/CropBox", "/MediaBox"):
            if key in node:
                box = [float(v) for v in node[key]]
                return (
                    min(box[0], box[2]),
                    min(box[1], box[3]),
                    max(box[0], box[2]),
                    max(box[1], box[3]),
                )
        node = node.get("/Parent")
        node = node.get_object() if node is not None else None
    raise RejectedInput("page 1 has no MediaBox")


def _validation_context(signer: AgencySigner, http: aiohttp.ClientSession) -> ValidationContext:
    """Fresh per document, so each signature carries current revocation data."""
    return ValidationContext(
        trust_roots=signer.trust,
        other_certs=signer.key.chain,
        allow_fetching=True,
        revocation_mode="hard-fail",
        fetcher_backend=AIOHttpFetcherBackend(session=http),
    )


def _sign_error(exc: BaseException, signer: AgencySigner) -> SignError:
    """Turn what pyHanko and its helpers raise into one of our classes, with a clear reason."""
    for err in _causes(exc):
        if isinstance(err, cv_errors.RevokedError):
            return CertificateNotUsable(
                f"the agency certificate (serial {certs.serial_hex(signer.key.cert)}) is revoked "
                "/ chứng thư số đã bị thu hồi"
            )
        if type(err).__module__.startswith("pkcs11"):
            return SignerUnavailable(
                f"{signer.key.describe} failed while signing ({type(err).__name__}); "
                "is the token still plugged in?"
            )
    return _sign_error_for(exc, signer.cfg.tsa_url, "the agency certificate")


def _causes(exc: BaseException) -> list[BaseException]:
    chain = []
    node: BaseException | None = exc
    while node is not None and len(chain) < 10:
        chain.append(node)
        node = node.__cause__ or node.__context__
    return chain


def _sign_error_for(exc: BaseException, tsa_url: str | None, what: str) -> SignError:
    """The sign error class for a failure of the TSA, OCSP/CRL or chain validation; ``what``
    names the certificate (chain) being validated in the message."""
    for err in _causes(exc):
        if isinstance(err, TimestampRequestError):
            return SignerUnavailable(
                f"the time-stamp authority {tsa_url} did not give a time-stamp "
                f"({_short(err)}); nothing was signed / máy chủ dấu thời gian không trả lời"
            )
        if isinstance(err, cv_errors.RevokedError):
            return CertificateNotUsable(f"a certificate of {what} is revoked: {_short(err)}")
        if isinstance(err, cv_errors.ExpiredError | cv_errors.NotYetValidError):
            return CertificateNotUsable(
                f"a certificate in the chain of {what} is out of date: {err}"
            )
        if isinstance(
            err,
            cv_errors.OCSPFetchError | cv_errors.CRLFetchError | cv_errors.InsufficientRevinfoError,
        ):
            return SignerUnavailable(
                "the certificate's revocation status could not be fetched from its OCSP/CRL "
                f"service ({_short(err)}) / không kiểm tra được tình trạng thu hồi"
            )
        if isinstance(err, cv_errors.PathBuildingError):
            return CertificateNotUsable(
                f"{what} does not chain to a trusted root "
                "(set SOHOA_SIGN_TRUST to the issuing CA's root) / không xác thực được chứng thư số"
            )
        if isinstance(err, cv_errors.PathValidationError):
            return CertificateNotUsable(f"{what} did not validate: {_short(err)}")
    return SignError(f"signing failed: {_short(exc)}")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text and text[0] else type(exc).__name__


def sign_pdf(
    signer: AgencySigner, src: Path, dst: Path, *, at: datetime | None = None
) -> SignatureRecord:
    """Sign ``src`` into ``dst`` (a new file; ``src`` is not changed) and describe the result.

    Raises :class:`SignerUnavailable` (token gone, TSA or OCSP down),
    :class:`SignerSetupError`, :class:`CertificateNotUsable` (expired, revoked) or
    :class:`RejectedInput` (not a PDF); in every case ``dst`` does not exist afterwards.
    """
    src, dst = Path(src), Path(dst)
    at = (at or datetime.now(ICT)).astimezone(ICT).replace(microsecond=0)
    certs.check_usable(signer.key.cert, at)
    partial = dst.with_name(dst.name + ".part")
    try:
        try:
            spot = _write_signed(signer, src, partial, at)
        except SignError:
            raise
        except Exception as exc:
            if not signer.key.on_token or not _is_token_error(exc):
                raise
            log.info("PKCS#11 signing failed (%s); reopening the token once", type(exc).__name__)
            signer.key.reopen()
            spot = _write_signed(signer, src, partial, at)
        record = _record(signer, partial, at, src.stat().st_size, spot)
        os.replace(partial, dst)
        return record
    except SignError:
        raise
    except (PdfError, RejectedInput) as exc:
        raise RejectedInput(
            f"{src.name} cannot be signed: not a readable PDF ({_short(exc)})"
        ) from None
    except Exception as exc:
        raise _sign_error(exc, signer) from exc
    finally:
        partial.unlink(missing_ok=True)


def _is_token_error(exc: BaseException) -> bool:
    node: BaseException | None = exc
    while node is not None:
        if type(node).__module__.startswith("pkcs11"):
            return True
        node = node.__cause__ or node.__context__
    return False


def _write_signed(signer: AgencySigner, src: Path, out: Path, at: datetime) -> Placement:
    with open(src, "rb") as inf, open(out, "w+b") as outf:
        writer = IncrementalPdfFileWriter(inf, strict=False)
        if writer.prev.encrypted:
            raise RejectedInput(f"{src.name} is encrypted")
        page = _media_box(writer)
        spot = placement.place(src, page, signer.appearance.size())
        if spot.room_added:
            _add_room(writer, page, spot.room_added)
        box = (
            int(spot.box[0]),
            int(spot.box[1]),
            int(spot.box[2] + 0.999),
            int(spot.box[3] + 0.999),
        )
        signer.run(_sign(signer, writer, outf, box, at))
        return spot


def _add_room(
    writer: IncrementalPdfFileWriter, page: tuple[float, float, float, float], band: float
) -> None:
    """Extend page 1 upwards by ``band`` points, in the signature's own revision: the page's
    content (the scan, the text layer) keeps its coordinates, so it stays whole and where it
    was, and the mark gets blank paper above it (Law 20/2023 art. 12)."""
    page_ref, _ = writer.find_page_for_modification(0)
    node = page_ref.get_object()
    x0, y0, x1, y1 = page
    grown = generic.ArrayObject([generic.FloatObject(v) for v in (x0, y0, x1, round(y1 + band, 2))])
    node[generic.NameObject("/MediaBox")] = grown
    for key in ("/CropBox", "/BleedBox", "/TrimBox", "/ArtBox"):
        if key in node:
            node[generic.NameObject(key)] = grown
    writer.update_container(node)


async def _sign(
    signer: AgencySigner,
    writer: IncrementalPdfFileWriter,
    out: Any,
    box: tuple[int, ...],
    at: datetime,
) -> None:
    lt = signer.wants_revocation
    http = await signer.http()
    if signer.timestamper is not None:
        signer.timestamper.last_time = None
    context = _validation_context(signer, http) if signer.checks_revocation else None
    meta = PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=signer.appearance.mark,
        embed_validation_info=lt,
        validation_context=context,
        use_pades_lta=signer.wants_archive_timestamp,
        timestamp_field_name=ARCHIVE_TIMESTAMP_FIELD,
        # after the signature, in a revision of its own, with a VRI entry for it: the
        # shape PAdES baseline B-LT has and EU DSS links to the signature (revocation data
        # inside the signed revision is not counted for it)
        dss_settings=DSSContentSettings(
            placement=SigDSSPlacementPreference.SEPARATE_REVISION, include_vri=True
        ),
    )
    pdf_signer = _SignerAt(
        meta,
        signer.key.signer,
        timestamper=signer.timestamper,
        stamp_style=signer.appearance.style(),
        new_field_spec=fields.SigFieldSpec(sig_field_name=FIELD_NAME, on_page=0, box=box),
        at=at,
    )
    try:
        await pdf_signer.async_sign_pdf(
            writer, output=out, bytes_reserved=None if lt else _reserve(signer)
        )
    finally:
        if context is not None:
            await context.aclose()


def _reserve(signer: AgencySigner) -> int:
    """Bytes to keep for the CMS blob, so pyHanko need not sign twice to measure it.

    Without it pyHanko makes a whole dummy signature (and, with a TSA, asks for a
    dummy time-stamp) to learn the size. The blob is the chain, one signature
    value and, with a TSA, its token (its own certificates included): generous
    room for those costs a few kB of zeros per file. B-LT lets pyHanko measure,
    since the revocation data's size is unknown.
    """
    chain = sum(len(c.dump()) for c in [signer.key.cert, *signer.key.chain])
    return 4096 + 2 * chain + (12288 if signer.timestamper is not None else 0)


def _record(
    signer: AgencySigner, path: Path, at: datetime, original_size: int, spot: Placement
) -> SignatureRecord:
    """Check the signed file's shape and describe it as it is.

    The file must be the original bytes followed by updates, the first of which holds
    our one new signature, whose /ByteRange starts at 0 and covers its whole revision;
    the level is read back from the file (:func:`pipeline.sign.levels.assess`).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
        size = fh.tell()
        fh.seek(0)
        reader = PdfFileReader(fh, strict=False)
        ours = [s for s in reader.embedded_regular_signatures if s.field_name == FIELD_NAME]
        if len(ours) != 1 or len(reader.embedded_regular_signatures) != 1:
            raise SignError("the signed file does not hold exactly one agency signature")
        sig = ours[0]
        a, b, c, d = (int(v) for v in sig.byte_range)
        revision_end = reader.xrefs.get_startxref_for_revision(sig.signed_revision)
        if a != 0 or b >= c or c + d <= original_size or c + d < revision_end:
            raise SignError("the new signature does not cover the whole signed revision")
        facts = levels.assess(reader, sig, signer.trust)
        value_sha256 = hashlib.sha256(sig.pkcs7_content).hexdigest()
    stamp = signer.timestamper.last_time if signer.timestamper is not None else None
    if signer.timestamper is not None and stamp is None:
        raise SignError("the signature lacks the time-stamp that was asked for")
    if facts.level != _expected_level(signer):
        log.warning(
            "signed at %s, not %s as configured (no revocation data for: %s)",
            facts.level,
            _expected_level(signer),
            ", ".join(facts.lacking) or "-",
        )
    cert = signer.key.cert
    last = facts.last_time_stamp
    archive = [t for t in facts.time_stamps if t.kind == "document"]
    return SignatureRecord(
        signer=certs.subject_text(cert.subject),
        agency=signer.appearance.agency,
        serial=certs.serial_hex(cert),
        issuer=certs.subject_text(cert.issuer),
        signed_at=at.isoformat(),
        level=facts.level,
        tsa=signer.cfg.tsa_url if stamp is not None else None,
        timestamp=stamp.astimezone(ICT).isoformat(timespec="seconds") if stamp else None,
        revocation=facts.revocation,
        sha256=digest.hexdigest(),
        size=size,
        key_store="pkcs11" if signer.key.on_token else "pkcs12",
        archive_timestamp=_ict(archive[-1].time) if archive else None,
        renew_before=_ict(last.expires) if last is not None else None,
        value_sha256=value_sha256,
        mark={
            "placement": spot.where,
            "box": [round(v, 1) for v in spot.box],
            "room_added": round(spot.room_added, 1),
        },
    )


def _expected_level(signer: AgencySigner) -> str:
    if signer.wants_archive_timestamp:
        return "B-LTA"
    if signer.wants_revocation:
        return "B-LT"
    return "B-T" if signer.timestamper is not None else "B-B"


def _ict(value: datetime) -> str:
    return value.astimezone(ICT).isoformat(timespec="seconds")


class _RecordingTimeStamper(HTTPTimeStamper):
    """pyHanko's HTTP time-stamp client that remembers the time of the last token it got,
    so the record can say when the TSA stamped without parsing the signed file again."""

    last_time: datetime | None = None

    async def async_timestamp(self, message_digest, md_algorithm):  # type: ignore[no-untyped-def]
        token = await super().async_timestamp(message_digest, md_algorithm)
        tst = token["content"]["encap_content_info"]["content"].parsed
        self.last_time = tst["gen_time"].native
        return token


def _timestamp_time(signed_data: Any) -> datetime | None:
    """genTime of the signature time-stamp token in the signer's unsigned attributes."""
    for info in signed_data["signer_infos"]:
        for attr in info["unsigned_attrs"] or []:
            if attr["type"].native == "signature_time_stamp_token":
                token = attr["values"][0]
                tst = token["content"]["encap_content_info"]["content"].parsed
                return tst["gen_time"].native
    return None
