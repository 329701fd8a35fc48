"""``/api/v1`` as a system meets it: role keys, an archive of two dossiers, clients, calls.

:func:`build_api_world` makes, on the session's MinIO (and PostgreSQL when asked), what
the API reads: archived copies with their ledger rows and index entries, one dossier
with a submitted paper and a result (their place in the dossier in the metadata, as
the pipeline writes it), and clients with each set of scopes, one of them revoked. The
web process's configuration holds the web key and, for uploads, the station key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import httpx

from pipeline.access.clients import ClientStore
from pipeline.access.stores import access_backend
from pipeline.archive import reindex as reindex_mod
from pipeline.config import Config, load_config
from pipeline.storage.index import open_index
from pipeline.storage.ledger import open_ledger
from pipeline.storage.objects import connect
from pipeline.storage.roles import RoleKeys
from tests.support.minio import MinioServer
from tests.support.web import _ledger_doc, role_env, setup_roles

CODE = "000.00.13.H38-261203-0001"  # a submitted paper and a result
OTHER = "000.00.13.H38-261203-0002"  # one paper
PROCEDURE = "1.004227"
CLIENT_SCOPES = {
    "igate": "read,submit,events",
    "reader": "read",
    "feeder": "events",
    "gone": "read,submit,events",  # revoked
}
SIGNED = {
    "signer": "UBND huyện Bảo Thắng",
    "time": "2026-12-03T09:30:00+07:00",
    "level": "PAdES-B-T",
}


@dataclass
class ApiWorld:
    env: dict[str, str]  # the web process's environment (web key, upload key, database)
    web: Config
    worker: Config
    keys: dict[str, RoleKeys]
    tokens: dict[str, str]
    docs: dict[str, str]  # what → ledger document id
    pdfs: dict[str, bytes]  # ledger document id → its archived PDF

    def client(self, base_url: str, name: str | None = "igate", **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[name]}"} if name else {}
        return httpx.Client(base_url=base_url, headers=headers, timeout=60, **kw)


def small_pdf(pages: int, label: str) -> bytes:
    from tests.test_search_minio import small_pdf as make

    return make(pages) + f"\n% {label}\n".encode()  # distinct bytes per document


def _archive(store, code: str, n: int, doc_id: str, pdf: bytes, texts: list[str], **extra) -> dict:
    meta = {
        "dossier_code": code,
        "doc_id": f"{code}.{n}",
        "doc_ordinal": n,
        "type_name": extra.pop("type_name", None),
        "code_number": extra.pop("code_number", None),
        "code_notation": extra.pop("code_notation", None),
        "issued_date": None,
        "organ_name": extra.pop("organ_name", None),
        "subject": None,
        "language": "vi",
        "number_of_page": len(texts),
        "scan": {"dpi": 300, "station": "motcua-01", "digitized_at": "2026-12-03T09:00:00+00:00"},
        "file": {
            "key": f"{code}/{code}.{n}.pdf",
            "sha256": hashlib.sha256(pdf).hexdigest(),
            "size": len(pdf),
        },
        "sohoa": {"document_id": doc_id, "version": "0.1.0"},
        "signature": extra.pop("signature", None),
        **extra,
    }
    base = f"{code}/{code}.{n}"
    bucket = store.archive_bucket
    store.put_bytes(bucket, f"{base}.pdf", pdf, content_type="application/pdf")
    body = json.dumps(meta, ensure_ascii=False).encode("utf-8")
    store.put_bytes(bucket, f"{base}.json", body, content_type="application/json")
    text = "\f".join(texts).encode("utf-8")
    store.put_bytes(bucket, f"{base}.txt", text, content_type="text/plain; charset=utf-8")
    return meta


def build_api_world(
    server: MinioServer, sohoa_env: dict[str, str], db_env: dict[str, str], **api: Any
) -> ApiWorld:
    """The archive, ledger, index and clients; ``api`` overrides settings of ``api.*``."""
    keys = setup_roles(server, sohoa_env)
    base_env = {**sohoa_env, **db_env}
    over = {"api": api} if api else None
    worker = load_config(env=role_env(base_env, keys, "worker"), overrides=over)
    store = connect(worker)
    ledger = open_ledger(worker)
    batch = ledger.create_batch("motcua-01", "motcua-01/ho-so", "watcher")
    plan = [
        # what, code, n, texts, metadata
        ("paper", CODE, 1, ["ĐƠN ĐỀ NGHỊ CẤP GIẤY PHÉP XÂY DỰNG", "Chủ đầu tư: Phạm Văn Anh"],
         {"type_name": "Đơn đề nghị", "component_code": "TP01", "kind": "submitted",
          "procedure_code": PROCEDURE}),
        ("result", CODE, 2, ["GIẤY PHÉP XÂY DỰNG số 263/GPXD"],
         {"type_name": "Giấy phép xây dựng", "code_number": 263, "code_notation": "GPXD",
          "component_code": "KQ01", "kind": "result", "procedure_code": PROCEDURE,
          "signature": SIGNED}),
        ("other", OTHER, 1, ["Giấy xác nhận cư trú"], {"type_name": "Giấy xác nhận"}),
    ]  # fmt: skip
    docs: dict[str, str] = {}
    pdfs: dict[str, bytes] = {}
    for what, code, n, texts, meta in plan:
        pdf = small_pdf(len(texts), what)
        base = f"{code}/{code}.{n}"
        doc_id = _ledger_doc(
            ledger,
            batch,
            f"{what}.pdf",
            hashlib.sha256(what.encode()).hexdigest(),
            "indexed",
            dossier_code=code,
            ordinal=n,
            pages=len(texts),
            pdf_key=f"{base}.pdf",
            metadata_key=f"{base}.json",
            text_key=f"{base}.txt",
            signature=(meta.get("signature") or {}).get("level"),
        )
        _archive(store, code, n, doc_id, pdf, texts, **meta)
        docs[what], pdfs[doc_id] = doc_id, pdf
    ledger.close()
    index = open_index(worker)
    try:
        reindex_mod.reindex(store, index)
    finally:
        index.close()
    clients = ClientStore(access_backend(worker))
    tokens = {name: clients.add(name, scopes).token for name, scopes in CLIENT_SCOPES.items()}
    clients.revoke("gone")
    station = keys["station"]
    assert station.secret_key
    env = {
        **role_env(base_env, keys, "web"),
        "SOHOA_UPLOAD_ACCESS_KEY": station.access_key,
        "SOHOA_UPLOAD_SECRET_KEY": station.secret_key,
    }
    web = load_config(env=env, overrides=over)
    return ApiWorld(env, web, worker, keys, tokens, docs, pdfs)


def fake_feed(events: list[dict[str, Any]]):
    """The outbox's feed as the contract describes it, over a fixed list (until the merge)."""

    def feed(ledger: Any, after: int, limit: int) -> dict[str, Any]:
        page = [e for e in events if e["id"] > after][:limit]
        return {"events": page, "next": page[-1]["id"] if page else after}

    return feed


def sample_events(doc_id: str) -> list[dict[str, Any]]:
    """Two events of ``doc_id`` with relative links, as the pipeline side writes them."""
    return [
        {
            "id": n,
            "type": kind,
            "occurred_at": f"2026-12-03T09:3{n}:00+07:00",
            "dossier_code": CODE,
            "document_id": doc_id,
            "data": {
                "state": "indexed",
                "kind": "result",
                "component_code": "KQ01",
                "links": {"pdf": f"/api/v1/documents/{doc_id}/pdf"},
            },
        }
        for n, kind in ((1, "document.archived"), (2, "document.signed"))
    ]
