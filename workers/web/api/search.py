"""``GET /api/v1/search``: the web's search (:mod:`workers.web.routes.search`), the same query
grammar and filters, as JSON with links through this API; audited like every search."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.routing import Route

from pipeline.errors import QueryError
from workers.web.api.context import ApiCall, ApiContext, endpoint
from workers.web.api.links import document_links
from workers.web.auth import SECURITY_HEADERS
from workers.web.routes.search import FILTERS, build_request, search_params


def routes(api: ApiContext) -> list[Route]:
    def search(call: ApiCall) -> JSONResponse:
        params = search_params(call.request)
        filters = {k: params[k] for k in FILTERS if params[k]}
        try:
            request = build_request(params, call.query.get("limit", "20"))
            hits = api.web.index.search(request)
        except QueryError as exc:
            api.record(call, "search", query=params["q"], filters=filters, hits=0, error=str(exc))
            raise
        api.record(call, "search", query=params["q"], filters=filters, hits=len(hits))
        base = api.base(call.request)
        body = {
            "query": params["q"],
            "hits": [
                {
                    **hit.as_dict(),
                    "links": (
                        {
                            "document": document_links(base, hit.document_id)["self"],
                            "pdf": document_links(base, hit.document_id)["pdf"],
                        }
                        if hit.document_id
                        else {"document": None, "pdf": None}
                    ),
                }
                for hit in hits
            ],
        }
        return JSONResponse(body, headers=SECURITY_HEADERS)

    return [endpoint(api, "/search", search, scope="read", action="search")]
