"""Signing in the document flow: archived copies signed, every failure failed or left waiting,
``sohoa sign --pending`` in place, ``sohoa verify`` agreeing with poppler's ``pdfsig``.

All real: the test PKI (OCSP, TSA on loopback), PKCS#12 files and the SoftHSM2 token of
tests/support/signing.py, a real MinIO, Tesseract on small pages, veraPDF. End-to-end runs
use the CLI in a subprocess with one page worker; the failure modes are driven through the
sign step with a real signing process, without OCR, to keep the suite short.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
from minio.versioningconfig import ENABLED, VersioningConfig

from pipeline.config import Config, SignConfig, load_config
from pipeline.errors import CertificateNotUsable, SignerSetupError, SignerUnavailable
from pipeline.flow.context import Services
from pipeline.flow.run import DocumentRun
from pipeline.flow.steps import STEPS
from pipeline.flow.steps import sign as sign_step
from pipeline.storage import objects as store
from pipeline.storage.ledger import SqliteLedger, states
from tests.support.cli import json_lines, sohoa
from tests.support.files import small_page
from tests.support.pki import PASSPHRASE, PIN, SOFTHSM_MODULE, TestPki, closed_port_url
from tests.support.signing import TOKEN, run, verapdf_command
from workers.signing import SigningProcess

pytestmark = pytest.mark.integration
CODE = "000.00.13.H38-261127-0301"
SECRETS = [PIN, PASSPHRASE, "999999"]  # the right PIN, the passphrase, the wrong PIN tried
WRONG_PIN = "999999"


# --------------------------------------------------------------------------- helpers


def with_one_worker(env: dict[str, str], folder: Path) -> dict[str, str]:
    conf = folder / "one-worker.yaml"
    conf.write_text("ocr:\n  workers: 1\n", encoding="utf-8")
    return {**env, "SOHOA_CONFIG": str(conf)}


@pytest.fixture
def p12_env(sohoa_env, tmp_path, pki: TestPki, trust: Path) -> dict[str, str]:
    """PKCS#12, agency certificate (OCSP/CRL locations) and a TSA: PAdES B-LTA."""
    return {
        **with_one_worker(sohoa_env, tmp_path),
        "SOHOA_SIGN_PKCS12": str(pki.write_pkcs12("agency")),
        "SOHOA_SIGN_PASSPHRASE": PASSPHRASE,
        "SOHOA_SIGN_TSA_URL": f"{pki.url}/tsa",
        "SOHOA_SIGN_TRUST": str(trust),
    }


@pytest.fixture
def p11_env(sohoa_env, tmp_path, hsm, pki: TestPki, trust: Path) -> dict[str, str]:
    """The SoftHSM2 token, key ``plain`` and a TSA: PAdES B-T (the PIN is added per test)."""
    return {
        **with_one_worker(sohoa_env, tmp_path),
        "SOHOA_SIGN_PKCS11_MODULE": str(SOFTHSM_MODULE),
        "SOHOA_SIGN_PKCS11_TOKEN": TOKEN,
        "SOHOA_SIGN_PKCS11_KEY_LABEL": "plain",
        "SOHOA_SIGN_TSA_URL": f"{pki.url}/tsa",
        "SOHOA_SIGN_TRUST": str(trust),
    }


@pytest.fixture(scope="module")
def nss(tmp_path_factory, trust: Path) -> str:
    """An NSS database trusting the test root, so ``pdfsig`` judges the chain too."""
    if not shutil.which("certutil") or not shutil.which("pdfsig"):
        pytest.fail("pdfsig/certutil missing: apt-get install poppler-utils libnss3-tools")
    folder = tmp_path_factory.mktemp("nss")
    run("certutil", "-N", "-d", f"sql:{folder}", "--empty-password")
    out = run("certutil", "-A", "-d", f"sql:{folder}", "-n", "root", "-t", "CT,C,C", "-i", trust)
    assert out.returncode == 0, out.stderr
    return f"sql:{folder}"


def pdfsig_says_valid(path: Path, nss: str) -> bool:
    report = run("pdfsig", "-nssdir", nss, path)
    return "Signature Validation: Signature is Valid." in report.stdout + report.stderr


def cli(env: dict[str, str], *args: str, expect: int = 0):
    result = sohoa(env, *args)
    assert result.returncode == expect, (result.returncode, result.stdout, result.stderr)
    return result


def objects(env: dict[str, str]) -> store.MinioStore:
    return store.connect(load_config(env=env))


def archive_json(env: dict[str, str], key: str) -> dict:
    st = objects(env)
    return json.loads(st.get_bytes(st.archive_bucket, key))


def everything_stored(env: dict[str, str]) -> list[bytes]:
    """Every object in raw and archive, and the ledger's files: where a secret must not be."""
    st = objects(env)
    blobs = [
        st.get_bytes(bucket, key)
        for bucket in (st.raw_bucket, st.archive_bucket)
        for key in st.list_keys(bucket)
    ]
    ledger = load_config(env=env).ledger_path
    blobs += [p.read_bytes() for p in ledger.parent.glob(ledger.name + "*")]
    return blobs


def assert_no_secrets(texts: list[str], blobs: list[bytes]) -> None:
    for secret in SECRETS:
        for text in texts:
            assert secret not in text, text[:500]
        for blob in blobs:
            assert secret.encode() not in blob
            assert secret.encode("utf-16-be") not in blob


def dossier_keys(env: dict[str, str]) -> list[str]:
    st = objects(env)
    # The archive also holds source markers and the audit chain's anchors: not documents.
    return sorted(
        k for k in st.list_keys(st.archive_bucket) if not k.startswith(("sources/", "audit/"))
    )


def versions(env: dict[str, str], key: str) -> int:
    st = objects(env)
    found = st.client.list_objects(st.archive_bucket, prefix=key, include_version=True)
    return sum(1 for o in found if o.object_name == key)


# ------------------------------------------------------------------ signed when archived


def test_archived_copy_is_signed_stays_pdfa_and_sohoa_verify_agrees_with_pdfsig(
    p12_env, tmp_path, nss
) -> None:
    page = small_page(3101, tmp_path / "don.png")
    done = cli(p12_env, "--json", "process", str(page), "--dossier", CODE)
    (row,) = json_lines(done.stdout)
    assert row["status"] == "indexed" and row["signature"] == "PAdES-B-LTA", row

    st = objects(p12_env)
    pdf = tmp_path / "archived.pdf"
    st.download(st.archive_bucket, row["pdf_key"], pdf)
    digest = hashlib.sha256(pdf.read_bytes()).hexdigest()
    meta = archive_json(p12_env, row["metadata_key"])
    sig = meta["signature"]
    assert sig["level"] == "PAdES-B-LTA" and sig["revocation_info"] is True
    assert sig["sha256"] == digest == meta["file"]["sha256"]
    assert meta["file"]["size"] == pdf.stat().st_size
    assert sig["signer"].startswith("CN=Văn phòng Ủy ban nhân dân tỉnh Lào Cai")
    assert sig["issuer"] == "CN=sohoa Test Root CA, O=sohoa test PKI, C=VN"
    assert sig["serial"] and sig["time"].endswith("+07:00") and sig["time_stamp"]
    assert sig["time_stamp_authority"] == p12_env["SOHOA_SIGN_TSA_URL"]
    assert meta["signature_pending"] is None
    info = st.stat(st.archive_bucket, row["pdf_key"])
    assert info.meta["signature-level"] == "PAdES-B-LTA"

    cmd = verapdf_command()
    assert cmd is not None, "veraPDF not found: run scripts/get-verapdf.sh"
    checked = run(*cmd, "--flavour", "2b", "--format", "text", "-v", pdf)
    assert f"PASS {pdf} 2b" in checked.stdout, checked.stdout + checked.stderr

    verified = cli(p12_env, "verify", row["pdf_key"])
    assert verified.stdout.startswith("Hợp lệ / Valid: Chữ ký số hợp lệ của "), verified.stdout
    assert "mức / level: PAdES-B-LTA" in verified.stdout
    (verdict,) = json_lines(cli(p12_env, "--json", "verify", row["pdf_key"]).stdout)
    assert verdict["valid"] and verdict["code"] == "valid" and verdict["metadata"] == "agrees"
    assert verdict["revocation_checked"] and verdict["serial"] == sig["serial"]
    assert pdfsig_says_valid(pdf, nss)

    tampered = tmp_path / "tampered.pdf"
    data = bytearray(pdf.read_bytes())
    data[len(data) // 3] ^= 0x01  # one bit, inside the signed range (the page image)
    tampered.write_bytes(bytes(data))
    refused = cli(p12_env, "--json", "verify", str(tampered), expect=5)
    (verdict,) = json_lines(refused.stdout)
    assert not verdict["valid"] and verdict["code"] in ("modified", "damaged"), verdict
    assert verdict["verdict"].startswith("Không hợp lệ / Invalid")
    assert not pdfsig_says_valid(tampered, nss)

    texts = [r.stdout + r.stderr for r in (done, verified, refused)]
    assert_no_secrets(texts, everything_stored(p12_env))


def test_every_document_of_a_split_stack_is_signed(p12_env, tmp_path) -> None:
    """A stack cut at cover sheets (issue 13): each document it became is signed on its own."""
    from PIL import Image

    from tests.support import stacks

    code_b = "000.00.13.H38-261127-0302"
    pages = [
        stacks.cover_page(CODE, "Đơn"),
        Image.open(small_page(3104, tmp_path / "don.png")),
        stacks.cover_page(code_b, None),
        Image.open(small_page(3105, tmp_path / "giay.png")),
    ]
    pdf = stacks.write_stack(pages, tmp_path / "stack.pdf")
    cli(p12_env, "--json", "process", str(pdf))
    docs = SqliteLedger(load_config(env=p12_env).ledger_path).find_documents()
    assert sorted((d.dossier_code, d.segment) for d in docs) == [(CODE, 1), (code_b, 2)], docs
    st = objects(p12_env)
    for doc in docs:
        assert doc.state == states.INDEXED and doc.signature == "PAdES-B-LTA", doc
        meta = archive_json(p12_env, doc.metadata_key)
        assert meta["split"]["segment"] == doc.segment
        assert meta["signature"]["level"] == "PAdES-B-LTA" and meta["signature_pending"] is None
        pdf_bytes = st.get_bytes(st.archive_bucket, doc.pdf_key)
        assert meta["signature"]["sha256"] == hashlib.sha256(pdf_bytes).hexdigest()
        assert st.stat(st.archive_bucket, doc.pdf_key).meta["signature-level"] == "PAdES-B-LTA"
        (verdict,) = json_lines(cli(p12_env, "--json", "verify", doc.pdf_key).stdout)
        assert verdict["valid"] and verdict["metadata"] == "agrees", verdict


# ------------------------------------------------------------------- sign.required: true


def test_required_signing_fails_at_stage_sign_and_retry_finishes_it_without_ocr(
    p11_env, tmp_path
) -> None:
    env = {**p11_env, "SOHOA_SIGN_REQUIRED": "1"}
    page = small_page(3102, tmp_path / "to-khai.png")
    failed = cli(
        {**env, "SOHOA_SIGN_PKCS11_PIN": WRONG_PIN},
        "--json",
        "process",
        str(page),
        "--dossier",
        CODE,
        expect=1,
    )
    (row,) = json_lines(failed.stdout)
    assert row["status"] == "failed" and "rejected the PIN" in row["error"], row
    assert row["pdf_key"] is None and dossier_keys(env) == []  # nothing archived
    shown = json_lines(cli(env, "--json", "show", row["document_id"]).stdout)[0]
    assert shown["stage"] == "sign" and shown["signature"] is None

    # the PIN fixed; a run that read any page again would be killed at its first OCR
    retried = cli(
        {**env, "SOHOA_SIGN_PKCS11_PIN": PIN, "SOHOA_CRASH_AT": "during_ocr:1"},
        "--json",
        "retry",
        "--failed",
    )
    (row,) = json_lines(retried.stdout)
    assert row["status"] == "indexed" and row["signature"] == "PAdES-B-T", row
    meta = archive_json(env, row["metadata_key"])
    assert meta["signature"]["key_store"] == "pkcs11" and meta["signature"]["level"] == "PAdES-B-T"
    exts = ("json", "pdf", "txt", "words.json")
    assert dossier_keys(env) == [f"{CODE}/{CODE}.1.{ext}" for ext in exts]
    cli({**env, "SOHOA_SIGN_PKCS11_PIN": PIN}, "verify", row["pdf_key"])
    assert_no_secrets([failed.stdout + failed.stderr, retried.stderr], everything_stored(env))


# ------------------------------------------------------------------ sign.required: false


def test_unsigned_when_the_token_is_away_then_sign_pending_signs_in_place(
    p11_env, tmp_path
) -> None:
    away = {**p11_env, "SOHOA_SIGN_PKCS11_TOKEN": "token-at-the-desk", "SOHOA_SIGN_PKCS11_PIN": PIN}
    st = objects(away)
    st.ensure_buckets()
    st.client.set_bucket_versioning(st.archive_bucket, VersioningConfig(ENABLED))
    page = small_page(3103, tmp_path / "giay-to.png")
    done = cli(away, "--json", "process", str(page), "--dossier", CODE)
    (row,) = json_lines(done.stdout)
    assert row["status"] == "indexed" and row["signature"] == "pending", row
    meta = archive_json(away, row["metadata_key"])
    assert meta["signature"] is None
    assert "is the USB token plugged in?" in meta["signature_pending"]["reason"]
    assert "signature-level" not in st.stat(st.archive_bucket, row["pdf_key"]).meta
    (batch,) = json_lines(cli(away, "--json", "batches").stdout)
    assert batch["signatures"] == {"pending": 1}
    unsigned = cli(away, "--json", "verify", row["pdf_key"], expect=6)  # not signed (yet)
    assert json_lines(unsigned.stdout)[0]["code"] == "unsigned"
    marker = f"sources/sha256/{hashlib.sha256(page.read_bytes()).hexdigest()}.json"
    marker_before = st.get_bytes(st.archive_bucket, marker)
    keys_before = dossier_keys(away)
    unsigned_pdf = st.get_bytes(st.archive_bucket, row["pdf_key"])

    # at the end of the day, the token is plugged in
    back = {**away, "SOHOA_SIGN_PKCS11_TOKEN": TOKEN}
    signed = cli(back, "--json", "sign", "--pending")
    (srow,) = json_lines(signed.stdout)
    assert srow["status"] == "signed" and srow["signature"] == "PAdES-B-T", srow
    assert srow["pdf_key"] == row["pdf_key"]
    assert dossier_keys(back) == keys_before  # same keys: no second document, no new ordinal
    assert versions(back, row["pdf_key"]) == 2 and versions(back, row["metadata_key"]) == 2
    assert st.get_bytes(st.archive_bucket, marker) == marker_before
    (ledger_doc,) = SqliteLedger(load_config(env=back).ledger_path).find_documents()
    assert ledger_doc.signature == "PAdES-B-T" and ledger_doc.state == states.INDEXED
    after = archive_json(back, row["metadata_key"])
    assert after["signature_pending"] is None and after["signature"]["level"] == "PAdES-B-T"
    pdf = st.get_bytes(st.archive_bucket, row["pdf_key"])
    assert (
        after["file"]["sha256"] == hashlib.sha256(pdf).hexdigest() == after["signature"]["sha256"]
    )
    assert pdf.startswith(unsigned_pdf)  # the archived bytes, then the signature's update
    assert {
        k: v for k, v in after.items() if k not in ("file", "signature", "signature_pending")
    } == {k: v for k, v in meta.items() if k not in ("file", "signature", "signature_pending")}
    assert st.stat(st.archive_bucket, row["pdf_key"]).meta["signature-level"] == "PAdES-B-T"
    (verdict,) = json_lines(cli(back, "--json", "verify", row["pdf_key"]).stdout)
    assert verdict["valid"] and verdict["metadata"] == "agrees"
    again = cli(back, "--json", "sign", "--pending")
    assert json_lines(again.stdout) == [] and "nothing to sign" in again.stderr
    texts = [r.stdout + r.stderr for r in (done, signed, again)]
    assert_no_secrets(texts, everything_stored(back))


# ----------------------------------------------------- every failure, through the step


def _p12(pki: TestPki, label: str, **extra: object) -> dict[str, object]:
    return {"pkcs12": str(pki.write_pkcs12(label)), **extra}


def _p11(token: str = TOKEN) -> dict[str, object]:
    return {"pkcs11_module": str(SOFTHSM_MODULE), "token": token, "key_label": "plain"}


FAILURES = {
    # mode: (signer settings, PIN in the environment, error class, words of the reason)
    "no-token": (lambda pki: _p11("absent-token"), PIN, SignerUnavailable, "plugged in"),
    "wrong-pin": (lambda pki: _p11(), WRONG_PIN, SignerSetupError, "rejected the PIN"),
    "expired": (lambda pki: _p12(pki, "expired"), None, CertificateNotUsable, "expired"),
    "revoked": (lambda pki: _p12(pki, "revoked"), None, CertificateNotUsable, "revoked"),
    "tsa-unreachable": (
        lambda pki: _p12(pki, "plain", tsa_url=closed_port_url()),
        None,
        SignerUnavailable,
        "time-stamp authority",
    ),
}


def _run_at_sign_step(cfg: Config, signer: SigningProcess, pdf: Path, tmp: Path) -> DocumentRun:
    """A document as the sign step meets it: in ``processing``, its PDF/A assembled."""
    ledger = SqliteLedger(tmp / "ledger.sqlite")
    batch = ledger.create_batch("test", "test", "test")
    doc = ledger.add_document(
        batch,
        actor="test",
        source_name="a.pdf",
        source_path=None,
        sha256=hashlib.sha256(str(tmp).encode()).hexdigest(),
        size=1,
        station="test",
        folder_name=None,
        dossier_hint=None,
    )
    ledger.transition(doc.id, states.STORED_RAW, actor="test")
    # Held by the run below ("owner"), as run_document takes it: a run settles only a
    # document it still holds.
    doc = ledger.transition(doc.id, states.PROCESSING, actor="test", owner="owner")
    services = Services(cfg, ledger, None, None, None, signer)  # type: ignore[arg-type]
    work = tmp / "run"
    work.mkdir()
    run_ = DocumentRun(services, doc, "test", None, work, "owner")
    run_.pdf_path = work / "document.pdf"
    shutil.copyfile(pdf, run_.pdf_path)
    return run_


@pytest.mark.parametrize("mode", list(FAILURES))
def test_every_signer_failure_fails_the_document_or_leaves_it_waiting(
    mode, pki: TestPki, hsm, trust, archived, tmp_path, monkeypatch
) -> None:
    settings, pin, error, words = FAILURES[mode]
    monkeypatch.setenv("SOHOA_SIGN_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("SOHOA_SIGN_PKCS11_PIN", pin or PIN)
    base = load_config(env={"SOHOA_HOME": str(tmp_path / "home")})
    sign_cfg = dataclasses.replace(base.sign, trust=trust, **settings(pki))
    signer = SigningProcess(sign_cfg).start()  # the key opens in a spawned child, as in a run
    try:
        with pytest.raises(error) as raised:
            signer.sign(archived, tmp_path / "direct.pdf")
        assert words in str(raised.value)
        assert not (tmp_path / "direct.pdf").exists()
        for required in (True, False):
            cfg = dataclasses.replace(base, sign=dataclasses.replace(sign_cfg, required=required))
            folder = tmp_path / f"required-{required}"
            folder.mkdir()
            run_ = _run_at_sign_step(cfg, signer, archived, folder)
            settled = sign_step.sign(run_)
            assert run_.signature is None
            assert run_.pdf_path == folder / "run" / "document.pdf"  # the unsigned file
            assert sorted(p.name for p in (folder / "run").iterdir()) == ["document.pdf"]
            if required:
                assert settled is not None and settled.state == states.FAILED
                assert settled.stage == "sign" and words in settled.reason
                text = settled.reason
            else:
                assert settled is None and words in run_.unsigned_reason
                text = run_.unsigned_reason
            assert_no_secrets([text, repr(raised.value)], [])
    finally:
        signer.close()


def test_the_sign_step_sits_between_pdfa_and_archive_and_skips_when_not_configured(
    tmp_path,
) -> None:
    names = [f"{s.__module__.rsplit('.', 1)[-1]}.{s.__name__}" for s in STEPS]
    assert names[names.index("pdfa.assemble") + 1 :][:2] == ["sign.sign", "archive.store"]
    cfg = load_config(env={"SOHOA_HOME": str(tmp_path / "home")})
    run_ = DocumentRun(Services(cfg, None, None, None), None, "t", None, tmp_path, "o")  # type: ignore[arg-type]
    run_.pdf_path = tmp_path / "document.pdf"
    assert sign_step.sign(run_) is None
    assert run_.signature is None and run_.unsigned_reason is None
    assert run_.pdf_path == tmp_path / "document.pdf"


def test_a_signing_process_that_dies_is_replaced(
    pki: TestPki, trust, archived, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("SOHOA_SIGN_PASSPHRASE", PASSPHRASE)
    signer = SigningProcess(SignConfig(pkcs12=pki.write_pkcs12("plain"), trust=trust))
    try:
        first = signer.sign(archived, tmp_path / "1.pdf")
        assert first.level == "B-B" and first.key_store == "pkcs12"
        os.kill(signer.pid, signal.SIGKILL)
        signer._proc.wait(timeout=10)
        second = signer.sign(archived, tmp_path / "2.pdf")  # a new child, the key opened again
        assert second.sha256 == hashlib.sha256((tmp_path / "2.pdf").read_bytes()).hexdigest()
    finally:
        signer.close()
