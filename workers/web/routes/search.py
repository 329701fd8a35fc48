"""Search: the form, the results page and the JSON API; every search goes to the audit log."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipeline.display import parse_vn_date
from pipeline.errors import ConfigError, QueryError, StorageUnavailable
from pipeline.storage.index import Hit, SearchRequest
from workers.web import documents
from workers.web.auth import SECURITY_HEADERS
from workers.web.context import WebContext, dossier_href, page, pdf_href
from workers.web.signature import SignatureBadge

WEB_LIMIT = 50
THUMB_BOXES = 20  # hits whose thumbnails get their matched words boxed
FILTERS = ("dossier", "station", "from", "to", "type", "number", "organ", "exact")
_MATCH_LABELS = {
    "exact": "khớp đúng dấu",
    "folded": "khớp không dấu",
    "code": "theo mã hồ sơ",
    "fields": "theo số, loại, cơ quan, ngày",
}


def search_params(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "").strip() for k in ("q", *FILTERS)}


def build_request(params: dict[str, str], limit: str | int) -> SearchRequest:
    """The search the page or the API asks for, every value validated (QueryError if not).

    Dates are typed ``dd/mm/yyyy`` in plain text fields (a date input shows the browser
    locale's order, ``mm/dd/yyyy`` on an English one); ISO dates are taken too.
    """
    return SearchRequest.build(
        params["q"],
        dossier=params["dossier"] or None,
        station=params["station"] or None,
        date_from=parse_vn_date(params["from"], "Từ ngày"),
        date_to=parse_vn_date(params["to"], "Đến ngày"),
        exact_only=bool(params["exact"]),
        doc_type=params["type"] or None,
        limit=limit,
        number=params["number"] or None,
        organ=params["organ"] or None,
    )


def hit_view(hit: Hit, q: str = "", signature: SignatureBadge | None = None) -> dict[str, Any]:
    return {
        **hit.as_dict(),
        "signature": signature,
        "parts": hit.snippet_parts,
        "pdf_href": pdf_href(hit.pdf_key, hit.page),
        "dossier_href": dossier_href(hit.dossier_code),
        "match_label": _MATCH_LABELS.get(hit.match, hit.match),
        "page_href": documents.page_href(hit.doc_id, hit.page, q),
        "thumb": documents.image_href(hit.doc_id, hit.page, documents.THUMB_WIDTH),
        "q": q,
    }


def routes(ctx: WebContext) -> list[Route]:
    index = ctx.index

    def audit_search(request: Request, params: dict[str, str], via: str, **result: Any) -> None:
        filters = {k: params[k] for k in FILTERS if params[k]}
        ctx.record(request, "search", query=params["q"], filters=filters, via=via, **result)

    def boxes(view: dict[str, Any]) -> list[dict[str, Any]]:
        doc = documents.find_document(index, view["doc_id"]) if view.get("q") else None
        if doc is None:
            return []
        try:
            return documents.page_boxes(ctx.images, doc, view["page"], view["q"])
        except (ConfigError, StorageUnavailable):
            return []

    def home(request: Request) -> Response:
        ctx.nothing_read(request)  # the form and three counts
        dossiers, docs, pages = index.counts()
        stats = {"dossiers": dossiers, "documents": docs, "pages": pages}
        return ctx.render(request, "index.html", {"params": search_params(request), "stats": stats})

    def search_page(request: Request) -> Response:
        params = search_params(request)
        if not any(params[k] for k in ("q", "number", "organ", "type", "from", "to", "dossier")):
            ctx.nothing_read(request)  # the empty form
            return ctx.render(request, "index.html", {"params": params, "stats": None})
        try:
            hits = index.search(build_request(params, WEB_LIMIT))
        except QueryError as exc:
            audit_search(request, params, "web", hits=0, error=str(exc))
            ctx_ = {"params": params, "hits": [], "error": str(exc)}
            return ctx.render(request, "results.html", ctx_, status=400)
        audit_search(request, params, "web", hits=len(hits))
        badges = ctx.signatures.badges(h.pdf_key for h in hits)
        views = [hit_view(h, params["q"], badges.get(h.pdf_key)) for h in hits]
        for v in views[:THUMB_BOXES]:  # the matched words boxed on each thumbnail
            v["boxes"] = boxes(v)
        view = {"params": params, "hits": views, "error": None}
        return ctx.render(request, "results.html", view)

    def api_search(request: Request) -> Response:
        params = search_params(request)
        try:
            hits = index.search(build_request(params, request.query_params.get("limit", "20")))
        except QueryError as exc:
            audit_search(request, params, "api", hits=0, error=str(exc))
            return JSONResponse({"error": str(exc)}, status_code=400, headers=SECURITY_HEADERS)
        audit_search(request, params, "api", hits=len(hits))
        body = {
            "query": params["q"],
            "hits": [{**h.as_dict(), "pdf_url": pdf_href(h.pdf_key, h.page)} for h in hits],
        }
        return JSONResponse(body, headers=SECURITY_HEADERS)

    return [
        page(ctx, "/", home),
        page(ctx, "/search", search_page),
        page(ctx, "/api/search", api_search),
    ]
