"""Searchable PDF/A-2b output: each page image with an invisible, aligned text layer.

Per page, ``write_page_pdf`` draws the cleaned image at its physical size and
writes the OCR words over it in text rendering mode 3 (invisible), so search,
copy and selection work while the page still looks exactly like the scan. The
font is Tesseract's glyph-less ``pdf.ttf`` (one blank glyph), embedded as a
Type0/CIDFontType2 font whose CIDs are UTF-16 code units: every CID draws the
blank glyph and the ToUnicode CMap maps it back to itself, so extraction returns
the exact NFC text. ``assemble_pdfa`` then joins the one-page files into a
PDF/A-2b document, letting qpdf copy each page's streams straight from its file
while writing, so a long 600-dpi dossier never sits in memory as a whole.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from statistics import median

import cv2
import img2pdf
import numpy as np
import pikepdf
from pikepdf import Array, Dictionary, Name
from PIL import Image, ImageCms

from pipeline.lang.textnorm import nfc
from pipeline.ocr.tesseract import Word

__all__ = ["PdfInfo", "PdfaInfo", "assemble_pdfa", "glyphless_font_path", "write_page_pdf"]

FONT_NAME = "GlyphLessFont"
_FONT_RES = "/FOcr"  # resource name of the text-layer font on every page
_IMAGE_RES = "/Im0"
# Poppler and viewers place the selection box from the descriptor's Ascent and
# Descent; a 1000-unit span makes the font size equal the box height.
_ASCENT, _DESCENT = 800, -200
# Gaps between the words of one OCR line, in ems of the line's font size (see _fit_to_next)
_GAP_MIN_EM, _GAP_MAX_EM, _GAP_COLUMN_EM = 0.15, 0.6, 3.0
_MIN_TZ = 1.0  # horizontal scaling floor (percent): 0 would make the text matrix singular


@dataclass(frozen=True, kw_only=True)
class PdfInfo:
    """Document-level metadata, written to both the XMP packet and the DocInfo dictionary."""

    title: str | None = None
    subject: str | None = None
    keywords: str | None = None
    language: str = "vi"
    created: datetime
    creator_tool: str = "sohoa"
    document_id: str | None = None


@dataclass(frozen=True)
class PdfaInfo:
    """The PDF/A flavour the assembled file claims (and, in tests, veraPDF confirms)."""

    part: int
    conformance: str


# --------------------------------------------------------------------------- font


@lru_cache(maxsize=1)
def glyphless_font_path() -> Path:
    """Find Tesseract's ``pdf.ttf`` next to its language data.

    It is read at run time rather than shipped: it belongs to the Tesseract
    install the OCR already depends on.
    """
    candidates: list[Path] = []
    if prefix := os.environ.get("TESSDATA_PREFIX"):
        candidates += [Path(prefix), Path(prefix) / "tessdata"]
    for share in (Path("/usr/share/tesseract-ocr"), Path("/usr/local/share/tesseract-ocr")):
        candidates += sorted(share.glob("*/tessdata"), reverse=True)
    candidates += [Path("/usr/share/tessdata"), Path("/usr/local/share/tessdata")]
    for directory in candidates:
        if (directory / "pdf.ttf").is_file():
            return directory / "pdf.ttf"
    tessdata = _tessdata_from_tesseract()
    if tessdata and (tessdata / "pdf.ttf").is_file():
        return tessdata / "pdf.ttf"
    raise FileNotFoundError("Tesseract's glyph-less font pdf.ttf not found in any tessdata dir")


def _tessdata_from_tesseract() -> Path | None:
    """Ask the tesseract binary where its data lives (its first output line names the dir)."""
    exe = shutil.which("tesseract")
    if not exe:
        return None
    try:
        out = subprocess.run(
            [exe, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = (out.stdout or out.stderr).splitlines()[:1]
    if first and '"' in first[0]:
        return Path(first[0].split('"')[1])
    return None


@dataclass(frozen=True)
class _FontMetrics:
    advance: int  # advance width of glyph 1 in PDF glyph units (1/1000 em)
    bbox: tuple[int, int, int, int]


def _truetype_metrics(data: bytes) -> _FontMetrics:
    """Read the blank glyph's advance and the font bbox from the TrueType tables.

    PDF/A requires the widths in the font dictionary to match the font program,
    so they are taken from the file rather than assumed.
    """
    (num_tables,) = struct.unpack_from(">H", data, 4)
    tables = {}
    for i in range(num_tables):
        tag, _, offset, length = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        tables[tag] = (offset, length)
    head, hhea, hmtx = tables[b"head"][0], tables[b"hhea"][0], tables[b"hmtx"][0]
    (units_per_em,) = struct.unpack_from(">H", data, head + 18)
    x_min, y_min, x_max, y_max = struct.unpack_from(">hhhh", data, head + 36)
    (num_hmetrics,) = struct.unpack_from(">H", data, hhea + 34)
    glyph = min(1, num_hmetrics - 1)
    (advance,) = struct.unpack_from(">H", data, hmtx + 4 * glyph)

    def scale(v: int) -> int:
        return round(v * 1000 / units_per_em)

    return _FontMetrics(scale(advance), (scale(x_min), scale(y_min), scale(x_max), scale(y_max)))


def _to_unicode_cmap() -> bytes:
    """A CMap mapping each 2-byte code to the same UTF-16 code unit (surrogates excluded)."""
    ranges = [
        f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in range(256) if not 0xD8 <= hi <= 0xDF
    ]
    blocks = []
    for start in range(0, len(ranges), 100):  # at most 100 entries per block
        chunk = ranges[start : start + 100]
        blocks.append(f"{len(chunk)} beginbfrange\n" + "\n".join(chunk) + "\nendbfrange")
    text = "\n".join(
        [
            "/CIDInit /ProcSet findresource begin",
            "12 dict begin",
            "begincmap",
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
            "/CMapName /Adobe-Identity-UCS def",
            "/CMapType 2 def",
            "1 begincodespacerange",
            "<0000> <FFFF>",
            "endcodespacerange",
            *blocks,
            "endcmap",
            "CMapName currentdict /CMap defineresource pop",
            "end",
            "end",
        ]
    )
    return text.encode("ascii")


@lru_cache(maxsize=1)
def _font_program() -> tuple[bytes, _FontMetrics]:
    data = glyphless_font_path().read_bytes()
    return data, _truetype_metrics(data)


def _glyphless_font(pdf: pikepdf.Pdf) -> tuple[pikepdf.Object, int]:
    """Build the Type0 text-layer font inside ``pdf``; return it with its glyph advance."""
    data, metrics = _font_program()
    font_file = pdf.make_stream(zlib.compress(data), Filter=Name.FlateDecode, Length1=len(data))
    descriptor = pdf.make_indirect(
        Dictionary(
            Type=Name.FontDescriptor,
            FontName=Name("/" + FONT_NAME),
            Flags=5,  # fixed pitch + symbolic: the font has no meaningful glyphs
            FontBBox=Array(metrics.bbox),
            ItalicAngle=0,
            Ascent=_ASCENT,
            Descent=_DESCENT,
            CapHeight=_ASCENT,
            StemV=80,
            FontFile2=font_file,
        )
    )
    # Every CID (a UTF-16 code unit) draws glyph 1, the blank one.
    cid_to_gid = pdf.make_stream(zlib.compress(b"\x00\x01" * 65536), Filter=Name.FlateDecode)
    cid_font = pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.CIDFontType2,
            BaseFont=Name("/" + FONT_NAME),
            CIDSystemInfo=Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
            FontDescriptor=descriptor,
            DW=metrics.advance,
            CIDToGIDMap=cid_to_gid,
        )
    )
    to_unicode = pdf.make_stream(zlib.compress(_to_unicode_cmap()), Filter=Name.FlateDecode)
    font = pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.Type0,
            BaseFont=Name("/" + FONT_NAME),
            Encoding=Name("/Identity-H"),
            DescendantFonts=Array([cid_font]),
            ToUnicode=to_unicode,
        )
    )
    return font, metrics.advance


# --------------------------------------------------------------------------- image


def _as_gray_if_neutral(image: np.ndarray) -> np.ndarray:
    """Collapse a BGR image whose channels are all equal to one gray channel."""
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3:
        b, g, r = image[:, :, 0], image[:, :, 1], image[:, :, 2]
        if np.array_equal(b, g) and np.array_equal(g, r):
            return g
    return image


def _is_bilevel(gray: np.ndarray) -> bool:
    return bool(np.all((gray == 0) | (gray == 255)))


def _image_xobject(pdf: pikepdf.Pdf, image: np.ndarray, jpeg_quality: int) -> pikepdf.Object:
    """Encode the page image: 1-bit CCITT G4 when bilevel, JPEG otherwise, never resampled."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 gray or BGR image, got {image.dtype} {image.shape}")
    pixels = _as_gray_if_neutral(image)
    if pixels.ndim == 2 and _is_bilevel(pixels):
        return _g4_xobject(pdf, pixels)
    if pixels.ndim == 3 and pixels.shape[2] != 3:
        raise ValueError(f"expected 1 or 3 channels, got {pixels.shape[2]}")
    # OpenCV encodes straight from BGR: no RGB copy of a 100 MB 600-dpi page.
    ok, jpeg = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return pdf.make_stream(
        jpeg.tobytes(),
        Type=Name.XObject,
        Subtype=Name.Image,
        Width=pixels.shape[1],
        Height=pixels.shape[0],
        ColorSpace=Name.DeviceGray if pixels.ndim == 2 else Name.DeviceRGB,
        BitsPerComponent=8,
        Filter=Name.DCTDecode,
    )


def _g4_xobject(pdf: pikepdf.Pdf, gray: np.ndarray) -> pikepdf.Object:
    """Lossless 1-bit image: Pillow encodes CCITT G4 in a TIFF, img2pdf lifts it into PDF form."""
    bits = Image.fromarray(gray, mode="L").convert("1", dither=Image.Dither.NONE)
    tiff = io.BytesIO()
    bits.save(tiff, format="TIFF", compression="group4")
    carrier = pikepdf.open(io.BytesIO(img2pdf.convert(tiff.getvalue())))
    xobjects = carrier.pages[0].Resources.XObject
    source = xobjects[next(iter(xobjects.keys()))]
    image = pdf.copy_foreign(source)
    # Own the bytes now (the copy reads lazily from the carrier), so it can be closed.
    image.write(source.read_raw_bytes(), filter=image.Filter, decode_parms=image.DecodeParms)
    carrier.close()
    return image


# --------------------------------------------------------------------------- text layer


def _num(value: float) -> str:
    """A compact PDF number: three decimals, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _encode(text: str) -> bytes:
    """UTF-16BE code units for the Identity-H string; non-BMP characters are dropped.

    A character outside the BMP would need two CIDs that the ToUnicode CMap cannot
    map back as a pair; Vietnamese never needs them.
    """
    return "".join(ch for ch in nfc(text) if ord(ch) <= 0xFFFF).encode("utf-16-be")


def _lines(words: Iterable[Word]) -> list[list[Word]]:
    """Group words by Tesseract's (block, paragraph, line), in reading order."""
    lines: dict[tuple[int, int, int], list[Word]] = {}
    for word in words:
        if word.width > 0 and word.height > 0 and _encode(word.text.strip()):
            lines.setdefault((word.block, word.par, word.line), []).append(word)
    return list(lines.values())


def _fit_to_next(x: float, width: float, next_x: float, size: float) -> float:
    """A word's width such that Poppler sees the same line Tesseract saw.

    Tesseract's boxes overlap on italics (a y's tail reaches under the next word)
    and leave wide gaps where a speck or a stretched justified space sits between
    words. Poppler reads an overlap as a new line and a gap over about one em as a
    column break, and printed one line as two or three. So an overlapping word is
    cut short of its neighbour and a wide gap is narrowed by stretching the word
    before it; a gap wider than ``_GAP_COLUMN_EM`` is a real column and stays.
    """
    gap = next_x - (x + width)
    if gap < _GAP_MIN_EM * size:
        return max(next_x - x - _GAP_MIN_EM * size, 0.2 * width)
    if _GAP_MAX_EM * size < gap < _GAP_COLUMN_EM * size:
        return width + gap - _GAP_MAX_EM * size
    return width


def _text_layer(
    lines: list[list[Word]], dpi: float, page_height_pt: float, advance: int
) -> list[str]:
    """Content-stream operators writing each word invisibly over its pixel box.

    Font size and baseline are per line (median word height and centre), so
    Poppler and viewers keep a line together: word boxes differ in height with
    stacked tone marks, dots below and descenders, and on a photocopy with toner
    specks touching a letter, and a baseline per word split such lines in two.
    Each word starts at its own box with ``Tm`` and is stretched with ``Tz`` to
    span exactly its width. A space between words is stretched to fill the gap,
    so extraction yields natural spaces and selection never runs into the next word.
    """
    scale = 72.0 / dpi
    em = advance / 1000.0  # advance of one character at font size 1
    ops = ["BT", "3 Tr"]
    for line in lines:
        size = max(median(w.height for w in line) * scale, 0.5)
        ops.append(f"{_FONT_RES} {_num(size)} Tf")
        centre = page_height_pt - median(w.top + w.height / 2 for w in line) * scale
        # The box [baseline + Descent, baseline + Ascent] is centred on the line.
        baseline = centre - (_ASCENT + _DESCENT) / 2000.0 * size
        for i, word in enumerate(line):
            code = _encode(word.text.strip())
            x = word.left * scale
            width = word.width * scale
            if i + 1 < len(line):
                width = _fit_to_next(x, width, line[i + 1].left * scale, size)
            tz = max(100.0 * width / (len(code) // 2 * em * size), _MIN_TZ)
            ops.append(f"1 0 0 1 {_num(x)} {_num(baseline)} Tm {_num(tz)} Tz <{code.hex()}> Tj")
            if i + 1 < len(line):
                gap = line[i + 1].left * scale - (x + width)
                space_tz = max(100.0 * gap / (em * size), _MIN_TZ)
                ops.append(f"{_num(space_tz)} Tz <0020> Tj")
    ops.append("ET")
    return ops


def write_page_pdf(
    image: np.ndarray,
    dpi: float,
    words: Sequence[Word],
    out_path: Path,
    *,
    jpeg_quality: int = 85,
) -> None:
    """One-page PDF: the image drawn full-page at its physical size (pixels/dpi*72 pt) + an
    invisible text layer aligned to the words."""
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi}")
    height_px, width_px = image.shape[:2]
    width_pt, height_pt = width_px * 72.0 / dpi, height_px * 72.0 / dpi
    pdf = pikepdf.new()
    try:
        resources = Dictionary(
            XObject=Dictionary({_IMAGE_RES: _image_xobject(pdf, image, jpeg_quality)})
        )
        ops = [f"q {_num(width_pt)} 0 0 {_num(height_pt)} 0 0 cm {_IMAGE_RES} Do Q"]
        if lines := _lines(words):
            font, advance = _glyphless_font(pdf)
            resources.Font = Dictionary({_FONT_RES: font})
            ops += _text_layer(lines, dpi, height_pt, advance)
        page = pikepdf.Page(
            Dictionary(
                Type=Name.Page,
                MediaBox=Array([0, 0, width_pt, height_pt]),
                Resources=resources,
                Contents=pdf.make_stream("\n".join(ops).encode("ascii")),
            )
        )
        pdf.pages.append(page)
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        pdf.save(out_path, deterministic_id=True)
    finally:
        pdf.close()


# --------------------------------------------------------------------------- PDF/A


@lru_cache(maxsize=1)
def _srgb_profile() -> bytes:
    """LittleCMS's built-in sRGB: a display-class RGB profile, valid as a PDF/A output intent."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _add_output_intent(pdf: pikepdf.Pdf) -> None:
    """An sRGB output intent makes DeviceRGB (and, per PDF/A-2, DeviceGray) device-independent."""
    profile = pdf.make_stream(_srgb_profile(), N=3)
    intent = Dictionary(
        Type=Name.OutputIntent,
        S=Name.GTS_PDFA1,
        OutputConditionIdentifier="sRGB IEC61966-2.1",
        Info="sRGB IEC61966-2.1",
        DestOutputProfile=profile,
    )
    pdf.Root.OutputIntents = Array([pdf.make_indirect(intent)])


def _share_text_font(pdf: pikepdf.Pdf) -> None:
    """Point every page at one copy of the glyph-less font instead of one per page."""
    shared = None
    for page in pdf.pages:
        fonts = page.obj.get("/Resources", {}).get("/Font")
        if fonts is None or _FONT_RES not in fonts:
            continue
        font = fonts[_FONT_RES]
        if font.get("/BaseFont") != Name("/" + FONT_NAME):
            continue
        if shared is None:
            shared = font
        else:
            fonts[_FONT_RES] = shared


def _xmp_date(value: datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat(timespec="seconds")


def _set_metadata(pdf: pikepdf.Pdf, info: PdfInfo, pdfa: PdfaInfo) -> None:
    """Write XMP and let pikepdf mirror it into DocInfo, as PDF/A requires them to agree."""
    created = _xmp_date(info.created)
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=True) as meta:
        meta["pdfaid:part"] = str(pdfa.part)
        meta["pdfaid:conformance"] = pdfa.conformance
        if info.title:
            meta["dc:title"] = nfc(info.title)
        if info.subject:
            meta["dc:description"] = nfc(info.subject)
        if info.keywords:
            meta["pdf:Keywords"] = nfc(info.keywords)
        meta["dc:language"] = {info.language}
        meta["xmp:CreateDate"] = created
        meta["xmp:ModifyDate"] = created
        meta["xmp:MetadataDate"] = created
        meta["xmp:CreatorTool"] = info.creator_tool
        meta["pdf:Producer"] = f"{info.creator_tool} (pikepdf {pikepdf.__version__})"
        if info.document_id:
            meta["xmpMM:DocumentID"] = info.document_id


def assemble_pdfa(page_paths: Sequence[Path], out_path: Path, info: PdfInfo) -> PdfaInfo:
    """Concatenate one-page PDFs into one PDF/A-2b file; memory bounded.

    Pages are gathered by qpdf's page job rather than ``Pdf.pages.extend``:
    pikepdf copies foreign stream data into memory at once, while the job
    leaves each image in its page file until the output is written, so a
    long 600-dpi dossier never sits in memory as a whole. The file appears at
    ``out_path`` only once complete.
    """
    if not page_paths:
        raise ValueError("no pages to assemble")
    pdfa = PdfaInfo(part=2, conformance="B")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".part")
    # Absolute paths: a relative name could read as a qpdf option or page range.
    inputs = [str(Path(p).resolve()) for p in page_paths]
    job = pikepdf.Job(["qpdf", "--empty", "--pages", *inputs, "--", str(partial)])
    pdf = job.create_pdf()
    try:
        _share_text_font(pdf)
        _add_output_intent(pdf)
        pdf.Root.Lang = pikepdf.String(info.language)
        _set_metadata(pdf, info, pdfa)
        pdf.save(partial, force_version="1.7", deterministic_id=True)
        os.replace(partial, out_path)
    finally:
        pdf.close()
        partial.unlink(missing_ok=True)
    return pdfa
