"""Page cleanup with OpenCV: flattened, upright, deskewed, borders cropped, plus an OCR copy.

Every decision is taken on a small working copy (about 100 dpi for geometry,
150 dpi for Tesseract's orientation detection) and applied once to the full
resolution image, so a 600-dpi page costs one warp, not a dozen. Geometry
(phone-photo perspective, turn, skew, crop) applies to both images. The colour
image that goes into the PDF is otherwise never filtered: an archive copy must
look like the paper ("colour as the original"). Only the gray OCR copy loses
seals and signatures, shadows and dust, and is enlarged when the print is small;
it shows the same page, ``ocr_scale`` times larger, so OCR word boxes divided by
``ocr_scale`` land on the PDF page image.

Conventions:
- ``rotation`` is the clockwise quarter turn applied to make the page upright
  (Tesseract OSD's "Rotate" value).
- ``skew_angle`` is the measured tilt of the text lines in the upright page, in
  degrees, counter-clockwise positive as seen on screen (lines rising to the
  right are positive, like ``PIL.Image.rotate`` and ``cv2.getRotationMatrix2D``).
  The correction rotates the page clockwise by that angle. 0.0 when not corrected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import pytesseract

from pipeline.config import CleanupConfig

GEOMETRY_DPI = 100.0  # working resolution for skew, borders and blank detection
OSD_DPI = 150.0  # OSD needs letters of a certain pixel size; 100 dpi is too small for it
OSD_MIN_CONFIDENCE = 2.0  # below this, Tesseract's orientation guesses are often wrong
OSD_MIN_CONFIDENCE_UNCHECKED = 5.0  # when the line structure can neither confirm nor veto
FLIP_HINT = 0.2  # a horizontal page scoring below minus this is not taken as upright ...
INK_DECIDE = 0.25  # ... and one scoring beyond this either way is turned without OSD
DIRECTION_RATIO = 1.3  # how much stronger line structure must be in one direction to count
MIN_SKEW_DEGREES = 0.1  # smaller corrections are below what we can measure: not worth a warp
SKEW_COARSE_STEP = 0.5
SKEW_FINE_STEP = 0.05
MIN_SKEW_PEAK = 2.0  # profile peak over median score; text pages measure above 20, noise ~1
BLANK_INK_FRACTION = 0.0005  # ink share of the page (after speckle removal) below which it is blank
BLANK_INK_RATIO = 0.75  # ink is darker than this share of the local paper brightness
COLOUR_MIN_EXCESS = 25  # a channel this far above both others is coloured ink, not gray
COLOUR_CLOSE_MM = 1.0  # gap bridged between seal letters and signature strokes
COLOUR_MIN_LONG_MM = 15.0  # a seal or signature spans at least this much ...
COLOUR_MIN_SHORT_MM = 7.0  # ... and this much across: a line of coloured print is thinner
BACKGROUND_KERNEL_MM = 3.0  # wider than any letter stroke gap, so text never counts as paper
SPECKLE_MAX_MM = 0.7  # dots up to this size may be dust; Vietnamese tone marks are this size too
SPECKLE_REACH_MM = 1.6  # ... so only dots farther than this from any letter are removed
STRETCH_BLUR_PX = 0.8  # Gaussian sigma at 300 dpi before the contrast stretch
STRETCH_GRAIN_SIGMAS = 2.5  # paper grain within this many standard deviations turns white
OCR_MIN_TEXT_PX = 22.0  # median letter height below which Tesseract gets an enlarged copy
OCR_MAX_UPSCALE = 2.0
OCR_MIN_UPSCALE = 1.2  # smaller enlargements cost Tesseract time for no measured gain
QUAD_MIN_AREA = 0.25  # the paper covers at least this share of a phone photo
QUAD_MIN_PERSPECTIVE = 0.01  # corner offset from the nearest rectangle, share of the short side


@dataclass(frozen=True)
class CleanPage:
    """One cleaned page.

    ``ocr_image`` shows the same page as ``image``, ``ocr_scale`` times larger
    (1.0 unless small print was enlarged for Tesseract, below 1 when the page is
    over ``cleanup.max_ocr_pixels``): divide OCR word boxes by
    ``ocr_scale`` to place them on ``image``. ``rotation_confidence`` is Tesseract
    OSD's confidence in its own answer, also when that answer was rejected (then
    ``rotation`` is 0); None when OSD did not run or could not tell. ``page_quad``
    is the photographed sheet's corners (tl, tr, br, bl) in the input image when
    perspective was corrected; ``crop_box`` is in the flattened, rotated and
    deskewed image.
    """

    image: np.ndarray
    ocr_image: np.ndarray
    rotation: int
    rotation_confidence: float | None
    skew_angle: float
    crop_box: tuple[int, int, int, int] | None
    blank: bool
    ocr_scale: float = 1.0
    page_quad: tuple[tuple[float, float], ...] | None = None
    orientation_deferred: bool = False  # turned by the ink's cues, not OSD; the caller may re-check


@dataclass(frozen=True)
class Orientation:
    """What orientation detection concluded, and why (kept for logs and benchmarks)."""

    rotation: int
    confidence: float | None
    osd_rotation: int | None
    direction: str  # "horizontal", "vertical" or "unknown": the text-line cross-check
    deferred: bool = False  # decided by the ink's cues without OSD; the caller may re-check


# --- input normalisation ---------------------------------------------------------------------


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
        return image, _is_bilevel(image)
    return image, False


def _is_bilevel(gray: np.ndarray) -> bool:
    """Only 0 and 255 present (a G4/CCITT page handed over as uint8)."""
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    return bool(hist[1:255].sum() == 0)


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


# --- paper, ink and borders ------------------------------------------------------------------


def paper_level(gray: np.ndarray) -> int:
    """Brightness of the paper: a high percentile, so text and dark borders do not pull it down."""
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    cumulative = np.cumsum(hist)
    return int(np.searchsorted(cumulative, 0.9 * cumulative[-1]))


def paper_colour(image: np.ndarray) -> tuple[int, ...]:
    """Fill colour for areas a rotation uncovers: the per-channel paper level."""
    if image.ndim == 2:
        return (paper_level(image),)
    return tuple(paper_level(np.ascontiguousarray(image[:, :, c])) for c in range(3))


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
    _, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
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


def text_pixels(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (x, y) of ink pixels that belong to letter-sized components.

    Rules, photos, borders and speckle are left out: they have no line structure
    (or a misleading one, like a border aligned with the scanner, not the page).
    """
    ink = ink_mask(gray)
    ink[near_border(gray)] = 0
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    max_side = 0.4 * GEOMETRY_DPI
    widths, heights, areas = stats[:, 2], stats[:, 3], stats[:, 4]
    letter = (heights <= max_side) & (widths <= 2.5 * max_side) & (areas >= 3)
    letter[0] = False
    ys, xs = np.nonzero(letter[labels])
    return xs.astype(np.float32), ys.astype(np.float32)


# --- orientation -----------------------------------------------------------------------------


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


def _best_angle(xs: np.ndarray, ys: np.ndarray, max_degrees: float) -> tuple[float, float, float]:
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


def upright_score(gray: np.ndarray, max_degrees: float = 10.0) -> float:
    """From +1 to -1: how much more letter ink lies above each line's x-height band than below.

    Vietnamese puts tone marks and hats over most syllables and a dot under few;
    Latin ascenders and capitals outnumber descenders too. Measured on generated
    pages, the Da Nang scans and Tesseract's and OCRmyPDF's test pages, upright
    text scores +0.27 to +0.92 and the same pages upside down -0.29 to -0.92, so a
    clearly negative score says "turned over" without any OCR. Lines are the runs
    of the letter pixels' projection across the text direction; the band is where
    a line's profile is at least half its peak.
    """
    xs, ys = text_pixels(gray)
    if xs.size < 500:
        return 0.0
    angle, _, _ = _best_angle(xs, ys, max_degrees)
    a = math.radians(angle)
    proj = ys * math.cos(a) + xs * math.sin(a)
    profile = np.bincount((proj - proj.min()).astype(np.int32)).astype(np.float64)
    text_rows = np.concatenate(([0], (profile > 0.05 * profile.max()).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(text_rows))
    above = below = 0.0
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        band = profile[start:end]
        if band.size < 4:
            continue
        core = np.flatnonzero(band >= 0.5 * band.max())
        above += band[: core[0]].sum()
        below += band[core[-1] + 1 :].sum()
    total = above + below
    return (above - below) / total if total else 0.0


def line_direction(gray: np.ndarray, max_degrees: float = 10.0) -> str:
    """Whether text lines run "horizontal" or "vertical" (a 90/270 page), or "unknown".

    Cheap and independent of Tesseract, so it can veto an OSD answer that
    contradicts the page's visible line structure.
    """
    xs, ys = text_pixels(gray)
    if xs.size < 200:
        return "unknown"
    coarse = max(max_degrees, 2.0)
    _, horizontal, _ = _best_angle(xs, ys, coarse)
    _, vertical, _ = _best_angle(ys, xs, coarse)
    if horizontal >= DIRECTION_RATIO * vertical:
        return "horizontal"
    if vertical >= DIRECTION_RATIO * horizontal:
        return "vertical"
    return "unknown"


_OSD_ROTATE = re.compile(r"Rotate:\s*(\d+)")
_OSD_CONF = re.compile(r"Orientation confidence:\s*([-\d.]+)")


def tesseract_osd(gray: np.ndarray) -> tuple[int, float] | None:
    """Tesseract's (clockwise rotation to upright, confidence), or None when it cannot tell."""
    try:
        out = pytesseract.image_to_osd(gray, config="--psm 0")
    except pytesseract.TesseractError:
        return None  # "Too few characters", empty pages, odd scripts: keep the page as it is
    rotate, conf = _OSD_ROTATE.search(out), _OSD_CONF.search(out)
    if not rotate or not conf:
        return None
    return int(rotate.group(1)) % 360, float(conf.group(1))


def ink_orientation(gray: np.ndarray, direction: str, max_degrees: float = 10.0) -> int | None:
    """The clockwise quarter turn the ink's up/down asymmetry asks for; None when unclear.

    Line direction tells 0/180 from 90/270; :func:`upright_score` of the page (or of
    it turned a quarter) then tells which of the two. A horizontal page that is not
    clearly upside down counts as upright, as almost every scan is.
    """
    if direction == "horizontal":
        score = upright_score(gray, max_degrees)
        if score > -FLIP_HINT:
            return 0
        return 180 if score <= -INK_DECIDE else None
    if direction == "vertical":
        score = upright_score(rotate_bound(gray, 90), max_degrees)
        if score >= INK_DECIDE:
            return 90
        if score <= -INK_DECIDE:
            return 270
    return None


def detect_orientation(
    osd_gray: Callable[[], np.ndarray],
    geometry_gray: np.ndarray,
    max_skew_degrees: float = 10.0,
    osd_first: bool = True,
) -> Orientation:
    """Clockwise quarter turn that makes the page upright, decided conservatively.

    ``osd_gray`` makes a ~150-dpi gray copy for Tesseract (only called when OSD
    runs: most pages never need it), ``geometry_gray`` is a ~100-dpi one for the
    line-structure check. A wrong turn is worse than none, so OSD is
    only followed when it is confident and the line structure agrees: 90/270 needs
    vertical lines, 0/180 horizontal ones. When the structure is unclear a higher
    confidence is required. Measured on synthetic pages, wrong answers came with
    confidences below 1 on the right axis, but up to about 4 on the wrong axis.

    With ``osd_first`` off, the page's own ink decides when it can
    (:func:`ink_orientation`, 30 ms where OSD takes 0.6 s) and the answer comes back
    ``deferred``: the caller checks the OCR confidence of the turned page and asks
    OSD only when that reading is poor.
    """
    direction = line_direction(geometry_gray, max_skew_degrees)
    if not osd_first:
        guess = ink_orientation(geometry_gray, direction, max_skew_degrees)
        if guess is not None:
            return Orientation(guess, None, None, direction, deferred=True)
    osd = tesseract_osd(osd_gray())
    if osd is None:
        return Orientation(0, None, None, direction)
    rotate, conf = osd
    expected = "vertical" if rotate in (90, 270) else "horizontal"
    if direction == expected:
        needed = OSD_MIN_CONFIDENCE
    elif direction == "unknown":
        needed = OSD_MIN_CONFIDENCE_UNCHECKED
    else:
        needed = math.inf  # OSD contradicts the visible line direction: keep the page as it is
    rotation = rotate if conf >= needed else 0
    return Orientation(rotation, conf, rotate, direction)


# --- skew ------------------------------------------------------------------------------------


def estimate_skew(gray: np.ndarray, max_degrees: float) -> float:
    """Tilt of the text lines in degrees (CCW positive) on a ~100-dpi upright gray page.

    Returns 0.0 when there is too little text to measure or no clear peak (noise,
    photographs without text lines).
    """
    xs, ys = text_pixels(gray)
    if xs.size < 200 or max_degrees <= 0:
        return 0.0
    angle, _, peak = _best_angle(xs, ys, max_degrees)
    return angle if peak >= MIN_SKEW_PEAK else 0.0  # no line structure: nothing to correct


def rotation_matrix(width: int, height: int, degrees_cw: float) -> tuple[np.ndarray, int, int]:
    """Affine matrix rotating clockwise about the centre onto a canvas that holds every corner."""
    m = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), -degrees_cw, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    new_w = math.ceil(height * sin + width * cos - 1e-6)
    new_h = math.ceil(height * cos + width * sin - 1e-6)
    m[0, 2] += new_w / 2.0 - width / 2.0
    m[1, 2] += new_h / 2.0 - height / 2.0
    return m, new_w, new_h


def rotate_bound(
    image: np.ndarray, degrees_cw: float, fill: tuple[int, ...] | int = 255
) -> np.ndarray:
    """Rotate clockwise without clipping; quarter turns are exact (no resampling)."""
    quarter = degrees_cw / 90.0
    if abs(quarter - round(quarter)) < 1e-9:
        turns = round(quarter) % 4
        codes = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}
        return image if turns == 0 else cv2.rotate(image, codes[turns])
    h, w = image.shape[:2]
    m, new_w, new_h = rotation_matrix(w, h, degrees_cw)
    border = fill if isinstance(fill, int) else tuple(float(c) for c in fill)
    return cv2.warpAffine(
        image,
        m,
        (new_w, new_h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border,
    )


def deskew(
    image: np.ndarray, skew_degrees: float, rotation: int = 0, fill: tuple[int, ...] | int = 255
) -> np.ndarray:
    """Apply the quarter turn and the skew correction in a single full-resolution warp."""
    return rotate_bound(image, rotation + skew_degrees, fill)


# --- crop and blank --------------------------------------------------------------------------


def find_content_box(
    gray: np.ndarray, valid: np.ndarray | None = None, inset: int = 3
) -> tuple[int, int, int, int] | None:
    """Box (x, y, w, h) of the paper inside dark scanner borders, or None if there are none.

    The paper is the largest region that is neither dark border nor rotation
    fill (``valid`` is 0 where a rotation filled the canvas); its bounding box is
    the candidate. A side is only cut when what would be cut away is mostly dark
    border, so a side with plain paper margin, or tilted paper edges without a
    frame, are never touched. Cut sides go ``inset`` pixels further in: the
    blurred paper edge of a working copy leaves a dark rim otherwise, and a
    fraction of a millimetre of margin is no loss.
    """
    border = border_mask(gray) > 0
    h, w = gray.shape
    if border.sum() < 0.002 * h * w:
        return None
    scanned = np.ones_like(border) if valid is None else valid > 0
    paper = (scanned & ~border).astype(np.uint8)
    paper = cv2.morphologyEx(paper, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(paper, connectivity=4)
    if n < 2:
        return None
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, bw, bh, area = (int(v) for v in stats[biggest])
    if area < 0.2 * h * w:
        return None  # no sizeable paper: a dark page or a photo, not a scanner frame

    def mostly_border(rows: slice, cols: slice) -> bool:
        real = int(scanned[rows, cols].sum())
        return real > 0 and int(border[rows, cols].sum()) >= 0.5 * real

    top = y + inset if mostly_border(slice(0, y), slice(None)) else 0
    bottom = h - y - bh + inset if mostly_border(slice(y + bh, h), slice(None)) else 0
    left = x + inset if mostly_border(slice(None), slice(0, x)) else 0
    right = w - x - bw + inset if mostly_border(slice(None), slice(x + bw, w)) else 0
    if top == bottom == left == right == 0 or top + bottom >= h // 2 or left + right >= w // 2:
        return None
    return left, top, w - left - right, h - top - bottom


def scale_box(
    box: tuple[int, int, int, int], small_shape: tuple[int, ...], full_shape: tuple[int, ...]
) -> tuple[int, int, int, int]:
    """Map a box from a working copy to full resolution, clamped to the image."""
    sy = full_shape[0] / small_shape[0]
    sx = full_shape[1] / small_shape[1]
    x0 = max(0, math.floor(box[0] * sx))
    y0 = max(0, math.floor(box[1] * sy))
    x1 = min(full_shape[1], math.ceil((box[0] + box[2]) * sx))
    y1 = min(full_shape[0], math.ceil((box[1] + box[3]) * sy))
    return x0, y0, x1 - x0, y1 - y0


def is_blank(gray: np.ndarray, dpi: float = GEOMETRY_DPI) -> bool:
    """Nearly no ink once speckle, scanner borders and show-through are ignored.

    A duplex back side often shows the mirrored text of the front through the
    paper. That is not content of this page, so it counts as blank: ink must be
    darker than ``BLANK_INK_RATIO`` of the local paper brightness. Show-through
    measures above 0.8 of the paper on generated pages, faded toner text below
    0.7, shadows are divided out first. Dots under about 0.75 mm are dust.
    """
    ink = (normalize_illumination(gray, dpi) < BLANK_INK_RATIO * 255).astype(np.uint8)
    ink[near_border(gray)] = 0
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    min_area = max(2.0, (0.03 * dpi) ** 2)
    areas = stats[1:, cv2.CC_STAT_AREA]
    ink_area = float(areas[areas >= min_area].sum()) if n > 1 else 0.0
    return ink_area < BLANK_INK_FRACTION * gray.size


def to_ocr_gray(image: np.ndarray) -> np.ndarray:
    """The image Tesseract reads: gray, same geometry. Tesseract binarises by itself."""
    return np.ascontiguousarray(to_gray(image))


# --- phone photos: the paper quadrilateral --------------------------------------------------


def _order_corners(pts: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-right, bottom-left, whatever order the contour gave."""
    s, d = pts.sum(axis=1), pts[:, 1] - pts[:, 0]
    return np.float32([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]])


def find_page_quad(gray: np.ndarray) -> np.ndarray | None:
    """Corners (tl, tr, br, bl; float32, pixels of ``gray``) of a sheet photographed at an angle.

    The sheet is the large bright region on a darker background. Only a confident
    perspective quad is returned: four convex corners that fit the region closely,
    clearly brighter inside than out, and not a plain (maybe tilted) rectangle,
    which deskew and border crop already handle and report.
    """
    h, w = gray.shape
    blurred = cv2.GaussianBlur(gray, (5, 5), 0)
    _, bright = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    k = max(3, round(0.02 * min(h, w)) | 1)
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    bright = cv2.morphologyEx(bright, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(contour)
    if not QUAD_MIN_AREA * h * w <= area <= 0.97 * h * w:
        return None
    approx = cv2.approxPolyDP(contour, 0.02 * cv2.arcLength(contour, True), True)
    if len(approx) != 4 or not cv2.isContourConvex(approx):
        return None
    quad = _order_corners(approx.reshape(4, 2).astype(np.float32))
    margin = 0.01 * max(h, w)
    on_edge = (quad[:, 0] <= margin) | (quad[:, 0] >= w - 1 - margin)
    on_edge |= (quad[:, 1] <= margin) | (quad[:, 1] >= h - 1 - margin)
    if on_edge.sum() >= 2:
        return None  # a lit part of a shadowed scan, not a sheet lying on a background
    if abs(cv2.contourArea(quad) - area) > 0.03 * area:
        return None  # the region is not really four-sided (a curled or torn sheet)
    inside = np.zeros_like(gray)
    cv2.fillConvexPoly(inside, quad.astype(np.int32), 1)
    outside_mean = cv2.mean(gray, mask=1 - inside)[0]
    if outside_mean > 0.7 * cv2.mean(gray, mask=inside)[0]:
        return None  # no clear background around the sheet
    rect = cv2.boxPoints(cv2.minAreaRect(quad))
    offsets = np.linalg.norm(quad[:, None, :] - rect[None, :, :], axis=2).min(axis=1)
    short = min(cv2.minAreaRect(quad)[1])
    if offsets.max() < QUAD_MIN_PERSPECTIVE * short:
        return None
    return quad


def warp_quad(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The sheet inside ``quad`` flattened to a rectangle (mean of opposite side lengths)."""
    tl, tr, br, bl = quad
    width = round((np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2)
    height = round((np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2)
    target = np.float32([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]])
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    return cv2.warpPerspective(
        image, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def inset_quad(quad: np.ndarray, pixels: float) -> np.ndarray:
    """Move every corner ``pixels`` towards the centre: drops the blurred sheet edge."""
    centre = quad.mean(axis=0)
    direction = centre - quad
    length = np.linalg.norm(direction, axis=1, keepdims=True)
    return (quad + direction / np.maximum(length, 1e-6) * pixels).astype(np.float32)


# --- the OCR image ---------------------------------------------------------------------------


def mm_to_px(dpi: float, mm: float) -> int:
    """A length on paper in whole pixels at ``dpi``, at least one."""
    return max(1, round(mm * dpi / 25.4))


def colour_ink_mask(image: np.ndarray) -> np.ndarray:
    """Pixels (0/1 uint8) where red or blue clearly dominates: seal and ballpoint ink.

    Black text under a seal stays out: it is dark in every channel, so no channel
    stands out far above the others.
    """
    b, g, r = (image[:, :, c].astype(np.int16) for c in range(3))
    red = r - np.maximum(g, b)
    blue = b - np.maximum(r, g)
    return ((red > COLOUR_MIN_EXCESS) | (blue > COLOUR_MIN_EXCESS)).astype(np.uint8)


def white_balance(image: np.ndarray, paper: tuple[int, ...]) -> np.ndarray:
    """``image`` with each channel scaled so that the paper comes out neutral gray-white.

    Old, recycled and faded paper is yellow: its blue channel reads 20-30 levels
    under its red, which hides the lead of a faded blue signature over the others.
    """
    top = max(paper)
    gains = np.array([top / max(p, 1) for p in paper], np.float32)
    if np.all(np.abs(gains - 1.0) < 0.01):
        return image
    return np.clip(image.astype(np.float32) * gains, 0, 255).astype(np.uint8)


def colour_mark_zones(image: np.ndarray, dpi: float) -> np.ndarray:
    """Where seals and signatures are (0/1 uint8, full size), found on a ~100-dpi copy.

    Only coloured marks the size of a seal or a signature count; a line of red or
    blue printed text is thinner than ``COLOUR_MIN_SHORT_MM`` and is kept for OCR.
    """
    return _colour_marks(image, dpi)[0]


def _colour_marks(image: np.ndarray, dpi: float) -> tuple[np.ndarray, tuple[int, ...]]:
    """(:func:`colour_mark_zones`, the paper colour measured on the same small copy)."""
    work_dpi = min(dpi, 100.0)  # thinner than this, a pen stroke fades into the paper
    small = downscale(image, dpi, work_dpi)
    work_dpi = dpi * small.shape[1] / image.shape[1]
    paper = paper_colour(small)
    mask = colour_ink_mask(white_balance(small, paper))
    close = mm_to_px(work_dpi, COLOUR_CLOSE_MM) * 2 + 1
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n < 2:
        return np.zeros(image.shape[:2], np.uint8), paper
    w, h = stats[:, 2], stats[:, 3]
    long_side, short_side = np.maximum(w, h), np.minimum(w, h)
    keep = (long_side >= COLOUR_MIN_LONG_MM * work_dpi / 25.4) & (
        short_side >= COLOUR_MIN_SHORT_MM * work_dpi / 25.4
    )
    keep[0] = False
    if not keep.any():
        return np.zeros(image.shape[:2], np.uint8), paper
    zones = np.zeros_like(mask)
    for i in np.flatnonzero(keep):  # the hull: a seal's star is not joined to its ring
        x, y, w, h = stats[i, :4]
        points = cv2.findNonZero((labels[y : y + h, x : x + w] == i).astype(np.uint8))
        cv2.fillConvexPoly(zones, cv2.convexHull(points + np.array([x, y])), 1)
    zones = cv2.dilate(zones, np.ones((3, 3), np.uint8))
    size = (image.shape[1], image.shape[0])
    return cv2.resize(zones, size, interpolation=cv2.INTER_NEAREST), paper


def fade_colour(image: np.ndarray) -> np.ndarray:
    """Gray where coloured ink turns to paper and black ink stays black.

    Each pixel takes its brightest channel: red seal ink is bright in red, paper
    in all, black text in none, so text crossed by a seal stays as dark as it
    was. Blue ballpoint lets less through even in blue, so where blue leads it is
    lifted further by twice its lead over the middle channel.
    """
    b, g, r = (c.astype(np.int16) for c in cv2.split(image))
    top = np.maximum(np.maximum(b, g), r)
    low = np.minimum(np.minimum(b, g), r)
    middle = b + g + r - top - low
    lift = np.where(b == top, 2 * (top - middle), 0)
    return np.clip(top + lift, 0, 255).astype(np.uint8)


def suppress_colour_ink(image: np.ndarray, dpi: float) -> np.ndarray:
    """Gray page with red seals and blue signatures faded into the paper (see fade_colour).

    Only inside seal and signature zones: elsewhere the page is plain luminance,
    so coloured printed text and the noise of the paper are left alone.
    """
    gray = to_gray(image)
    if image.ndim == 2:
        return gray
    zones, paper = _colour_marks(image, dpi)
    x, y, w, h = cv2.boundingRect(zones)
    if w == 0 or h == 0:
        return gray
    out = gray.copy()
    faded = fade_colour(white_balance(image[y : y + h, x : x + w], paper))
    np.copyto(out[y : y + h, x : x + w], faded, where=zones[y : y + h, x : x + w] > 0)
    return out


def background(gray: np.ndarray, dpi: float) -> np.ndarray:
    """Paper brightness at every pixel (uint8, full size, at least 1), from a ~50-dpi copy.

    A max filter wider than the gaps inside letters sees paper everywhere on a
    text page; blurring it leaves the slow light changes of shadows, curled
    pages and photocopier drums.
    """
    work_dpi = min(dpi, 50.0)
    small = downscale(gray, dpi, work_dpi)
    work_dpi = dpi * small.shape[1] / gray.shape[1]
    k = mm_to_px(work_dpi, BACKGROUND_KERNEL_MM) | 1
    bg = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    bg = np.maximum(cv2.GaussianBlur(bg, (0, 0), k), 1)
    return cv2.resize(bg, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)


def normalize_illumination(gray: np.ndarray, dpi: float) -> np.ndarray:
    """Divide by the paper brightness: shadows, vignetting and gray copier paper become white.

    Ink keeps its contrast relative to the paper around it, so text in a shadow is
    as dark (relative to white) as text in the light.
    """
    return cv2.divide(gray, background(gray, dpi), scale=255.0)


def remove_speckle(gray: np.ndarray, dpi: float) -> np.ndarray:
    """White out small isolated dark dots (dust, copier toner) on a normalised gray page.

    Size alone cannot tell dust from diacritics: a dot-below or a tone mark is as
    small as a toner speck. A mark belongs to a letter, so only dots farther than
    ``SPECKLE_REACH_MM`` from any larger component are removed, and only lone ones:
    a dot with another dot that close is part of a row (a form's dot leader). After
    the labelling all works on component boxes, never on per-pixel label lookups,
    which cost more than the labelling itself.
    """
    ink = (gray < 128).astype(np.uint8)
    n, _, stats, centroids = cv2.connectedComponentsWithStats(ink, connectivity=8)
    x, y, w, h = (stats[:, i] for i in range(4))
    max_dot = SPECKLE_MAX_MM * dpi / 25.4
    dots = np.maximum(w, h) <= max_dot
    dots[0] = False
    if n < 2 or not dots.any():
        return gray
    step = 4  # the distance test runs on a quarter-size map of letter boxes
    rows, cols = -(-gray.shape[0] // step), -(-gray.shape[1] // step)
    near = np.zeros((rows, cols), np.uint8)
    for i in np.flatnonzero(~dots)[1:]:
        near[y[i] // step : (y[i] + h[i]) // step + 1, x[i] // step : (x[i] + w[i]) // step + 1] = 1
    reach = max(1, round(SPECKLE_REACH_MM * dpi / 25.4 / step)) * 2 + 1
    near = cv2.dilate(near, np.ones((reach, reach), np.uint8))
    cx = np.clip((centroids[:, 0] / step).astype(int), 0, cols - 1)
    cy = np.clip((centroids[:, 1] / step).astype(int), 0, rows - 1)
    dot_count = np.zeros((rows, cols), np.float32)
    np.add.at(dot_count, (cy[dots], cx[dots]), 1.0)
    around = cv2.boxFilter(dot_count, -1, (reach, reach), normalize=False)
    lonely = np.flatnonzero(dots & (near[cy, cx] == 0) & (around[cy, cx] < 1.5))
    if lonely.size == 0:
        return gray
    out = gray.copy()
    span = int(max_dot) + 2  # each lonely dot's box plus a pixel of anti-aliasing round it
    for dy in range(span):
        for dx in range(span):
            pick = lonely[(dy < h[lonely] + 2) & (dx < w[lonely] + 2)]
            ys = np.clip(y[pick] - 1 + dy, 0, gray.shape[0] - 1)
            xs = np.clip(x[pick] - 1 + dx, 0, gray.shape[1] - 1)
            out[ys, xs] = 255
    return out


def stretch_contrast(gray: np.ndarray, dpi: float) -> np.ndarray:
    """Paper to white and ink to black on a normalised page, after a slight blur.

    Faded toner leaves letters light gray and a copier's grain leaves the paper
    mottled; Tesseract's own global threshold then cuts strokes and marks apart.
    The paper level is the brightest histogram peak and its grain is measured
    around it; everything within the grain becomes white, the darkest ink black,
    and the blur (about a pixel at 300 dpi) keeps the grain from turning into dots.
    """
    smooth = cv2.GaussianBlur(gray, (0, 0), max(0.5, STRETCH_BLUR_PX * dpi / 300.0))
    hist = np.bincount(smooth.ravel(), minlength=256).astype(np.float64)
    paper = int(np.argmax(hist[128:])) + 128
    levels = np.arange(256, dtype=np.float64)
    near = slice(max(0, paper - 30), paper + 1)
    weights = hist[near]
    grain = (
        np.sqrt(np.average((levels[near] - paper) ** 2, weights=weights)) if weights.sum() else 0
    )
    dark = hist[:128]
    if dark.sum() == 0:
        return smooth
    ink = float(np.searchsorted(np.cumsum(dark), 0.1 * dark.sum()))
    white = paper - STRETCH_GRAIN_SIGMAS * max(2.0, float(grain))
    lut = np.clip((levels - ink) * 255.0 / max(white - ink, 1.0), 0, 255).astype(np.uint8)
    return cv2.LUT(smooth, lut)


def text_height(gray: np.ndarray) -> float | None:
    """Median height in pixels of letter-sized ink components, None without enough text.

    Measured on a half-size copy: a pixel more or less does not change the answer.
    """
    half = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
    ink = (half < 128).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    w, h, area = stats[1:, 2], stats[1:, 3], stats[1:, 4]
    letter = (h >= 3) & (h <= 0.05 * half.shape[0]) & (w <= 3 * h) & (area >= 4)
    if int(letter.sum()) < 50:
        return None
    return 2.0 * float(np.median(h[letter]))


def ocr_upscale_factor(height: float | None, min_px: float = OCR_MIN_TEXT_PX) -> float:
    """How much to enlarge the OCR image so letters reach ``min_px`` (1.0: not at all)."""
    if height is None or min_px <= 0 or height * OCR_MIN_UPSCALE > min_px:
        return 1.0
    return min(OCR_MAX_UPSCALE, min_px / height)


def make_ocr_image(
    image: np.ndarray, dpi: float, bilevel: bool, cfg: CleanupConfig | None = None
) -> tuple[np.ndarray, float]:
    """(gray OCR image, ocr_scale): seals out, light even, dust gone, letters big enough.

    A bilevel page has no colour and no shading to fix, and its dots are exactly
    what the scanner's own threshold left, so it only gets the upscale.
    """
    cfg = cfg or CleanupConfig()
    if bilevel:
        gray = to_ocr_gray(image)
    else:
        gray = suppress_colour_ink(image, dpi) if cfg.remove_colour_ink else to_gray(image)
        if cfg.normalize_light:
            gray = normalize_illumination(gray, dpi)
        if cfg.despeckle:
            gray = remove_speckle(gray, dpi)
        if cfg.stretch_contrast:
            gray = stretch_contrast(gray, dpi)
    factor = ocr_upscale_factor(text_height(gray), cfg.ocr_min_text_px)
    h, w = gray.shape
    # Tesseract and the second look cost ~16 bytes per OCR pixel: past the budget the
    # OCR copy is made smaller (its letters are big at such sizes), never the PDF's.
    factor = min(factor, math.sqrt(cfg.max_ocr_pixels / (h * w)))
    if factor == 1.0:
        return np.ascontiguousarray(gray), 1.0
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    interpolation = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
    return cv2.resize(gray, size, interpolation=interpolation), factor


# --- composition -----------------------------------------------------------------------------


def flatten_photo(image: np.ndarray, dpi: float) -> tuple[np.ndarray, np.ndarray | None]:
    """(image, quad): a phone photo's sheet warped flat, or the image untouched (quad None)."""
    small = to_gray(downscale(image, dpi, GEOMETRY_DPI))
    quad = find_page_quad(small)
    if quad is None:
        return image, None
    scale = image.shape[1] / small.shape[1]
    full = inset_quad(quad, 1.0) * np.float32(scale)  # one working pixel: the blurred edge
    return warp_quad(image, full), full


def cleanup_page(
    image: np.ndarray, dpi: float, cfg: CleanupConfig, *, osd_first: bool = True
) -> CleanPage:
    """Flatten → orientation → deskew → border crop → OCR copy, measured small, applied once.

    ``image`` is BGR or gray uint8, or bool for bilevel scans (True is white, as
    ``np.asarray`` of a Pillow mode "1" image gives); ``dpi`` its resolution, used
    to size the working copies and the filters.
    """
    image, bilevel = normalize_input(image)
    quad = None
    if cfg.perspective and not bilevel:
        image, quad = flatten_photo(image, dpi)
    medium = downscale(image, dpi, OSD_DPI)
    medium_gray = to_gray(medium)
    geometry = downscale(medium_gray, min(dpi, OSD_DPI), GEOMETRY_DPI)
    geometry_dpi = dpi * geometry.shape[1] / image.shape[1]
    blank = is_blank(geometry, geometry_dpi)

    rotation, confidence, deferred = 0, None, False
    if cfg.orientation and not blank:
        medium_dpi = dpi * medium.shape[1] / image.shape[1]

        def osd_gray() -> np.ndarray:
            return medium_gray if bilevel else suppress_colour_ink(medium, medium_dpi)

        found = detect_orientation(osd_gray, geometry, cfg.max_skew_degrees, osd_first=osd_first)
        rotation, confidence = found.rotation, found.confidence
        deferred = found.deferred
    upright = rotate_bound(geometry, rotation)
    skew = 0.0
    if cfg.deskew and not blank:
        skew = estimate_skew(upright, cfg.max_skew_degrees)
        if abs(skew) < MIN_SKEW_DEGREES:
            skew = 0.0

    fill = paper_colour(medium)
    out = deskew(image, skew, rotation, fill if len(fill) > 1 else fill[0])
    if bilevel and skew:
        _, out = cv2.threshold(out, 127, 255, cv2.THRESH_BINARY)  # stay bilevel after the warp

    box = None
    if cfg.crop_borders:
        gray_fill = paper_level(geometry)
        small = deskew(upright, skew, 0, gray_fill)
        valid = deskew(np.full(upright.shape, 255, np.uint8), skew, 0, 0)
        small_box = find_content_box(small, valid, inset=max(1, round(0.03 * geometry_dpi)))
        if small_box is not None:
            box = scale_box(small_box, small.shape, out.shape)
            x, y, w, h = box
            out = np.ascontiguousarray(out[y : y + h, x : x + w])

    ocr_image, ocr_scale = make_ocr_image(out, dpi, bilevel, cfg)
    return CleanPage(
        image=out,
        ocr_image=ocr_image,
        rotation=rotation,
        rotation_confidence=confidence,
        skew_angle=float(skew),
        crop_box=box,
        blank=blank,
        ocr_scale=ocr_scale,
        page_quad=None if quad is None else tuple((float(x), float(y)) for x, y in quad),
        orientation_deferred=deferred,
    )
