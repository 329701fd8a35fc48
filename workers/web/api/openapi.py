"""The OpenAPI 3.1 description of ``/api/v1``, served at ``/api/v1/openapi.json``.

Written out here rather than derived from the code, so it is a contract the code is
held to: ``tests/test_api_openapi.py`` walks it and sends, for every operation, a
request for each status it documents, and checks the answer's status, content type,
headers and body against it (and that the app has no route it does not document).
The document itself names nothing secret and is served without a token (the LGSP or a
one-stop system's integrators register the API from it).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipeline import __version__
from pipeline.access.clients import SCOPES
from workers.web.api.links import API_PREFIX
from workers.web.api.views import FIELDS
from workers.web.auth import SECURITY_HEADERS

JSON = "application/json"
PROBLEM = "application/problem+json"


def _nullable(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **more}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_STR, _INT = {"type": "string"}, {"type": "integer"}
_NSTR, _NINT = _nullable("string"), _nullable("integer")

SCHEMAS: dict[str, Any] = {
    "Problem": _object({"status": _INT, "title": _STR, "detail": _STR}),
    "Links": _object(
        {
            "self": {**_STR, "description": "this document in the API"},
            "pdf": {**_NSTR, "description": "the signed PDF/A copy, once archived"},
            "metadata": {**_NSTR, "description": "its metadata JSON (Circular 05/2025)"},
            "text": {**_NSTR, "description": "its text, pages separated by form feeds"},
        }
    ),
    "Signature": {
        "type": ["object", "null"],
        "properties": {
            "level": {**_STR, "description": "PAdES level (PAdES-B-LT …) or `pending`"},
            "signer": _NSTR,
            "time": {**_NSTR, "description": "ISO 8601 with the Vietnam offset"},
        },
        "required": ["level", "signer", "time"],
    },
    "Fields": _object(
        {
            name: _nullable("integer" if name == "code_number" else "string")
            for name in (*FIELDS, "number")  # what views._fields answers
        }
    ),
    "Document": _object(
        {
            "id": {**_STR, "description": "the document id the upload's 202 gave"},
            "dossier_code": _NSTR,
            "ordinal": {**_NINT, "description": "n of the archived <code>.<n>.pdf"},
            "state": {
                **_STR,
                "enum": [
                    "received",
                    "stored_raw",
                    "processing",
                    "archived",
                    "indexed",
                    "failed",
                    "rejected",
                    "needs_dossier",
                    "duplicate",
                ],
            },
            "reason": {**_NSTR, "description": "why (failed, rejected, needs_dossier, duplicate)"},
            "component_code": {**_NSTR, "description": "MaThanhPhanHoSo"},
            "kind": _nullable("string", enum=["submitted", "result", None]),
            "procedure_code": {**_NSTR, "description": "MaTTHC"},
            "name": _NSTR,
            "fields": _ref("Fields"),
            "pages": _NINT,
            "sha256": {**_STR, "description": "SHA-256 of the original as received"},
            "size": _NINT,
            "pdf_sha256": _NSTR,
            "signature": _ref("Signature"),
            "duplicate_of": _NSTR,
            "received_from": {**_NSTR, "description": "the client, or the scanner station"},
            "created_at": _STR,
            "updated_at": _STR,
            "links": _ref("Links"),
        }
    ),
    "Dossier": _object(
        {
            "dossier_code": _STR,
            "procedure_code": _NSTR,
            "documents": {"type": "array", "items": _ref("Document")},
        }
    ),
    "Accepted": _object(
        {
            "document_id": _STR,
            "batch_id": _STR,
            "dossier_code": _STR,
            "state": {**_STR, "enum": ["stored_raw"]},
            "sha256": _STR,
            "size": _INT,
            "media_type": _STR,
            "component_code": _NSTR,
            "kind": _nullable("string", enum=["submitted", "result", None]),
            "procedure_code": _NSTR,
            "replayed": {
                "type": "boolean",
                "description": "an earlier request with this Idempotency-Key made this document",
            },
            "links": _object({"self": _STR}),
        }
    ),
    "Dvcqg": _object(
        {
            "MaHoSo": _STR,
            "MaTTHC": _NSTR,
            "TaiLieuNop": {
                "type": "array",
                "items": _object(
                    {
                        "TepDinhKemId": _STR,
                        "TenTepDinhKem": _STR,
                        "MaThanhPhanHoSo": _NSTR,
                        "DuongDanTaiTepTin": _STR,
                        "IsDeleted": {"type": "boolean"},
                    }
                ),
            },
            "DanhSachGiayToKetQua": {
                "type": "array",
                "items": _object(
                    {
                        "GiayToId": _STR,
                        "TenGiayTo": _STR,
                        "MaThanhPhanHoSo": _NSTR,
                        "DuongDanTepTinKetQua": _STR,
                    }
                ),
            },
        }
    ),
    "Hit": _object(
        {
            "dossier_code": _STR,
            "document_id": _NSTR,
            "doc_id": _STR,
            "page": _INT,
            "snippet": {**_STR, "description": "matched words in [brackets]"},
            "score": {"type": "number"},
            "pdf_key": _STR,
            "match": {**_STR, "enum": ["exact", "folded", "code", "fields"]},
            "type_name": _NSTR,
            "code_number": _NINT,
            "code_notation": _NSTR,
            "number": _NSTR,
            "issued_date": _NSTR,
            "subject": _NSTR,
            "organ_name": _NSTR,
            "links": _object({"document": _NSTR, "pdf": _NSTR}),
        }
    ),
    "SearchResult": _object({"query": _STR, "hits": {"type": "array", "items": _ref("Hit")}}),
    "Event": {
        "type": "object",
        "properties": {
            "id": {**_INT, "description": "monotonic; the receiver dedupes by it"},
            "type": {
                **_STR,
                "description": "document.archived, .signed, .failed, .needs_dossier,"
                " .rejected, .duplicate",
            },
            "occurred_at": {**_STR, "description": "ISO 8601, +07:00"},
            "dossier_code": _NSTR,
            "document_id": _NSTR,
            "data": {"type": "object", "description": "codes, state, place, sha256, links"},
        },
        "required": ["id", "type", "occurred_at", "dossier_code", "document_id", "data"],
    },
    "EventPage": _object(
        {
            "events": {"type": "array", "items": _ref("Event")},
            "next": {**_INT, "description": "the cursor to send as after= next time"},
        }
    ),
}


def _problem(description: str, **headers: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM: {"schema": _ref("Problem")}},
    }
    if headers:
        out["headers"] = {
            name: {"description": text, "required": True, "schema": _STR}
            for name, text in headers.items()
        }
    return out


def _json(description: str, schema: str, **headers: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {JSON: {"schema": _ref(schema)}},
    }
    if headers:
        out["headers"] = {
            name: {"description": text, "required": True, "schema": _STR}
            for name, text in headers.items()
        }
    return out


def _guarded(scope: str, responses: dict[str, Any]) -> dict[str, Any]:
    """The answers every operation may give besides its own (token, rate, scope, outage)."""
    return {
        **responses,
        "401": _problem(
            "no token, or a token that is unknown or revoked",
            **{"WWW-Authenticate": 'Bearer realm="sohoa" (with error="invalid_token")'},
        ),
        "403": _problem(
            f"the client lacks the scope {scope}",
            **{"WWW-Authenticate": f'Bearer …, error="insufficient_scope", scope="{scope}"'},
        ),
        "429": _problem(
            "more calls than api.rate_per_minute", **{"Retry-After": "seconds to wait"}
        ),
        "503": _problem("storage or database unavailable for now (or a part not configured)"),
    }


_CODE = {
    "name": "code",
    "in": "path",
    "required": True,
    "description": "dossier code (Circular 01/2018 art. 19), e.g. 000.00.13.H38-261120-0001",
    "schema": _STR,
}
_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "document id (d + 11 hex digits)",
    "schema": {"type": "string", "pattern": "^d[0-9a-f]{11}$"},
}


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or _STR,
    }


def _op(summary: str, scope: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": [{"bearer": [scope]}],
        "x-sohoa-scope": scope,
        **more,
        "responses": _guarded(scope, responses),
    }


_NOT_FOUND = _problem("no such document, or no archived copy of it yet")
_UPLOAD_TYPES = ["application/pdf", "image/tiff", "image/jpeg", "image/png"]

PATHS: dict[str, Any] = {
    "/dossiers/{code}/documents": {
        "post": _op(
            "Upload a scanned document into the dossier (custody before the answer)",
            "submit",
            {
                "202": _json(
                    "in custody: the original is in raw, checked by its SHA-256",
                    "Accepted",
                    Location="this document in the API",
                ),
                "400": _problem("not a dossier code, a bad parameter, an empty body"),
                "409": _problem("the Idempotency-Key was used for another upload"),
                "413": _problem("larger than api.max_upload_mb"),
                "415": _problem("not a PDF, TIFF, JPEG or PNG (by its bytes), or a wrong type"),
            },
            parameters=[
                _CODE,
                _q("component", "MaThanhPhanHoSo: letters, digits, . - _ (at most 64)"),
                _q(
                    "kind",
                    "submitted (a paper handed in) or result (what the office issued)",
                    {"type": "string", "enum": ["submitted", "result"]},
                ),
                _q("procedure", "MaTTHC: letters, digits, . - _ (at most 64)"),
                _q("name", "the file's name, as operators will see it"),
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "the same key and bytes give the same document",
                    "schema": {"type": "string", "maxLength": 255},
                },
            ],
            requestBody={
                "required": True,
                "description": "the file itself (not a form), at most api.max_upload_mb",
                "content": {
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in _UPLOAD_TYPES
                },
            },
        )
    },
    "/dossiers/{code}": {
        "get": _op(
            "The dossier's documents: archived copies, and what was uploaded to it",
            "read",
            {
                "200": _json("the dossier", "Dossier"),
                "400": _problem("not a dossier code"),
                "404": _problem("no document of this dossier is known"),
            },
            parameters=[_CODE],
        )
    },
    "/dossiers/{code}/dvcqg": {
        "get": _op(
            "The archived copies as the national portal's TaiLieuNop / DanhSachGiayToKetQua",
            "read",
            {
                "200": _json("MaHoSo, MaTTHC and the two lists", "Dvcqg"),
                "400": _problem("not a dossier code"),
                "404": _problem("no document of this dossier is known"),
            },
            parameters=[_CODE],
        )
    },
    "/documents/{id}": {
        "get": _op(
            "One document: state, place in the dossier, fields, hashes, signature, links",
            "read",
            {"200": _json("the document", "Document"), "404": _NOT_FOUND},
            parameters=[_ID],
        )
    },
    "/documents/{id}/pdf": {
        "get": _op(
            "The signed PDF/A copy (Range answered)",
            "read",
            {
                "200": {
                    "description": "the whole file",
                    "content": {
                        "application/pdf": {"schema": {"type": "string", "format": "binary"}}
                    },
                },
                "206": {
                    "description": "the range asked for",
                    "headers": {"Content-Range": {"required": True, "schema": _STR}},
                    "content": {
                        "application/pdf": {"schema": {"type": "string", "format": "binary"}}
                    },
                },
                "404": _NOT_FOUND,
                "416": {
                    "description": "a range outside the file",
                    "headers": {"Content-Range": {"required": True, "schema": _STR}},
                },
            },
            parameters=[
                _ID,
                {"name": "Range", "in": "header", "required": False, "schema": _STR},
            ],
        )
    },
    "/documents/{id}/metadata": {
        "get": _op(
            "The archived metadata JSON (Circular 05/2025 fields, scan, OCR, signature)",
            "read",
            {
                "200": {
                    "description": "as archived",
                    "content": {JSON: {"schema": {"type": "object"}}},
                },
                "404": _NOT_FOUND,
            },
            parameters=[_ID],
        )
    },
    "/documents/{id}/text": {
        "get": _op(
            "The archived text, pages separated by form feeds",
            "read",
            {
                "200": {"description": "UTF-8, NFC", "content": {"text/plain": {"schema": _STR}}},
                "404": _NOT_FOUND,
            },
            parameters=[_ID],
        )
    },
    "/search": {
        "get": _op(
            "Search, as the web's search: words (accents optional), codes, filters",
            "read",
            {
                "200": _json("the hits, best first", "SearchResult"),
                "400": _problem("a query or filter that cannot be run"),
            },
            parameters=[
                _q("q", 'words, "a phrase", prefix*, or a dossier code'),
                _q("dossier", "dossier code (a trailing * for a prefix)"),
                _q("station", "scanner station"),
                _q("from", "issued (else received) on or after, YYYY-MM-DD"),
                _q("to", "issued (else received) on or before, YYYY-MM-DD"),
                _q("type", "document type contains"),
                _q("number", "263/KH-UBND, 263 or KH-UBND"),
                _q("organ", "issuing organ contains"),
                _q("limit", "at most this many hits (20)", {"type": "integer"}),
            ],
        )
    },
    "/events": {
        "get": _op(
            "The event feed: events after a cursor, oldest first",
            "events",
            {
                "200": _json("a page of events and the next cursor", "EventPage"),
                "400": _problem("after or limit is not a whole number in range"),
            },
            parameters=[
                _q(
                    "after",
                    "the cursor (next of the previous page; 0 from the start)",
                    {"type": "integer", "minimum": 0},
                ),
                _q(
                    "limit",
                    "events per page (100; at most api.feed_max_limit)",
                    {"type": "integer", "minimum": 1},
                ),
            ],
        )
    },
}

DESCRIPTION = f"""sohoa's API for systems (the one-stop software, the provincial LGSP), not people.

Authentication: `Authorization: Bearer <token>`, one token per client, made by
`sohoa clients add NAME --scope {",".join(SCOPES)}` (printed once, kept as its SHA-256,
ended by `sohoa clients revoke NAME`). No cookie, no CSRF token. Scopes: `read` (dossiers,
documents and their files, search, the DVCQG view), `submit` (uploads), `events` (the feed).

Every call is written to sohoa's audit log under `client:<name>`; reading a document's
files is audited before a byte is sent. Each client may make `api.rate_per_minute` calls a
minute (a full minute's calls may come at once), then gets 429 with `Retry-After`.

Errors are RFC 9457 problem details (`application/problem+json`): status, title, detail.
"""


def spec(server_url: str = API_PREFIX) -> dict[str, Any]:
    """The document, with ``server_url`` (the API's base as clients reach it) as its server."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "sohoa /api/v1", "version": __version__, "description": DESCRIPTION},
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a client's token from `sohoa clients add`",
                }
            },
        },
    }


def routes(server_url: Any) -> list[Route]:
    """``/openapi.json``; ``server_url(request)`` is the API's base URL for this request."""

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(spec(server_url(request)), headers=SECURITY_HEADERS)

    return [Route("/openapi.json", openapi, methods=["GET"])]
