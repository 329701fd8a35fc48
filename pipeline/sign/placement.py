"""Where the conversion mark goes on page 1: free space at the top right, never over ink.

Decree 30/2020 (Annex I) puts the electronic copy's signature at the top right of page 1;
Law 20/2023 art. 12 wants the converted document's content whole. Real copies often
already have something there: the national motto close to the edge, or an earlier
certification block ("SAO Y / Ủy ban nhân dân … / Thời gian ký …"); a box drawn over
them makes both unreadable. So the page's own ink is measured (page 1 rendered small
and in gray with poppler, a red seal or blue ink as dark as print; every pixel clearly
darker than the paper counts, widened by a clearance) and the box goes to the free
spot nearest the top-right corner within the top of the page. Where there is none,
room is made instead of covering anything: the page is extended upwards by a band (its
MediaBox grows; the scan and its text layer stay exactly where they were) and the box
sits in that band.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
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

    Rendered in gray (a red seal or blue ink is dark in gray too), and only its top
    ``top_pt`` points when given (the mark looks no lower): little pixel work per page.
    """
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
    return ink_of_gray(gray)


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
