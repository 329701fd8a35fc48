"""The search web page for records staff: server-rendered HTML, in Vietnamese, no scripts.

Plain HTML with a little inline CSS so it runs on a small office PC in any
browser. Handlers keep no global state: everything comes from the ``Config`` and
``store_factory`` given to :func:`create_app`, so a login layer can wrap the app
(or its routes) later. Links to PDFs go through ``/pdf/<key>``, which checks the
key belongs to an indexed document and redirects to a fresh presigned URL: a
results page left open for an hour still opens PDFs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from pipeline.config import Config
from pipeline.dossier import normalize_code, received_date
from pipeline.errors import ConfigError, QueryError, StorageUnavailable
from pipeline.storage.index import Hit, SearchIndex, SearchRequest, open_index
from pipeline.storage.objects import MinioStore, connect
from workers.web import documents
from workers.web.signature import SignatureBadge, SignatureChecker

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
WEB_LIMIT = 50
THUMB_BOXES = 20  # hits whose thumbnails get their matched words boxed

# No scripts at all; inline styles only from our own template.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_MATCH_LABELS = {
    "exact": "khớp đúng dấu",
    "folded": "khớp không dấu",
    "code": "theo mã hồ sơ",
    "fields": "theo số, loại, cơ quan, ngày",
}


def pdf_href(key: str, page: int) -> str:
    return f"/pdf/{quote(key, safe='/')}?page={page}"


def dossier_href(code: str) -> str:
    return f"/dossier/{quote(code, safe='')}"


def _vn_date(value: str | None) -> str:
    """``2026-11-20`` (or an ISO timestamp) → ``20/11/2026``, as Vietnamese forms write dates."""
    if not value:
        return "—"
    try:
        return date.fromisoformat(str(value)[:10]).strftime("%d/%m/%Y")
    except ValueError:
        return str(value)


class _StoreHolder:
    """Builds the MinIO client on first use, so the page works even while it is misconfigured."""

    def __init__(self, cfg: Config, factory: Callable[[Config], MinioStore]) -> None:
        self.cfg, self.factory = cfg, factory
        self.lock = threading.Lock()
        self.store: MinioStore | None = None

    def get(self) -> MinioStore:
        with self.lock:
            if self.store is None:
                self.store = self.factory(self.cfg)
            return self.store


def _search_params(request: Request) -> dict[str, str]:
    keys = ("q", "dossier", "station", "from", "to", "type", "number", "organ")
    return {k: request.query_params.get(k, "").strip() for k in keys}


def _request(params: dict[str, str], limit: str | int) -> SearchRequest:
    """The search the page or the API asks for, every value validated (QueryError if not)."""
    return SearchRequest.build(
        params["q"],
        dossier=params["dossier"] or None,
        station=params["station"] or None,
        date_from=params["from"] or None,
        date_to=params["to"] or None,
        doc_type=params["type"] or None,
        limit=limit,
        number=params["number"] or None,
        organ=params["organ"] or None,
    )


def _hit_view(hit: Hit, q: str = "", signature: SignatureBadge | None = None) -> dict[str, Any]:
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


def create_app(
    cfg: Config,
    store_factory: Callable[[Config], MinioStore] = connect,
    index_factory: Callable[[Config], SearchIndex] = open_index,
) -> Starlette:
    """The search app; every handler reads ``cfg`` and the store through this closure."""
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.filters["vn_date"] = _vn_date
    templates.env.globals["pdf_href"] = pdf_href
    stores = _StoreHolder(cfg, store_factory)
    signatures = SignatureChecker(cfg, stores.get)  # "Đã ký số" and its verdict, per version

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        return templates.TemplateResponse(
            request, name, context, status_code=status, headers=_SECURITY_HEADERS
        )

    index = index_factory(cfg)
    images = documents.PageImages(cfg, stores.get)

    def home(request: Request) -> Response:
        dossiers, documents, pages = index.counts()
        stats = {"dossiers": dossiers, "documents": documents, "pages": pages}
        return render(request, "index.html", {"params": _search_params(request), "stats": stats})

    def search_page(request: Request) -> Response:
        params = _search_params(request)
        if not any(params[k] for k in ("q", "number", "organ", "type", "from", "to", "dossier")):
            return render(request, "index.html", {"params": params, "stats": None})
        try:
            hits = index.search(_request(params, WEB_LIMIT))
        except QueryError as exc:
            ctx = {"params": params, "hits": [], "error": str(exc)}
            return render(request, "results.html", ctx, status=400)
        badges = signatures.badges(h.pdf_key for h in hits)
        views = [_hit_view(h, params["q"], badges.get(h.pdf_key)) for h in hits]
        for view in views[:THUMB_BOXES]:  # the matched words boxed on each thumbnail
            view["boxes"] = _boxes(view)
        ctx = {"params": params, "hits": views, "error": None}
        return render(request, "results.html", ctx)

    def _boxes(view: dict[str, Any]) -> list[dict[str, Any]]:
        doc = documents.find_document(index, view["doc_id"]) if view.get("q") else None
        if doc is None:
            return []
        try:
            return documents.page_boxes(images, doc, view["page"], view["q"])
        except (ConfigError, StorageUnavailable):
            return []

    def api_search(request: Request) -> Response:
        params = _search_params(request)
        try:
            hits = index.search(_request(params, request.query_params.get("limit", "20")))
        except QueryError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400, headers=_SECURITY_HEADERS)
        body = {
            "query": params["q"],
            "hits": [{**h.as_dict(), "pdf_url": pdf_href(h.pdf_key, h.page)} for h in hits],
        }
        return JSONResponse(body, headers=_SECURITY_HEADERS)

    def dossier_page(request: Request) -> Response:
        code = normalize_code(request.path_params["code"])
        if code is None:
            ctx = {"code": request.path_params["code"][:80], "docs": [], "received": None}
            return render(request, "dossier.html", ctx, status=404)
        docs = index.dossier_documents(code)
        badges = signatures.badges(d.pdf_key for d in docs)
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
        ctx = {"code": code, "docs": docs, "rows": rows, "received": received_date(code)}
        return render(request, "dossier.html", ctx, status=200 if docs else 404)

    def pdf(request: Request) -> Response:
        key = request.path_params["key"]
        raw_page = request.query_params.get("page", "1")
        page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() else 1
        if not index.pdf_known(key):
            return PlainTextResponse("Không có tệp PDF này trong chỉ mục.", status_code=404)
        try:
            store = stores.get()
            url = store.presigned_url(store.archive_bucket, key, cfg.web.link_expiry_seconds)
        except (ConfigError, StorageUnavailable) as exc:
            return PlainTextResponse(f"Không mở được kho lưu trữ: {exc}", status_code=503)
        return RedirectResponse(
            f"{url}#page={max(1, page)}", status_code=303, headers=_SECURITY_HEADERS
        )

    routes = [
        Route("/", home),
        Route("/search", search_page),
        Route("/api/search", api_search),
        Route("/dossier/{code}", dossier_page),
        Route("/pdf/{key:path}", pdf),
        *documents.document_routes(index, images, signatures, render, _SECURITY_HEADERS, pdf_href),
    ]
    return Starlette(routes=routes)
