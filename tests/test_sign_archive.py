"""Signed copies after archiving (issue 23): renewed before their time-stamps expire, signed
when they were archived before signing was configured, and held to the signature their
metadata records wherever a signature is shown.

All real: a MinIO archive bucket under Object Lock (governance, as ``storage setup``
makes it), the test PKI whose time-stamp authority rotates its certificate, the CLI in
subprocesses, EU DSS on the renewed copy.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from minio.objectlockconfig import GOVERNANCE, YEARS, ObjectLockConfig

from pipeline.config import load_config
from pipeline.sign import sign_pdf
from pipeline.storage.ledger import SqliteLedger
from tests.support.cli import json_lines
from tests.support.files import small_page
from tests.support.pki import PASSPHRASE, TestPki
from tests.test_sign_flow import archive_json, cli, objects, versions, with_one_worker
from workers.web.signature import SignatureChecker

pytestmark = pytest.mark.integration
CODE = "000.00.13.H38-261208-0501"


def locked_archive(env: dict[str, str]) -> None:
    """The archive bucket as ``sohoa storage setup`` makes it: versioned, under Object Lock."""
    st = objects(env)
    st.client.make_bucket(st.archive_bucket, object_lock=True)
    st.client.set_object_lock_config(st.archive_bucket, ObjectLockConfig(GOVERNANCE, 1, YEARS))
    st.ensure_buckets()


def signing_env(env: dict[str, str], pki: TestPki, trust: Path) -> dict[str, str]:
    return {
        **env,
        "SOHOA_SIGN_PKCS12": str(pki.write_pkcs12("agency")),
        "SOHOA_SIGN_PASSPHRASE": PASSPHRASE,
        "SOHOA_SIGN_TSA_URL": f"{pki.url}/tsa",
        "SOHOA_SIGN_TRUST": str(trust),
    }


def object_versions(env: dict[str, str], key: str) -> list:
    st = objects(env)
    found = st.client.list_objects(st.archive_bucket, prefix=key, include_version=True)
    return sorted((o for o in found if o.object_name == key), key=lambda o: o.last_modified)


def version_bytes(env: dict[str, str], key: str, version_id: str) -> bytes:
    st = objects(env)
    response = st.client.get_object(st.archive_bucket, key, version_id=version_id)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


# ------------------------------------------------------------------------- sign --extend


@pytest.fixture
def rotating_tsa(pki: TestPki):
    """A TSA whose certificate ends in 20 days; the test rotates it to a ten-year one."""
    pki.issue("tsa-old", "sohoa Test TSA 2026", "sohoa test PKI", tsa=True, days=(-300, 20))
    pki.issue("tsa-new", "sohoa Test TSA 2027", "sohoa test PKI", tsa=True, days=(-1, 3650))
    pki.tsa_label = "tsa-old"
    try:
        yield pki
    finally:
        pki.tsa_label = "tsa"


def test_sign_extend_renews_a_copy_before_its_time_stamp_expires(
    sohoa_env, tmp_path, rotating_tsa, trust, dss
) -> None:
    pki = rotating_tsa
    env = signing_env(with_one_worker(sohoa_env, tmp_path), pki, trust)
    locked_archive(env)
    page = small_page(5101, tmp_path / "giay.png")
    (row,) = json_lines(cli(env, "--json", "process", str(page), "--dossier", CODE).stdout)
    assert row["signature"] == "PAdES-B-LTA", row
    key, meta_key = row["pdf_key"], row["metadata_key"]
    before = archive_json(env, meta_key)
    old_expiry = datetime.fromisoformat(before["signature"]["renew_before"])
    assert timedelta(days=19) < old_expiry - datetime.now(UTC) <= timedelta(days=20)
    (first,) = object_versions(env, key)
    original = version_bytes(env, key, first.version_id)

    # due (20 days < 90), but the authority still signs with the same certificate: no gain
    stuck = cli(env, "--json", "sign", "--extend", expect=1)
    (line,) = json_lines(stuck.stdout)
    assert line["status"] == "failed" and "gain nothing" in line["error"], line
    assert versions(env, key) == 1

    pki.tsa_label = "tsa-new"  # the authority rotated its certificate
    renewed = cli(env, "--json", "sign", "--extend", "--margin", "30")
    (line,) = json_lines(renewed.stdout)
    assert line["status"] == "extended" and line["signature"] == "PAdES-B-LTA", line
    assert line["previous_renew_before"] == before["signature"]["renew_before"]
    assert datetime.fromisoformat(line["renew_before"]) - datetime.now(UTC) > timedelta(days=3000)

    # a new version under the same key and the same lock; the earlier one byte for byte
    old, new = object_versions(env, key)
    assert old.version_id == first.version_id
    assert version_bytes(env, key, old.version_id) == original
    st = objects(env)
    for version in (old, new):
        retention = st.client.get_object_retention(st.archive_bucket, key, version.version_id)
        assert retention is not None and retention.mode == GOVERNANCE
    data = version_bytes(env, key, new.version_id)
    assert data.startswith(original) and len(data) > len(original)

    after = archive_json(env, meta_key)
    assert (
        after["file"]["sha256"] == hashlib.sha256(data).hexdigest() == after["signature"]["sha256"]
    )
    assert after["file"]["size"] == len(data)
    sig = after["signature"]
    assert sig["level"] == "PAdES-B-LTA" and sig["renew_before"] == line["renew_before"]
    assert sig["value_sha256"] == before["signature"]["value_sha256"]  # the same signature
    assert sig["serial"] == before["signature"]["serial"]
    assert len(sig["extended"]) == 1
    untouched = ("file", "signature")
    assert {k: v for k, v in after.items() if k not in untouched} == {
        k: v for k, v in before.items() if k not in untouched
    }
    (doc,) = SqliteLedger(load_config(env=env).ledger_path).find_documents()
    assert doc.signature == "PAdES-B-LTA" and "renewed" in doc.reason

    (verdict,) = json_lines(cli(env, "--json", "verify", key).stdout)
    assert verdict["valid"] and verdict["level"] == "B-LTA" and verdict["metadata"] == "agrees"
    renewed_file = tmp_path / "renewed.pdf"
    renewed_file.write_bytes(data)
    report = dss.offline.one(renewed_file)
    assert report.only.level == "B-LTA" and report.only.indication == "TOTAL_PASSED", report
    documents = [t for t in report.timestamps if t["type"] == "DOCUMENT_TIMESTAMP"]
    assert len(documents) == 2 and all(t["indication"] == "PASSED" for t in documents), report

    # safe to run again: nothing is due any more
    again = cli(env, "--json", "sign", "--extend", "--margin", "30")
    (line,) = json_lines(again.stdout)
    assert line["status"] == "not-due", line
    assert versions(env, key) == 2


def test_sign_extend_needs_a_time_stamp_authority(sohoa_env) -> None:
    result = cli(sohoa_env, "sign", "--extend", expect=2)
    assert "SOHOA_SIGN_TSA_URL" in result.stderr
    bad = cli(sohoa_env, "sign", "--pending", "--margin", "3", expect=2)
    assert "--margin goes with --extend" in bad.stderr


# ------------------------------------------------- archived before signing was configured


def test_unsigned_copies_are_not_signed_then_signed_then_a_stripped_copy_is_invalid(
    sohoa_env, tmp_path, pki: TestPki, trust, p12_signer
) -> None:
    plain_env = with_one_worker(sohoa_env, tmp_path)
    locked_archive(plain_env)
    page = small_page(5102, tmp_path / "to-khai.png")
    (row,) = json_lines(cli(plain_env, "--json", "process", str(page), "--dossier", CODE).stdout)
    assert row["status"] == "indexed" and row["signature"] is None, row
    key, meta_key = row["pdf_key"], row["metadata_key"]

    # not signed is not invalid: its own words, its own exit code, no library warnings
    unsigned = cli(plain_env, "verify", key, expect=6)
    assert unsigned.stdout.startswith("Chưa ký số / Not signed: Tài liệu chưa được ký số")
    assert "Warning" not in unsigned.stderr and "deprecated" not in unsigned.stderr
    assert unsigned.stderr == "", unsigned.stderr

    env = signing_env(plain_env, pki, trust)
    nothing = cli(env, "--json", "sign", "--pending")
    assert json_lines(nothing.stdout) == [] and "--include-unsigned" in nothing.stderr
    signed = cli(env, "--json", "sign", "--pending", "--include-unsigned")
    (line,) = json_lines(signed.stdout)
    assert line["status"] == "signed" and line["signature"] == "PAdES-B-LTA", line
    assert versions(env, key) == 2
    meta = archive_json(env, meta_key)
    assert meta["signature"]["level"] == "PAdES-B-LTA" and meta["signature_pending"] is None
    (verdict,) = json_lines(cli(env, "--json", "verify", key).stdout)
    assert verdict["valid"], verdict
    assert json_lines(cli(env, "--json", "sign", "--pending", "--include-unsigned").stdout) == []

    st = objects(env)
    unsigned_pdf, signed_pdf = (
        version_bytes(env, key, v.version_id) for v in object_versions(env, key)
    )
    assert signed_pdf.startswith(unsigned_pdf)
    checker = SignatureChecker(load_config(env=env), lambda: st)
    assert checker.badge(key).state == "valid"

    # the copy cut back to its unsigned revision: invalid everywhere, with the reason
    stripped = tmp_path / "stripped.pdf"
    stripped.write_bytes(unsigned_pdf)
    st.put_file(st.archive_bucket, key, stripped, hashlib.sha256(unsigned_pdf).hexdigest())
    refused = cli(env, "--json", "verify", key, expect=5)
    (verdict,) = json_lines(refused.stdout)
    assert verdict["code"] == "stripped" and not verdict["valid"], verdict
    assert "the signature was removed" in verdict["reason_en"]
    assert verdict["verdict"].startswith("Không hợp lệ / Invalid: Siêu dữ liệu ghi nhận")
    (shown,) = json_lines(cli(env, "--json", "show", row["document_id"]).stdout)
    assert shown["signature_check"]["state"] == "invalid", shown["signature_check"]
    assert shown["signature_check"]["code"] == "stripped"
    text = cli(env, "show", row["document_id"]).stdout
    assert "signature_check\tKhông hợp lệ / Invalid" in text  # piped: key<TAB>value
    badge = checker.badge(key)
    assert badge.state == "invalid" and badge.label == "Chữ ký số không hợp lệ", badge
    assert "gỡ bỏ" in badge.verdict

    # another valid signature swapped in (a signature of the same agency, not the recorded one)
    other = tmp_path / "other.pdf"
    sign_pdf(p12_signer, stripped, other)
    st.put_file(st.archive_bucket, key, other, hashlib.sha256(other.read_bytes()).hexdigest())
    (verdict,) = json_lines(cli(env, "--json", "verify", key, expect=5).stdout)
    assert verdict["code"] == "other-signature", verdict
    assert checker.badge(key).state == "invalid"


def test_a_local_unsigned_file_is_not_signed(archived: Path, trust: Path, tmp_path) -> None:
    env = {"SOHOA_HOME": str(tmp_path), "SOHOA_SIGN_TRUST": str(trust)}
    result = cli(env, "verify", str(archived), expect=6)
    assert result.stdout.startswith("Chưa ký số / Not signed")
    assert result.stderr == ""
