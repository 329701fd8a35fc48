"""Errors of ``/api/v1`` as RFC 9457 problem details: JSON a system can read, never a page.

Every refusal is ``application/problem+json`` with ``status``, ``title`` and a ``detail``
sentence for the people who wire the systems together (what to change), never a
traceback, a host name or a key. :class:`Refusal` is how the API's own code stops a
request with one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from starlette.responses import JSONResponse

from workers.web.auth import SECURITY_HEADERS

PROBLEM_TYPE = "application/problem+json"


class Refusal(Exception):
    """A request the API answers with ``status`` and ``detail`` (and ``headers``)."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def problem(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = {"status": status, "title": HTTPStatus(status).phrase, "detail": detail}
    return JSONResponse(
        body,
        status_code=status,
        media_type=PROBLEM_TYPE,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def refusal_response(refusal: Refusal) -> JSONResponse:
    return problem(refusal.status, refusal.detail, refusal.headers)
