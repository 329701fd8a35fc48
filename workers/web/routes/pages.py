"""The page view and the page images: one archived page with the matched words boxed.

Both look the document up in the search index by its ``<code>.<n>`` (never an object
key from the URL), so only indexed documents are shown; an unknown document, page
or image width is the same plain 404. Opening a page is recorded in the audit log,
as opening its PDF is, and so is every page image served (thumbnails too: each one
shows a page of a citizen's dossier).
"""

from __future__ import annotations

import subprocess

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pipeline.errors import ConfigError, StorageUnavailable
from workers.web import documents
from workers.web.auth import SECURITY_HEADERS
from workers.web.context import WebContext, page, pdf_href

_WIDTHS = documents.WIDTHS


def _page_number(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 100000 else None


def routes(ctx: WebContext) -> list[Route]:
    index, images = ctx.index, ctx.images

    def page_image(request: Request) -> Response:
        doc = documents.find_document(index, request.path_params["doc_id"])
        number = _page_number(request.path_params["page"])
        raw_w = request.query_params.get("w", str(documents.THUMB_WIDTH))
        width = int(raw_w) if raw_w.isascii() and raw_w.isdigit() else 0
        if doc is None or number is None or number > doc.pages or width not in _WIDTHS:
            return PlainTextResponse("Không có trang này.", 404, headers=SECURITY_HEADERS)
        try:
            body = images.png(doc.pdf_key, number, width)
        except (ConfigError, StorageUnavailable):
            return PlainTextResponse(
                "Kho lưu trữ tạm thời không truy cập được.", 503, headers=SECURITY_HEADERS
            )
        except (subprocess.SubprocessError, OSError):
            return PlainTextResponse("Không dựng được ảnh trang.", 500, headers=SECURITY_HEADERS)
        ctx.record(request, "page_image", doc.doc_id, doc.dossier_code, page=number, width=width)
        # Not kept by the browser: a second look at the image is a second read, audited too.
        return Response(body, media_type="image/png", headers=SECURITY_HEADERS)

    def page_view(request: Request) -> Response:
        doc = documents.find_document(index, request.path_params["doc_id"])
        number = _page_number(request.path_params["page"])
        q = request.query_params.get("q", "")[:500]
        if doc is None or number is None or number > doc.pages:
            return ctx.render(request, "page.html", {"doc": None, "q": q}, status=404)
        ctx.record(request, "page_view", doc.doc_id, dossier=doc.dossier_code, page=number)
        try:
            boxes = documents.page_boxes(images, doc, number, q)
        except (ConfigError, StorageUnavailable):
            boxes = []
        meta = doc.meta
        view = {
            "doc": doc,
            "meta": meta,
            "page": number,
            "q": q,
            "boxes": boxes,
            "number": documents.number_text(meta),
            "image": documents.image_href(doc.doc_id, number, documents.PAGE_WIDTH),
            "pdf": pdf_href(doc.pdf_key, number),
            "prev": documents.page_href(doc.doc_id, number - 1, q) if number > 1 else None,
            "next": documents.page_href(doc.doc_id, number + 1, q) if number < doc.pages else None,
            "signature": ctx.signatures.badges([doc.pdf_key]).get(doc.pdf_key),
        }
        return ctx.render(request, "page.html", view)

    return [
        page(ctx, "/document/{doc_id}/page/{page}.png", page_image),
        page(ctx, "/document/{doc_id}/page/{page}", page_view),
    ]
