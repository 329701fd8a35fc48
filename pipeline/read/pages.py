"""Reading pages out of a source file, one at a time, with bounded memory.

The type of a file is decided by its bytes, never its name (a text file called
``.jpg`` is rejected, a TIFF called ``.pdf`` is read as a TIFF). PDF pages are
rendered one by one by poppler (pdf2image) at a DPI chosen so no page exceeds
the pixel budget; image frames are decoded one by one with Pillow under its
decompression-bomb limit. Every failure to read becomes :class:`RejectedInput`
with a sentence an operator can act on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.config import IngestConfig
from pipeline.errors import RejectedInput

PDF = "application/pdf"
TIFF = "image/tiff"
JPEG = "image/jpeg"
PNG = "image/png"
JP2 = "image/jp2"


@dataclass(frozen=True)
class SourceInfo:
    media_type: str
    pages: int
    encrypted: bool = False
    has_text: bool = False
    signed: bool = False
    producer: str | None = None


@dataclass(frozen=True)
class PageImage:
    image: np.ndarray  # BGR uint8 or gray uint8
    dpi: float
    dpi_source: str  # "file" | "config" | "render"
    colour: str  # "colour" | "gray" | "bilevel"


def sniff(path: Path) -> str:
    """The media type from the first bytes; rejects empty and unknown files."""
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if not head:
        raise RejectedInput("empty file (0 bytes)")
    if b"%PDF-" in head[:1024]:
        return PDF
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    if head[:3] == b"\xff\xd8\xff":
        return JPEG
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if head[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or head[:4] == b"\xff\x4f\xff\x51":
        return JP2
    preview = head[:16].decode("latin-1").encode("unicode_escape").decode("ascii")
    raise RejectedInput(f"not a PDF, TIFF, JPEG or PNG file (it starts with {preview!r})")


def inspect(path: Path, cfg: IngestConfig) -> SourceInfo:
    """Open the file enough to count pages and learn its quirks; no page is decoded."""
    media_type = sniff(path)
    if media_type == PDF:
        return _inspect_pdf(path)
    Image.MAX_IMAGE_PIXELS = cfg.max_file_pixels
    try:
        with Image.open(path) as img:
            n = getattr(img, "n_frames", 1)
            w, h = img.size
    except Image.DecompressionBombError as exc:
        raise RejectedInput(f"image too large to decode safely ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise RejectedInput(f"unreadable {media_type} image: {exc}") from exc
    if w * h > cfg.max_file_pixels:
        raise RejectedInput(f"image of {w}x{h} pixels exceeds the limit of {cfg.max_file_pixels}")
    return SourceInfo(media_type=media_type, pages=n)


def _inspect_pdf(path: Path) -> SourceInfo:
    import pikepdf

    try:
        pdf = pikepdf.open(path)
    except pikepdf.PasswordError as exc:
        raise RejectedInput(
            "encrypted PDF that needs a password to open; ask for an unprotected copy"
        ) from exc
    except pikepdf.PdfError as exc:
        raise RejectedInput(f"damaged or invalid PDF: {exc}") from exc
    with pdf:
        n = len(pdf.pages)
        if n == 0:
            raise RejectedInput("PDF has no pages")
        producer = None
        try:
            producer = str(pdf.docinfo.get("/Producer")) if "/Producer" in pdf.docinfo else None
        except (pikepdf.PdfError, ValueError):
            producer = None
        signed = _pdf_is_signed(pdf)
        has_text = _pdf_has_fonts(pdf)
        return SourceInfo(
            media_type=PDF,
            pages=n,
            encrypted=pdf.is_encrypted,
            has_text=has_text,
            signed=signed,
            producer=producer,
        )


def _pdf_is_signed(pdf: object) -> bool:
    try:
        fields = pdf.Root.get("/AcroForm", {}).get("/Fields", [])  # type: ignore[attr-defined]
        return any(f.get("/FT") == "/Sig" for f in fields)
    except Exception:
        return False


def _pdf_has_fonts(pdf: object) -> bool:
    try:
        for page in pdf.pages:  # type: ignore[attr-defined]
            res = page.get("/Resources", {})
            if res.get("/Font"):
                return True
    except Exception:
        return False
    return False


def sane_dpi(value: object, cfg: IngestConfig) -> float | None:
    try:
        dpi = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not math.isfinite(dpi) or dpi < cfg.min_dpi or dpi > cfg.max_dpi:
        return None
    return dpi


def _to_array(img: Image.Image) -> tuple[np.ndarray, str]:
    """Pillow image of any mode → (BGR or gray uint8 array, colour class)."""
    mode = img.mode
    if mode == "1":
        return np.asarray(img.convert("L")), "bilevel"
    if mode in ("L", "I;16", "I;16B", "I;16L", "I", "F"):
        if mode != "L":
            arr = np.asarray(img, dtype=np.float64)
            lo, hi = float(arr.min()), float(arr.max())
            scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
            return scaled.astype(np.uint8), "gray"
        return np.asarray(img), "gray"
    if mode in ("LA", "PA", "RGBA", "P", "La", "RGBa"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba).convert("RGB")
    elif mode != "RGB":
        img = img.convert("RGB")
    rgb = np.asarray(img)
    if (
        rgb.ndim == 3
        and np.array_equal(rgb[..., 0], rgb[..., 1])
        and np.array_equal(rgb[..., 1], rgb[..., 2])
    ):
        return np.ascontiguousarray(rgb[..., 0]), "gray"
    return np.ascontiguousarray(rgb[..., ::-1]), "colour"


def load_page(path: Path, media_type: str, index: int, cfg: IngestConfig) -> PageImage:
    """Decode page ``index`` (0-based) only."""
    if media_type == PDF:
        return _render_pdf_page(path, index, cfg)
    Image.MAX_IMAGE_PIXELS = cfg.max_file_pixels
    try:
        with Image.open(path) as img:
            img.seek(index)
            dpi_info = img.info.get("dpi")
            img.load()
            frame = ImageOps.exif_transpose(img) if media_type == JPEG else img.copy()
    except Image.DecompressionBombError as exc:
        raise RejectedInput(f"page {index + 1}: image too large to decode safely ({exc})") from exc
    except EOFError as exc:
        raise RejectedInput(f"page {index + 1} is missing (file truncated?)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise RejectedInput(
            f"page {index + 1} cannot be decoded (truncated or corrupt): {exc}"
        ) from exc
    dpi = None
    if isinstance(dpi_info, tuple) and dpi_info:
        dpi = sane_dpi(dpi_info[0], cfg)
    source = "file"
    if dpi is None:
        dpi, source = float(cfg.default_dpi), "config"
    arr, colour = _to_array(frame)
    return PageImage(arr, dpi, source, colour)


def pdf_render_dpi(width_pt: float, height_pt: float, cfg: IngestConfig) -> float:
    """The configured DPI, lowered just enough that the page fits the pixel budget."""
    dpi = float(cfg.pdf_render_dpi)
    pixels = (width_pt / 72 * dpi) * (height_pt / 72 * dpi)
    if pixels > cfg.max_page_pixels:
        dpi = math.floor(dpi * math.sqrt(cfg.max_page_pixels / pixels))
    return max(dpi, 10.0)


def _pdf_page_size(path: Path, index: int) -> tuple[float, float]:
    import pikepdf

    with pikepdf.open(path) as pdf:
        page = pdf.pages[index]
        box = page.trimbox if "/TrimBox" in page.obj else page.mediabox
        w = abs(float(box[2]) - float(box[0]))
        h = abs(float(box[3]) - float(box[1]))
        unit = float(page.obj.get("/UserUnit", 1))
    return w * unit, h * unit


def _render_pdf_page(path: Path, index: int, cfg: IngestConfig) -> PageImage:
    from pdf2image import convert_from_path
    from pdf2image.exceptions import PDFPageCountError, PDFSyntaxError

    from pipeline.read.pdfimage import full_page_image

    Image.MAX_IMAGE_PIXELS = cfg.max_file_pixels
    scanned = full_page_image(str(path), index, cfg)
    if scanned is not None:
        image, dpi, rotate = scanned
        arr, colour = _to_array(image)
        if rotate is not None:
            arr = np.ascontiguousarray(cv2.rotate(arr, rotate))
        return PageImage(arr, dpi, "image", colour)

    try:
        w_pt, h_pt = _pdf_page_size(path, index)
    except Exception as exc:
        raise RejectedInput(f"page {index + 1}: cannot read page size: {exc}") from exc
    dpi = pdf_render_dpi(w_pt, h_pt, cfg)
    try:
        images = convert_from_path(
            str(path), dpi=dpi, first_page=index + 1, last_page=index + 1, timeout=600
        )
    except (PDFPageCountError, PDFSyntaxError) as exc:
        raise RejectedInput(f"page {index + 1}: poppler cannot render it: {exc}") from exc
    if not images:
        raise RejectedInput(f"page {index + 1}: poppler rendered nothing")
    arr, colour = _to_array(images[0])
    return PageImage(arr, dpi, "render", colour)
