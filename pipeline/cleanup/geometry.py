"""Page geometry: skew, quarter turns, border crop and a phone photo's perspective.

Conventions: ``rotation`` is the clockwise quarter turn applied to make the page
upright (Tesseract OSD's "Rotate"); ``skew_angle`` is the tilt of the text lines
in the upright page, counter-clockwise positive as seen on screen, corrected by
rotating clockwise by that angle.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.cleanup.measure import (
    GEOMETRY_DPI,
    MIN_SKEW_PEAK,
    LetterInk,
    border_mask,
    components,
    downscale,
    to_gray,
)

MIN_SKEW_DEGREES = 0.1  # smaller corrections are below what we can measure: not worth a warp


QUAD_MIN_AREA = 0.25  # the paper covers at least this share of a phone photo


QUAD_MIN_PERSPECTIVE = 0.01  # corner offset from the nearest rectangle, share of the short side


def estimate_skew(letters: LetterInk, max_degrees: float, turn: int = 0) -> float:
    """Tilt of the text lines in degrees (CCW positive) of a ~100-dpi page's ink, the page
    turned upright by ``turn`` degrees clockwise.

    Returns 0.0 when there is too little text to measure or no clear peak (noise,
    photographs without text lines).
    """
    xs, _ = letters.pixels(turn)
    if xs.size < 200 or max_degrees <= 0:
        return 0.0
    angle, _, peak = letters.best_angle(turn, max_degrees)
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
    image: np.ndarray,
    degrees_cw: float,
    fill: tuple[int, ...] | int = 255,
    interpolation: int = cv2.INTER_LINEAR,
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
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border,
    )


def deskew(
    image: np.ndarray,
    skew_degrees: float,
    rotation: int = 0,
    fill: tuple[int, ...] | int = 255,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Apply the quarter turn and the skew correction in a single full-resolution warp."""
    return rotate_bound(image, rotation + skew_degrees, fill, interpolation)


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
    n, _, stats, _ = components(paper, connectivity=4)
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


def flatten_photo(
    image: np.ndarray, dpi: float, small: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """(image, quad): a phone photo's sheet warped flat, or the image untouched (quad None).

    ``small`` is a gray working copy of about ``GEOMETRY_DPI`` when the caller has one
    (cleanup makes it anyway): scaling the full colour page down again costs more than
    the search for the sheet.
    """
    if small is None:
        small = to_gray(downscale(image, dpi, GEOMETRY_DPI))
    quad = find_page_quad(small)
    if quad is None:
        return image, None
    scale = image.shape[1] / small.shape[1]
    full = inset_quad(quad, 1.0) * np.float32(scale)  # one working pixel: the blurred edge
    return warp_quad(image, full), full
