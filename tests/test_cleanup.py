"""Page cleanup: orientation, deskew, border crop, blank detection, input kinds, geometry."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from sohoa.pipeline import cleanup
from sohoa.pipeline.cleanup import (
    CleanPage,
    cleanup_page,
    detect_orientation,
    downscale,
    estimate_skew,
    find_content_box,
    is_blank,
    line_direction,
    rotate_bound,
    to_gray,
)
from sohoa.pipeline.config import CleanupConfig
from tests.pages import on_dark_frame, render_page, rotate_cw, skew, speckle

DPI = 150
CFG = CleanupConfig()
UPRIGHT = CleanupConfig(orientation=False)  # skips Tesseract where orientation is not under test
TESSERACT_IMAGES = Path("odd-inputs") / "tesseract-test-images"


@pytest.fixture(scope="module")
def page(shared_data: Path) -> np.ndarray:
    """A full upright A4 page of Vietnamese text at 150 dpi, gray."""
    return render_page(shared_data, seed=7, dpi=DPI)


def small(image: np.ndarray, dpi: float = DPI) -> np.ndarray:
    return to_gray(downscale(image, dpi, cleanup.GEOMETRY_DPI))


def orientation_of(image: np.ndarray, dpi: float) -> cleanup.Orientation:
    gray = to_gray(image)
    return detect_orientation(
        to_gray(downscale(gray, dpi, cleanup.OSD_DPI)), small(gray, dpi), CFG.max_skew_degrees
    )


def assert_same_geometry(result: CleanPage) -> None:
    assert result.ocr_image.dtype == np.uint8
    assert result.ocr_image.ndim == 2
    assert result.ocr_image.shape == result.image.shape[:2]


# --- deskew ----------------------------------------------------------------------------------


@pytest.mark.parametrize("degrees", [-9.5, -4.2, -0.8, 0.4, 1.7, 6.3, 9.8])
def test_estimate_skew_finds_known_angle(page: np.ndarray, degrees: float) -> None:
    found = estimate_skew(small(skew(page, degrees)), CFG.max_skew_degrees)
    assert abs(found - degrees) <= 0.5


def test_level_page_reports_no_skew(page: np.ndarray) -> None:
    assert estimate_skew(small(page), CFG.max_skew_degrees) == 0.0


@pytest.mark.parametrize("degrees", [-5.5, 3.1])
def test_cleanup_straightens_the_page(page: np.ndarray, degrees: float) -> None:
    result = cleanup_page(skew(page, degrees), DPI, CFG)
    assert abs(result.skew_angle - degrees) <= 0.5  # sign: lines rising to the right are positive
    assert result.rotation == 0
    assert abs(estimate_skew(small(result.image), CFG.max_skew_degrees)) <= 0.3
    assert_same_geometry(result)


def test_deskew_keeps_whole_page_with_paper_fill(page: np.ndarray) -> None:
    marked = page.copy()
    marked[:20, :20] = 0  # dark squares in the corners must survive the rotation
    marked[-20:, -20:] = 0
    tilted = skew(marked, 4.0)
    result = cleanup_page(tilted, DPI, UPRIGHT)
    assert result.crop_box is None
    assert result.image.shape[0] >= page.shape[0] and result.image.shape[1] >= page.shape[1]
    h, w = result.image.shape
    corner_ink = int((result.image[: h // 8, : w // 8] < 100).sum())
    assert corner_ink >= 0.7 * 400
    assert result.image[0, 0] >= 250 and result.image[-1, -1] >= 250  # fill is paper, not black


def test_rotate_bound_quarter_turns_are_exact(page: np.ndarray) -> None:
    assert np.array_equal(rotate_bound(page, 90), np.rot90(page, -1))
    assert np.array_equal(rotate_bound(page, 270), np.rot90(page, 1))
    assert np.array_equal(rotate_bound(page, 360 + 180), page[::-1, ::-1])


# --- orientation -----------------------------------------------------------------------------


@pytest.mark.parametrize("needed", [0, 90, 180, 270])
def test_orientation_of_generated_page(page: np.ndarray, needed: int) -> None:
    delivered = rotate_cw(skew(page, 2.0), (360 - needed) % 360)
    found = orientation_of(delivered, DPI)
    assert found.rotation == needed
    assert found.direction == ("vertical" if needed in (90, 270) else "horizontal")


@pytest.mark.parametrize(
    ("name", "needed"),
    [
        ("phototest-rotated-180.png", 180),
        ("phototest-rotated-L.png", 90),
        ("phototest-rotated-R.png", 270),
        ("phototest.tif", 0),
    ],
)
def test_orientation_of_real_tesseract_pages(shared_data: Path, name: str, needed: int) -> None:
    with Image.open(shared_data / TESSERACT_IMAGES / name) as im:
        gray = np.asarray(im.convert("L"))
    found = orientation_of(gray, 200)
    assert found.rotation == needed
    assert found.confidence is not None and found.confidence >= cleanup.OSD_MIN_CONFIDENCE


def test_vietnamese_landscape_tiff_page(shared_data: Path) -> None:
    """vietsample2.tif page 1 is a bilevel portrait page stored turned 90° clockwise."""
    with Image.open(shared_data / "odd-inputs" / "vietocr3-samples" / "vietsample2.tif") as im:
        im.seek(0)
        bilevel = np.asarray(im.convert("1"))
    assert bilevel.dtype == np.bool_ and bilevel.shape[1] > bilevel.shape[0]
    result = cleanup_page(bilevel, 300, CFG)
    assert result.rotation == 270
    assert result.image.shape[0] > result.image.shape[1]  # portrait again
    assert line_direction(small(result.image, 300)) == "horizontal"
    assert result.image.dtype == np.uint8 and result.image.ndim == 2
    assert set(np.unique(result.image)) <= {0, 255}  # still bilevel after the warp
    assert_same_geometry(result)


def test_osd_that_contradicts_line_direction_is_ignored(
    page: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cleanup, "tesseract_osd", lambda gray: (180, 40.0))
    found = orientation_of(rotate_cw(page, 90), DPI)  # lines are vertical: 180 cannot be right
    assert found.osd_rotation == 180
    assert found.rotation == 0


def test_weak_osd_keeps_page_as_is(page: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cleanup, "tesseract_osd", lambda gray: (180, 0.8))
    assert orientation_of(page, DPI).rotation == 0


def test_osd_failure_keeps_rotation_zero() -> None:
    """Too few characters for OSD: no exception, no rotation, no confidence."""
    blank = np.full((1754, 1240), 250, np.uint8)
    blank[800:830, 500:530] = 0  # one blot: not text
    assert cleanup.tesseract_osd(blank) is None
    found = orientation_of(blank, DPI)
    assert (found.rotation, found.confidence, found.direction) == (0, None, "unknown")


def test_cleanup_turns_and_deskews_in_one_go(page: np.ndarray) -> None:
    delivered = rotate_cw(skew(page, -3.0), 90)  # upright needs 270 clockwise
    colour = cv2.cvtColor(delivered, cv2.COLOR_GRAY2BGR)
    result = cleanup_page(colour, DPI, CFG)
    assert result.rotation == 270
    assert abs(result.skew_angle + 3.0) <= 0.5
    assert result.image.ndim == 3 and result.image.shape[0] > result.image.shape[1]
    assert_same_geometry(result)


# --- borders and blank pages -----------------------------------------------------------------


@pytest.mark.parametrize(("degrees", "border"), [(0.0, 60), (-4.0, 45), (7.0, 0)])
def test_dark_scanner_border_is_cropped_to_the_paper(
    page: np.ndarray, degrees: float, border: int
) -> None:
    """Paper lying (maybe tilted) on the scanner's dark background comes back as the paper."""
    scan = skew(page, degrees, fill=25)
    if border:
        scan = on_dark_frame(scan, border, level=25)
    result = cleanup_page(scan, DPI, UPRIGHT)
    assert result.crop_box is not None
    h, w = result.image.shape
    assert abs(h - page.shape[0]) <= 0.02 * page.shape[0]
    assert abs(w - page.shape[1]) <= 0.02 * page.shape[1]
    for edge in (result.image[0], result.image[-1], result.image[:, 0], result.image[:, -1]):
        assert edge.mean() > 230  # no dark rim left
    text_rows = (result.image < 128).any(axis=1).sum()
    assert text_rows >= 0.9 * (page < 128).any(axis=1).sum()  # text not cut away
    assert_same_geometry(result)


def test_plain_margins_are_not_cropped(page: np.ndarray) -> None:
    assert find_content_box(small(page)) is None
    result = cleanup_page(page, DPI, UPRIGHT)
    assert result.crop_box is None and result.image.shape == page.shape


def test_blank_page_with_speckle_is_blank() -> None:
    rng = np.random.default_rng(3)
    paper = np.clip(rng.normal(245, 6, (1754, 1240)), 0, 255).astype(np.uint8)
    dusty = speckle(paper, 2000, seed=3)
    assert is_blank(small(dusty))
    framed = on_dark_frame(dusty, 40)
    result = cleanup_page(framed, DPI, CFG)
    assert result.blank
    assert result.rotation == 0 and result.skew_angle == 0.0


def test_pages_with_text_are_not_blank(shared_data: Path, page: np.ndarray) -> None:
    assert not is_blank(small(page))
    one_line = render_page(shared_data, seed=2, dpi=DPI, n_lines=1)
    assert not cleanup_page(one_line, DPI, CFG).blank


# --- input kinds and configuration -----------------------------------------------------------


def test_gray_and_colour_keep_their_kind(page: np.ndarray) -> None:
    tilted = skew(page, 1.5)
    gray = cleanup_page(tilted, DPI, UPRIGHT)
    assert gray.image.ndim == 2 and gray.image.dtype == np.uint8
    colour = cv2.cvtColor(tilted, cv2.COLOR_GRAY2BGR)
    colour[..., 2] = np.maximum(colour[..., 2], 60)  # a tinted paper: fill must follow it
    result = cleanup_page(colour, DPI, UPRIGHT)
    assert result.image.shape[2] == 3
    assert result.image.shape[:2] == gray.image.shape
    assert tuple(result.image[0, 0]) == (255, 255, 255)
    assert_same_geometry(result)
    bgra = cv2.cvtColor(colour, cv2.COLOR_BGR2BGRA)
    assert cleanup_page(bgra, DPI, UPRIGHT).image.shape == result.image.shape


def test_bilevel_input_stays_bilevel(page: np.ndarray) -> None:
    as_bool = skew(page, -2.5) >= 128  # Pillow mode "1": True is white
    result = cleanup_page(as_bool, DPI, UPRIGHT)
    assert abs(result.skew_angle + 2.5) <= 0.5
    assert result.image.dtype == np.uint8 and result.image.ndim == 2
    assert set(np.unique(result.image)) == {0, 255}
    assert_same_geometry(result)


def test_everything_off_returns_the_page_unchanged(page: np.ndarray) -> None:
    off = CleanupConfig(orientation=False, deskew=False, crop_borders=False)
    tilted = rotate_cw(skew(page, 3.0), 90)
    result = cleanup_page(tilted, DPI, off)
    assert np.array_equal(result.image, tilted)
    assert (result.rotation, result.skew_angle, result.crop_box) == (0, 0.0, None)
    assert result.rotation_confidence is None


def test_unsupported_input_is_rejected() -> None:
    with pytest.raises(ValueError):
        cleanup_page(np.zeros((10, 10), np.float32), DPI, CFG)
    with pytest.raises(ValueError):
        cleanup_page(np.zeros((10, 10, 2), np.uint8), DPI, CFG)
