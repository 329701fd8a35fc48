"""Signing archived PDF/A copies: levels, appearance, PDF/A kept, key stores, every failure.

All real: a PKI made here with OCSP, CRL and RFC 3161 services on loopback
(tests/support/pki.py), PKCS#12 files and a SoftHSM2 token, veraPDF and poppler.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image

from pipeline.config import SignConfig, load_config
from pipeline.errors import (
    CertificateNotUsable,
    ConfigError,
    ExitCode,
    RejectedInput,
    SignerSetupError,
    SignerUnavailable,
    SohoaError,
    exit_code,
)
from pipeline.sign import FIELD_NAME, AgencySigner, open_signer, sign_pdf, verify_pdf
from pipeline.sign.appearance import ICT, appearance
from pipeline.sign.placement import EDGE
from pipeline.sign.secrets import read_secret_file
from tests.support.archived import LINES
from tests.support.pki import PASSPHRASE, PIN, TestPki, closed_port_url
from tests.support.signing import (
    P11_ENV,
    P12_ENV,
    TOKEN,
    p11_config,
    p12_config,
    run,
    verapdf_command,
)

ISO_ICT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$")
BOX_LINES = ["Bản sao điện tử từ bản giấy", "Ủy ban nhân dân tỉnh Lào Cai"]


def pdftotext(path: Path, *args: str) -> str:
    out = run("pdftotext", *args, path, "-")
    assert out.returncode == 0, out.stderr
    return out.stdout


def page_contents(path: Path) -> list[bytes]:
    with pikepdf.open(path) as pdf:
        return [page.obj.Contents.read_raw_bytes() for page in pdf.pages]


@pytest.fixture(scope="module")
def signed(tmp_path_factory, archived, p12_signer, p12_tsa_signer, p12_lt_signer, p11_signer):
    """One file per level and key store, with its record."""
    folder = tmp_path_factory.mktemp("signed")
    out = {}
    for name, signer in [
        ("b-b", p12_signer),
        ("b-t", p12_tsa_signer),
        ("b-lt", p12_lt_signer),
        ("p11-b-t", p11_signer),
    ]:
        dst = folder / f"{name}.pdf"
        out[name] = (dst, sign_pdf(signer, archived, dst))
    return out


# --------------------------------------------------------------------------- levels


def test_pkcs12_b_b_record_matches_the_file(signed, archived: Path, pki: TestPki) -> None:
    path, rec = signed["b-b"]
    assert rec.level == "B-B" and rec.tsa is None and rec.timestamp is None
    assert not rec.revocation
    assert rec.key_store == "pkcs12"
    assert rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rec.size == path.stat().st_size
    assert ISO_ICT.match(rec.signed_at), rec.signed_at
    plain = pki.certs["plain"].cert
    assert rec.serial == format(plain.serial_number, "X")
    assert rec.signer == "CN=Ủy ban nhân dân tỉnh Lào Cai, C=VN"
    assert rec.issuer == "CN=sohoa Test Root CA, O=sohoa test PKI, C=VN"
    assert rec.agency == "Ủy ban nhân dân tỉnh Lào Cai"
    meta = rec.as_metadata()
    assert meta["level"] == "PAdES-B-B" and meta["time"] == rec.signed_at
    json.dumps(meta, ensure_ascii=False)  # plain JSON for the archive metadata


def test_b_t_carries_a_time_stamp_from_the_tsa(signed, pki: TestPki) -> None:
    _, rec = signed["b-t"]
    assert rec.level == "B-T"
    assert rec.tsa == f"{pki.url}/tsa"
    assert ISO_ICT.match(rec.timestamp)
    signed_at, stamped = (datetime.fromisoformat(v) for v in (rec.signed_at, rec.timestamp))
    assert timedelta(0) <= stamped - signed_at < timedelta(seconds=30)
    assert pki.requests["tsa"] >= 1


def test_b_lt_embeds_revocation_data_in_the_dss(signed) -> None:
    path, rec = signed["b-lt"]
    assert rec.level == "B-LT" and rec.revocation
    with pikepdf.open(path) as pdf:
        dss = pdf.Root.DSS
        assert len(dss.OCSPs) >= 1 or len(dss.CRLs) >= 1
        assert len(dss.Certs) >= 2


def test_softhsm_token_signs(signed, trust: Path) -> None:
    path, rec = signed["p11-b-t"]
    assert rec.key_store == "pkcs11" and rec.level == "B-T"
    assert verify_pdf(path, trust=trust).valid


def test_signing_is_an_incremental_update_leaving_pages_alone(signed, archived: Path) -> None:
    original = archived.read_bytes()
    before_pages = page_contents(archived)
    before_text = pdftotext(archived)
    for path, _ in signed.values():
        data = path.read_bytes()
        assert data.startswith(original)  # the archived bytes, untouched, then the update
        assert page_contents(path) == before_pages
        # poppler also prints the box's own text (widget appearance); the page's is unchanged
        after = pdftotext(path)
        assert after.startswith("\n".join(BOX_LINES) + "\nThời gian ký: ")
        assert after.split("\n", 3)[3].lstrip("\n") == before_text
    assert before_text.split()[: len(LINES[0].split())] == LINES[0].split()


def test_signed_files_are_still_pdfa_2b(signed) -> None:
    cmd = verapdf_command()
    if cmd is None:
        pytest.skip("veraPDF not found: run scripts/get-verapdf.sh (or set SOHOA_VERAPDF)")
    paths = [str(p) for p, _ in signed.values()]
    result = run(*cmd, "--flavour", "2b", "--format", "text", "-v", *paths)
    for path in paths:
        assert f"PASS {path} 2b" in result.stdout, result.stdout + result.stderr


# --------------------------------------------------------------------------- appearance


def test_box_sits_in_the_top_right_corner_of_page_one(signed, archived: Path) -> None:
    path, _ = signed["b-t"]
    with pikepdf.open(path) as pdf:
        page = pdf.pages[0]
        width, height = float(page.MediaBox[2]), float(page.MediaBox[3])
        (widget,) = [a for a in page.Annots if a.get("/T") == FIELD_NAME]
        x1, y1, x2, y2 = (float(v) for v in widget.Rect)
        assert int(widget.F) & 4  # printed (PDF/A wants it), not hidden
        for other in pdf.pages[1:]:
            assert "/Annots" not in other
    assert width - EDGE - 1 <= x2 <= width and height - EDGE - 1 <= y2 <= height
    assert x2 - x1 < width * 0.35 and y2 - y1 < 60  # a small box, not a banner
    # it does not cover any word of the page's own text
    words = re.findall(
        r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<',
        pdftotext(archived, "-bbox", "-f", "1", "-l", "1"),
    )
    top, bottom = height - y2, height - y1  # poppler's boxes have a top-left origin
    for xmin, ymin, xmax, ymax, _word in words:
        overlap_x = min(x2, float(xmax)) - max(x1, float(xmin))
        overlap_y = min(bottom, float(ymax)) - max(top, float(ymin))
        assert overlap_x <= 0 or overlap_y <= 0, _word


def test_box_says_mark_agency_and_iso_time_in_vietnamese(signed, tmp_path: Path) -> None:
    path, rec = signed["b-t"]
    text = pdftotext(path, "-f", "1", "-l", "1").splitlines()[:3]
    assert text == [*BOX_LINES, f"Thời gian ký: {rec.signed_at}"]
    fonts = run("pdffonts", "-f", "1", "-l", "1", path).stdout
    (row,) = [line for line in fonts.splitlines() if "NotoSans" in line or "DejaVuSans" in line]
    assert re.search(r"CID TrueType\s+Identity-H\s+yes\s+yes\s+yes", row), row  # embedded
    # it is really drawn: dark-blue ink inside the box, on the rendered page
    run("pdftoppm", "-r", "150", "-f", "1", "-l", "1", "-png", path, tmp_path / "p")
    pixels = np.asarray(Image.open(next(tmp_path.glob("p*.png"))).convert("RGB")).astype(int)
    corner = pixels[: pixels.shape[0] // 12, -pixels.shape[1] // 3 :]
    blue = (corner[..., 2] - corner[..., 0] > 60) & (corner[..., 0] < 100)
    assert blue.sum() > 800, blue.sum()


def test_agency_name_and_mark_are_configurable(pki: TestPki, archived: Path, tmp_path) -> None:
    cfg = p12_config(pki, agency_name="Sở Tư pháp tỉnh Lào Cai", mark="SAO Y")
    with open_signer(cfg, P12_ENV) as signer:
        rec = sign_pdf(signer, archived, tmp_path / "s.pdf")
    assert rec.agency == "Sở Tư pháp tỉnh Lào Cai"
    lines = pdftotext(tmp_path / "s.pdf", "-f", "1", "-l", "1").splitlines()[:3]
    assert lines == ["SAO Y", "Sở Tư pháp tỉnh Lào Cai", f"Thời gian ký: {rec.signed_at}"]


def test_agency_name_prefers_o_then_cn_and_long_names_wrap(pki: TestPki) -> None:
    from pipeline.sign.certs import agency_name

    assert agency_name(pki.certs["agency"].asn1) == "Ủy ban nhân dân tỉnh Lào Cai"  # O, not CN
    assert agency_name(pki.certs["plain"].asn1) == "Ủy ban nhân dân tỉnh Lào Cai"  # CN only
    long = "Ủy ban nhân dân phường Bến Thành, Thành phố Hồ Chí Minh (đơn vị hành chính mới)"
    box = appearance("Bản sao điện tử từ bản giấy", long)
    assert len(box.lines()) == 3 and " ".join(box.lines()[1:]) == long
    assert box.size()[0] < 215


def test_signing_time_is_shown_in_ict_whatever_the_zone(p12_signer, archived, tmp_path) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    rec = sign_pdf(p12_signer, archived, tmp_path / "s.pdf", at=at)
    assert rec.signed_at == at.astimezone(ICT).isoformat()
    assert rec.signed_at.endswith("+07:00") and at.tzinfo is UTC
    assert f"Thời gian ký: {rec.signed_at}" in pdftotext(tmp_path / "s.pdf", "-l", "1")


def test_text_the_font_cannot_draw_is_refused() -> None:
    with pytest.raises(ConfigError, match="cannot draw"):
        appearance("Bản sao", "人民委员会")
    with pytest.raises(ConfigError, match="outside the Vietnamese repertoire"):
        appearance("Bản sao", "Ủy ban ©")


# --------------------------------------------------------------------------- failures


def assert_refused(exc: pytest.ExceptionInfo, cls: type[SohoaError], code: ExitCode) -> None:
    assert isinstance(exc.value, cls), repr(exc.value)
    assert exit_code(exc.value) == code
    assert getattr(exc.value, "stage", None) == "sign"


def test_no_token_is_unavailable(hsm, tmp_path, archived) -> None:
    with pytest.raises(SohoaError) as exc:
        open_signer(p11_config(token="token-not-plugged-in"), P11_ENV)
    assert_refused(exc, SignerUnavailable, ExitCode.UNAVAILABLE)
    assert "plugged in" in str(exc.value)


def test_wrong_pin_is_refused_without_retrying(hsm) -> None:
    with pytest.raises(SohoaError) as exc:
        open_signer(p11_config(), {"SOHOA_SIGN_PKCS11_PIN": "000000"})
    assert_refused(exc, SignerSetupError, ExitCode.USAGE)
    assert "rejected the PIN" in str(exc.value)


def test_missing_pin_and_missing_key_label(hsm) -> None:
    with pytest.raises(SignerSetupError, match="SOHOA_SIGN_PKCS11_PIN"):
        open_signer(p11_config(), {})
    with pytest.raises(SignerSetupError, match="0 private keys labelled 'nobody'"):
        open_signer(p11_config("nobody"), P11_ENV)
    with pytest.raises(SignerSetupError, match="does not exist"):
        open_signer(SignConfig(pkcs11_module="/nope.so", token=TOKEN, key_label="x"), P11_ENV)


def test_wrong_passphrase_is_refused(pki: TestPki) -> None:
    with pytest.raises(SohoaError) as exc:
        open_signer(p12_config(pki), {"SOHOA_SIGN_PASSPHRASE": "sai mật khẩu"})
    assert_refused(exc, SignerSetupError, ExitCode.USAGE)
    assert "wrong passphrase" in str(exc.value)


@pytest.mark.parametrize("store", ["pkcs12", "pkcs11"])
def test_expired_certificate_is_refused(store: str, pki: TestPki, hsm) -> None:
    cfg, env = (
        (p12_config(pki, "expired"), P12_ENV)
        if store == "pkcs12"
        else (p11_config("expired"), P11_ENV)
    )
    with pytest.raises(SohoaError) as exc:
        open_signer(cfg, env)
    assert_refused(exc, CertificateNotUsable, ExitCode.NOT_ALLOWED)
    assert "expired on" in str(exc.value)


def test_certificate_expiring_while_loaded_is_refused_at_signing(p12_signer, archived, tmp_path):
    later = datetime.now(ICT) + timedelta(days=400)
    with pytest.raises(SohoaError) as exc:
        sign_pdf(p12_signer, archived, tmp_path / "s.pdf", at=later)
    assert_refused(exc, CertificateNotUsable, ExitCode.NOT_ALLOWED)
    assert list(tmp_path.iterdir()) == []


def test_revoked_certificate_is_refused(pki: TestPki, archived: Path, tmp_path: Path) -> None:
    with (
        open_signer(p12_config(pki, "revoked"), P12_ENV) as signer,
        pytest.raises(SohoaError) as exc,
    ):
        sign_pdf(signer, archived, tmp_path / "s.pdf")
    assert_refused(exc, CertificateNotUsable, ExitCode.NOT_ALLOWED)
    assert "revoked" in str(exc.value)
    assert list(tmp_path.iterdir()) == []  # no file, let alone one claiming a signature


@pytest.mark.parametrize("how", ["refused", "http-503"])
def test_tsa_unreachable_leaves_no_file(how, pki: TestPki, archived, tmp_path) -> None:
    url = closed_port_url() if how == "refused" else f"{pki.url}/tsa"
    pki.tsa_enabled = how != "http-503"
    try:
        cfg = p12_config(pki, tsa_url=url, tsa_timeout=3)
        with open_signer(cfg, P12_ENV) as signer, pytest.raises(SohoaError) as exc:
            sign_pdf(signer, archived, tmp_path / "s.pdf")
    finally:
        pki.tsa_enabled = True
    assert_refused(exc, SignerUnavailable, ExitCode.UNAVAILABLE)
    assert "time-stamp authority" in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_token_session_lost_is_reopened(p11_signer: AgencySigner, archived, tmp_path) -> None:
    """A pulled and re-plugged token: the dead session is replaced once, transparently."""
    p11_signer.key._session.close()
    rec = sign_pdf(p11_signer, archived, tmp_path / "s.pdf")
    assert rec.level == "B-T" and (tmp_path / "s.pdf").exists()


def test_not_a_pdf_is_rejected(p12_signer, tmp_path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.7\nthis is not really a PDF\n")
    with pytest.raises(RejectedInput):
        sign_pdf(p12_signer, bad, tmp_path / "out.pdf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pdf"]


# --------------------------------------------------------------------------- secrets


def test_secret_file_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "pin"
    path.write_text(PIN + "\n")
    path.chmod(0o644)
    with pytest.raises(SignerSetupError, match="chmod 600") as exc:
        read_secret_file(path)
    assert PIN not in str(exc.value)
    path.chmod(0o640)
    with pytest.raises(SignerSetupError, match="readable by others"):
        read_secret_file(path)
    path.chmod(0o600)
    assert read_secret_file(path) == PIN
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(SignerSetupError, match="symlinks"):
        read_secret_file(link)
    with pytest.raises(SignerSetupError, match="does not exist"):
        read_secret_file(tmp_path / "absent")


def test_pin_and_passphrase_from_files(pki: TestPki, hsm, tmp_path: Path) -> None:
    pin_file, pass_file = tmp_path / "pin", tmp_path / "pass"
    for path, value in ((pin_file, PIN), (pass_file, PASSPHRASE)):
        path.write_text(value + "\n")
        path.chmod(0o600)
    with open_signer(p11_config(pin_file=pin_file), {}) as signer:
        assert signer.key.on_token
    with open_signer(p12_config(pki, passphrase_file=pass_file), {}) as signer:
        assert not signer.key.on_token


def test_secrets_never_leak(pki: TestPki, hsm, archived, tmp_path, caplog) -> None:
    """PIN and passphrase: not in logs (DEBUG, every logger), errors, records or files."""
    caplog.set_level(logging.DEBUG)
    secrets = [PIN, PASSPHRASE, PASSPHRASE.encode().hex(), PIN.encode().hex()]
    texts: list[str] = []
    blobs: list[bytes] = []

    def attempt(fn) -> None:
        try:
            fn()
        except Exception as exc:
            texts.append("".join(traceback.format_exception(exc)))
            texts.append(repr(exc))

    for cfg, env in [(p12_config(pki, tsa_url=f"{pki.url}/tsa"), P12_ENV), (p11_config(), P11_ENV)]:
        with open_signer(cfg, env) as signer:
            dst = tmp_path / f"{signer.key.on_token}.pdf"
            rec = sign_pdf(signer, archived, dst)
            texts += [repr(signer), repr(signer.key), repr(cfg), json.dumps(rec.as_metadata())]
            blobs.append(dst.read_bytes())
            attempt(lambda s=signer: sign_pdf(s, tmp_path / "absent.pdf", tmp_path / "x.pdf"))
    attempt(lambda: open_signer(p11_config(), {"SOHOA_SIGN_PKCS11_PIN": PIN + "9"}))
    attempt(lambda: open_signer(p12_config(pki), {"SOHOA_SIGN_PASSPHRASE": PASSPHRASE + "x"}))
    attempt(lambda: open_signer(p12_config(pki, "expired"), P12_ENV))
    attempt(lambda: open_signer(p11_config(token="gone"), P11_ENV))
    leaky = tmp_path / "pin-world-readable"
    leaky.write_text(PIN)
    leaky.chmod(0o644)
    attempt(lambda: open_signer(p11_config(pin_file=leaky), {}))
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    assert len(texts) > 10
    for text in texts:
        for s in secrets:
            assert s not in text, text[:300]
    for blob in blobs:
        for s in secrets:
            assert s.encode() not in blob
            assert s.encode("utf-16-be") not in blob


# --------------------------------------------------------------------------- config


def test_sign_config_from_environment(tmp_path: Path) -> None:
    env = {
        "SOHOA_HOME": str(tmp_path),
        "SOHOA_SIGN_PKCS11_MODULE": "/usr/lib/softhsm/libsofthsm2.so",
        "SOHOA_SIGN_PKCS11_TOKEN": "agency",
        "SOHOA_SIGN_PKCS11_KEY_LABEL": "sign",
        "SOHOA_SIGN_PKCS11_PIN": PIN,
        "SOHOA_SIGN_TSA_URL": "http://127.0.0.1:1/tsa",
        "SOHOA_SIGN_TRUST": "/etc/sohoa/trust.pem",
        "SOHOA_SIGN_MARK": "SAO Y",
        "SOHOA_SIGN_REQUIRED": "1",
    }
    cfg = load_config(env=env).sign
    assert cfg.enabled and cfg.required
    assert (cfg.token, cfg.key_label, cfg.mark) == ("agency", "sign", "SAO Y")
    assert cfg.trust == Path("/etc/sohoa/trust.pem")
    assert PIN not in repr(load_config(env=env))  # the PIN is never part of the configuration
    with pytest.raises(ConfigError, match="not both"):
        load_config(env={**env, "SOHOA_SIGN_PKCS12": "/x.p12"})
    with pytest.raises(ConfigError, match="no signer"):
        load_config(env={"SOHOA_HOME": str(tmp_path), "SOHOA_SIGN_REQUIRED": "true"})
    with pytest.raises(ConfigError, match="http"):
        load_config(env={**env, "SOHOA_SIGN_TSA_URL": "tsa.example"})
    assert not load_config(env={"SOHOA_HOME": str(tmp_path)}).sign.enabled


def test_nothing_is_left_in_the_destination_folder(signed) -> None:
    folder = next(iter(signed.values()))[0].parent
    assert not [p for p in os.listdir(folder) if p.endswith(".part")]
