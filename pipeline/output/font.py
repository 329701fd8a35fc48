"""The invisible text layer's font: Tesseract's glyph-less ``pdf.ttf`` as a Type0 font.

Every CID (a UTF-16 code unit) draws the one blank glyph and the ToUnicode CMap
maps it back to itself, so extraction returns the exact NFC text whatever the script.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pikepdf
from pikepdf import Array, Dictionary, Name

from pipeline.ocr import tessdata

FONT_NAME = "GlyphLessFont"
# Poppler and viewers place the selection box from the descriptor's Ascent and
# Descent; a 1000-unit span makes the font size equal the box height.
ASCENT, DESCENT = 800, -200


FONT_RESOURCE = "/FOcr"  # resource name of the text-layer font on every page


@lru_cache(maxsize=1)
def glyphless_font_path() -> Path:
    """Find Tesseract's ``pdf.ttf`` next to its language data.

    It is read at run time rather than shipped: it belongs to the Tesseract
    install the OCR already depends on.
    """
    directory = tessdata.find("pdf.ttf")
    if directory is None:
        raise FileNotFoundError("Tesseract's glyph-less font pdf.ttf not found in any tessdata dir")
    return directory / "pdf.ttf"


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


def glyphless_font(pdf: pikepdf.Pdf) -> tuple[pikepdf.Object, int]:
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
            Ascent=ASCENT,
            Descent=DESCENT,
            CapHeight=ASCENT,
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
