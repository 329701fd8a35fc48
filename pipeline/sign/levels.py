"""The PAdES baseline level a signed PDF actually reaches, judged as EU DSS judges it.

Why: the level sohoa records (metadata, object tag, ledger) is a promise about how long the
copy stays verifiable. It must be what an independent validator finds in the file, not
what was configured (an OCSP answer inside the signed revision, or none for the time-stamp
authority, made files that claimed B-LT and that DSS called B-T). So the record is read
back from the signed file by the rules of ETSI EN 319 142-1 as DSS applies them:

- **B-B**: a PAdES signature;
- **B-T**: plus a signature time-stamp (or a document time-stamp);
- **B-LT**: plus, in the document security store (DSS), revocation data (an OCSP answer
  about the certificate, or a CRL of its issuer) for every certificate that needs it in
  the signer's chain and in the chain of every time-stamp but the last document
  time-stamp; a self-signed root or a trust anchor needs none;
- **B-LTA**: plus a document time-stamp (``ETSI.RFC3161``) over a revision whose DSS
  already held all that.

It also says which time-stamp is the last and when its certificate expires: the date by
which ``sohoa sign --extend`` must add the next one (DESIGN §12).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms, crl, ocsp, x509
from pyhanko.pdf_utils.generic import DictionaryObject
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import extract_certificate_info
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from pipeline.sign import certs as certfacts
from pipeline.sign import chain as chains

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


@dataclass(frozen=True)
class TimeStampFact:
    """One time-stamp in the file: when, by whom, and until when its certificate holds."""

    kind: str  # "signature" (over the signature value) or "document" (over the revision)
    time: datetime  # genTime
    authority: str  # the TSA certificate's subject
    expires: datetime  # the TSA certificate's notAfter: renew before this


@dataclass(frozen=True)
class LevelFacts:
    """What :func:`assess` found for one signature."""

    level: str
    time_stamps: tuple[TimeStampFact, ...]  # signature time-stamps first, then document ones
    revocation: bool  # the DSS holds OCSP answers or CRLs
    lacking: tuple[str, ...]  # certificates (subjects) without revocation data: why not B-LT

    @property
    def last_time_stamp(self) -> TimeStampFact | None:
        """The time-stamp the long-term form hangs on: the last document time-stamp, else the
        signature time-stamp."""
        return self.time_stamps[-1] if self.time_stamps else None


@dataclass(frozen=True)
class _Store:
    """The DSS dictionary's contents as of one revision."""

    certs: tuple[x509.Certificate, ...] = ()
    ocsps: tuple[ocsp.OCSPResponse, ...] = ()
    crls: tuple[crl.CertificateList, ...] = ()


def _read_store(root: DictionaryObject) -> _Store:
    if "/DSS" not in root:
        return _Store()
    dss = root["/DSS"]

    def blobs(key: str) -> list[bytes]:
        return [ref.get_object().data for ref in dss.get(key, [])] if key in dss else []

    return _Store(
        tuple(x509.Certificate.load(b) for b in blobs("/Certs")),
        tuple(ocsp.OCSPResponse.load(b) for b in blobs("/OCSPs")),
        tuple(crl.CertificateList.load(b) for b in blobs("/CRLs")),
    )


def _tsa_cert(token: cms.SignedData) -> tuple[x509.Certificate, list[x509.Certificate]]:
    info = extract_certificate_info(token)
    return info.signer_cert, list(info.other_certs)


def _gen_time(token: cms.SignedData) -> datetime:
    return token["encap_content_info"]["content"].parsed["gen_time"].native


def _ocsp_covers(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response["response_status"].native != "successful":
        return False
    basic = response.basic_ocsp_response
    for single in basic["tbs_response_data"]["responses"]:
        cert_id = single["cert_id"]
        if cert_id["serial_number"].native != cert.serial_number:
            continue
        algo = cert_id["hash_algorithm"]["algorithm"].native
        try:
            name_hash = hashlib.new(algo, cert.issuer.dump()).digest()
        except ValueError:
            continue
        if name_hash == cert_id["issuer_name_hash"].native:
            return True
    return False


def _ocsp_responders(response: ocsp.OCSPResponse) -> list[x509.Certificate]:
    """Delegated responder certificates carried in an OCSP answer."""
    if response["response_status"].native != "successful":
        return []
    return list(response.basic_ocsp_response["certs"] or [])


def _has_revocation(cert: x509.Certificate, store: _Store) -> bool:
    if any(_ocsp_covers(r, cert) for r in store.ocsps):
        return True
    return any(c.issuer == cert.issuer for c in store.crls)


def _needing_revocation(
    leaves: Iterable[x509.Certificate],
    pool: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    store: _Store,
) -> list[x509.Certificate]:
    """Every certificate of the leaves' chains (and of the delegated OCSP responders that
    vouch for them) that a validator wants revocation data for: not self-signed, not a
    trust anchor, and not marked ocsp-nocheck."""
    anchor_der = {a.dump() for a in anchors}
    out: dict[bytes, x509.Certificate] = {}
    todo = list(leaves)
    while todo:
        cert = todo.pop()
        for member in [cert, *chains.build(cert, pool)]:
            der = member.dump()
            if der in out or der in anchor_der or chains.is_self_signed(member):
                continue
            if member.ocsp_no_check_value is not None:
                continue
            out[der] = member
            for answer in store.ocsps:
                if _ocsp_covers(answer, member):
                    todo += [r for r in _ocsp_responders(answer) if r.dump() not in out]
    return list(out.values())


def _lacking(
    leaves: Sequence[x509.Certificate],
    pool: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    store: _Store,
) -> list[str]:
    return [
        certfacts.subject_text(c.subject)
        for c in _needing_revocation(leaves, [*pool, *store.certs], anchors, store)
        if not _has_revocation(c, store)
    ]


def assess(
    reader: PdfFileReader,
    sig: EmbeddedPdfSignature,
    anchors: Sequence[x509.Certificate] = (),
) -> LevelFacts:
    """The level ``sig`` reaches in ``reader``'s file (see the module's rules)."""
    signer_info = sig.signer_info
    pool: list[x509.Certificate] = [sig.signer_cert, *sig.other_embedded_certs, *anchors]
    leaves: list[x509.Certificate] = [sig.signer_cert]
    stamps: list[TimeStampFact] = []
    for token in extract_tst_data_iter(signer_info, signed=False):
        tsa, others = _tsa_cert(token)
        pool += [tsa, *others]
        leaves.append(tsa)
        stamps.append(TimeStampFact("signature", _gen_time(token), _subject(tsa), _expiry(tsa)))

    documents = sorted(
        (
            t
            for t in reader.embedded_timestamp_signatures
            if t.signed_revision > sig.signed_revision
        ),
        key=lambda t: t.signed_revision,
    )
    doc_leaves: list[x509.Certificate] = []
    for ts in documents:
        tsa = ts.signer_cert
        pool += [tsa, *ts.other_embedded_certs]
        doc_leaves.append(tsa)
        stamps.append(
            TimeStampFact("document", _gen_time(ts.signed_data), _subject(tsa), _expiry(tsa))
        )

    now = _read_store(reader.root)
    level = "B-T" if stamps else "B-B"
    # every time-stamp's chain but the last document time-stamp's must be covered
    lacking = _lacking([*leaves, *doc_leaves[:-1]], pool, anchors, now)
    if level == "B-T" and not lacking and (now.ocsps or now.crls):
        level = "B-LT"
        for n, ts in enumerate(documents):
            if ts.sig_object.get("/SubFilter") != "/ETSI.RFC3161":
                continue
            then = _read_store(reader.get_historical_root(ts.signed_revision))
            if not _lacking([*leaves, *doc_leaves[:n]], pool, anchors, then):
                level = "B-LTA"
                break
    return LevelFacts(level, tuple(stamps), bool(now.ocsps or now.crls), tuple(lacking))


def _subject(cert: x509.Certificate) -> str:
    return certfacts.subject_text(cert.subject)


def _expiry(cert: x509.Certificate) -> datetime:
    return cert["tbs_certificate"]["validity"]["not_after"].native
