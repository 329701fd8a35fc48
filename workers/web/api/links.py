"""Where a document can be fetched through ``/api/v1``: one function both halves use.

``api.public_url`` is the address a one-stop system reaches sohoa by (often through the
provincial LGSP, with a path of its own): every link in an answer, in the DVCQG view and
in the events starts with it. The pipeline never imports this module: the events it
writes carry the same links as paths (``/api/v1/documents/<id>/pdf``), which
:func:`absolute` turns into URLs here (the feed) and in the webhook dispatcher.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from pipeline.config import Config
from workers.web.auth import API_PATHS as API_PREFIX  # the gate lets exactly these past


def document_path(doc_id: str, what: str | None = None) -> str:
    """``/api/v1/documents/<id>[/<what>]`` (``what``: pdf, metadata, text)."""
    path = f"{API_PREFIX}/documents/{quote(doc_id, safe='')}"
    return f"{path}/{what}" if what else path


def document_links(base_url: str, doc: Any) -> dict[str, str | None]:
    """The links of one document: ``self`` always; ``pdf``, ``metadata`` and ``text`` once
    it has an archived copy. ``doc`` is a ledger ``Document`` (or anything with ``id`` and
    ``pdf_key``), or a document id, for which all four are given."""
    if isinstance(doc, str):
        doc_id, archived = doc, True
    else:
        doc_id, archived = doc.id, getattr(doc, "pdf_key", None) is not None
    base = base_url.rstrip("/")
    links: dict[str, str | None] = {"self": base + document_path(doc_id)}
    for what in ("pdf", "metadata", "text"):
        links[what] = base + document_path(doc_id, what) if archived else None
    return links


def absolute(base_url: str, value: Any) -> Any:
    """``value`` with every string that is an API path (``/api/v1/…``) made a URL on
    ``base_url``, however deep in dicts and lists it sits; the rest as it was."""
    if isinstance(value, str):
        if value == API_PREFIX or value.startswith(API_PREFIX + "/"):
            return base_url.rstrip("/") + value
        return value
    if isinstance(value, dict):
        return {k: absolute(base_url, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [absolute(base_url, v) for v in value]
    return value


def base_url(cfg: Config, request: Request) -> str:
    """``api.public_url``, else the scheme and host this request came to (the proxy's
    scheme when the login gate believed it)."""
    if cfg.api.public_url:
        return cfg.api.public_url.rstrip("/")
    scheme = request.scope.get("state", {}).get("scheme") or request.url.scheme
    return f"{scheme}://{request.url.netloc}"
