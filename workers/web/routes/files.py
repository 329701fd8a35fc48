"""PDFs through the app: only those of indexed documents, streamed with the web key.

Staff PCs cannot reach MinIO's internal endpoint, and a redirect to a presigned URL
would bypass the login and the audit log, so the app streams the PDF itself. It
answers ``Range`` requests (one range; several get the whole file, as HTTP allows),
so a PDF viewer can fetch the page it jumps to (``#page=N``) without the rest.
The key must have the archive's shape (``<code>/<code>.<n>.pdf``) and be the PDF of
an indexed document; anything else is the same plain 404, whatever it tried.

Every response that carries bytes of the file is audited (``pdf_open``) before they
are sent: a viewer's ranged requests by one session within
``web.read_audit_window_seconds`` share the row of the first, whatever range that
first one asked for (:class:`workers.web.readaudit.ReadWindow`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from pipeline.dossier.codes import CODE_RE
from pipeline.storage.index import SearchIndex
from pipeline.storage.objects import MinioStore
from workers.web.auth import SECURITY_HEADERS
from workers.web.context import WebContext, page

CHUNK = 256 * 1024
PDF_KEY_RE = re.compile(r"(?P<code>[0-9A-Z.\-]{1,80})/(?P=code)\.(?P<n>[1-9][0-9]{0,5})\.pdf")
# A PDF is not a page of ours: the browser's viewer must be allowed to show it.
PDF_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": "default-src 'none'; object-src 'self'; frame-ancestors 'none'",
    "Cache-Control": "private, no-store",
}


class Unsatisfiable(ValueError):
    """A byte range that lies outside the file (HTTP 416)."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) byte a ``Range`` header asks for, inclusive; None for the whole file.

    Other units, several ranges, and overlong headers are answered with the whole file;
    a malformed or impossible byte range raises :class:`Unsatisfiable`.
    """
    if not header or len(header) > 100:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isascii() and last.isascii()):
        raise Unsatisfiable(header)
    if first == "":
        if not last.isdigit() or int(last) == 0 or size == 0:
            raise Unsatisfiable(header)
        return max(0, size - int(last)), size - 1
    if not first.isdigit() or (last and not last.isdigit()):
        raise Unsatisfiable(header)
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise Unsatisfiable(header)
    return start, min(end, size - 1)


def safe_filename(key: str) -> str:
    """The last part of ``key`` with anything but ``A-Za-z0-9._-`` replaced: it goes into a
    header, where a CR or LF would start a header of its own."""
    name = key.rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120] or "document.pdf"


async def _stream(resp: Any) -> AsyncIterator[bytes]:
    try:
        while True:
            chunk = await run_in_threadpool(resp.read, CHUNK)
            if not chunk:
                break
            yield chunk
    finally:
        resp.close()
        resp.release_conn()


def known_pdf(index: SearchIndex, key: str) -> bool:
    """Whether ``key`` has the archive's shape and is the PDF of an indexed document."""
    match = PDF_KEY_RE.fullmatch(key) if len(key) <= 200 else None
    return bool(match and CODE_RE.match(match["code"]) and index.pdf_known(key))


async def pdf_response(
    request: Request,
    store: MinioStore,
    key: str,
    *,
    audit: Callable[[int, str | None], None],
    missing: Callable[[], Response],
) -> Response:
    """The archived PDF at ``key`` (checked with :func:`known_pdf` by the caller), whole or
    the one range asked for, streamed from MinIO with this process's key.

    ``audit(size, range)`` writes the read's row before any byte is sent (it runs in the
    thread pool and may raise, which sends nothing); ``missing()`` is the caller's 404 for
    a file gone from the archive. The web's ``/pdf/<key>`` and the API's
    ``/api/v1/documents/<id>/pdf`` answer through this one function.
    """
    info = await run_in_threadpool(store.stat, store.archive_bucket, key)
    if info is None:
        return missing()
    headers = {
        **PDF_HEADERS,
        "Accept-Ranges": "bytes",
        "Content-Type": "application/pdf",
        "Content-Disposition": f'inline; filename="{safe_filename(key)}"',
    }
    if info.etag:
        headers["ETag"] = f'"{info.etag}"'
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if wanted and if_range and if_range.strip() != headers.get("ETag"):
        wanted = None  # the file changed since the viewer's first request: send it whole
    try:
        span = byte_range(wanted, info.size)
    except Unsatisfiable:
        return Response(
            status_code=416,
            headers={**SECURITY_HEADERS, "Content-Range": f"bytes */{info.size}"},
        )
    start, end = span if span else (0, info.size - 1)
    length = max(0, end - start + 1)
    headers["Content-Length"] = str(length)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    await run_in_threadpool(audit, info.size, wanted)
    if request.method == "HEAD" or length == 0:
        return Response(status_code=status, headers=headers)
    resp = await run_in_threadpool(store.open_range, store.archive_bucket, key, start, length)
    return StreamingResponse(_stream(resp), status_code=status, headers=headers)


def routes(ctx: WebContext) -> list[Route]:
    async def pdf(request: Request) -> Response:
        key = request.path_params["key"]
        if not await run_in_threadpool(known_pdf, ctx.index, key):
            return ctx.error(request, 404, "Không có tệp PDF này trong chỉ mục.")
        code = key.split("/", 1)[0]

        def audit(size: int, wanted: str | None) -> None:
            ctx.record_read(request, "pdf_open", key, code, size=size, range=wanted)

        return await pdf_response(
            request,
            ctx.store(),
            key,
            audit=audit,
            missing=lambda: ctx.error(request, 404, "Tệp PDF này không còn trong kho lưu trữ."),
        )

    return [page(ctx, "/pdf/{key:path}", pdf)]
