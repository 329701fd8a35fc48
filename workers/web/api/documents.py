"""One document: ``GET /api/v1/documents/{id}`` and its archived files (``/pdf``, ``/metadata``,
``/text``), read with the web's key from the archive and audited before a byte leaves.

The PDF goes through the web's own file serving (:func:`workers.web.routes.files.pdf_response`):
ranges answered, streamed, ranged reads of one file by one client sharing a row within
``web.read_audit_window_seconds``. Only a copy the search index knows is served, as in
the web; ``id`` is the ledger's document id (``d`` and 11 hex digits, as the upload's 202
gave it).
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workers.web.api.catalog import Entry, document_entry
from workers.web.api.context import ApiCall, ApiContext, Handler, endpoint
from workers.web.api.problems import Refusal, problem
from workers.web.api.views import document_json
from workers.web.auth import SECURITY_HEADERS
from workers.web.routes.files import known_pdf, pdf_response

DOC_ID_RE = re.compile(r"^d[0-9a-f]{11}$")
TEXT_TYPES = {"metadata": "application/json", "text": "text/plain; charset=utf-8"}


def routes(api: ApiContext) -> list[Route]:
    def entry(call: ApiCall) -> Entry:
        doc_id = call.request.path_params["id"]
        found = (
            document_entry(api.web.ledger(), api.web.index, api.uploads, doc_id)
            if DOC_ID_RE.fullmatch(doc_id)
            else None
        )
        if found is None:
            raise Refusal(404, f"no document {doc_id[:40]!r}")
        return found

    def archived_key(found: Entry, what: str) -> str:
        """The archive key of the copy's ``what`` (pdf, metadata, text), if it is served."""
        doc = found.doc
        key = getattr(doc, f"{what}_key", None) if doc is not None else None
        if doc is None or not doc.pdf_key or not key or not known_pdf(api.web.index, doc.pdf_key):
            raise Refusal(404, f"document {found.doc_id} has no archived copy (yet)")
        return key

    def document(call: ApiCall) -> JSONResponse:
        found = entry(call)
        body = document_json(found, api.base(call.request))
        api.record(call, "document_view", found.doc_id, body["dossier_code"])
        return JSONResponse(body, headers=SECURITY_HEADERS)

    async def pdf(call: ApiCall) -> Response:
        found = await run_in_threadpool(entry, call)
        key = await run_in_threadpool(archived_key, found, "pdf")
        code = key.split("/", 1)[0]

        def audit(size: int, wanted: str | None) -> None:
            api.record_read(
                call, "pdf_open", key, code, document=found.doc_id, size=size, range=wanted
            )

        return await pdf_response(
            call.request,
            api.web.store(),
            key,
            audit=audit,
            missing=lambda: problem(404, "the archived copy is not in the archive any more"),
        )

    def archived_file(what: str) -> Handler:
        def read(call: ApiCall) -> Response:
            found = entry(call)
            key = archived_key(found, what)
            store = api.web.store()
            code = key.split("/", 1)[0]
            api.record(call, f"{what}_open", key, code, document=found.doc_id)
            data = store.get_bytes(store.archive_bucket, key)
            return Response(data, media_type=TEXT_TYPES[what], headers=SECURITY_HEADERS)

        read.__name__ = what
        return read

    return [
        endpoint(api, "/documents/{id}", document, scope="read", action="document_view"),
        endpoint(api, "/documents/{id}/pdf", pdf, scope="read", action="pdf_open"),
        *(
            endpoint(
                api,
                f"/documents/{{id}}/{what}",
                archived_file(what),
                scope="read",
                action=f"{what}_open",
            )
            for what in ("metadata", "text")
        ),
    ]
