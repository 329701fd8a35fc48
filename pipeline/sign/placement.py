"""Where the conversion mark goes on page 1: free space at the top right, never over ink.

Decree 30/2020 (Annex I) puts the electronic copy's signature at the top right of page 1;
Law 20/2023 art. 12 wants the converted document's content whole. Real copies often
already have something there: the national motto close to the edge, or an earlier
certification block ("SAO Y / Ủy ban nhân dân … / Thời gian ký …"); a box drawn over
them makes both unreadable. So the page's own ink is measured (page 1 small and in
gray, a red seal or blue ink as dark as print; every pixel clearly darker than the
paper counts, widened by a clearance) and the box goes to the free spot nearest the
top-right corner within the top of the page. Where there is none, room is made instead
of covering anything: the page is extended upwards by a band (its MediaBox grows; the
scan and its text layer stay exactly where they were) and the box sits in that band.

Page 1 of an archived copy is, as sohoa writes it, one JPEG drawn over the whole page
with an invisible text layer: its pixels are then the JPEG's, decoded at a reduced
scale (a JPEG decodes at 1/2, 1/4 or 1/8 for little more than the cost of reading
it) onto poppler's pixel grid. Any other page (a bilevel scan, several images, vector
content, a rotation) is rendered with poppler, which must decode the whole page image
even to draw its top: about 60 of the 87 ms a B-B signature took that way.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pikepdf
from PIL import Image

from pipeline.errors import RejectedInput

RENDER_DPI = 100  # 1 px = 0.72 pt: fine enough for a 7-pt box, cheap to render
EDGE = 8.0  # points between the box and the page's (or the band's) top and right edges
CLEARANCE = 4.0  # points of blank paper kept between the box and the nearest ink
TOP_SHARE = 0.16  # the box's top stays within this share of the page height from the top
RIGHT_SHARE = 0.5  # and the box lies in the right half of the page
DARKER = 40  # gray level below the paper's by this much is ink (show-through is lighter)
RENDER_TIMEOUT = 60


@dataclass(frozen=True)
class Placement:
    """The box (x1, y1, x2, y2 in page points) and the band added above the page (points)."""

    box: tuple[float, float, float, float]
    room_added: float = 0.0

    @property
    def where(self) -> str:
        return "room-added" if self.room_added else "free-space"


def ink_mask(pdf: Path, dpi: int = RENDER_DPI, top_pt: float | None = None) -> np.ndarray:
    """Page 1 of ``pdf`` as a boolean image: True where there is ink (see the module).

    In gray (a red seal or blue ink is dark in gray too), and only its top ``top_pt``
    points when given (the mark looks no lower): little pixel work per page. The mask
    covers the page's width at about ``dpi`` (the callers scale by its width).
    """
    gray = page_jpeg_gray(pdf, dpi, top_pt)
    if gray is None:
        gray = rendered_gray(pdf, dpi, top_pt)
    return ink_of_gray(gray)


def _whole_page_image(page: pikepdf.Page) -> pikepdf.Object | None:
    """The page's one image XObject when the page draws it over its whole MediaBox and
    draws nothing else visible (text in render mode 3 is invisible), else None."""
    xobjects = page.resources.get("/XObject", {})
    if int(page.obj.get("/Rotate", 0)) % 360 or len(xobjects) != 1:
        return None
    (image,) = xobjects.values()
    if image.get("/Subtype") != pikepdf.Name.Image:
        return None  # a form: anything may be drawn in it
    x0, y0, x1, y1 = (float(v) for v in page.mediabox)
    drawn = None
    visible_text = [True]  # the text render mode is 0 (fill) until a Tr; q and Q save it
    try:
        ops = pikepdf.parse_content_stream(page)
    except pikepdf.PdfError:
        return None
    for operands, op in ops:
        name = str(op)
        if name == "cm":
            matrix = [float(v) for v in operands]
            if matrix[1] or matrix[2]:
                return None  # turned or skewed
            drawn = matrix
        elif name == "Do":
            if drawn is None or drawn != [x1 - x0, 0.0, 0.0, y1 - y0, x0, y0]:
                return None
        elif name == "q":
            visible_text.append(visible_text[-1])
        elif name == "Q" and len(visible_text) > 1:
            visible_text.pop()
        elif name == "Tr":
            visible_text[-1] = int(operands[0]) != 3
        elif name in ("Tj", "TJ", "'", '"') and visible_text[-1]:
            return None
        elif name in ("re", "m", "l", "c", "v", "y", "sh", "BI"):
            return None  # vector drawing or an inline image
    return image


def page_jpeg_gray(pdf: Path, dpi: int, top_pt: float | None) -> np.ndarray | None:
    """Page 1's top in gray from its full-page JPEG, decoded at a reduced scale, or None
    when page 1 is not one JPEG over the whole page (then poppler renders it)."""
    try:
        with pikepdf.open(pdf) as doc:
            page = doc.pages[0]
            image = _whole_page_image(page)
            if image is None or image.get("/Filter") != pikepdf.Name.DCTDecode:
                return None
            if "/Decode" in image or "/SMask" in image or "/Mask" in image:
                return None
            data = image.read_raw_bytes()
            width_pt = float(page.mediabox[2]) - float(page.mediabox[0])
            height_pt = float(page.mediabox[3]) - float(page.mediabox[1])
    except (pikepdf.PdfError, OSError, ValueError, TypeError):
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.mode not in ("L", "RGB"):
                return None  # CMYK and Adobe-inverted JPEGs: poppler knows them best
            # poppler's page size in pixels: rounded half up
            want = (int(width_pt * dpi / 72 + 0.5), int(height_pt * dpi / 72 + 0.5))
            im.draft("L", want)  # the smallest DCT scale still at least ``want``
            gray = np.asarray(im.convert("L"))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    if gray.shape[1] != want[0]:  # the same pixel grid as poppler's at ``dpi``
        gray = cv2.resize(gray, want, interpolation=cv2.INTER_AREA)
    gray = gray.astype(np.int16)
    if top_pt is not None:
        rows = int(np.ceil(top_pt * gray.shape[0] / height_pt)) + 1
        gray = gray[:rows]
    return gray


def rendered_gray(pdf: Path, dpi: int, top_pt: float | None) -> np.ndarray:
    """Page 1's top in gray as poppler renders it at ``dpi``."""
    with tempfile.TemporaryDirectory(prefix="sohoa-mark-") as tmp:
        stem = Path(tmp) / "p"
        try:
            crop = ["-H", str(int(np.ceil(top_pt * dpi / 72)) + 1)] if top_pt else []
            subprocess.run(
                [
                    *("pdftoppm", "-r", str(dpi), "-f", "1", "-l", "1", "-gray", "-singlefile"),
                    *("-x", "0", "-y", "0", *crop, str(pdf), str(stem)),
                ],
                check=True,
                capture_output=True,
                timeout=RENDER_TIMEOUT,
            )
            with Image.open(f"{stem}.pgm") as im:
                gray = np.asarray(im.convert("L"), dtype=np.int16)
        except (subprocess.SubprocessError, OSError) as exc:
            raise RejectedInput(
                f"page 1 of {pdf.name} cannot be rendered to place the mark"
            ) from exc
    return gray


def ink_of_gray(gray: np.ndarray) -> np.ndarray:
    """Ink in a gray image: clearly darker than the paper (show-through is lighter)."""
    paper = float(np.percentile(gray[::4, ::4], 90))
    return gray < paper - DARKER


def _widen(mask: np.ndarray, px: int) -> np.ndarray:
    """``mask`` dilated by ``px`` pixels in every direction (a square neighbourhood)."""
    if px <= 0:
        return mask
    kernel = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def find_spot(
    mask: np.ndarray,
    page: tuple[float, float, float, float],
    size: tuple[float, float],
) -> tuple[float, float, float, float] | None:
    """The free box of ``size`` (points) nearest the top-right corner, or None.

    ``mask`` is page 1's ink at any resolution covering ``page`` (its MediaBox). Every
    position in the top-right region is tried at once (box sums over an integral image);
    the highest free one wins, and of those the one furthest right. Free means no ink
    under the box widened by the clearance.
    """
    x0, y0, x1, y1 = page
    height_px, width_px = mask.shape
    sx = sy = width_px / (x1 - x0)  # pixels per point (the mask may be the page's top only)
    ink = _widen(mask, int(np.ceil(CLEARANCE * max(sx, sy))))
    integral = np.pad(ink.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    bw, bh = int(np.ceil(size[0] * sx)), int(np.ceil(size[1] * sy))
    if bw >= width_px or bh >= height_px:
        return None
    # sums[t, l]: ink under the box whose top-left pixel is (t, l)
    sums = integral[bh:, bw:] - integral[:-bh, bw:] - integral[bh:, :-bw] + integral[:-bh, :-bw]
    top_min, left_min = int(np.ceil(EDGE * sy)), int(width_px * RIGHT_SHARE)
    top_max = min(int((y1 - y0) * sy * TOP_SHARE), sums.shape[0] - 1)
    left_max = min(width_px - int(np.ceil(EDGE * sx)) - bw, sums.shape[1] - 1)
    if top_max < top_min or left_max < left_min:
        return None
    region = sums[top_min : top_max + 1, left_min : left_max + 1] == 0
    rows = np.flatnonzero(region.any(axis=1))
    if rows.size == 0:
        return None
    top = top_min + int(rows[0])
    left = left_min + int(np.flatnonzero(region[rows[0]])[-1])
    return (x0 + left / sx, y1 - (top + bh) / sy, x0 + (left + bw) / sx, y1 - top / sy)


def place(
    pdf: Path, page: tuple[float, float, float, float], size: tuple[float, float]
) -> Placement:
    """Where the box of ``size`` goes on page 1 of ``pdf`` (MediaBox ``page``)."""
    # the region the box can reach: the top share, plus its own height, edge and clearance
    height = page[3] - page[1]
    reach = min(height, height * TOP_SHARE + size[1] + EDGE + 2 * CLEARANCE)
    spot = find_spot(ink_mask(pdf, top_pt=reach), page, size)
    if spot is not None:
        return Placement(spot)
    x0, _y0, x1, y1 = page
    # whole points: the page's content then moves by whole pixels at any 72·k dpi rendering
    band = float(np.ceil(size[1] + 2 * EDGE))
    top = y1 + band - EDGE
    right = x1 - EDGE
    return Placement((max(x0 + EDGE, right - size[0]), top - size[1], right, top), band)
