"""``GET /api/v1/dossiers/{code}`` and ``…/dvcqg``: a dossier's documents, and the same as
the national portal's dossier sync lists them. Both are reads of personal data (names of
papers, fields read off them): each writes its audit row before it answers."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.routing import Route

from pipeline.dossier import normalize_code
from workers.web.api.catalog import dossier_entries
from workers.web.api.context import ApiCall, ApiContext, endpoint
from workers.web.api.problems import Refusal
from workers.web.api.views import dossier_json, dvcqg_json
from workers.web.auth import SECURITY_HEADERS


def dossier_code(raw: str) -> str:
    """The code in a URL, as DESIGN §3 accepts it (NFC, trimmed, upper-cased); 400 if not."""
    code = normalize_code(raw) if len(raw) <= 80 else None
    if code is None:
        raise Refusal(
            400,
            "not a dossier code (Circular 01/2018 art. 19: agency code, -YYMMDD-, a 4-7 digit"
            f" number, e.g. 000.00.13.H38-261120-0001): {raw[:80]!r}",
        )
    return code


def routes(api: ApiContext) -> list[Route]:
    def entries(call: ApiCall, action: str, **details: str) -> tuple[str, list]:
        code = dossier_code(call.request.path_params["code"])
        found = dossier_entries(api.web.ledger(), api.web.index, api.uploads, code)
        api.record(call, action, code, code, documents=len(found), **details)
        if not found:
            raise Refusal(404, f"no document of dossier {code} is known here")
        return code, found

    def dossier(call: ApiCall) -> JSONResponse:
        code, found = entries(call, "dossier_view")
        body = dossier_json(code, found, api.base(call.request))
        return JSONResponse(body, headers=SECURITY_HEADERS)

    def dvcqg(call: ApiCall) -> JSONResponse:
        code, found = entries(call, "dossier_view", format="dvcqg")
        body = dvcqg_json(code, found, api.base(call.request))
        return JSONResponse(body, headers=SECURITY_HEADERS)

    return [
        endpoint(api, "/dossiers/{code}", dossier, scope="read", action="dossier_view"),
        endpoint(api, "/dossiers/{code}/dvcqg", dvcqg, scope="read", action="dossier_view"),
    ]
