"""Reading pages out of a source file, one at a time, with bounded memory and time.

The type of a file is decided by its bytes, never its name (a text file called
``.jpg`` is rejected, a TIFF called ``.pdf`` is read as a TIFF). A PDF's
structure is inspected once, in a child process under a memory limit (see
:mod:`pipeline.read.pdfinspect`); its pages are then rendered one by one by
poppler's ``pdftoppm`` at a DPI chosen so no page exceeds the pixel budget, under
the same memory limit and a timeout. Image frames are decoded one by one with
Pillow under its decompression-bomb limit. A file with more pages (or frames)
than ``ingest.max_pages`` is refused at inspection. Every failure to read becomes
:class:`RejectedInput` with a sentence an operator can act on.
"""

from __future__ import annotations

import json
import math
import struct
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.config import IngestConfig
from pipeline.errors import RejectedInput
from pipeline.read.limits import run_limited

PDF = "application/pdf"
TIFF = "image/tiff"
JPEG = "image/jpeg"
PNG = "image/png"
JP2 = "image/jp2"


TIFF_WALK_FACTOR = 100  # frames counted past ingest.max_pages, to tell the operator how many
MIN_PAGE_SIDE = 8  # pixels; a smaller page holds nothing to read (and breaks downscaling)


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
    # Its first characters as a person reads them, with a dot for each control byte
    # (b"hello\n" reads hello·): no backslash that JSON and logs would escape again.
    preview = "".join(c if c.isprintable() else "·" for c in head[:16].decode("latin-1"))
    raise RejectedInput(f"not a PDF, TIFF, JPEG or PNG file (it starts with '{preview}')")


def inspect(path: Path, cfg: IngestConfig) -> SourceInfo:
    """Open the file enough to count pages and learn its quirks; no page is decoded."""
    media_type = sniff(path)
    if media_type == PDF:
        return _inspect_pdf(path, cfg)
    Image.MAX_IMAGE_PIXELS = cfg.max_file_pixels
    try:
        with Image.open(path) as img:
            # Pillow's n_frames reads every TIFF directory (40 s for 100,000 frames); a
            # TIFF is counted by walking its directory chain, stopping well past the cap.
            n = tiff_frames(path, TIFF_WALK_FACTOR * cfg.max_pages) if media_type == TIFF else 0
            n = n or getattr(img, "n_frames", 1)
            w, h = img.size
    except Image.DecompressionBombError as exc:
        raise RejectedInput(f"image too large to decode safely ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as exc:
        raise RejectedInput(f"unreadable {media_type} image: {exc}") from exc
    if w * h > cfg.max_file_pixels:
        raise RejectedInput(f"image of {w}x{h} pixels exceeds the limit of {cfg.max_file_pixels}")
    if n > cfg.max_pages:
        many = f"{n:,}" if n <= TIFF_WALK_FACTOR * cfg.max_pages else f"more than {n - 1:,}"
        raise RejectedInput(
            f"image file has {many} frames (pages); limit {cfg.max_pages:,} (ingest.max_pages);"
            " split it into smaller files"
        )
    return SourceInfo(media_type=media_type, pages=n)


def tiff_frames(path: Path, stop_after: int) -> int:
    """Frames of a TIFF, by following its chain of image directories (IFDs) without decoding.

    Stops at ``stop_after + 1``, at a directory already seen (a chain that loops back,
    which Pillow also stops at) and at one past the end of the file.
    """
    with open(path, "rb") as fh:
        head = fh.read(16)
        order = "<" if head[:2] == b"II" else ">"
        big = struct.unpack(order + "H", head[2:4])[0] == 43
        offset = struct.unpack(order + ("Q" if big else "I"), head[8:16] if big else head[4:8])[0]
        end = fh.seek(0, 2)
        seen: set[int] = set()
        while offset and offset not in seen and offset + 8 <= end and len(seen) <= stop_after:
            seen.add(offset)
            offset = _next_ifd(fh, offset, order, big)
    return len(seen)


def _next_ifd(fh: BinaryIO, offset: int, order: str, big: bool) -> int:
    fh.seek(offset)
    count_fmt, entry, next_fmt = ("Q", 20, "Q") if big else ("H", 12, "I")
    (count,) = struct.unpack(order + count_fmt, fh.read(struct.calcsize(count_fmt)))
    fh.seek(offset + struct.calcsize(count_fmt) + count * entry)
    size = struct.calcsize(next_fmt)
    data = fh.read(size)
    return struct.unpack(order + next_fmt, data)[0] if len(data) == size else 0


def _inspect_pdf(path: Path, cfg: IngestConfig) -> SourceInfo:
    """The PDF inspection (pdfinspect) in a child process under ingest.pdf_memory_mb."""
    cmd = [
        sys.executable,
        "-m",
        "pipeline.read.pdfinspect",
        str(path),
        str(cfg.max_pages),
        str(cfg.max_pdf_objects),
        str(cfg.pdf_memory_mb),
    ]
    done = run_limited(
        cmd, memory_mb=cfg.pdf_memory_mb, timeout=cfg.pdf_timeout_seconds, self_limiting=True
    )
    if done.timed_out:
        raise RejectedInput(
            f"PDF structure takes longer than {cfg.pdf_timeout_seconds:g} s to read"
            " (ingest.pdf_timeout_seconds)"
        )
    if done.out_of_memory:
        raise RejectedInput(
            f"PDF structure needs more than {cfg.pdf_memory_mb:,} MB to read"
            " (ingest.pdf_memory_mb); a scanned document needs a few MB"
        )
    try:
        answer = json.loads(done.stdout.decode("utf-8").strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RejectedInput(f"damaged or invalid PDF: {last}") from exc
    if "rejected" in answer:
        raise RejectedInput(answer["rejected"])
    return SourceInfo(media_type=PDF, **answer["facts"])


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
        del rgba, white
    elif mode != "RGB":
        img = img.convert("RGB")
    width = img.width
    return neutral_or_bgr(
        img.height, width, lambda y, n: np.asarray(img.crop((0, y, width, y + n)))
    )


BAND_BYTES = 2 * 2**20  # RGB rows looked at a time: bands that stay in cache (16 MB: 3x slower)
_NEAREST_ONLY = {"1": "L", "P": "RGBA", "PA": "RGBA"}  # modes to convert before scaling down


def neutral_or_bgr(
    height: int, width: int, band: Callable[[int, int], np.ndarray]
) -> tuple[np.ndarray, str]:
    """(gray array, "gray") when every pixel is neutral, else (BGR array, "colour").

    ``band(y, n)`` gives RGB rows y..y+n. Working a band at a time, a gray page
    never exists as a full RGB array here, and a colour page is copied once,
    straight into its BGR array: the whole-page comparisons and channel flips
    this replaced took 7 bytes per pixel on top of the image (836 MB at 81 MP).
    Each band is fetched once: the first band with colour in it turns the gray rows
    read so far into BGR and the rest goes straight there (a colour scan shows it in
    its first band, so its gray array is never made; reading every band twice cost
    a 300-dpi colour page 90 ms against 30).
    """
    rows = max(1, BAND_BYTES // (3 * width))
    gray: np.ndarray | None = None
    bgr: np.ndarray | None = None
    for y in range(0, height, rows):
        rgb = np.ascontiguousarray(band(y, min(rows, height - y)))
        if bgr is None and _neutral(rgb):
            if gray is None:
                gray = np.empty((height, width), np.uint8)
            gray[y : y + len(rgb)] = rgb[..., 0]
            continue
        if bgr is None:
            bgr = np.empty((height, width, 3), np.uint8)
            if gray is not None:
                cv2.cvtColor(gray[:y], cv2.COLOR_GRAY2BGR, dst=bgr[:y])
                gray = None
        cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR, dst=bgr[y : y + len(rgb)])
    if bgr is not None:
        return bgr, "colour"
    return (np.empty((height, width), np.uint8) if gray is None else gray), "gray"


def _neutral(rgb: np.ndarray) -> bool:
    return np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])


def _refuse_tiny(width: int, height: int, index: int) -> None:
    if min(width, height) < MIN_PAGE_SIDE:
        raise RejectedInput(
            f"page {index + 1} is {width}x{height} pixels: too small to hold anything to read"
        )


def fit_factor(width: int, height: int, max_pixels: int) -> float:
    """The scale (at most 1) that brings width x height within ``max_pixels``."""
    pixels = width * height
    return 1.0 if pixels <= max_pixels else math.sqrt(max_pixels / pixels)


def load_page(path: Path, media_type: str, index: int, cfg: IngestConfig) -> PageImage:
    """Decode page ``index`` (0-based) only.

    A frame larger than ``ingest.max_page_pixels`` is scaled down to fit it (its
    DPI with it), as a PDF page that large is rendered at a lower DPI: every later
    stage costs memory in proportion to the page's pixels.
    """
    if media_type == PDF:
        return _render_pdf_page(path, index, cfg)
    Image.MAX_IMAGE_PIXELS = cfg.max_file_pixels
    try:
        with Image.open(path) as img:
            img.seek(index)
            w, h = img.size
            if w * h > cfg.max_file_pixels:  # Pillow checks only the first frame's size
                raise RejectedInput(
                    f"page {index + 1}: image of {w}x{h} pixels exceeds the limit of"
                    f" {cfg.max_file_pixels} (ingest.max_file_pixels)"
                )
            _refuse_tiny(w, h, index)
            dpi_info = img.info.get("dpi")
            fit = fit_factor(w, h, cfg.max_page_pixels)
            target = (max(1, math.floor(w * fit)), max(1, math.floor(h * fit)))
            if fit < 1 and media_type == JPEG:
                img.draft(img.mode, target)  # libjpeg decodes at 1/2, 1/4 or 1/8 directly
            img.load()
            frame: Image.Image = img
            scale = 1.0
            if fit < 1:
                if frame.mode in _NEAREST_ONLY:  # Pillow resizes these by nearest pixel
                    frame = frame.convert(_NEAREST_ONLY[frame.mode])
                frame = frame.resize(target, Image.Resampling.BOX)
                scale = target[0] / w
            if media_type == JPEG:
                frame = ImageOps.exif_transpose(frame)
            arr, colour = _to_array(frame)
            del frame
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
    return PageImage(arr, dpi * scale, source, colour)


def pdf_render_dpi(width_pt: float, height_pt: float, cfg: IngestConfig) -> float:
    """The configured DPI, lowered just enough that the page fits the pixel budget."""
    dpi = float(cfg.pdf_render_dpi)
    pixels = (width_pt / 72 * dpi) * (height_pt / 72 * dpi)
    if pixels > cfg.max_page_pixels:
        dpi = math.floor(dpi * math.sqrt(cfg.max_page_pixels / pixels))
    return max(dpi, 10.0)


def _page_size(page: object) -> tuple[float, float]:
    """The page's trim box (else media box) in points, times its /UserUnit."""
    obj = page.obj  # type: ignore[attr-defined]
    box = page.trimbox if "/TrimBox" in obj else page.mediabox  # type: ignore[attr-defined]
    w = abs(float(box[2]) - float(box[0]))
    h = abs(float(box[3]) - float(box[1]))
    unit = float(obj.get("/UserUnit", 1))
    return w * unit, h * unit


def _render_pdf_page(path: Path, index: int, cfg: IngestConfig) -> PageImage:
    import pikepdf

    from pipeline.read.pdfimage import full_page_image

    Image.MAX_IMAGE_PIXELS = cfg.max_file_pixels
    try:
        # The file passed inspection, so opening it and finding one page is bounded.
        with pikepdf.open(path) as pdf:
            page = pdf.pages[index]
            scanned = full_page_image(page, cfg)
            size = _page_size(page) if scanned is None else None
    except Exception as exc:
        raise RejectedInput(f"page {index + 1}: cannot read page size: {exc}") from exc
    if scanned is not None:
        image, dpi, rotate = scanned
        _refuse_tiny(image.width, image.height, index)
        arr, colour = _to_array(image)
        if rotate is not None:
            arr = np.ascontiguousarray(cv2.rotate(arr, rotate))
        return PageImage(arr, dpi, "image", colour)
    assert size is not None
    dpi = pdf_render_dpi(*size, cfg)
    arr, colour = render_page(path, index, dpi, cfg)
    _refuse_tiny(arr.shape[1], arr.shape[0], index)
    return PageImage(arr, dpi, "render", colour)


def render_page(path: Path, index: int, dpi: float, cfg: IngestConfig) -> tuple[np.ndarray, str]:
    """Page ``index`` rendered by ``pdftoppm`` under ingest.pdf_memory_mb and a timeout.

    pdftoppm writes the page to a file, read back a band at a time, so this process
    holds the page once (gray when the render is gray), not the two or three copies
    that reading it from a pipe and converting it take.
    """
    page = index + 1
    with tempfile.TemporaryDirectory(prefix="sohoa-render-") as tmp:
        stem = Path(tmp) / "page"
        # -cropbox: the page a viewer shows; what lies outside it is not on the page.
        cmd = ["pdftoppm", "-r", f"{dpi:g}", "-f", str(page), "-l", str(page)]
        cmd += ["-cropbox", "-singlefile"]
        done = run_limited(
            [*cmd, str(path), str(stem)],
            memory_mb=cfg.pdf_memory_mb,
            timeout=cfg.pdf_timeout_seconds,
        )
        out = stem.with_suffix(".ppm")
        if done.timed_out:
            raise RejectedInput(
                f"page {page}: rendering takes longer than {cfg.pdf_timeout_seconds:g} s"
                " (ingest.pdf_timeout_seconds)"
            )
        if done.out_of_memory:
            raise RejectedInput(
                f"page {page}: rendering needs more than {cfg.pdf_memory_mb:,} MB"
                " (ingest.pdf_memory_mb)"
            )
        if done.returncode != 0 or not out.exists():
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise RejectedInput(f"page {page}: poppler cannot render it: {last}")
        try:
            return read_ppm(out)
        except (OSError, ValueError) as exc:
            raise RejectedInput(f"page {page}: poppler rendered nothing usable: {exc}") from exc


def read_ppm(path: Path) -> tuple[np.ndarray, str]:
    """A binary PGM or PPM file as (gray, "gray") or, with any colour in it, (BGR, "colour")."""
    with open(path, "rb") as fh:
        magic, width, height, maxval, start = _pnm_header(fh)
        if maxval != 255:
            raise ValueError(f"{path.name}: {maxval + 1} levels per sample, expected 256")
        if magic == b"P5":
            gray = np.fromfile(fh, np.uint8, count=width * height)
            if gray.size != width * height:
                raise ValueError(f"{path.name}: truncated")
            return gray.reshape(height, width), "gray"

        def band(y: int, n: int) -> np.ndarray:
            fh.seek(start + y * width * 3)
            rgb = np.fromfile(fh, np.uint8, count=n * width * 3)
            if rgb.size != n * width * 3:
                raise ValueError(f"{path.name}: truncated")
            return rgb.reshape(n, width, 3)

        return neutral_or_bgr(height, width, band)


def _pnm_header(fh: BinaryIO) -> tuple[bytes, int, int, int, int]:
    """(magic, width, height, maxval, offset of the first sample) of a binary PNM file."""
    head = fh.read(512)
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:
        while pos < len(head) and head[pos : pos + 1].isspace():
            pos += 1
        if head[pos : pos + 1] == b"#":
            pos = head.index(b"\n", pos) + 1
            continue
        end = pos
        while end < len(head) and not head[end : end + 1].isspace():
            end += 1
        if end == pos:
            raise ValueError("not a PNM file")
        fields.append(head[pos:end])
        pos = end
    magic = fields[0]
    if magic not in (b"P5", b"P6"):
        raise ValueError(f"not a binary PPM/PGM file ({magic!r})")
    width, height, maxval = (int(f) for f in fields[1:])
    start = pos + 1  # exactly one whitespace byte after maxval
    fh.seek(start)
    return magic, width, height, maxval, start
