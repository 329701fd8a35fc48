"""The visible signature: a small text box at the top right of page 1, no image.

Decree 30/2020/NĐ-CP (Annex I) shows an electronic copy's signature as text in
the top-right corner: the converting agency and the signing time. Offices add
the conversion mark on top (the Đà Nẵng copy in the shared data reads "SAO Y",
the agency, then "Thời gian ký: 19/10/2023 10:56:22 +07:00"); we keep that
three-line layout, with the time in ISO 8601 and +07:00 as DESIGN §9 asks.

The glyphs come from a TrueType font that covers Vietnamese (Noto Sans, else
DejaVu Sans), embedded as a subset so the page still renders the same anywhere
and PDF/A holds. The box is sized from the font's own advance widths, so it is
as small as the text allows; pipeline.sign.placement finds it free space.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta, timezone
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import CIDFontType2, GlyphAccumulator
from pyhanko.pdf_utils.layout import AxisAlignment, InnerScaling, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import TextStampStyle

from pipeline.errors import ConfigError
from pipeline.lang.textnorm import nfc

ICT = timezone(timedelta(hours=7), "ICT")
TIME_LABEL = "Thời gian ký"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S+07:00"  # the time is always converted to ICT first
SAMPLE_TIME = "2000-01-01T00:00:00+07:00"  # as wide as any time in this format
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"),  # fonts-noto-core
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),  # fonts-dejavu-core
)
FONT_SIZE = 7
LEADING = 9
PAD = 3  # points between the border and the text
MAX_TEXT_WIDTH = 190  # points (~67 mm); longer agency names wrap onto a second line
INK = (0.08, 0.16, 0.5)  # dark blue, like the ink of a stamp, distinct from black print
# Every letter of the Vietnamese alphabet in both cases, with all five tone marks, plus
# ASCII: the font subset carries these and nothing else (see _subset_font).
_VI_BASE = "aăâeêioôơuưyAĂÂEÊIOÔƠUƯY"
_TONES = "\u0300\u0301\u0303\u0309\u0323"
REPERTOIRE = nfc(
    "".join(chr(c) for c in range(0x20, 0x7F))
    + "đĐ"
    + _VI_BASE
    + "".join(b + t for b in _VI_BASE for t in _TONES)
    + "–—‘’“”…·"
)


@dataclass(frozen=True)
class Appearance:
    """What the box says, apart from the time (known only when signing)."""

    mark: str
    agency: str
    font: Path

    def lines(self) -> list[str]:
        """The mark, the agency (wrapped when long) and the time label, NFC."""
        out = [nfc(self.mark)]
        out += wrap(nfc(self.agency), self.font, MAX_TEXT_WIDTH)
        return out

    def stamp_text(self) -> str:
        # '%' in an agency name would be read as a template directive by pyHanko
        escaped = [line.replace("%", "%%") for line in self.lines()]
        return "\n".join([*escaped, f"{TIME_LABEL}: %(ts)s"])

    def size(self) -> tuple[float, float]:
        """Width and height of the box in points: the text's natural size as pyHanko lays it
        out (with a sample time of the same width), plus padding and border."""
        return _natural_size(self)

    def _text_style(self) -> TextBoxStyle:
        return TextBoxStyle(
            font=SubsetFontFactory(self.font, self.stamp_text()),
            font_size=FONT_SIZE,
            leading=LEADING,
            text_color=INK,
            box_layout_rule=SimpleBoxLayoutRule(
                x_align=AxisAlignment.ALIGN_MIN, y_align=AxisAlignment.ALIGN_MID
            ),
        )

    def style(self) -> TextStampStyle:
        return TextStampStyle(
            stamp_text=self.stamp_text(),
            timestamp_format=TIME_FORMAT,
            text_box_style=self._text_style(),
            inner_content_layout=SimpleBoxLayoutRule(
                x_align=AxisAlignment.ALIGN_MIN,
                y_align=AxisAlignment.ALIGN_MID,
                margins=Margins(PAD, PAD, PAD, PAD),
                inner_content_scaling=InnerScaling.SHRINK_TO_FIT,
            ),
            border_width=1,
            border_color=INK,
            background=None,
        )


@cache
def _natural_size(box: Appearance) -> tuple[float, float]:
    from pyhanko.pdf_utils.text import TextBox
    from pyhanko.pdf_utils.writer import PdfFileWriter

    text = TextBox(box._text_style(), writer=PdfFileWriter(), box=None)
    text.content = box.stamp_text() % {"ts": SAMPLE_TIME}
    text.render()
    border = 1
    return text.box.width + 2 * (PAD + border), text.box.height + 2 * (PAD + border)


def find_font(configured: Path | None = None) -> Path:
    for path in (configured,) if configured else FONT_CANDIDATES:
        if path and Path(path).is_file():
            return Path(path)
    raise ConfigError(
        "no font for the signature box: install fonts-noto-core (Noto Sans) or "
        "fonts-dejavu-core (DejaVu Sans)"
    )


@cache
def _metrics(font: Path) -> tuple[dict[int, str], dict[str, int], int]:
    tt = TTFont(str(font), lazy=True)
    return (
        dict(tt.getBestCmap()),
        {k: v[0] for k, v in tt["hmtx"].metrics.items()},
        tt["head"].unitsPerEm,
    )


def covers(text: str, font: Path) -> bool:
    cmap, _, _ = _metrics(font)
    return all(ord(ch) in cmap for ch in nfc(text))


def text_width(text: str, font: Path, size: float = FONT_SIZE) -> float:
    cmap, advance, upem = _metrics(font)
    notdef = advance.get(".notdef", upem // 2)
    return sum(advance.get(cmap.get(ord(ch), ""), notdef) for ch in text) * size / upem


def wrap(text: str, font: Path, width: float) -> list[str]:
    """Greedy word wrap to ``width`` points; a single long word stays whole (it is shrunk)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and text_width(candidate, font) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines or [""]


TIME_CHARS = "0123456789-:T+"


@cache
def _cut_font(font: Path, text: str) -> bytes:
    """The font cut down to the characters this box can ever show, once per process.

    pyHanko parses and subsets the font it embeds for every signature; on the
    full 500 kB Noto Sans that is tens of milliseconds, a third of a signature's
    budget. The box's text is fixed but for the time's digits, so the cut made
    here is all the signature needs, and the accumulator skips its own subsetting.
    """
    from fontTools import subset

    tt = TTFont(str(font))
    options = subset.Options()
    options.layout_features = []
    options.drop_tables += ["GPOS", "GDEF", "GSUB"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    sub = subset.Subsetter(options)
    sub.populate(text=text + TIME_CHARS + " ")
    sub.subset(tt)
    buf = io.BytesIO()
    tt.save(buf)
    return buf.getvalue()


class _PrecutCIDFont(CIDFontType2):
    """Embeds the cut font's bytes as they are, instead of having fontTools compile the
    parsed font again for every signature (~15 ms: glyf compilation)."""

    precut: bytes = b""

    def set_font_file(self, writer):  # type: ignore[no-untyped-def]
        font_stream = generic.StreamObject(stream_data=self.precut)
        font_stream.compress()
        ref = writer.add_object(font_stream)
        self._font_descriptor[generic.pdf_name("/FontFile2")] = ref
        return ref


class _PrecutAccumulator(GlyphAccumulator):
    """GlyphAccumulator over a font already cut to the box's characters: embed it as is.

    The cut keeps every glyph id the accumulator hands out (nothing is subset again),
    so the bytes embedded are exactly the font whose ids the text uses.
    """

    def __init__(self, *args, precut: bytes, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if type(self.cidfont_obj) is CIDFontType2:
            self.cidfont_obj.__class__ = _PrecutCIDFont
            self.cidfont_obj.precut = precut

    def _extract_subset(self, options=None):  # type: ignore[no-untyped-def]
        return None


@dataclass(frozen=True)
class SubsetFontFactory(FontEngineFactory):
    """pyHanko font engine over ``font`` cut to ``text`` (plus the time's characters)."""

    font: Path
    text: str

    def create_font_engine(self, writer, obj_stream=None):  # type: ignore[no-untyped-def]
        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()
        data = _cut_font(self.font, self.text)
        return _PrecutAccumulator(
            writer=writer,
            font_handle=io.BytesIO(data),
            font_size=FONT_SIZE,
            obj_stream=obj_stream,
            precut=data,
        )


def appearance(mark: str, agency: str, font: Path | None = None) -> Appearance:
    """The box for this agency; refuses text the font cannot draw rather than drawing boxes."""
    path = find_font(font)
    mark, agency = nfc(mark.strip()), nfc(agency.strip())
    if not mark:
        raise ConfigError("sign.mark must not be empty")
    for what, text in (("sign.mark", mark), ("agency name", agency)):
        if not covers(text, path):
            raise ConfigError(f"the font {path.name} cannot draw the {what} {text!r}")
        if not all(ch in REPERTOIRE for ch in text):
            raise ConfigError(
                f"the {what} {text!r} has characters outside the Vietnamese repertoire"
            )
    return Appearance(mark=mark, agency=agency, font=path)
