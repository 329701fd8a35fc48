"""Paper and ink tone in the OCR copy: seals and signatures faded, light evened, dust removed.

These filters only ever touch the gray copy Tesseract reads; the archived image
keeps the colours of the paper.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.cleanup.measure import (
    GEOMETRY_DPI,
    components,
    downscale,
    mm_to_px,
    near_border,
    paper_colour,
    to_gray,
)

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


def is_blank(gray: np.ndarray, dpi: float = GEOMETRY_DPI, border: np.ndarray | None = None) -> bool:
    """Nearly no ink once speckle, scanner borders and show-through are ignored.

    A duplex back side often shows the mirrored text of the front through the
    paper. That is not content of this page, so it counts as blank: ink must be
    darker than ``BLANK_INK_RATIO`` of the local paper brightness. Show-through
    measures above 0.8 of the paper on generated pages, faded toner text below
    0.7, shadows are divided out first. Dots under about 0.75 mm are dust.
    ``border`` is :func:`near_border` of ``gray`` when the caller has it already.
    """
    ink = (normalize_illumination(gray, dpi) < BLANK_INK_RATIO * 255).astype(np.uint8)
    ink[near_border(gray) if border is None else border] = 0
    n, _, stats, _ = components(ink)
    min_area = max(2.0, (0.03 * dpi) ** 2)
    areas = stats[1:, cv2.CC_STAT_AREA]
    ink_area = float(areas[areas >= min_area].sum()) if n > 1 else 0.0
    return ink_area < BLANK_INK_FRACTION * gray.size


def colour_ink_mask(image: np.ndarray) -> np.ndarray:
    """Pixels (0/1 uint8) where red or blue clearly dominates: seal and ballpoint ink.

    Black text under a seal stays out: it is dark in every channel, so no channel
    stands out far above the others.
    """
    b, g, r = cv2.split(image)
    red = cv2.subtract(r, cv2.max(g, b))  # saturates at 0: a channel below the others is no lead
    blue = cv2.subtract(b, cv2.max(r, g))
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
    # One table per channel: the same float32 products as scaling every pixel, 256 of them
    levels = np.arange(256, dtype=np.float32)[:, None] * gains[None, :]
    lut = np.clip(levels, 0, 255).astype(np.uint8).reshape(256, 1, 3)
    return cv2.LUT(image, lut)


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
    n, labels, stats, _ = components(mask)
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


def suppress_colour_ink(
    image: np.ndarray, dpi: float, gray: np.ndarray | None = None
) -> np.ndarray:
    """Gray page with red seals and blue signatures faded into the paper (see fade_colour).

    Only inside seal and signature zones: elsewhere the page is plain luminance,
    so coloured printed text and the noise of the paper are left alone. ``gray`` is
    ``image``'s luminance when the caller has it already (never changed here).
    """
    gray = to_gray(image) if gray is None else gray
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
    n, _, stats, centroids = components(ink)
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
    hist = cv2.calcHist([smooth], [0], None, [256], [0, 256]).ravel().astype(np.float64)
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
