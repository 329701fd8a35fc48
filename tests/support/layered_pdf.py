"""PDFs with text drawn in chosen ways, written from raw content streams (pikepdf).

A line of text is drawn with a real embedded TrueType font (Noto Sans or DejaVu Sans,
which cover Vietnamese) as a Type0 font with a ToUnicode map, so ``pdftotext`` reads
it back exactly, in any rendering mode, colour and size: visible print, an invisible
layer (mode 3), white ink, a fraction of a point. A page can also carry a full-page
image under (or over) its text, as a scan with an OCR layer does.
"""

from __future__ import annotations

import subprocess
import zlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
import pikepdf
from fontTools.ttLib import TTFont
from pikepdf import Array, Dictionary, Name
from PIL import Image

FONTS = (
    Path("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
)
A4 = (595.0, 842.0)


@dataclass(frozen=True)
class Line:
    """One line of text at (x, y) points from the page's bottom left."""

    text: str
    x: float
    y: float
    size: float = 12.0
    mode: int = 0  # text rendering mode: 0 fill, 3 invisible
    rgb: tuple[float, float, float] = (0.0, 0.0, 0.0)


def font_file() -> Path:
    for path in FONTS:
        if path.is_file():
            return path
    raise FileNotFoundError("no Noto Sans or DejaVu Sans (fonts-noto-core, fonts-dejavu-core)")


class _Font:
    """The whole TrueType file as a CIDFontType2 with Identity-H codes (= glyph ids)."""

    def __init__(self) -> None:
        self.path = font_file()
        tt = TTFont(str(self.path))
        self.cmap = tt.getBestCmap()
        self.order = tt.getGlyphOrder()
        self.gid = {name: i for i, name in enumerate(self.order)}
        self.scale = 1000.0 / tt["head"].unitsPerEm
        self.hmtx = tt["hmtx"]
        self.used: dict[int, str] = {}

    def encode(self, text: str) -> bytes:
        out = bytearray()
        for ch in text:
            gid = self.gid[self.cmap[ord(ch)]]
            self.used[gid] = ch
            out += gid.to_bytes(2, "big")
        return bytes(out)

    def width(self, gid: int) -> int:
        return round(self.hmtx[self.order[gid]][0] * self.scale)

    def dictionary(self, pdf: pikepdf.Pdf) -> Dictionary:
        data = self.path.read_bytes()
        file2 = pdf.make_stream(data)
        file2.Length1 = len(data)
        widths = Array()
        for gid in sorted(self.used):
            widths.extend([gid, Array([self.width(gid)])])
        descriptor = Dictionary(
            Type=Name.FontDescriptor,
            FontName=Name("/SohoaTest"),
            Flags=32,
            FontBBox=Array([-600, -300, 1500, 1100]),
            ItalicAngle=0,
            Ascent=1069,
            Descent=-293,
            CapHeight=714,
            StemV=80,
            FontFile2=file2,
        )
        cid = Dictionary(
            Type=Name.Font,
            Subtype=Name.CIDFontType2,
            BaseFont=Name("/SohoaTest"),
            CIDSystemInfo=Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
            FontDescriptor=descriptor,
            W=widths,
            CIDToGIDMap=Name.Identity,
        )
        return Dictionary(
            Type=Name.Font,
            Subtype=Name.Type0,
            BaseFont=Name("/SohoaTest"),
            Encoding=Name("/Identity-H"),
            DescendantFonts=Array([cid]),
            ToUnicode=pdf.make_stream(self._to_unicode()),
        )

    def _to_unicode(self) -> bytes:
        entries = sorted(self.used.items())
        lines = [
            "/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
            "/CMapName /SohoaTest-UCS def /CMapType 2 def",
            "1 begincodespacerange <0000> <FFFF> endcodespacerange",
        ]
        for start in range(0, len(entries), 100):
            chunk = entries[start : start + 100]
            lines.append(f"{len(chunk)} beginbfchar")
            for gid, ch in chunk:
                lines.append(f"<{gid:04X}> <{ch.encode('utf-16-be').hex().upper()}>")
            lines.append("endbfchar")
        lines += ["endcmap CMapName currentdict /CMap defineresource pop end end"]
        return "\n".join(lines).encode("ascii")


def _text_ops(font: _Font, lines: list[Line]) -> list[str]:
    ops = []
    for line in lines:
        r, g, b = line.rgb
        ops += [
            "BT",
            f"/F1 {line.size:g} Tf",
            f"{line.mode} Tr",
            f"{r:g} {g:g} {b:g} rg",
            f"1 0 0 1 {line.x:g} {line.y:g} Tm",
            f"<{font.encode(line.text).hex()}> Tj",
            "ET",
        ]
    return ops


def write_pdf(
    path: Path,
    lines: list[Line],
    *,
    image: Image.Image | None = None,
    image_over_text: bool = False,
    size: tuple[float, float] = A4,
    crop: tuple[float, float, float, float] | None = None,
) -> Path:
    """A one-page PDF with ``lines`` of text and, optionally, a full-page gray image."""
    pdf = pikepdf.new()
    font = _Font()
    text = _text_ops(font, lines)
    resources = Dictionary(Font=Dictionary(F1=Dictionary()))
    ops: list[str] = []
    if image is not None:
        gray = np.asarray(image.convert("L"))
        xobj = pdf.make_stream(zlib.compress(gray.tobytes()))
        xobj.Type, xobj.Subtype = Name.XObject, Name.Image
        xobj.Width, xobj.Height = gray.shape[1], gray.shape[0]
        xobj.ColorSpace, xobj.BitsPerComponent = Name.DeviceGray, 8
        xobj.Filter = Name.FlateDecode
        resources.XObject = Dictionary(Im0=xobj)
        draw = [f"q {size[0]:g} 0 0 {size[1]:g} 0 0 cm /Im0 Do Q"]
        ops = text + draw if image_over_text else draw + text
    else:
        ops = text
    resources.Font.F1 = font.dictionary(pdf)
    page = Dictionary(
        Type=Name.Page,
        MediaBox=Array([0, 0, size[0], size[1]]),
        Resources=resources,
        Contents=pdf.make_stream("\n".join(ops).encode("ascii")),
    )
    if crop is not None:
        page.CropBox = Array(list(crop))
    pdf.pages.append(pikepdf.Page(page))
    pdf.save(path)
    return path


def add_lines(path: Path, lines: list[Line]) -> Path:
    """Append ``lines`` to page 1 of an existing PDF (another tool's OCR layer, say)."""
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        page = pdf.pages[0]
        font = _Font()
        ops = _text_ops(font, lines)
        fonts = page.obj.Resources.get("/Font", Dictionary())
        fonts.SohoaHidden = font.dictionary(pdf)
        page.obj.Resources.Font = fonts
        stream = "\n".join(ops).replace("/F1 ", "/SohoaHidden ").encode("ascii")
        page.contents_add(pdf.make_stream(b"q\n" + stream + b"\nQ"), prepend=False)
        pdf.save(path)
    return path


def render(path: Path, dpi: int = 300) -> Image.Image:
    """Page 1 as poppler draws it (what a scanner would have captured of the print)."""
    out = subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-gray", "-f", "1", "-l", "1", str(path)],
        capture_output=True,
        check=True,
    ).stdout
    return Image.open(BytesIO(out)).copy()


def tesseract_pdf(image: Image.Image, out: Path, dpi: int = 300) -> Path:
    """A scan with Tesseract's own invisible text layer (what OCRmyPDF puts in a PDF)."""
    png = out.with_suffix(".png")
    image.save(png, dpi=(dpi, dpi))
    subprocess.run(
        ["tesseract", str(png), str(out.with_suffix("")), "-l", "vie", "pdf"],
        capture_output=True,
        check=True,
    )
    png.unlink()
    return out
