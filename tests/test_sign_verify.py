"""Verifying signed copies: verdicts, tampering anywhere in the signed bytes, and poppler's
``pdfsig`` (NSS, an independent implementation) agreeing with ``verify_pdf``.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pikepdf
import pytest
from pyhanko.pdf_utils.generic import NameObject, StreamObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from pipeline.errors import ExitCode, SignatureInvalid, exit_code
from pipeline.sign import open_signer, require_valid, sign_pdf, verify_pdf
from pipeline.sign.certs import load_pem_certs
from tests.support.pki import TestPki
from tests.support.signing import P12_ENV, p12_config, run


@pytest.fixture(scope="module")
def copies(
    tmp_path_factory,
    archived,
    p12_signer,
    p12_tsa_signer,
    p12_lt_signer,
    p12_lta_signer,
    p11_signer,
):
    folder = tmp_path_factory.mktemp("copies")
    out = {}
    for name, signer in [
        ("b-b", p12_signer),
        ("b-t", p12_tsa_signer),
        ("b-lt", p12_lt_signer),
        ("b-lta", p12_lta_signer),
        ("p11", p11_signer),
    ]:
        out[name] = folder / f"{name}.pdf"
        sign_pdf(signer, archived, out[name])
    return out


@pytest.fixture(scope="module")
def nss(tmp_path_factory, trust: Path) -> str | None:
    """An NSS database trusting the test root, so pdfsig can judge the chain too."""
    if not shutil.which("certutil"):
        return None
    folder = tmp_path_factory.mktemp("nss")
    run("certutil", "-N", "-d", f"sql:{folder}", "--empty-password")
    out = run("certutil", "-A", "-d", f"sql:{folder}", "-n", "root", "-t", "CT,C,C", "-i", trust)
    assert out.returncode == 0, out.stderr
    return f"sql:{folder}"


def pdfsig(path: Path, nss: str | None) -> str:
    if not shutil.which("pdfsig"):
        pytest.skip("pdfsig (poppler-utils) not installed")
    args = ["-nssdir", nss] if nss else []
    out = run("pdfsig", *args, path)
    return out.stdout + out.stderr


def pdfsig_valid(report: str) -> bool:
    return "Signature Validation: Signature is Valid." in report


# --------------------------------------------------------------------------- valid


@pytest.mark.parametrize(
    "name,level",
    [("b-b", "B-B"), ("b-t", "B-T"), ("b-lt", "B-LT"), ("b-lta", "B-LTA"), ("p11", "B-T")],
)
def test_valid_copies_verify_and_pdfsig_agrees(copies, name, level, trust, nss) -> None:
    verdict = verify_pdf(copies[name], trust=trust)
    assert verdict.valid, verdict.text()
    assert verdict.code == "valid" and verdict.level == level
    assert verdict.agency == "Ủy ban nhân dân tỉnh Lào Cai"
    assert verdict.signed_at and verdict.signed_at.endswith("+07:00")
    long_term = level in ("B-LT", "B-LTA")
    assert verdict.revocation_checked == long_term
    assert verdict.text().startswith("Hợp lệ / Valid: Chữ ký số hợp lệ của Ủy ban nhân dân")
    assert require_valid(verdict) is verdict
    report = pdfsig(copies[name], nss)
    assert pdfsig_valid(report.split("Signature #2")[0]), report
    # the long-term forms add validation data (and a document time-stamp) after the
    # signature, as PAdES wants them: the signature covers its own revision, not the file
    whole = "Not total document signed" if long_term else "Total document signed"
    assert whole in report.split("Signature #2")[0], report
    if nss:
        assert "Certificate Validation: Certificate is Trusted." in report, report


def test_unsigned_file_is_not_valid(archived: Path, trust: Path) -> None:
    verdict = verify_pdf(archived, trust=trust)
    assert not verdict.valid and verdict.code == "unsigned"
    assert verdict.reason_vi == "Tài liệu chưa được ký số"
    with pytest.raises(SignatureInvalid) as exc:
        require_valid(verdict)
    assert exit_code(exc.value) == ExitCode.NOT_ALLOWED


def test_untrusted_root_is_not_valid(copies, tmp_path: Path, pki: TestPki) -> None:
    other = TestPki(folder=tmp_path, url="http://127.0.0.1:9")  # a different root of its own
    verdict = verify_pdf(copies["b-b"], roots=[other.root.asn1])
    assert not verdict.valid and verdict.code == "untrusted"
    assert "tin cậy" in verdict.reason_vi and "trusted root" in verdict.reason_en


# --------------------------------------------------------------------------- tampering


def signed_ranges(path: Path) -> list[tuple[int, int]]:
    data = path.read_bytes()
    match = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data)
    a, b, c, d = (int(v) for v in match.groups())
    return [(a, a + b), (c, c + d)]


def positions(path: Path, original: Path) -> dict[str, int]:
    """Offsets inside the signed ranges, each in a different kind of place."""
    data = path.read_bytes()
    (r1s, r1e), (r2s, r2e) = signed_ranges(path)
    orig_len = original.stat().st_size
    with pikepdf.open(original) as pdf:
        contents = pdf.pages[0].obj.Contents.objgen[0]
        image = next(iter(pdf.pages[1].Resources.XObject.values())).objgen[0]
    text_at = data.index(f"\n{contents} 0 obj".encode()) + 40
    image_at = data.index(f"\n{image} 0 obj".encode()) + 400
    mod_date = data.rindex(b"/M (D")  # in our signature dictionary (pyHanko escapes the colon)
    found = {
        "header": 5,
        "text-layer": text_at,
        "page-2-image": image_at,
        "original-trailer": orig_len - 12,
        "signing-time": mod_date + 8,
        "after-signature": r2s + 3,
        "update-middle": (r2s + r2e) // 2,
        "last-byte": r2e - 2,
    }
    for name, at in found.items():
        assert r1s <= at < r1e or r2s <= at < r2e, name
    return found


@pytest.mark.parametrize("name", ["b-t", "b-lt"])
def test_one_byte_changed_anywhere_in_the_signed_range_is_rejected(
    copies, archived, name, trust, nss, tmp_path
) -> None:
    path = copies[name]
    data = path.read_bytes()
    for where, at in positions(path, archived).items():
        bad = bytearray(data)
        bad[at] ^= 0x01
        tampered = tmp_path / f"{where}.pdf"
        tampered.write_bytes(bad)
        verdict = verify_pdf(tampered, trust=trust)
        assert not verdict.valid, (where, verdict)
        assert verdict.code in ("modified", "damaged", "bad-signature", "unsigned"), where
        report = pdfsig(tampered, nss)
        assert not pdfsig_valid(report), (where, report)


def test_changed_signature_value_is_rejected(copies, trust, nss, tmp_path) -> None:
    path = copies["b-b"]
    data = bytearray(path.read_bytes())
    (_, r1e), _ = signed_ranges(path)
    # the CMS is hex between the two ranges; the RSA signature value sits near its end
    blob = data[r1e + 1 : data.index(b">", r1e)]
    end = len(blob.rstrip(b"0"))
    at = r1e + 1 + end - 40
    data[at] = ord("0") if data[at] != ord("0") else ord("1")
    tampered = tmp_path / "sig.pdf"
    tampered.write_bytes(data)
    verdict = verify_pdf(tampered, trust=trust)
    assert not verdict.valid and verdict.code in ("bad-signature", "damaged", "modified")
    assert not pdfsig_valid(pdfsig(tampered, nss))


def test_update_appended_after_signing_is_rejected(copies, trust, tmp_path) -> None:
    """A later incremental update that replaces page 1's text: bytes in range intact, yet
    the document shown is not the one signed. pdfsig only says 'Not total document signed'."""
    path = copies["b-t"]
    out = tmp_path / "appended.pdf"
    with open(path, "rb") as fh:
        writer = IncrementalPdfFileWriter(fh)
        page_ref, _ = writer.find_page_for_modification(0)
        page = page_ref.get_object()
        fake = StreamObject(stream_data=b"BT /F1 12 Tf 72 720 Td (Forged) Tj ET")
        page[NameObject("/Contents")] = writer.add_object(fake)
        writer.update_container(page)
        with open(out, "wb") as dst:
            writer.write(dst)
    verdict = verify_pdf(out, trust=trust)
    assert not verdict.valid and verdict.code == "changed-after", verdict
    assert verdict.reason_en == "The document was changed after it was signed"


# --------------------------------------------------------------------------- time and revocation


def test_revoked_after_signing_is_caught_online(pki: TestPki, archived, trust, tmp_path) -> None:
    """B-LT keeps the revocation status of signing time; asked online later, the
    certificate revoked since (with a date before the signature) fails."""
    pki.issue("revoked-later", "Sở Y tế tỉnh Lào Cai", "Ủy ban nhân dân tỉnh Lào Cai")
    with open_signer(p12_config(pki, "revoked-later", tsa_url=f"{pki.url}/tsa"), P12_ENV) as s:
        sign_pdf(s, archived, tmp_path / "s.pdf")
    assert verify_pdf(tmp_path / "s.pdf", trust=trust).valid
    pki.revoke("revoked-later")
    offline = verify_pdf(tmp_path / "s.pdf", trust=trust)
    online = verify_pdf(tmp_path / "s.pdf", trust=trust, fetch=True)
    assert offline.valid  # the embedded OCSP answer said "good" when it was signed
    assert not online.valid and online.code == "revoked", online


def test_time_stamp_keeps_a_copy_valid_after_the_certificate_expires(
    pki: TestPki, archived, trust, tmp_path
) -> None:
    """Judged at the time-stamp, a B-T copy outlives its certificate; a B-B copy does not."""
    from datetime import UTC, datetime, timedelta

    issued = pki.issue(
        "short",
        "Sở Nội vụ tỉnh Lào Cai",
        "Ủy ban nhân dân tỉnh Lào Cai",
        until=datetime.now(UTC) + timedelta(seconds=6),
        revocation_urls=False,
    )
    ends = issued.cert.not_valid_after_utc
    if ends - datetime.now(UTC) < timedelta(seconds=4):
        pytest.skip("the short-lived certificate is already too close to expiry")
    with open_signer(p12_config(pki, "short", tsa_url=f"{pki.url}/tsa"), P12_ENV) as stamped:
        sign_pdf(stamped, archived, tmp_path / "t.pdf")
    with open_signer(p12_config(pki, "short"), P12_ENV) as bare:
        sign_pdf(bare, archived, tmp_path / "b.pdf")
    assert verify_pdf(tmp_path / "t.pdf", trust=trust).valid
    wait = (ends - datetime.now(UTC)).total_seconds() + 1.5
    assert wait < 90
    time.sleep(max(wait, 0))
    later_t = verify_pdf(tmp_path / "t.pdf", trust=trust)
    later_b = verify_pdf(tmp_path / "b.pdf", trust=trust)
    assert later_t.valid, later_t
    assert not later_b.valid and later_b.code == "expired", later_b


def test_trust_file_and_roots_are_equivalent(copies, trust) -> None:
    assert verify_pdf(copies["b-b"], roots=load_pem_certs(trust)).valid
    assert verify_pdf(copies["b-b"], trust=trust).valid
