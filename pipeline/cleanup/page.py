"""Page cleanup with OpenCV: flattened, upright, deskewed, borders cropped, plus an OCR copy.

Every decision is taken on a small working copy (about 100 dpi for geometry,
150 dpi for Tesseract's orientation detection) and applied once to the full
resolution image, so a 600-dpi page costs one warp, not a dozen. Geometry
(phone-photo perspective, turn, skew, crop) applies to both images. The colour
image that goes into the PDF is otherwise never filtered: an archive copy must
look like the paper ("colour as the original"). Only the gray OCR copy loses
seals and signatures, shadows and dust, and is enlarged when the print is small.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.cleanup.geometry import (
    MIN_SKEW_DEGREES,
    deskew,
    estimate_skew,
    find_content_box,
    flatten_photo,
    rotate_bound,
    scale_box,
)
from pipeline.cleanup.measure import (
    GEOMETRY_DPI,
    OSD_DPI,
    downscale,
    letter_ink,
    near_border,
    normalize_input,
    paper_colour,
    paper_level,
    to_gray,
)
from pipeline.cleanup.ocr_copy import make_ocr_image
from pipeline.cleanup.orientation import detect_orientation
from pipeline.cleanup.tone import is_blank, suppress_colour_ink
from pipeline.config import CleanupConfig


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


def cleanup_page(
    image: np.ndarray,
    dpi: float,
    cfg: CleanupConfig,
    *,
    osd_first: bool = True,
    enlarged: bool = False,
) -> CleanPage:
    """Flatten → orientation → deskew → border crop → OCR copy, measured small, applied once.

    ``image`` is BGR or gray uint8, or bool for bilevel scans (True is white, as
    ``np.asarray`` of a Pillow mode "1" image gives); ``dpi`` its resolution, used
    to size the working copies and the filters. ``enlarged`` says the page was
    enlarged from a low-resolution copy: its deskew is bicubic, as its enlargement
    was. A second bilinear resampling blurs strokes that are only a pixel or two wide
    in the copy; on the development set's 80-dpi copies (bench/realset) bicubic read
    folded 0.9854 → 0.9869 of the words, blurred ones 0.980 → 0.986. A 300-dpi page
    keeps the bilinear warp: bicubic doubles its cost (80 → 150 ms in colour) for no
    measured gain.
    """
    image, bilevel = normalize_input(image)

    def working_copies(page: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        medium = downscale(page, dpi, OSD_DPI)
        medium_gray = to_gray(medium)
        return medium, medium_gray, downscale(medium_gray, min(dpi, OSD_DPI), GEOMETRY_DPI)

    medium, medium_gray, geometry = working_copies(image)
    quad = None
    if cfg.perspective and not bilevel:
        image, quad = flatten_photo(image, dpi, geometry)
        if quad is not None:  # the flattened sheet: measure it afresh
            medium, medium_gray, geometry = working_copies(image)
    geometry_dpi = dpi * geometry.shape[1] / image.shape[1]
    border = near_border(geometry)  # blank detection and the letters both leave it out
    blank = is_blank(geometry, geometry_dpi, border)

    rotation, confidence, deferred = 0, None, False
    wanted = not blank and (cfg.orientation or cfg.deskew)
    letters = letter_ink(geometry, border) if wanted else None
    if cfg.orientation and letters is not None:
        medium_dpi = dpi * medium.shape[1] / image.shape[1]

        def osd_gray() -> np.ndarray:
            return medium_gray if bilevel else suppress_colour_ink(medium, medium_dpi)

        found = detect_orientation(osd_gray, letters, cfg.max_skew_degrees, osd_first=osd_first)
        rotation, confidence = found.rotation, found.confidence
        deferred = found.deferred
    skew = 0.0
    if cfg.deskew and letters is not None:
        skew = estimate_skew(letters, cfg.max_skew_degrees, rotation)
        if abs(skew) < MIN_SKEW_DEGREES:
            skew = 0.0

    fill = paper_colour(medium)
    warp = cv2.INTER_CUBIC if enlarged else cv2.INTER_LINEAR
    out = deskew(image, skew, rotation, fill if len(fill) > 1 else fill[0], warp)
    if bilevel and skew:
        _, out = cv2.threshold(out, 127, 255, cv2.THRESH_BINARY)  # stay bilevel after the warp

    box = None
    if cfg.crop_borders:
        upright = rotate_bound(geometry, rotation)
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
