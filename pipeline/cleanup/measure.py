"""Measurements the cleanup decisions rest on: gray levels, ink and border masks, line profiles.

Everything here reads an image and returns numbers or masks; nothing changes the
page. Decisions are taken on small working copies (see ``GEOMETRY_DPI``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

GEOMETRY_DPI = 100.0  # working resolution for skew, borders and blank detection


OSD_DPI = 150.0  # OSD needs letters of a certain pixel size; 100 dpi is too small for it


SKEW_COARSE_STEP = 0.5


SKEW_FINE_STEP = 0.05


MIN_SKEW_PEAK = 2.0  # profile peak over median score; text pages measure above 20, noise ~1


def normalize_input(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return (uint8 gray or BGR image, was_bilevel).

    Accepts what loaders hand over: bool arrays (Pillow mode "1"), gray or BGR/BGRA
    uint8, 16-bit scans. A bilevel page stays bilevel after cleanup so the PDF
    stage can still store it losslessly and small.
    """
    if image.ndim not in (2, 3):
        raise ValueError(f"expected a 2-D or 3-D image array, got shape {image.shape}")
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255, True
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"unsupported image dtype {image.dtype}")
    if image.ndim == 3:
        channels = image.shape[2]
        if channels == 1:
            image = image[:, :, 0]
        elif channels == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        elif channels != 3:
            raise ValueError(f"unsupported channel count {channels}")
    if image.ndim == 2:
        return image, is_bilevel(image)
    return image, False


def is_bilevel(gray: np.ndarray) -> bool:
    """Only 0 and 255 present (a G4/CCITT page handed over as uint8)."""
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    return bool(hist[1:255].sum() == 0)


def components(
    mask: np.ndarray, connectivity: int = 8
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(count, labels, stats, centroids) of a 0/1 mask, as cv2.connectedComponentsWithStats.

    Every labelling with statistics goes through here for its algorithm: with
    statistics, OpenCV's default (Spaghetti) took 40-50 ms on a 300-dpi page here and
    Grana's block-based one (``CCL_BBDT``) 19 ms, with identical labels and statistics
    (compared on the development set's pages, bench/realset).
    """
    return cv2.connectedComponentsWithStatsWithAlgorithm(
        mask, connectivity, cv2.CV_32S, cv2.CCL_BBDT
    )


def component_boxes(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of each 8-connected component of a 0/1 mask, top to bottom, left to right.

    For a sparse mask where only the boxes matter: the outer borders of a two-level
    contour tree are the components (one inside another's hole is top level again).
    2-3 ms on a 300-dpi page of text strips where labelling with statistics took
    15-80 ms.
    """
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    outer = [c for c, link in zip(contours, hierarchy[0], strict=True) if link[3] < 0]
    boxes = [tuple(int(v) for v in cv2.boundingRect(c)) for c in outer]
    return sorted(boxes, key=lambda b: (b[1], b[0], b[3], b[2]))  # type: ignore[return-value]


def to_gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def downscale(image: np.ndarray, dpi: float, target_dpi: float) -> np.ndarray:
    """Copy at about ``target_dpi`` (never upscaled), colour kept; area averaging keeps thin
    strokes visible instead of dropping them."""
    scale = min(1.0, target_dpi / dpi) if dpi > 0 else 1.0
    if scale >= 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def paper_level(gray: np.ndarray, channel: int = 0) -> int:
    """Brightness of the paper: a high percentile, so text and dark borders do not pull it down.

    ``channel`` picks one plane of a colour image, counted where it lies (no copy).
    """
    hist = cv2.calcHist([gray], [channel], None, [256], [0, 256]).ravel()
    cumulative = np.cumsum(hist)
    return int(np.searchsorted(cumulative, 0.9 * cumulative[-1]))


def paper_colour(image: np.ndarray) -> tuple[int, ...]:
    """Fill colour for areas a rotation uncovers: the per-channel paper level."""
    if image.ndim == 2:
        return (paper_level(image),)
    return tuple(paper_level(image, c) for c in range(3))


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Dark-on-paper pixels as 0/1 uint8.

    Otsu alone splits a blank page's noise in half; capping the threshold well
    below the paper level keeps blank pages empty.
    """
    otsu, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    level = min(otsu, paper_level(gray) - 40)
    return (gray < level).astype(np.uint8)


def border_mask(gray: np.ndarray) -> np.ndarray:
    """Dark regions touching the image edge that are big enough to be scanner background.

    Text never qualifies: a component must run along at least a fifth of the
    side it touches.
    """
    dark = (gray < min(90, paper_level(gray) // 2)).astype(np.uint8)
    _, labels, stats, _ = components(dark)
    h, w = gray.shape
    x, y, bw, bh = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3]
    near = max(2, round(0.01 * min(h, w)))  # a rotated frame meets the edge only at corners
    along_h = ((y <= near) | (y + bh >= h - near)) & (bw >= w / 5)
    along_v = ((x <= near) | (x + bw >= w - near)) & (bh >= h / 5)
    keep = along_h | along_v
    keep[0] = False
    return keep[labels].astype(np.uint8)


def near_border(gray: np.ndarray) -> np.ndarray:
    """Border mask grown by a few pixels, to drop the gray rim where border meets paper."""
    grown = cv2.dilate(border_mask(gray), np.ones((7, 7), np.uint8))
    return grown > 0


@dataclass(frozen=True)
class LetterInk:
    """A working copy's ink cut into components, labelled once, looked at any quarter turn.

    Orientation asks the page sideways and upright, skew asks the page turned the way
    orientation decided; turning the coordinates instead of the image gives each the
    pixels a fresh labelling of the turned image would (thresholds, border mask and
    components do not depend on the turn), for one labelling a page instead of three.
    """

    labels: np.ndarray
    stats: np.ndarray
    shape: tuple[int, int]
    _pixels: dict[int, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _angles: dict[tuple[int, float], tuple[float, float, float]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def best_angle(self, turn: int, max_degrees: float) -> tuple[float, float, float]:
        """:func:`best_angle` of :meth:`pixels` at ``turn``, searched once per page: the
        line-direction check, the upright score and skew ask the same of an upright page."""
        key = (turn % 360, float(max_degrees))
        if key not in self._angles:
            self._angles[key] = best_angle(*self.pixels(turn), max_degrees)
        return self._angles[key]

    def pixels(self, turn: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of letter-sized ink as seen with the page turned ``turn`` degrees clockwise.

        Rules, photos, borders and speckle are left out: they have no line structure
        (or a misleading one, like a border aligned with the scanner, not the page).
        Letter-sized is judged in the turned page: a quarter turn swaps width and height.
        """
        quarter = turn // 90 % 4
        if quarter not in self._pixels:
            self._pixels[quarter] = self._turned(quarter)
        return self._pixels[quarter]

    def _turned(self, quarter: int) -> tuple[np.ndarray, np.ndarray]:
        widths, heights, areas = self.stats[:, 2], self.stats[:, 3], self.stats[:, 4]
        if quarter % 2:
            widths, heights = heights, widths
        max_side = 0.4 * GEOMETRY_DPI
        letter = (heights <= max_side) & (widths <= 2.5 * max_side) & (areas >= 3)
        letter[0] = False
        ys, xs = np.nonzero(letter[self.labels])
        h, w = self.shape
        if quarter == 1:  # as cv2.ROTATE_90_CLOCKWISE places them
            xs, ys = h - 1 - ys, xs
        elif quarter == 2:
            xs, ys = w - 1 - xs, h - 1 - ys
        elif quarter == 3:
            xs, ys = ys, w - 1 - xs
        return xs.astype(np.float32), ys.astype(np.float32)


def letter_ink(gray: np.ndarray, border: np.ndarray | None = None) -> LetterInk:
    """The ink of a ~100-dpi gray page, scanner borders taken out, as components.

    ``border`` is :func:`near_border` of ``gray`` when the caller has it already.
    """
    ink = ink_mask(gray)
    ink[near_border(gray) if border is None else border] = 0
    _, labels, stats, _ = components(ink)
    return LetterInk(labels, stats, (gray.shape[0], gray.shape[1]))


def profile_score(xs: np.ndarray, ys: np.ndarray, degrees: float) -> float:
    """Sharpness of the projection profile across lines tilted by ``degrees`` (CCW positive).

    A pixel on a line rising to the right at angle a keeps y*cos(a) + x*sin(a)
    constant; when the guess is right the histogram of that value alternates
    between full lines and empty gaps, maximising the squared differences.
    """
    a = math.radians(degrees)
    proj = ys * math.cos(a) + xs * math.sin(a)
    proj -= proj.min()
    hist = np.bincount(proj.astype(np.int32)).astype(np.float64)
    return float(np.sum(np.diff(hist) ** 2))


def best_angle(xs: np.ndarray, ys: np.ndarray, max_degrees: float) -> tuple[float, float, float]:
    """Coarse-then-fine search for the sharpest profile: (angle, score, peak ratio).

    The peak ratio (best coarse score over the median one) says whether there is
    line structure at all: above 20 on text pages, about 1 on noise.
    """
    coarse = np.arange(-max_degrees, max_degrees + 1e-9, SKEW_COARSE_STEP)
    scores = [profile_score(xs, ys, a) for a in coarse]
    centre = float(coarse[int(np.argmax(scores))])
    fine = np.arange(centre - SKEW_COARSE_STEP, centre + SKEW_COARSE_STEP + 1e-9, SKEW_FINE_STEP)
    fine = fine[np.abs(fine) <= max_degrees + 1e-9]
    fine_scores = [profile_score(xs, ys, a) for a in fine]
    best = int(np.argmax(fine_scores))
    median = float(np.median(scores))
    peak = max(scores) / median if median > 0 else math.inf
    return round(float(fine[best]), 3), float(fine_scores[best]), peak


def mm_to_px(dpi: float, mm: float) -> int:
    """A length on paper in whole pixels at ``dpi``, at least one."""
    return max(1, round(mm * dpi / 25.4))


LETTER_WORK_PIXELS = 4_000_000  # larger pages are measured on a half-size copy


def letter_height(gray: np.ndarray) -> float | None:
    """Typical height in pixels of the page's letters, None without enough text.

    What Tesseract can read depends on how many pixels a letter has, not on the
    DPI a file declares (a forwarded JPEG says 72 or 96 or nothing at all). Ink
    (Otsu) is cut into connected components; those shaped like letters, or like
    words whose letters ran together in a blurred or small copy, vote with their
    width, so a page's specks and tone marks, many but narrow, do not pull the
    answer down. The width-weighted median is the x-height plus marks on a clean
    page, a little more on a blurred one; the decisions built on it were tuned
    on the development set (bench/realset), as measured here.
    """
    scale = 1.0
    if gray.size > LETTER_WORK_PIXELS:
        gray = cv2.resize(
            gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA
        )
        scale = 2.0
    otsu, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = (gray <= otsu).astype(np.uint8) if otsu > 0 else (gray < 128).astype(np.uint8)
    _, _, stats, _ = components(ink)
    w, h, area = stats[1:, 2], stats[1:, 3], stats[1:, 4]
    letter = (h >= 3) & (h <= 0.05 * gray.shape[0]) & (w >= 2) & (w <= 10 * h)
    letter &= area >= 0.1 * w * h  # not a thin rule or a frame
    if int(letter.sum()) < 30:
        return None
    heights, weights = h[letter], w[letter].astype(np.float64)
    order = np.argsort(heights, kind="stable")
    cumulative = np.cumsum(weights[order])
    median = heights[order][int(np.searchsorted(cumulative, cumulative[-1] / 2))]
    return float(median) * scale
