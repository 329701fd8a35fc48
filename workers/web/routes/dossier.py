"""One dossier's page: its documents with their fields, thumbnails, the opening words of each
page, links to the PDFs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pipeline.dossier import normalize_code, received_date
from workers.web import documents
from workers.web.context import WebContext, page


def routes(ctx: WebContext) -> list[Route]:
    def dossier_page(request: Request) -> Response:
        raw = request.path_params["code"]
        code = normalize_code(raw) if len(raw) <= 80 else None
        if code is None:
            view = {"code": raw[:80], "docs": [], "rows": [], "received": None}
            return ctx.render(request, "dossier.html", view, 404)
        docs = ctx.index.dossier_documents(code)
        ctx.record(request, "dossier_view", code, dossier=code, documents=len(docs))
        badges = ctx.signatures.badges(d.pdf_key for d in docs)
        rows = [
            {
                "doc": d,
                "number": documents.number_text(d.meta),
                "signature": badges.get(d.pdf_key),
                "page_href": documents.page_href(d.doc_id, 1),
                "thumb": documents.image_href(d.doc_id, 1, documents.THUMB_WIDTH),
            }
            for d in docs
        ]
        view = {"code": code, "docs": docs, "rows": rows, "received": received_date(code)}
        return ctx.render(request, "dossier.html", view, status=200 if docs else 404)

    return [page(ctx, "/dossier/{code}", dossier_page)]
