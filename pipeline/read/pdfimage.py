"""Taking a scanned PDF page's image as it is, instead of rendering the page.

Most scanned PDFs draw one image over the whole page and nothing else. Decoding
that image directly keeps the scanner's own pixels and resolution and costs a
tenth of a poppler render (0.04 s against 0.4 s for an A4 page at 300 dpi). Any
page that is not plainly that (text, vector art, masks, several images, an odd
transform, an image poppler would have to resample) returns None and is
rendered as before, so this is purely a fast path.

Being a fast path, it never does unbounded work for a file: a scanned page's
content stream is a few dozen bytes, so it is inflated only up to
MAX_CONTENT_BYTES and read with a small tokenizer of its own (pikepdf's parser
turned a 20 KB page of five million ``q Q`` into 3 GB of Python objects); an
image is decoded only when its stream cannot inflate beyond what its declared
size needs (a 100x100 image whose stream inflates to a gigabyte is poppler's to
render: poppler stops reading at the size it needs, qpdf decodes all of it).
"""

from __future__ import annotations

import io
import math
import re
import zlib

import numpy as np
import pikepdf
from PIL import Image

from pipeline.config import IngestConfig

_ALLOWED_OPS = {"q", "Q", "cm", "Do"}
_ROTATE = {0: None, 90: 0, 180: 1, 270: 2}  # /Rotate → cv2.rotate code (clockwise turns)
MAX_CONTENT_BYTES = 64 * 1024  # decoded; a scanned page's is ~40 bytes
MAX_CONTENT_STREAMS = 16  # a /Contents array longer than this is not a scanned page
# Images whose every filter can be bounded: Flate by inflating to the declared size
# at most, the others because their decoders size the output from a header.
_FLATE = "/FlateDecode"
_SIZED_BY_HEADER = {"/DCTDecode", "/JPXDecode"}  # the header's size is checked
_SIZED_BY_DICT = {"/CCITTFaxDecode"}  # decoded at the dictionary's /Width and /Height

_LEX = re.compile(
    rb"(?P<ws>\s+|%[^\r\n]*)"
    rb"|(?P<num>[+-]?(?:\d+\.\d*|\.\d+|\d+))"
    rb"|(?P<name>/[^\s/\[\]()<>{}%]*)"
    rb"|(?P<op>[A-Za-z][A-Za-z0-9*]*|['\"])"
    rb"|(?P<other>.)",
    re.S,
)
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")

Op = tuple[list[float | str], str]


def tokenize(data: bytes) -> list[Op] | None:
    """(operands, operator) pairs of a content stream of numbers, names and operators only.

    Anything else (strings, arrays, dictionaries, inline images) returns None: it
    cannot be a page that only draws one image, so it goes to the renderer.
    """
    ops: list[Op] = []
    operands: list[float | str] = []
    for m in _LEX.finditer(data):
        kind = m.lastgroup
        if kind == "ws":
            continue
        token = m.group()
        if kind == "num":
            operands.append(float(token))
        elif kind == "name":
            name = _NAME_ESCAPE.sub(lambda e: bytes([int(e.group(1), 16)]), token)
            operands.append(name.decode("latin-1"))
        elif kind == "op":
            if token == b"BI":
                return None  # an inline image: binary data follows, nothing to lex
            ops.append((operands, token.decode("ascii")))
            operands = []
        else:
            return None
    return ops


def _filters(stream: pikepdf.Stream) -> list[str] | None:
    """The stream's filter names ([] for none), or None when /Filter is not a name or array."""
    raw = stream.get("/Filter")
    if raw is None:
        names: list[str] = []
    elif isinstance(raw, pikepdf.Name):
        names = [str(raw)]
    elif isinstance(raw, pikepdf.Array):
        names = [str(f) for f in raw]
    else:
        return None
    return names


def inflate_capped(stream: pikepdf.Stream, cap: int) -> bytes | None:
    """The stream's decoded bytes if they are at most ``cap``; None if more, or not Flate/plain.

    Never inflates more than ``cap + 1`` bytes, whatever the stream holds.
    """
    names = _filters(stream)
    if names is None or len(names) > 1 or (names and names[0] != _FLATE):
        return None
    if names and stream.get("/DecodeParms") is not None:
        return None  # a predictor on a content stream: not what scanners write
    try:
        length = int(stream.get("/Length", 0))
    except (TypeError, ValueError):
        return None
    if length > cap:  # compressed larger than the cap: decoded cannot be smaller in practice
        return None
    raw = stream.read_raw_bytes()
    if not names:
        return raw if len(raw) <= cap else None
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(raw, cap + 1)
    except zlib.error:
        return None
    return data if len(data) <= cap else None


def page_content(page: pikepdf.Page) -> bytes | None:
    """The page's whole content, decoded, if it fits MAX_CONTENT_BYTES; else None."""
    contents = page.obj.get("/Contents")
    if isinstance(contents, pikepdf.Stream):
        streams = [contents]
    elif isinstance(contents, pikepdf.Array) and len(contents) <= MAX_CONTENT_STREAMS:
        streams = list(contents)
    else:
        return None
    out = bytearray()
    for stream in streams:
        if not isinstance(stream, pikepdf.Stream):
            return None
        data = inflate_capped(stream, MAX_CONTENT_BYTES - len(out))
        if data is None:
            return None
        out += data + b"\n"
    return bytes(out)


def _matrix(operands: list[float | str]) -> np.ndarray:
    a, b, c, d, e, f = (float(x) for x in operands)
    return np.array([[a, b, 0.0], [c, d, 0.0], [e, f, 1.0]])


def _single_image_draw(page: pikepdf.Page) -> tuple[pikepdf.Object, np.ndarray] | None:
    """The one image XObject the page draws and its transform, or None for anything else."""
    content = page_content(page)
    ops = tokenize(content) if content is not None else None
    if not ops:
        return None
    ctm = np.eye(3)
    stack: list[np.ndarray] = []
    drawn: tuple[pikepdf.Object, np.ndarray] | None = None
    xobjects = page.obj.get("/Resources", {}).get("/XObject", {})
    for operands, op in ops:
        if op not in _ALLOWED_OPS:
            return None
        if op == "q":
            stack.append(ctm)
        elif op == "Q":
            if not stack:
                return None
            ctm = stack.pop()
        elif op == "cm":
            if len(operands) != 6 or any(isinstance(v, str) for v in operands):
                return None
            ctm = _matrix(operands) @ ctm
        else:
            if len(operands) != 1 or not isinstance(operands[0], str):
                return None
            xobj = xobjects.get(operands[0])
            if drawn is not None or xobj is None or xobj.get("/Subtype") != "/Image":
                return None
            drawn = (xobj, ctm)
    return drawn


def _covers_page(ctm: np.ndarray, box: pikepdf.Array) -> bool:
    """An upright, unflipped draw of the unit square onto the whole media box (±1 %)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    a, b, c, d, e, f = ctm[0, 0], ctm[0, 1], ctm[1, 0], ctm[1, 1], ctm[2, 0], ctm[2, 1]
    if abs(b) > 1e-6 or abs(c) > 1e-6 or a <= 0 or d <= 0:
        return False
    tol_w, tol_h = 0.01 * w, 0.01 * h
    return (
        abs(a - w) <= tol_w
        and abs(d - h) <= tol_h
        and abs(e - x0) <= tol_w
        and abs(f - y0) <= tol_h
    )


def _components(xobj: pikepdf.Stream) -> int:
    """Colour components per sample; 4 (the most) when the colour space is unusual."""
    space = xobj.get("/ColorSpace")
    if xobj.get("/ImageMask"):
        return 1
    if isinstance(space, pikepdf.Name):
        return {"/DeviceGray": 1, "/CalGray": 1, "/DeviceRGB": 3, "/CalRGB": 3}.get(str(space), 4)
    if isinstance(space, pikepdf.Array) and len(space) >= 2:
        family = str(space[0])
        if family in ("/Indexed", "/Separation"):
            return 1
        if family == "/ICCBased" and isinstance(space[1], pikepdf.Stream):
            return int(space[1].get("/N", 4))
        if family == "/DeviceN" and isinstance(space[1], pikepdf.Array):
            return len(space[1])
    return 4


def decoded_size_fits(xobj: pikepdf.Stream, width: int, height: int) -> bool:
    """True when decoding the image cannot produce more than its declared size needs."""
    names = _filters(xobj)
    if names is None or len(names) > 1:
        return False
    if names and (names[0] in _SIZED_BY_DICT):
        return True
    if names and names[0] in _SIZED_BY_HEADER:
        try:
            with Image.open(io.BytesIO(xobj.read_raw_bytes())) as probe:
                return probe.size == (width, height)  # the header only: no pixels decoded
        except Exception:
            return False
    bpc = 1 if xobj.get("/ImageMask") else int(xobj.get("/BitsPerComponent", 8))
    row = math.ceil(width * _components(xobj) * bpc / 8) + 1  # +1: a PNG predictor's tag
    needed = row * height
    cap = needed + max(4096, needed // 100)  # trailing end-of-line bytes some writers add
    if not names:
        return int(xobj.get("/Length", 0)) <= cap
    if names[0] != _FLATE:
        return False  # LZW, RunLength, ASCII85...: left to poppler, which bounds them
    inflater = zlib.decompressobj()
    raw = xobj.read_raw_bytes()
    try:
        produced = 0
        chunk = inflater.decompress(raw, 2**20)
        while chunk:
            produced += len(chunk)
            if produced > cap:
                return False
            chunk = inflater.decompress(inflater.unconsumed_tail, 2**20)
    except zlib.error:
        return False
    return True


def full_page_image(
    page: pikepdf.Page, cfg: IngestConfig
) -> tuple[Image.Image, float, int | None] | None:
    """(the page's image, its DPI on the page, cv2.rotate code for /Rotate), or None to render."""
    try:
        if page.obj.get("/Resources", {}).get("/Font"):
            return None  # a text layer: render, so its words keep their geometry
        rotate = int(page.obj.get("/Rotate", 0)) % 360
        if rotate not in _ROTATE or float(page.obj.get("/UserUnit", 1)) != 1:
            return None
        found = _single_image_draw(page)
        if found is None:
            return None
        xobj, ctm = found
        if not _covers_page(ctm, page.mediabox):
            return None
        if "/SMask" in xobj or "/Mask" in xobj or "/Decode" in xobj:
            return None
        width, height = int(xobj.Width), int(xobj.Height)
        if width * height > cfg.max_page_pixels:
            return None
        dpi_x = width / (ctm[0, 0] / 72.0)
        dpi_y = height / (ctm[1, 1] / 72.0)
        if abs(dpi_x - dpi_y) > 0.02 * dpi_x or not cfg.min_dpi <= dpi_x <= cfg.max_dpi:
            return None  # non-square pixels or a resolution poppler should resample
        if not decoded_size_fits(xobj, width, height):
            return None
        image = pikepdf.PdfImage(xobj).as_pil_image()
        if image.size != (width, height):
            return None
        image.load()
    except Exception:
        return None
    return image, round(float(dpi_x), 2), _ROTATE[rotate]
