"""The cover (separator) sheet: an A4 page that starts a new document in a scanned stack.

The QR holds ``SOHOA-COVER|<code>[|<type>]``, and the document's place in the dossier
when one is given (``|c=<component>|k=<kind>|p=<procedure>``, :mod:`pipeline.dossier.place`;
see :mod:`pipeline.dossier.split`), with
modules of about 1.6 mm, far above what zxing-cpp needs at 150 dpi or through a
photocopy (bench/qr); the code is printed large under it so a clerk can read it and
an OCR-only reader still finds it. Vietnamese is drawn with Noto Sans (or DejaVu
Sans): Liberation lacks many of its letters. The sheet is rendered at 300 dpi and
wrapped as a one-page PDF with img2pdf, so it prints the same on any printer.
"""

from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

from pipeline.dossier.codes import normalize_code
from pipeline.dossier.place import COVER, RESULT, checked_place
from pipeline.dossier.split import CoverPayload
from pipeline.errors import UsageError
from pipeline.lang.textnorm import nfc

A4_MM = (210.0, 297.0)
DPI = 300
_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/noto"),
    Path("/usr/share/fonts/opentype/noto"),
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/local/share/fonts"),
)
_FONTS = {
    "bold": ("NotoSans-Bold.ttf", "DejaVuSans-Bold.ttf"),
    "regular": ("NotoSans-Regular.ttf", "DejaVuSans.ttf"),
}
MAX_TYPE_CHARS = 80


@lru_cache(maxsize=4)
def font_file(style: str) -> Path:
    """A font that covers Vietnamese: Noto Sans, else DejaVu Sans (never Liberation)."""
    extra = os.environ.get("SOHOA_FONT_DIR")
    dirs = ((Path(extra),) if extra else ()) + _FONT_DIRS
    for name in _FONTS[style]:
        for folder in dirs:
            path = folder / name
            if path.is_file():
                return path
    raise UsageError(
        "no font covering Vietnamese found (install fonts-noto-core or fonts-dejavu-core)"
    )


def _mm(value: float) -> int:
    return round(value * DPI / 25.4)


def cover_payload(
    code: str,
    doc_type: str | None = None,
    *,
    component: str | None = None,
    kind: str | None = None,
    procedure: str | None = None,
) -> CoverPayload:
    """Validate what goes on a sheet: a valid code, a short type without ``|``, and the
    document's place in the dossier (each part checked by :mod:`pipeline.dossier.place`)."""
    canonical = normalize_code(code)
    if canonical is None:
        raise UsageError(f"not a valid dossier code: {code!r} (e.g. 000.00.13.H38-261127-0001)")
    type_text = nfc(doc_type).strip() if doc_type else None
    if type_text and (
        "|" in type_text or len(type_text) > MAX_TYPE_CHARS or not type_text.isprintable()
    ):
        raise UsageError(f"--type must be printable, without '|', at most {MAX_TYPE_CHARS} chars")
    place = checked_place(component, kind, procedure, COVER)
    return CoverPayload(canonical, type_text or None, None if place.empty else place)


def render_cover(
    code: str,
    doc_type: str | None = None,
    *,
    component: str | None = None,
    kind: str | None = None,
    procedure: str | None = None,
):
    """The sheet as a gray PIL image at :data:`DPI` (A4 portrait)."""
    import segno
    from PIL import Image, ImageDraw, ImageFont

    payload = cover_payload(code, doc_type, component=component, kind=kind, procedure=procedure)
    w, h = _mm(A4_MM[0]), _mm(A4_MM[1])
    page = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(page)

    def font(style: str, pt: float) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(font_file(style)), round(pt * DPI / 72))

    def centred(text: str, y: int, style: str, pt: float) -> int:
        f = font(style, pt)
        while f.getlength(text) > w - 2 * _mm(15) and pt > 8:
            pt -= 1
            f = font(style, pt)
        draw.text((w / 2, y), text, font=f, fill=0, anchor="mt")
        return y + round(f.size * 1.35)

    y = centred("TỜ PHÂN CÁCH TÀI LIỆU", _mm(22), "bold", 26)
    y = centred("Đặt tờ này ngay trước tài liệu khi quét.", y + _mm(2), "regular", 13)
    centred("Tờ này không được lưu vào hồ sơ số hóa.", y, "regular", 13)

    qr = segno.make(payload.text(), error="m", micro=False)
    side = _mm(80)
    modules = qr.symbol_size(scale=1, border=4)[0]
    scale = max(1, side // modules)
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=scale, border=4, dark="black", light="white")
    buf.seek(0)
    image = Image.open(buf).convert("L")
    top = _mm(70)
    page.paste(image, ((w - image.width) // 2, top))
    y = top + image.height + _mm(6)
    y = centred("Mã hồ sơ", y, "regular", 16)
    y = centred(payload.code, y, "bold", 34)
    if payload.doc_type:
        y = centred("Loại tài liệu", y + _mm(8), "regular", 16)
        y = centred(payload.doc_type, y, "bold", 26)
    place = payload.place
    if place is not None:
        lines = []
        if place.component_code:
            lines.append(f"Thành phần hồ sơ: {place.component_code}")
        if place.kind:
            lines.append("Giấy tờ kết quả" if place.kind == RESULT else "Giấy tờ nộp")
        if place.procedure_code:
            lines.append(f"Mã thủ tục: {place.procedure_code}")
        y += _mm(6)
        for line in lines:
            y = centred(line, y, "regular", 16)
    centred("sohoa · tờ phân cách", h - _mm(20), "regular", 10)
    return page


def write_cover_pdf(
    code: str,
    out: Path,
    doc_type: str | None = None,
    *,
    component: str | None = None,
    kind: str | None = None,
    procedure: str | None = None,
) -> Path:
    """Write the sheet as a one-page A4 PDF at ``out`` (replaced atomically)."""
    import img2pdf

    image = render_cover(code, doc_type, component=component, kind=kind, procedure=procedure)
    png = io.BytesIO()
    image.save(png, format="PNG", dpi=(DPI, DPI))
    layout = img2pdf.get_layout_fun((img2pdf.mm_to_pt(A4_MM[0]), img2pdf.mm_to_pt(A4_MM[1])))
    data = img2pdf.convert(png.getvalue(), layout_fun=layout)
    out = Path(out)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    return out
