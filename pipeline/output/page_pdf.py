"""One page as a PDF: the cleaned image at its physical size with the OCR words invisible over it.

Text rendering mode 3 (invisible) keeps search, copy and selection working while
the page looks exactly like the scan. Every OCR line gets one baseline and words
never overlap, so ``pdftotext`` gives the lines back as Tesseract read them; an OCR
line that runs across the gutter of a two-column header or signature block is
written as one line per column, so Poppler reads the columns one after the other
instead of row by row.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from statistics import median

import cv2
import img2pdf
import numpy as np
import pikepdf
from pikepdf import Array, Dictionary, Name
from PIL import Image

from pipeline.cleanup.measure import is_bilevel
from pipeline.lang.textnorm import nfc
from pipeline.ocr.words import JUNK_MAX_CONF, Word
from pipeline.output.font import ASCENT, DESCENT, FONT_RESOURCE, glyphless_font

_IMAGE_RES = "/Im0"


# Gaps between the words of one OCR line, in ems of the line's font size (see _fit_to_next)
_GAP_MIN_EM, _GAP_MAX_EM, _GAP_COLUMN_EM = 0.15, 0.6, 3.0

# A gap inside an OCR line wider than this many ems of its letters and this many
# times its usual word gap is a gutter between columns (see _column_breaks); the
# invisible text leaves at least _GUTTER_EM there so Poppler sees two columns.
_COLUMN_GAP_EM, _COLUMN_GAP_RATIO, _GUTTER_EM = 0.9, 2.5, 1.6
# A gutter is confirmed by a wide gap of a line within _NEIGHBOUR_EMS line heights
# overlapping it by _GUTTER_OVERLAP_EM ems,
_NEIGHBOUR_EMS, _GUTTER_OVERLAP_EM = 4.0, 0.5
_CLEAR_GUTTER_EM = 2.0  # and one of the two gaps is at least this wide


_MIN_TZ = 1.0  # horizontal scaling floor (percent): 0 would make the text matrix singular


def _as_gray_if_neutral(image: np.ndarray) -> np.ndarray:
    """Collapse a BGR image whose channels are all equal to one gray channel."""
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3:
        b, g, r = image[:, :, 0], image[:, :, 1], image[:, :, 2]
        if np.array_equal(b, g) and np.array_equal(g, r):
            return g
    return image


def _image_xobject(pdf: pikepdf.Pdf, image: np.ndarray, jpeg_quality: int) -> pikepdf.Object:
    """Encode the page image: 1-bit CCITT G4 when bilevel, JPEG otherwise, never resampled."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 gray or BGR image, got {image.dtype} {image.shape}")
    pixels = _as_gray_if_neutral(image)
    if pixels.ndim == 2 and is_bilevel(pixels):
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


@dataclass(frozen=True)
class _Segment:
    """Words written on one baseline; ``next_left`` is where the next column of its row starts."""

    words: list[Word]
    next_left: int | None = None


def _wide_gaps(line: Sequence[Word]) -> list[tuple[int, int, int]]:
    """(index of the word after, left, right) of each gap that could be a column gutter:
    about an em of the line's letters, several times its usual word gap, and not
    followed by a sentence going on."""
    if len(line) < 2:
        return []
    height = median(w.height for w in line)
    gaps = [b.left - (a.left + a.width) for a, b in pairwise(line)]
    usual = max(median(gaps), 1)
    return [
        (i + 1, line[i].left + line[i].width, line[i + 1].left)
        for i, gap in enumerate(gaps)
        if gap > _COLUMN_GAP_EM * height
        and gap > _COLUMN_GAP_RATIO * usual
        and not _goes_on(line[i + 1])
    ]


def _goes_on(word: Word) -> bool:
    """A word read with confidence that starts in lower case: the sentence goes on there
    (stray marks of a seal or signature read as ``xˆ`` do not count)."""
    return word.text[:1].islower() and word.conf >= JUNK_MAX_CONF


def _column_breaks(lines: Sequence[Sequence[Word]]) -> list[list[int]]:
    """For each OCR line, the indices of its words that start a new column.

    Tesseract reads the two halves of an office header (organ | national motto;
    number | place and date) and of the signature block (recipients | signer) as
    one line. A wide gap before a word that does not start in lower case (CỘNG HÒA,
    Đà Nẵng, KT. GIÁM ĐỐC, 2.) is the gutter between them when a line just above or
    below has such a gap at the same place too and one of the two is clearly a
    gutter (a few ems). A lone wide gap is a word Tesseract lost; so are the gaps a
    blurred page leaves in several lines of a paragraph, mid-sentence, and gaps of a
    little over an em stacked in a paragraph are a river of stretched spaces or short
    word boxes: they all stay inside their lines.
    """
    heights = [median(w.height for w in line) for line in lines]
    centres = [median(w.top + w.height / 2 for w in line) for line in lines]
    wide = [_wide_gaps(line) for line in lines]
    breaks: list[list[int]] = []
    for i, gaps in enumerate(wide):
        reach = _NEIGHBOUR_EMS * heights[i]
        near = [j for j in range(len(lines)) if j != i and abs(centres[j] - centres[i]) <= reach]
        need, clear = _GUTTER_OVERLAP_EM * heights[i], _CLEAR_GUTTER_EM * heights[i]
        breaks.append(
            [
                index
                for index, left, right in gaps
                if any(
                    min(right, r) - max(left, lf) >= need and max(right - left, r - lf) >= clear
                    for j in near
                    for _, lf, r in wide[j]
                )
            ]
        )
    return breaks


def _lines(words: Iterable[Word]) -> list[_Segment]:
    """Tesseract's (block, paragraph, line) groups in its order, each cut at column gutters."""
    groups: dict[tuple[int, int, int], list[Word]] = {}
    for word in words:
        if word.width > 0 and word.height > 0 and _encode(word.text.strip()):
            groups.setdefault((word.block, word.par, word.line), []).append(word)
    lines = [sorted(line, key=lambda w: w.left) for line in groups.values()]
    segments: list[_Segment] = []
    for line, breaks in zip(lines, _column_breaks(lines), strict=True):
        cuts = [0, *breaks, len(line)]
        for start, end in pairwise(cuts):
            following = line[end].left if end < len(line) else None
            segments.append(_Segment(line[start:end], following))
    return segments


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
    lines: list[_Segment], dpi: float, page_height_pt: float, advance: int
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
    for segment in lines:
        line = segment.words
        size = max(median(w.height for w in line) * scale, 0.5)
        ops.append(f"{FONT_RESOURCE} {_num(size)} Tf")
        centre = page_height_pt - median(w.top + w.height / 2 for w in line) * scale
        # The box [baseline + Descent, baseline + Ascent] is centred on the line.
        baseline = centre - (ASCENT + DESCENT) / 2000.0 * size
        for i, word in enumerate(line):
            code = _encode(word.text.strip())
            x = word.left * scale
            width = word.width * scale
            if i + 1 < len(line):
                width = _fit_to_next(x, width, line[i + 1].left * scale, size)
            elif segment.next_left is not None:
                # Leave a gutter Poppler cannot read as a word space.
                room = segment.next_left * scale - x - _GUTTER_EM * size
                width = min(width, max(room, 0.4 * width))
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
            font, advance = glyphless_font(pdf)
            resources.Font = Dictionary({FONT_RESOURCE: font})
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
