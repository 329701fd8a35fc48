"""A one-stop system against a real `sohoa serve` and a real worker, on SQLite and PostgreSQL.

Everything as an office deploys it: role keys from `storage setup` (the web key, and the
station key as serve's upload key), on PostgreSQL each machine's own database role from
`database setup`, clients made with `sohoa clients`. The client uploads through the API,
a real worker (`sohoa retry --failed`, which runs the intake) archives what it was sent
with real Tesseract, and the client reads the dossier, the DVCQG view and the PDF back
(its text checked with pdftotext). Hostile files end `rejected` with the reason the
inbox gives the same bytes, or are refused before custody; tokens without the scope,
without a token, revoked, and over the rate are refused; every call is in the audit log
under its client's name.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import SHARED_DATA
from tests.support.cli import json_lines, sohoa
from tests.support.minio import free_port
from tests.support.watch import page_bytes
from tests.support.web import role_env, setup_roles, sohoa_serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RES = SHARED_DATA / "odd-inputs" / "ocrmypdf-tests-resources"
CODE = "000.00.13.H38-261205-0051"
PROCEDURE = "1.004227"


@dataclass
class Office:
    admin: dict[str, str]  # the administrator's: clients, audit (owner's database URL)
    web: dict[str, str]  # sohoa serve: web key, station key for uploads, the web's role
    worker: dict[str, str]  # the worker: worker key, the worker's role
    keys: dict


def _config(folder: Path) -> str:
    conf = folder / "office.yaml"
    conf.write_text("api:\n  rate_per_minute: 20\nminio:\n  retry_seconds: 3\n", encoding="utf-8")
    return str(conf)


@pytest.fixture(params=["sqlite", "postgres"])
def office(request, minio_server, sohoa_env, tmp_path) -> Office:
    keys = setup_roles(minio_server, sohoa_env)
    base = {**sohoa_env, "SOHOA_CONFIG": _config(tmp_path)}
    db: dict[str, dict[str, str]] = {"admin": {}, "web": {}, "worker": {}}
    if request.param == "postgres":
        owner = request.getfixturevalue("postgres_server").new_owned_database()
        done = sohoa({"SOHOA_DATABASE_URL": owner}, "--json", "database", "setup", timeout=120)
        assert done.returncode == 0, done.stderr
        urls = {r["role"]: r["url"] for r in json_lines(done.stdout)}
        db = {
            "admin": {"SOHOA_DATABASE_URL": owner},
            "web": {"SOHOA_DATABASE_URL": urls["web"]},
            "worker": {"SOHOA_DATABASE_URL": urls["worker"]},
        }
    station = keys["station"]
    web = {
        **role_env(base, keys, "web"),
        **db["web"],
        "SOHOA_UPLOAD_ACCESS_KEY": station.access_key,
        "SOHOA_UPLOAD_SECRET_KEY": station.secret_key,
    }
    worker = {**role_env(base, keys, "worker"), **db["worker"]}
    admin = {**role_env(base, keys, "operator"), **db["admin"]}
    return Office(admin, web, worker, keys)


def add_client(office: Office, name: str, scopes: str) -> str:
    done = sohoa(office.admin, "clients", "add", name, "--scope", scopes)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def pdftotext(data: bytes, tmp: Path) -> str:
    path = tmp / f"{hashlib.sha256(data).hexdigest()[:12]}.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True)
    return out.stdout


class Counting(httpx.Client):
    """A client that counts its requests (each must leave one audit row)."""

    calls = 0

    def send(self, request, **kw):  # type: ignore[override]
        self.calls += 1
        return super().send(request, **kw)


def test_a_one_stop_system_uploads_and_reads_back_what_a_worker_archived(office, tmp_path):
    from tests.test_odd_inputs import png_header_only

    tokens = {
        "igate": add_client(office, "igate", "read,submit,events"),
        "reader": add_client(office, "reader", "read"),
        "gone": add_client(office, "gone", "read,submit,events"),
        "hammer": add_client(office, "hammer", "read"),
    }
    assert sohoa(office.admin, "clients", "revoke", "gone").returncode == 0
    skew = (RES / "skew.pdf").read_bytes()
    hostile = {
        "nua.pdf": skew[: len(skew) // 2],  # a truncated PDF
        "invalid.pdf": (RES / "invalid.pdf").read_bytes(),  # "%PDF-1.3 This is not a valid PDF"
        "bom.png": png_header_only(100_000, 100_000),  # an image bomb
    }
    paper, result = page_bytes(51), page_bytes(52)
    with sohoa_serve(office.web) as served:
        url = served.url
        igate = Counting(base_url=url, headers={"Authorization": f"Bearer {tokens['igate']}"},
                         timeout=60)  # fmt: skip

        def upload(data: bytes, name: str, media: str, key: str | None = None, **params):
            headers = {"Content-Type": media, **({"Idempotency-Key": key} if key else {})}
            return igate.post(
                f"/api/v1/dossiers/{CODE}/documents",
                content=data,
                headers=headers,
                params={"name": name, **params},
            )

        first = upload(paper, "don-de-nghi.png", "image/png", "hs51-tp01",
                       component="TP01", kind="submitted", procedure=PROCEDURE)  # fmt: skip
        again = upload(paper, "don-de-nghi.png", "image/png", "hs51-tp01",
                       component="TP01", kind="submitted", procedure=PROCEDURE)  # fmt: skip
        issued = upload(result, "giay-phep.png", "image/png", "hs51-kq01",
                        component="KQ01", kind="result", procedure=PROCEDURE)  # fmt: skip
        assert first.status_code == again.status_code == issued.status_code == 202, first.text
        assert again.json()["document_id"] == first.json()["document_id"]
        bad = {n: upload(data, n, "application/pdf" if n.endswith("pdf") else "image/png")
               for n, data in hostile.items()}  # fmt: skip
        assert all(r.status_code == 202 for r in bad.values()), {n: r.text for n, r in bad.items()}
        text = upload("đây là văn bản, không phải ảnh\n".encode(), "van-ban.pdf", "application/pdf")
        assert text.status_code == 415
        assert "not a PDF, TIFF, JPEG or PNG file" in text.json()["detail"]

        # Who may not.
        denied = {
            "reader": httpx.post(
                f"{url}/api/v1/dossiers/{CODE}/documents",
                content=paper,
                headers={"Authorization": f"Bearer {tokens['reader']}",
                         "Content-Type": "image/png"},
            ).status_code,
            "nobody": httpx.get(f"{url}/api/v1/dossiers/{CODE}").status_code,
            "gone": httpx.get(f"{url}/api/v1/dossiers/{CODE}",
                              headers={"Authorization": f"Bearer {tokens['gone']}"}).status_code,
        }  # fmt: skip
        assert denied == {"reader": 403, "nobody": 401, "gone": 401}

        # A real worker takes the custody records in and runs them.
        done = sohoa(office.worker, "--json", "retry", "--failed", timeout=900)
        assert done.returncode in (0, 3), done.stderr  # 3: some input was rejected
        ran = {r["document_id"]: r for r in json_lines(done.stdout)}
        doc_id, result_id = first.json()["document_id"], issued.json()["document_id"]
        assert ran[doc_id]["status"] == "indexed", ran
        assert ran[result_id]["status"] == "indexed", ran

        dossier = igate.get(f"/api/v1/dossiers/{CODE}").json()
        docs = {d["id"]: d for d in dossier["documents"]}
        paper_doc = docs[doc_id]
        assert {docs[doc_id]["ordinal"], docs[result_id]["ordinal"]} == {1, 2}
        assert paper_doc["state"] == "indexed" and paper_doc["received_from"] == "igate"
        assert paper_doc["sha256"] == hashlib.sha256(paper).hexdigest()
        assert (paper_doc["kind"], paper_doc["component_code"]) == ("submitted", "TP01")
        assert (docs[result_id]["kind"], docs[result_id]["component_code"]) == ("result", "KQ01")
        assert dossier["procedure_code"] == PROCEDURE
        pdf = igate.get(paper_doc["links"]["pdf"].removeprefix(url))
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert "Đơn đề nghị" in pdftotext(pdf.content, tmp_path)
        portal = igate.get(f"/api/v1/dossiers/{CODE}/dvcqg").json()
        assert [e["TepDinhKemId"] for e in portal["TaiLieuNop"]] == [doc_id]
        assert [e["GiayToId"] for e in portal["DanhSachGiayToKetQua"]] == [result_id]
        assert portal["MaTTHC"] == PROCEDURE
        assert portal["TaiLieuNop"][0]["DuongDanTaiTepTin"] == paper_doc["links"]["pdf"]

        # Hostile files: rejected, with the reason the inbox gives the same bytes.
        api_reasons = {}
        for name, resp in bad.items():
            doc = igate.get(f"/api/v1/documents/{resp.json()['document_id']}").json()
            assert doc["state"] == "rejected", (name, doc)
            api_reasons[name] = doc["reason"]

        # Over the rate (20 a minute here): the 21st call at once is refused.
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['hammer']}"},
                          timeout=60) as hammer:  # fmt: skip
            answers = [hammer.get(f"/api/v1/dossiers/{CODE}") for _ in range(21)]
        assert [a.status_code for a in answers[:20]] == [200] * 20
        assert answers[20].status_code == 429 and int(answers[20].headers["retry-after"]) >= 1
        igate_calls = igate.calls
        igate.close()

    inbox = tmp_path / "inbox-drop"
    inbox.mkdir()
    for name, data in hostile.items():
        (inbox / name).write_bytes(data)
    processed = sohoa(office.worker, "--json", "process", *sorted(map(str, inbox.iterdir())))
    inbox_reasons = {Path(r["source"]).name: r["error"] for r in json_lines(processed.stdout)}
    assert api_reasons == inbox_reasons

    # Every call is in the audit log under its client's name.
    def audit(*args: str) -> list[dict]:
        shown = sohoa(office.admin, "--json", "audit", *args)
        assert shown.returncode == 0, shown.stderr
        return json_lines(shown.stdout)

    igate_rows = audit("--user", "client:igate")
    assert len(igate_rows) == igate_calls
    assert sum(r["action"] == "upload" for r in igate_rows) == 7
    assert {r["action"] for r in igate_rows} >= {"upload", "dossier_view", "pdf_open",
                                                  "document_view"}  # fmt: skip
    assert all(r["client"] == "127.0.0.1" for r in igate_rows)
    reasons = {
        who: [r["details"]["reason"] for r in audit("--user", who, "--action", "denied")]
        for who in ("client:reader", "client:?", "client:gone", "client:hammer")
    }
    assert reasons == {
        "client:reader": ["needs scope submit"],
        "client:?": ["no bearer token"],
        "client:gone": ["revoked token"],
        "client:hammer": ["rate limit"],
    }


def test_serve_holds_the_upload_key_only_if_it_is_no_stronger_than_a_stations(
    minio_server, sohoa_env
):
    keys = setup_roles(minio_server, sohoa_env)

    def serve_with(role: str) -> subprocess.CompletedProcess:
        key = keys[role]
        env = {
            **role_env(sohoa_env, keys, "web"),
            "SOHOA_UPLOAD_ACCESS_KEY": key.access_key,
            "SOHOA_UPLOAD_SECRET_KEY": key.secret_key,
        }
        return sohoa(env, "serve", "--port", str(free_port()), timeout=60)

    worker = serve_with("worker")
    assert worker.returncode == 5
    assert "refuses the upload key" in worker.stderr and "list" in worker.stderr
    for role in ("operator", "web"):  # they read, and cannot put into raw
        refused = serve_with(role)
        assert refused.returncode == 5 and "may not put originals" in refused.stderr
    env = {
        **role_env(sohoa_env, keys, "web"),
        "SOHOA_UPLOAD_ACCESS_KEY": keys["station"].access_key,
        "SOHOA_UPLOAD_SECRET_KEY": keys["station"].secret_key,
    }
    with sohoa_serve(env) as served:
        assert httpx.get(f"{served.url}/api/v1/openapi.json").status_code == 200
