"""A real document through the pipeline, announced to a one-stop system (issue 21, build 4).

`sohoa process` reads a page with Tesseract, archives it in MinIO and signs it with the
test PKI's agency key (PKCS#12, a time-stamp from the test TSA); `sohoa events deliver
--once` POSTs its events to the reference receiver (tests/support/onestop.py), which
checks each signature. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.storage.objects import connect
from tests.support.backends import BACKENDS, backend_env
from tests.support.cli import json_lines, sohoa
from tests.support.files import small_page
from tests.support.onestop import Receiver
from tests.support.pki import PASSPHRASE, TestPki, closed_port_url

pytestmark = pytest.mark.integration
SECRET = "the-one-stop-system's-webhook-key"
CODE = "000.00.13.H38-261127-0501"


@pytest.fixture
def receiver():
    r = Receiver(SECRET).up()
    yield r
    r.down()


def _env(sohoa_env, tmp_path: Path, pki: TestPki, trust: Path, receiver: Receiver, **over):
    conf = tmp_path / "one-worker.yaml"
    conf.write_text("ocr:\n  workers: 1\n", encoding="utf-8")
    return {
        **sohoa_env,
        "SOHOA_CONFIG": str(conf),
        "SOHOA_SIGN_PKCS12": str(pki.write_pkcs12("agency")),
        "SOHOA_SIGN_PASSPHRASE": PASSPHRASE,
        "SOHOA_SIGN_TSA_URL": f"{pki.url}/tsa",
        "SOHOA_SIGN_TRUST": str(trust),
        "SOHOA_WEBHOOK_URL": receiver.url,
        "SOHOA_WEBHOOK_SECRET": SECRET,
        **over,
    }


def _cli(env: dict[str, str], *args: str) -> list[dict]:
    run = sohoa(env, "--json", *args)
    assert run.returncode == 0, (args, run.stdout, run.stderr[-3000:])
    return json_lines(run.stdout)


def _archived(env: dict[str, str], key: str) -> bytes:
    objects = connect(load_config(env=env))
    return objects.get_bytes(objects.archive_bucket, key)


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_document_archived_and_signed_is_announced_once(
    kind, sohoa_env, tmp_path, pki, trust, receiver, request
):
    env = {**_env(sohoa_env, tmp_path, pki, trust, receiver), **backend_env(kind, request)}
    page = small_page(2101, tmp_path / "don-de-nghi.png")
    (row,) = _cli(env, "process", str(page), "--dossier", CODE)
    assert row["status"] == "indexed" and row["signature"].startswith("PAdES-B-"), row
    (sent,) = _cli(env, "events", "deliver", "--once")
    assert (sent["delivered"], sent["failed"], sent["dead"]) == (2, 0, 0)
    archived, signed = receiver.accepted
    assert (archived["type"], signed["type"]) == ("document.archived", "document.signed")
    assert archived["id"] < signed["id"]
    for event in (archived, signed):
        assert event["document_id"] == row["document_id"] and event["dossier_code"] == CODE
        data = event["data"]
        assert data["state"] == "archived" and data["signature_level"] == row["signature"]
        assert data["sha256"] == hashlib.sha256(page.read_bytes()).hexdigest()
        pdf = _archived(env, row["pdf_key"])
        assert data["pdf_sha256"] == hashlib.sha256(pdf).hexdigest()  # the signed copy
        assert data["links"]["pdf"] == f"/api/v1/documents/{row['document_id']}/pdf"
    assert receiver.verdicts() == {"accepted": 2}  # each with a valid signature, once
    # never the page's text, nor the file's name
    words = {w for w in _archived(env, row["text_key"]).decode().split() if len(w) > 3}
    assert words
    bodies = b" ".join(r.body for r in receiver.requests).decode()
    assert not [w for w in words if w in bodies] and "don-de-nghi" not in bodies
    # announced once: a second round has nothing to send
    (again,) = _cli(env, "events", "deliver", "--once")
    assert again["delivered"] == 0 and len(receiver.requests) == 2
    assert _cli(env, "events", "list") == []


def test_a_copy_signed_later_is_announced_when_it_is_signed(
    sohoa_env, tmp_path, pki, trust, receiver
):
    """Archived unsigned (the time-stamp authority unreachable, ``sign.required`` off):
    ``document.archived`` says so; ``sohoa sign --pending`` then signs it and
    ``document.signed`` carries the signed copy's new SHA-256."""
    env = _env(sohoa_env, tmp_path, pki, trust, receiver, SOHOA_SIGN_TSA_URL=closed_port_url())
    page = small_page(2102, tmp_path / "giay-to.png")
    (row,) = _cli(env, "process", str(page), "--dossier", CODE)
    assert row["signature"] == "pending", row
    _cli(env, "events", "deliver", "--once")
    (archived,) = receiver.accepted
    assert archived["type"] == "document.archived"
    assert archived["data"]["signature_level"] == "pending"
    unsigned = archived["data"]["pdf_sha256"]
    assert unsigned == hashlib.sha256(_archived(env, row["pdf_key"])).hexdigest()

    back = {**env, "SOHOA_SIGN_TSA_URL": f"{pki.url}/tsa"}
    (done,) = _cli(back, "sign", "--pending")
    assert done["status"] == "signed"
    _cli(back, "events", "deliver", "--once")
    archived, signed = receiver.accepted
    assert signed["type"] == "document.signed" and signed["id"] > archived["id"]
    assert signed["data"]["signature_level"] == done["signature"]
    pdf = _archived(back, row["pdf_key"])
    assert signed["data"]["pdf_sha256"] == hashlib.sha256(pdf).hexdigest() != unsigned
    meta = json.loads(_archived(back, row["metadata_key"]))
    assert meta["file"]["sha256"] == signed["data"]["pdf_sha256"]
