"""A page of an archived PDF as a picture for the browser: the scan embedded in it.

Archived pages are the scanned image with an invisible text layer, so the page's
largest image is the scan itself; a JPEG is passed on as it is (no re-encoding),
anything else becomes a PNG. Nothing is rendered, so no PDF content is interpreted.
"""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
from pikepdf import PdfImage

from pipeline.errors import NotFound

_TYPES = {".jpg": "image/jpeg", ".png": "image/png"}


def page_image(pdf: Path, index: int) -> tuple[bytes, str]:
    """(bytes, media type) of the largest image on page ``index`` (0-based) of ``pdf``."""
    with pikepdf.open(pdf) as doc:
        if not 0 <= index < len(doc.pages):
            raise NotFound(f"page {index + 1}")
        page = doc.pages[index]
        found = page.get_images() if hasattr(page, "get_images") else page.images
        images = list(found.values())
        if not images:
            raise NotFound(f"page {index + 1} holds no image")
        best = max(images, key=lambda im: int(im.get("/Width", 0)) * int(im.get("/Height", 0)))
        image = PdfImage(best)
        buf = io.BytesIO()
        ext = image.extract_to(stream=buf)
        if ext in _TYPES:
            return buf.getvalue(), _TYPES[ext]
        out = io.BytesIO()
        image.as_pil_image().save(out, format="PNG")
        return out.getvalue(), "image/png"
