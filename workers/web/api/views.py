"""The JSON of ``/api/v1``: a document, a dossier, and the national portal's shape of it.

A document's place in its dossier (component, kind, procedure) is the ledger's (an
operator may have changed it), else its archived metadata's, else what its upload said.
The DVCQG view gives each archived copy as the national portal's dossier sync
(``DongBoHoSoMC``) lists files: submitted papers in ``TaiLieuNop``, results in
``DanhSachGiayToKetQua``, each with a link to its PDF through this API, which a
one-stop system forwards as it is. A document whose kind nobody gave is a submitted
paper (what a one-stop counter scans); a duplicate is listed when the copy it shares
is not listed already (the same paper handed in for two dossiers).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from pipeline.storage.ledger.states import ATTENTION_STATES, DUPLICATE, STORED_RAW
from workers.web.api.catalog import Entry
from workers.web.api.links import document_links

FIELDS = (
    "type_name",
    "code_number",
    "code_notation",
    "issued_date",
    "organ_name",
    "subject",
    "governing_body",
    "place",
    "signer_name",
    "signer_position",
)
PLACE = ("component_code", "kind", "procedure_code")
_UPLOAD_PLACE = {"component_code": "component", "kind": "kind", "procedure_code": "procedure"}


def _meta(entry: Entry) -> dict[str, Any]:
    return entry.indexed.meta if entry.indexed else {}


def place(entry: Entry) -> dict[str, str | None]:
    """component_code, kind, procedure_code: the ledger's, the metadata's, the upload's."""
    meta = _meta(entry)
    out: dict[str, str | None] = {}
    for name in PLACE:
        value = getattr(entry.doc, name, None) if entry.doc else None
        if value is None:
            value = meta.get(name) if isinstance(meta.get(name), str) else None
        if value is None and entry.upload:
            value = entry.upload.request.get(_UPLOAD_PLACE[name])
        out[name] = value
    return out


def _fields(meta: dict[str, Any]) -> dict[str, Any]:
    fields = {name: meta.get(name) for name in FIELDS}
    number, notation = fields["code_number"], fields["code_notation"]
    if number is not None and notation:
        fields["number"] = f"{number}/{notation}"
    else:
        fields["number"] = notation or (None if number is None else str(number))
    return fields


def _signature(entry: Entry) -> dict[str, Any] | None:
    recorded = _meta(entry).get("signature")
    recorded = recorded if isinstance(recorded, dict) else {}
    level = (entry.doc.signature if entry.doc else None) or recorded.get("level")
    if not level:
        return None
    return {"level": level, "signer": recorded.get("signer"), "time": recorded.get("time")}


def _name(entry: Entry) -> str | None:
    if entry.doc is not None:
        return entry.doc.source_name
    if entry.upload is not None:
        return entry.upload.request.get("name")
    return None


def document_json(entry: Entry, base: str) -> dict[str, Any]:
    """One document: where it is in its dossier, its state, fields, hashes and links."""
    doc, upload, copy = entry.doc, entry.upload, entry.indexed
    meta = _meta(entry)
    file = meta.get("file") if isinstance(meta.get("file"), dict) else {}
    if doc is not None:
        state, reason = doc.state, doc.reason if doc.state in ATTENTION_STATES else None
        dossier = doc.dossier_code or (upload.dossier_code if upload else None)
        ordinal, pages, sha256, size = doc.ordinal, doc.pages, doc.sha256, doc.size
        created, updated = doc.created_at, doc.updated_at
    else:  # handed over, not yet taken in by a worker
        assert upload is not None
        state, reason, dossier = STORED_RAW, "in custody; waiting for a worker", upload.dossier_code
        ordinal, pages, sha256 = None, None, upload.sha256
        size = upload.request.get("size")
        created = updated = upload.handed_over_at or upload.created_at
    if copy is not None:
        ordinal = ordinal if ordinal is not None else copy.doc_ordinal
        pages = pages if pages is not None else copy.pages
    if doc is not None:
        links = document_links(base, doc)
    else:  # nothing archived yet: only the document itself
        links = {k: None for k in document_links(base, entry.doc_id)}
        links["self"] = document_links(base, entry.doc_id)["self"]
    return {
        "id": entry.doc_id,
        "dossier_code": dossier,
        "ordinal": ordinal,
        "state": state,
        "reason": reason,
        **place(entry),
        "name": _name(entry),
        "fields": _fields(meta),
        "pages": pages,
        "sha256": sha256,
        "size": size,
        "pdf_sha256": getattr(doc, "pdf_sha256", None) or file.get("sha256"),
        "signature": _signature(entry),
        "duplicate_of": doc.duplicate_of if doc else None,
        "received_from": upload.client if upload else (doc.station if doc else None),
        "created_at": created,
        "updated_at": updated,
        "links": links,
    }


def dossier_json(code: str, entries: list[Entry], base: str) -> dict[str, Any]:
    docs = [document_json(e, base) for e in entries]
    procedures = [d["procedure_code"] for d in docs if d["procedure_code"]]
    return {
        "dossier_code": code,
        "procedure_code": procedures[0] if procedures else None,
        "documents": docs,
    }


def _stem(name: str | None) -> str | None:
    if not name:
        return None
    return PurePosixPath(name.replace("\\", "/")).stem or None


def dvcqg_json(code: str, entries: list[Entry], base: str) -> dict[str, Any]:
    """``MaHoSo``, ``MaTTHC``, ``TaiLieuNop`` and ``DanhSachGiayToKetQua`` of the dossier's
    archived copies, as the national portal's dossier sync carries them."""
    submitted: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    listed_copies: set[str] = set()
    procedure = None
    for entry in entries:
        doc = entry.doc
        if doc is None or not doc.pdf_key:
            continue  # no archived copy (yet): nothing to link
        if doc.state == DUPLICATE and doc.pdf_key in listed_copies:
            continue
        listed_copies.add(doc.pdf_key)
        where = place(entry)
        procedure = procedure or where["procedure_code"]
        pdf = document_links(base, doc)["pdf"]
        type_name = _meta(entry).get("type_name")
        stem = _stem(_name(entry)) or PurePosixPath(doc.pdf_key).stem
        if where["kind"] == "result":
            results.append(
                {
                    "GiayToId": doc.id,
                    "TenGiayTo": type_name or stem,
                    "MaThanhPhanHoSo": where["component_code"],
                    "DuongDanTepTinKetQua": pdf,
                }
            )
        else:
            submitted.append(
                {
                    "TepDinhKemId": doc.id,
                    "TenTepDinhKem": f"{stem}.pdf",
                    "MaThanhPhanHoSo": where["component_code"],
                    "DuongDanTaiTepTin": pdf,
                    "IsDeleted": False,
                }
            )
    return {
        "MaHoSo": code,
        "MaTTHC": procedure,
        "TaiLieuNop": submitted,
        "DanhSachGiayToKetQua": results,
    }
