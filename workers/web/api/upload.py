"""``POST /api/v1/dossiers/{code}/documents``: a file into custody, answered 202 at once.

The body is the file (its ``Content-Type``), streamed to a private file (:mod:`body`);
``component``, ``kind``, ``procedure`` and ``name`` come as query parameters. The file
then goes through a station's custody, with the station's key (the upload key, used
by this route alone): :func:`pipeline.flow.custody.hand_over` puts the original into
raw (``sha256/<hex>``, MinIO checking the SHA-256, object-locked) and its custody record
beside it, naming the dossier (from the URL), the component, kind and procedure, and
the client (``client:<name>``). Only when MinIO has confirmed both does the client get
its ``202`` with the ``document_id``; a worker's intake makes the ledger row and runs it,
as for any station's scan, and the events announce what became of it.

``Idempotency-Key`` (:mod:`pipeline.access.uploads`): the same key with the same bytes
and parameters gives the same document (custody is not repeated once it completed);
with other bytes or parameters, 409.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipeline.access.clients import Client
from pipeline.access.uploads import Upload
from pipeline.dossier.place import valid_component, valid_kind, valid_procedure
from pipeline.errors import UsageError
from pipeline.flow.custody import hand_over
from pipeline.storage.ledger.records import new_id
from pipeline.storage.ledger.states import STORED_RAW
from pipeline.storage.objects import MinioStore
from workers.web.api.body import (
    Received,
    accepted_types,
    private_folder,
    receive,
    upload_limit,
)
from workers.web.api.context import ApiCall, ApiContext, endpoint
from workers.web.api.dossiers import dossier_code
from workers.web.api.links import document_links
from workers.web.api.problems import Refusal
from workers.web.auth import SECURITY_HEADERS

_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
_NAME_MAX_BYTES = 200


def idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _KEY_RE.fullmatch(value):
        raise Refusal(400, "Idempotency-Key is 1-255 printable ASCII characters without spaces")
    return value


def file_name(value: str | None) -> str | None:
    """The name the document is known by (shown to operators): NFC, one path component."""
    if value is None or value == "":
        return None
    name = unicodedata.normalize("NFC", value).strip()
    bad = not name or name in (".", "..") or len(name.encode("utf-8")) > _NAME_MAX_BYTES
    if bad or any(c in "/\\" or unicodedata.category(c) in ("Cc", "Cf") for c in name):
        raise UsageError(
            f"name is a file name of at most {_NAME_MAX_BYTES} bytes, without / \\ or control"
            " characters"
        )
    return name


def asked(query: QueryParams) -> dict[str, Any]:
    """What the client says of the document besides its bytes, every value validated; a
    component without a kind is a submitted paper (as :mod:`pipeline.dossier.place` says)."""
    component, kind, procedure = (query.get(k) or None for k in ("component", "kind", "procedure"))
    component = valid_component(component) if component else None
    kind = valid_kind(kind) if kind else None
    return {
        "component": component,
        "kind": kind or ("submitted" if component else None),
        "procedure": valid_procedure(procedure) if procedure else None,
        "name": file_name(query.get("name")),
    }


def declared_type(header: str | None, accepted: dict[str, str]) -> str:
    media = (header or "").split(";", 1)[0].strip().lower()
    if media not in accepted:
        raise Refusal(415, f"Content-Type must be the file's type: one of {', '.join(accepted)}")
    return media


def custody(
    api: ApiContext,
    store: MinioStore,
    path: Path,
    got: Received,
    row: Upload,
    client: Client,
    wanted: dict[str, Any],
) -> None:
    """The upload handed over as a station hands a scan over, under the row's ids; then
    the row says so (a retry with the same key is then answered without doing it again)."""
    hand_over(
        store,
        path,
        batch_id=row.batch_id,
        doc_id=row.document_id,
        seq=1,
        station=f"api:{client.name}",
        origin=f"api/{client.name}",
        folder_name=row.dossier_code,
        actor=client.actor,
        known=got.fingerprint,
        component_code=wanted["component"],
        kind=wanted["kind"],
        procedure_code=wanted["procedure"],
        dossier_code=row.dossier_code,
    )
    api.uploads.handed_over(row.document_id)


def routes(api: ApiContext) -> list[Route]:
    cfg = api.cfg

    async def upload(call: ApiCall) -> JSONResponse:
        request, client = call.request, call.client
        code = dossier_code(request.path_params["code"])
        wanted = asked(call.query)
        key = idempotency_key(request.headers.get("idempotency-key"))
        accepted = accepted_types(cfg)
        declared_type(request.headers.get("content-type"), accepted)
        store = await run_in_threadpool(api.upload_store)
        if store is None:
            raise Refusal(
                503,
                "uploads are not configured on this server (the administrator gives `sohoa"
                " serve` the station key as SOHOA_UPLOAD_ACCESS_KEY / SOHOA_UPLOAD_SECRET_KEY)",
            )
        folder = await run_in_threadpool(private_folder, cfg)
        try:
            got = await receive(request, folder, limit=upload_limit(cfg), accepted=accepted)
            name = wanted["name"] or f"upload.{accepted[got.media_type]}"
            path = folder / name
            got.path.rename(path)
            details = {**wanted, "size": got.size, "media_type": got.media_type}
            row, _ = await run_in_threadpool(
                lambda: api.uploads.reserve(
                    client.name,
                    key,
                    document_id=new_id("d"),
                    batch_id=new_id("b"),
                    dossier_code=code,
                    sha256=got.sha256,
                    request=details,
                )
            )
            audit = {
                "sha256": got.sha256,
                "size": got.size,
                "media_type": got.media_type,
                "component": wanted["component"],
                "kind": wanted["kind"],
                "idempotency_key": key,
            }
            if not row.same_request(got.sha256, code, details):
                await run_in_threadpool(
                    lambda: api.record(call, "upload", row.document_id, code, status=409, **audit)
                )
                raise Refusal(
                    409,
                    "this Idempotency-Key was used for another upload (other bytes, dossier or"
                    " parameters); use a new key for a new file",
                )
            replayed = row.handed_over_at is not None
            if not replayed:
                await run_in_threadpool(custody, api, store, path, got, row, client, wanted)
            await run_in_threadpool(
                lambda: api.record(
                    call, "upload", row.document_id, code, status=202, replayed=replayed, **audit
                )
            )
        finally:
            await run_in_threadpool(shutil.rmtree, folder, True)
        self_link = document_links(api.base(request), row.document_id)["self"]
        body = {
            "document_id": row.document_id,
            "batch_id": row.batch_id,
            "dossier_code": code,
            "state": STORED_RAW,
            "sha256": got.sha256,
            "size": got.size,
            "media_type": got.media_type,
            "component_code": wanted["component"],
            "kind": wanted["kind"],
            "procedure_code": wanted["procedure"],
            "replayed": replayed,
            "links": {"self": self_link},
        }
        headers = {**SECURITY_HEADERS, "Location": self_link}
        return JSONResponse(body, status_code=202, headers=headers)

    return [
        endpoint(
            api,
            "/dossiers/{code}/documents",
            upload,
            scope="submit",
            action="upload",
            methods=("POST",),
        )
    ]
