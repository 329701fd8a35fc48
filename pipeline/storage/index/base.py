"""The search index interface, and the one reading of metadata every backend indexes from.

The index is derived state: ``sohoa reindex`` rebuilds it from the archive bucket.
"""

from __future__ import annotations

from typing import Any, Protocol

from pipeline.dossier.codes import received_date
from pipeline.lang.textnorm import fold, nfc
from pipeline.storage.index.query import SearchRequest, number_key, upper_code
from pipeline.storage.index.records import Hit, IndexedDocument


class SearchIndex(Protocol):
    def index_document(self, meta: dict[str, Any], page_texts: list[str]) -> None: ...
    def remove_document(self, doc_id: str) -> None: ...
    def search(self, request: SearchRequest) -> list[Hit]: ...
    def dossier_documents(self, code: str, snippet_tokens: int = 20) -> list[IndexedDocument]: ...
    def pdf_known(self, key: str) -> bool: ...
    def counts(self) -> tuple[int, int, int]: ...
    def documents(self) -> list[tuple[str, str]]: ...
    def optimize(self) -> None: ...
    def close(self) -> None: ...


def document_row(meta: dict[str, Any]) -> dict[str, Any]:
    """The per-document columns of the index, read from an archived metadata JSON.

    Raises ``ValueError`` for metadata that cannot be indexed (no id or code), which
    a rebuild skips with a warning rather than stopping.
    """
    doc_id = meta.get("doc_id")
    code = meta.get("dossier_code")
    if not isinstance(doc_id, str) or not doc_id or not isinstance(code, str) or not code:
        raise ValueError("metadata needs a doc_id and a dossier_code to be indexed")
    code = upper_code(code)
    scan = meta.get("scan") or {}
    file = meta.get("file") or {}
    sohoa = meta.get("sohoa") or {}
    type_name = meta.get("type_name")
    number = meta.get("code_number")
    number = number if isinstance(number, int) and not isinstance(number, bool) else None
    notation = meta.get("code_notation")
    notation = nfc(notation) if isinstance(notation, str) and notation else None
    nkey, notation_key = number_key(number, notation)
    organ = " ".join(
        nfc(v) for v in (meta.get("governing_body"), meta.get("organ_name")) if isinstance(v, str)
    )
    issued = meta.get("issued_date")
    subject = meta.get("subject")
    return {
        "code_number": number,
        "code_notation": notation,
        "number_key": nkey,
        "notation_key": notation_key,
        "issued_date": issued if isinstance(issued, str) else None,
        "organ_name": nfc(meta["organ_name"]) if isinstance(meta.get("organ_name"), str) else None,
        "organ_folded": fold(organ).lower() if organ else None,
        "subject": nfc(subject) if isinstance(subject, str) else None,
        "doc_id": doc_id,
        "dossier_code": code,
        "document_id": sohoa.get("document_id"),
        "doc_ordinal": meta.get("doc_ordinal"),
        "station": scan.get("station"),
        "type_name": nfc(type_name) if type_name else None,
        "received": received_date(code),
        "digitized_at": scan.get("digitized_at"),
        "pdf_key": file.get("key") or f"{code}/{doc_id}.pdf",
        "component_code": _text(meta.get("component_code")),
        "kind": _text(meta.get("kind")),
    }


def _text(value: Any) -> str | None:
    return nfc(value) if isinstance(value, str) and value else None


def _code_condition(code: str, prefix: bool, mark: str) -> tuple[str, list[str]]:
    if not prefix:
        return f"d.dossier_code = {mark}", [code]
    upper = code[:-1] + chr(ord(code[-1]) + 1)
    return f"(d.dossier_code >= {mark} AND d.dossier_code < {mark})", [code, upper]


def filter_clauses(request: SearchRequest, mark: str, contains: str) -> tuple[str, list[Any]]:
    """The search's filters as `` AND …`` clauses on the documents table ``d`` and their
    parameters, for either backend: ``mark`` is its placeholder (``?``, ``%s``) and
    ``contains`` its substring-position function (``instr``, ``strpos``); the rules are
    the same on both, so the parity test has one thing to check."""
    where: list[str] = []
    params: list[Any] = []
    if request.parsed.codes:
        parts = [_code_condition(code, prefix, mark) for code, prefix in request.parsed.codes]
        where.append("(" + " OR ".join(s for s, _ in parts) + ")")
        params += [p for _, ps in parts for p in ps]
    if request.dossier:
        code = upper_code(request.dossier)
        prefix = code.endswith("*")
        code = code.rstrip("*")
        if code:
            s, ps = _code_condition(code, prefix, mark)
            where.append(s)
            params += ps
    if request.station:
        where.append(f"d.station = {mark}")
        params.append(request.station)
    # The issued date read off the document; its dossier's received date when none was.
    if request.date_from:
        where.append(f"coalesce(d.issued_date, d.received) >= {mark}")
        params.append(request.date_from)
    if request.date_to:
        where.append(f"coalesce(d.issued_date, d.received) <= {mark}")
        params.append(request.date_to)
    if request.number is not None:
        wanted = request.number
        if wanted.key is not None:
            where.append(f"d.number_key = {mark}")
            params.append(wanted.key)
        elif wanted.number is not None:
            where.append(f"d.code_number = {mark}")
            params.append(wanted.number)
        else:
            where.append(f"d.notation_key = {mark}")
            params.append(wanted.notation)
    if request.organ:
        where.append(f"{contains}(d.organ_folded, {mark}) > 0")
        params.append(fold(request.organ).lower())
    if request.doc_type:
        where.append(f"{contains}(d.type_folded, {mark}) > 0")
        params.append(fold(request.doc_type).lower())
    # The document's place in its dossier (issue 21).
    if request.component:
        where.append(f"d.component_code = {mark}")
        params.append(request.component)
    if request.kind:
        where.append(f"d.kind = {mark}")
        params.append(request.kind)
    return "".join(f" AND {w}" for w in where), params
