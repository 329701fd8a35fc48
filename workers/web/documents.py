"""The records staff's document views: page images with the matched words boxed (issue 13).

Server-rendered, no scripts. A page image is rendered on the server from the archived
PDF with poppler (``pdftoppm``, one page at a time) and cached under
``SOHOA_HOME/cache/web`` (private and bounded, :mod:`workers.web.cache`); the boxes
come from the document's ``.words.json`` (the OCR word boxes kept beside the PDF) and
are drawn as absolutely placed ``<span>``s over the image, in percentages of the
page, so one set of boxes fits the thumbnail and the page view alike. Every image and
page is looked up through the search index first: only indexed documents are shown,
whatever a URL says. The routes that use these are in :mod:`workers.web.routes.pages`,
behind the login gate like every other.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from pipeline.archive.layout import words_key
from pipeline.config import Config
from pipeline.dossier import normalize_code
from pipeline.errors import QueryError
from pipeline.lang.textnorm import fold
from pipeline.storage.index import SearchIndex
from pipeline.storage.index.query import TOKEN_RE, parse_query
from pipeline.storage.index.records import IndexedDocument
from workers.web.cache import WebCache

THUMB_WIDTH = 320
PAGE_WIDTH = 1100
WIDTHS = (THUMB_WIDTH, PAGE_WIDTH)  # the only sizes rendered (a cache entry each)
_DOC_ID_RE = re.compile(r"^(?P<code>[0-9A-Z.]+-\d{6}-\d{4,7})\.(?P<n>\d{1,6})$")


def page_href(doc_id: str, page: int, q: str = "") -> str:
    query = f"?{urlencode({'q': q})}" if q else ""
    return f"/document/{quote(doc_id, safe='')}/page/{page}{query}"


def image_href(doc_id: str, page: int, width: int) -> str:
    return f"/document/{quote(doc_id, safe='')}/page/{page}.png?w={width}"


def number_text(meta: dict[str, Any]) -> str | None:
    number, notation = meta.get("code_number"), meta.get("code_notation")
    if number is not None and notation:
        return f"{number}/{notation}"
    if notation:
        return f"…/{notation}"
    return None if number is None else str(number)


def query_tokens(q: str) -> list[tuple[str, bool]]:
    """(folded token, is prefix) of every word the person typed (codes are not on pages)."""
    if not q.strip():
        return []
    try:
        parsed = parse_query(q)
    except QueryError:
        return []
    out = []
    for unit in parsed.units:
        for i, token in enumerate(unit.tokens):
            out.append((fold(token).lower(), unit.prefix and i == len(unit.tokens) - 1))
    return out


def matched_boxes(page: dict[str, Any], tokens: Sequence[tuple[str, bool]]) -> list[dict]:
    """The words of one page that match the query, as boxes in % of the page (for CSS)."""
    if not tokens:
        return []
    width, height = page.get("width") or 1, page.get("height") or 1
    out = []
    for word in page.get("words", []):
        text, x0, y0, x1, y1 = word[:5]
        pieces = [fold(t).lower() for t in TOKEN_RE.findall(str(text))]
        if not pieces:
            continue
        hit = any(
            (p.startswith(tok) if prefix else p == tok) for p in pieces for tok, prefix in tokens
        )
        if hit:
            out.append(
                {
                    "left": round(100 * x0 / width, 3),
                    "top": round(100 * y0 / height, 3),
                    "width": round(100 * (x1 - x0) / width, 3),
                    "height": round(100 * (y1 - y0) / height, 3),
                    "text": str(text),
                }
            )
    return out


class PageImages:
    """Page images rendered from archived PDFs with poppler, cached on disk; words cached."""

    def __init__(self, cfg: Config, store: Callable[[], Any]) -> None:
        self.cache = WebCache.from_config(cfg)
        self.folder = self.cache.folder
        self.store = store
        self.lock = threading.Lock()
        self.words: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def _pdf(self, key: str) -> Path:
        path = self.pdf_path(key)
        if not path.is_file():
            self.cache.ensure()
            store = self.store()
            part = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
            try:
                store.download(store.archive_bucket, key, part)
                self.cache.seal(part)
                os.replace(part, path)
            finally:
                part.unlink(missing_ok=True)
        return path

    def pdf_path(self, key: str) -> Path:
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        return self.folder / f"{name}.pdf"

    def png(self, key: str, page: int, width: int) -> bytes:
        """The page as a PNG, from the cache or rendered now; its files are kept from
        pruning meanwhile, and made again if another process pruned them."""
        pdf = self.pdf_path(key)
        out = pdf.with_name(f"{pdf.stem}-p{page}-w{width}.png")
        try:
            with self.cache.using(pdf, out):
                try:
                    return self._png(key, out, page, width)
                except (FileNotFoundError, subprocess.CalledProcessError):
                    return self._png(key, out, page, width)  # pruned under us: once more
        finally:
            self.cache.maybe_prune()

    def _png(self, key: str, out: Path, page: int, width: int) -> bytes:
        if not out.is_file():
            pdf = self._pdf(key)
            stem = out.with_name(f"{out.stem}.tmp{os.getpid()}-{threading.get_ident()}")
            subprocess.run(
                [
                    "pdftoppm",
                    "-f",
                    str(page),
                    "-l",
                    str(page),
                    "-singlefile",
                    "-png",
                    "-scale-to-x",
                    str(width),
                    "-scale-to-y",
                    "-1",
                    str(pdf),
                    str(stem),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            self.cache.seal(f"{stem}.png")
            os.replace(f"{stem}.png", out)
        return out.read_bytes()

    def page_words(self, metadata_key: str) -> dict[str, Any]:
        """The ``.words.json`` of a document (empty when it was archived before it existed)."""
        key = words_key(metadata_key)
        with self.lock:
            if key in self.words:
                self.words.move_to_end(key)
                return self.words[key]
        store = self.store()
        try:
            if store.stat(store.archive_bucket, key) is None:
                data: dict[str, Any] = {"pages": []}
            else:
                data = json.loads(store.get_bytes(store.archive_bucket, key))
        except (ValueError, UnicodeDecodeError):
            data = {"pages": []}
        with self.lock:
            self.words[key] = data
            while len(self.words) > 64:
                self.words.popitem(last=False)
        return data


def find_document(index: SearchIndex, doc_id: str) -> IndexedDocument | None:
    """The indexed document ``<code>.<n>``, or None (never a key from the URL itself)."""
    match = _DOC_ID_RE.match(doc_id or "")
    if not match or normalize_code(match["code"]) is None:
        return None
    for doc in index.dossier_documents(match["code"], snippet_tokens=1):
        if doc.doc_id == doc_id:
            return doc
    return None


def metadata_key_of(doc: IndexedDocument) -> str:
    return doc.pdf_key[: -len(".pdf")] + ".json"


def page_boxes(images: PageImages, doc: IndexedDocument, page: int, q: str) -> list[dict]:
    data = images.page_words(metadata_key_of(doc))
    pages = data.get("pages") or []
    if not 1 <= page <= len(pages):
        return []
    return matched_boxes(pages[page - 1], query_tokens(q))
