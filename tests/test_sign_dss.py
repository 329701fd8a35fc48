"""What the EU DSS validator finds in sohoa's signed copies (issue 23).

DSS (eu.europa.ec.joinup.sd-dss 6.3 from Maven Central, default policy, the test root as
trust anchor; scripts/get-dss.sh) judges copies signed at each level through a PKCS#12
file and through the SoftHSM2 token: the level it detects must be the one sohoa records,
with TOTAL_PASSED. B-LT and B-LTA copies are judged on what they carry alone (offline);
B-B and B-T carry no revocation data, so DSS may ask the test PKI's OCSP responder. The
certificate list is checked too (the signer once, its chain, nothing else from the token),
and DSS's verdict on each way a copy gets altered after signing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import x509

from pipeline.config import SignConfig
from pipeline.sign import open_signer, sign_pdf, verify_pdf
from pipeline.sign.keys import load_key
from pipeline.sign.records import SignatureRecord
from tests.support import tamper
from tests.support.archived import make_archived_pdf
from tests.support.pki import AGENCY, TestPki
from tests.support.signing import P11_ENV, P12_ENV, p11_config, p12_config

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
STORES = ("pkcs12", "pkcs11")


def level_config(store: str, level: str, pki: TestPki, trust: Path) -> tuple[SignConfig, dict]:
    """The agency certificate (it names OCSP and CRL), configured to stop at ``level``."""
    extra: dict[str, object] = {}
    if level != "B-B":
        extra["tsa_url"] = f"{pki.url}/tsa"
    if level == "B-T":
        extra["revocation"] = False
    if level == "B-LT":
        extra["archive_timestamp"] = False
    if store == "pkcs12":
        return p12_config(pki, "agency", **extra), P12_ENV
    return p11_config("agency", trust=trust, **extra), P11_ENV


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A one-page archived PDF/A: DSS reads and renders every revision, so keep it small."""
    return make_archived_pdf(tmp_path_factory.mktemp("dss") / "small.pdf", pages=1, dpi=150)


@pytest.fixture(scope="module")
def copies(small, pki, trust, hsm, tmp_path_factory) -> dict[tuple[str, str], tuple]:
    folder = tmp_path_factory.mktemp("dss-copies")
    out: dict[tuple[str, str], tuple[Path, SignatureRecord]] = {}
    for store in STORES:
        for level in LEVELS:
            cfg, env = level_config(store, level, pki, trust)
            path = folder / f"{store}-{level}.pdf"
            with open_signer(cfg, env) as signer:
                out[(store, level)] = (path, sign_pdf(signer, small, path))
    return out


@pytest.fixture(scope="module")
def reports(copies, dss) -> dict[tuple[str, str], object]:
    """DSS's reports, asked in two batches (one JVM each for the whole session)."""
    online = [k for k in copies if k[1] in ("B-B", "B-T")]
    offline = [k for k in copies if k not in online]
    found = dict(zip(online, dss.online.check(copies[k][0] for k in online), strict=True))
    found.update(zip(offline, dss.offline.check(copies[k][0] for k in offline), strict=True))
    return found


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("level", LEVELS)
def test_dss_finds_the_level_sohoa_records(copies, reports, store, level, trust) -> None:
    path, record = copies[(store, level)]
    report = reports[(store, level)]
    assert record.level == level and record.key_store == store
    assert report.error is None, report
    found = report.only
    assert found.level == record.level, found
    assert found.indication == "TOTAL_PASSED", found
    assert verify_pdf(path, trust=trust).level == level
    if level == "B-LTA":
        kinds = sorted(t["type"] for t in report.timestamps)
        assert kinds == ["DOCUMENT_TIMESTAMP", "SIGNATURE_TIMESTAMP"], report.timestamps
        assert all(t["indication"] == "PASSED" for t in report.timestamps), report.timestamps
        assert record.archive_timestamp and record.renew_before
    else:
        assert record.archive_timestamp is None
        assert (record.renew_before is None) == (level == "B-B")


def embedded_certs(path: Path) -> list[x509.Certificate]:
    from pyhanko.pdf_utils.reader import PdfFileReader

    with open(path, "rb") as fh:
        (sig,) = PdfFileReader(fh, strict=False).embedded_regular_signatures
        return [c.chosen for c in sig.signed_data["certificates"]]


def test_the_signature_carries_the_signer_once_and_its_chain_only(copies, pki, hsm, trust) -> None:
    """The token also holds the ``plain`` and ``expired`` certificates and another PKI's root
    and leaf: none of them goes into a signature, and the signer is there once."""
    agency, root = pki.certs["agency"].asn1, pki.root.asn1
    token = load_key(p11_config("agency", trust=trust), P11_ENV)
    try:
        assert len(token.chain) == 1 and token.chain[0].dump() == root.dump()
    finally:
        token.close()
    strangers = [pki.certs[label].asn1.dump() for label in ("plain", "expired")]
    for path, _record in copies.values():
        found = sorted(c.dump() for c in embedded_certs(path))
        assert found == sorted([agency.dump(), root.dump()]), path.name
        data = path.read_bytes()
        for der in strangers:
            assert der not in data, path.name


@pytest.fixture(scope="module")
def tampered(copies, small, pki, tmp_path_factory) -> dict[str, Path]:
    """Issue 23's tampered files, all made from the PKCS#12 B-LTA copy."""
    folder = tmp_path_factory.mktemp("tampered")
    signed, _ = copies[("pkcs12", "B-LTA")]
    impostor_pki = TestPki(folder=folder, url=pki.url)  # a root of its own, same names
    impostor_pki.issue("impostor", "Văn phòng Ủy ban nhân dân tỉnh Lào Cai", AGENCY)
    cfg = SignConfig(pkcs12=impostor_pki.write_pkcs12("impostor"), revocation=False)
    with open_signer(cfg, P12_ENV) as impostor:
        sign_pdf(impostor, small, folder / "impostor.pdf")
    other = load_key(p12_config(pki, "plain"), P12_ENV)
    try:
        second = tamper.second_signature(signed, folder / "second.pdf", other.signer)
    finally:
        other.close()
    return {
        "byte-flip": tamper.byte_flip(signed, folder / "flip.pdf", small.stat().st_size // 2),
        "overlay": tamper.overlay(signed, folder / "overlay.pdf"),
        "annotation": tamper.annotation(signed, folder / "annotation.pdf"),
        "impostor": folder / "impostor.pdf",
        "second-signature": second,
        "stripped": tamper.first_revision(signed, folder / "stripped.pdf", small.stat().st_size),
    }


# what sohoa's verify says, and what DSS says, for each altered copy
EXPECTED = {
    "byte-flip": ({"modified", "damaged"}, "TOTAL_FAILED", "HASH_FAILURE"),
    "overlay": ({"changed-after"}, "TOTAL_PASSED", None),  # DSS: passed, with warnings
    "annotation": ({"changed-after"}, "TOTAL_PASSED", None),  # DSS: no word about it
    "impostor": ({"untrusted"}, "INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND"),
    "second-signature": ({"changed-after", "untrusted"}, "TOTAL_PASSED", None),
    "stripped": ({"unsigned"}, None, None),
}


def test_every_tampered_copy_is_refused_and_what_dss_says(tampered, dss, trust) -> None:
    names = list(tampered)
    found = dict(zip(names, dss.offline.check(tampered[n] for n in names), strict=True))
    for name, (codes, indication, sub) in EXPECTED.items():
        verdict = verify_pdf(tampered[name], trust=trust)
        assert not verdict.valid and verdict.code in codes, (name, verdict)
        report = found[name]
        assert report.error is None, (name, report)
        if indication is None:
            assert report.signatures == (), (name, report)
            continue
        first = report.signatures[0]
        assert (first.indication, first.sub_indication) == (indication, sub), (name, first)
    # where DSS lets a change pass, it says so (overlay) or sees the second signature fail
    assert any("Visual difference" in w for w in found["overlay"].signatures[0].warnings)
    second = found["second-signature"].signatures
    assert len(second) == 2 and second[1].indication != "TOTAL_PASSED", second
