"""Page cleanup: orientation, deskew, border crop, blank pages, OCR image, input kinds."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.cleanup import geometry, measure, ocr_copy, orientation, tone
from pipeline.cleanup.geometry import estimate_skew, find_content_box, rotate_bound
from pipeline.cleanup.measure import downscale, to_gray
from pipeline.cleanup.orientation import detect_orientation, line_direction
from pipeline.cleanup.page import CleanPage, cleanup_page
from pipeline.cleanup.tone import (
    colour_ink_mask,
    colour_mark_zones,
    is_blank,
    normalize_illumination,
    remove_speckle,
    suppress_colour_ink,
)
from pipeline.config import CleanupConfig
from samples import generate
from tests.support.pages import on_dark_frame, render_page, rotate_cw, skew, speckle

DPI = 150
CFG = CleanupConfig()
UPRIGHT = CleanupConfig(orientation=False)  # skips Tesseract where orientation is not under test
TESSERACT_IMAGES = Path("odd-inputs") / "tesseract-test-images"


@pytest.fixture(scope="module")
def page(shared_data: Path) -> np.ndarray:
    """A full upright A4 page of Vietnamese text at 150 dpi, gray."""
    return render_page(shared_data, seed=7, dpi=DPI)


def small(image: np.ndarray, dpi: float = DPI) -> np.ndarray:
    return to_gray(downscale(image, dpi, measure.GEOMETRY_DPI))


def letters(image: np.ndarray, dpi: float = DPI) -> measure.LetterInk:
    return measure.letter_ink(small(image, dpi))


def orientation_of(image: np.ndarray, dpi: float) -> orientation.Orientation:
    gray = to_gray(image)
    return detect_orientation(
        lambda: to_gray(downscale(gray, dpi, measure.OSD_DPI)),
        letters(gray, dpi),
        CFG.max_skew_degrees,
    )


def assert_same_geometry(result: CleanPage) -> None:
    """The OCR image is the PDF image, enlarged by exactly ``ocr_scale``."""
    assert result.ocr_image.dtype == np.uint8
    assert result.ocr_image.ndim == 2
    h, w = result.image.shape[:2]
    oh, ow = result.ocr_image.shape
    assert abs(oh - h * result.ocr_scale) <= 1 and abs(ow - w * result.ocr_scale) <= 1


# --- deskew ----------------------------------------------------------------------------------


@pytest.mark.parametrize("degrees", [-9.5, -4.2, -0.8, 0.4, 1.7, 6.3, 9.8])
def test_estimate_skew_finds_known_angle(page: np.ndarray, degrees: float) -> None:
    found = estimate_skew(letters(skew(page, degrees)), CFG.max_skew_degrees)
    assert abs(found - degrees) <= 0.5


def test_level_page_reports_no_skew(page: np.ndarray) -> None:
    assert estimate_skew(letters(page), CFG.max_skew_degrees) == 0.0


@pytest.mark.parametrize("degrees", [-5.5, 3.1])
def test_cleanup_straightens_the_page(page: np.ndarray, degrees: float) -> None:
    result = cleanup_page(skew(page, degrees), DPI, CFG)
    assert abs(result.skew_angle - degrees) <= 0.5  # sign: lines rising to the right are positive
    assert result.rotation == 0
    assert abs(estimate_skew(letters(result.image), CFG.max_skew_degrees)) <= 0.3
    assert_same_geometry(result)


def test_an_enlarged_page_is_deskewed_bicubic_and_a_scan_bilinear(page: np.ndarray) -> None:
    """One interpolation per kind of page: a copy enlarged from low resolution gets the
    bicubic warp its enlargement had, a scan at its own resolution the cheaper bilinear."""
    tilted = skew(page, 2.5)
    plain = CleanupConfig(orientation=False, crop_borders=False)
    for enlarged, interpolation in ((True, cv2.INTER_CUBIC), (False, cv2.INTER_LINEAR)):
        result = cleanup_page(tilted, DPI, plain, enlarged=enlarged)
        fill = measure.paper_colour(downscale(tilted, DPI, measure.OSD_DPI))[0]
        expected = rotate_bound(tilted, result.skew_angle, fill, interpolation)
        assert result.skew_angle != 0.0
        assert np.array_equal(result.image, expected)


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


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_letter_ink_turned_is_the_turned_page_labelled_again(shared_data: Path, turn: int):
    """Orientation and skew look at one labelling at four turns: the pixels must be those
    a fresh labelling of the turned image gives, also on a page with a scanner frame and
    letter-sized blobs whose width and height sit either side of the letter limit."""
    with Image.open(shared_data / "odd-inputs" / "vietocr3-samples" / "vietsample.tif") as im:
        gray = small(np.asarray(im.convert("L")), 300.0)
    gray = np.ascontiguousarray(gray)
    gray[:, :12] = 20  # a dark frame along one side
    gray[200:230, 300:390] = 0  # 30 x 90: a letter upright, not once turned a quarter
    gray[300:390, 500:530] = 0  # and the other way round
    ink = measure.letter_ink(gray)
    xs, ys = ink.pixels(turn)
    fresh_xs, fresh_ys = measure.letter_ink(rotate_bound(gray, turn)).pixels()
    assert xs.size > 1000
    assert sorted(zip(xs.tolist(), ys.tolist(), strict=True)) == sorted(
        zip(fresh_xs.tolist(), fresh_ys.tolist(), strict=True)
    )


def test_component_boxes_are_the_labelled_components(shared_data: Path) -> None:
    """The contour-based boxes the second look uses: every 8-connected component once,
    also a dot inside a ring's hole, a ring inside a ring and pixels touching at a corner."""
    with Image.open(shared_data / "odd-inputs" / "vietocr3-samples" / "vietsample.tif") as im:
        ink = (np.asarray(im.convert("L")) < 128).astype(np.uint8)
    nested = np.zeros((100, 100), np.uint8)
    cv2.circle(nested, (50, 50), 40, 1, 3)
    cv2.circle(nested, (50, 50), 20, 1, 2)
    nested[50, 50] = 1
    nested[2, 2] = nested[3, 3] = 1  # diagonal neighbours: one component
    for mask in (ink, cv2.dilate(ink, np.ones((5, 31), np.uint8)), nested):
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        expected = sorted(tuple(int(v) for v in row[:4]) for row in stats[1:])
        boxes = measure.component_boxes(mask)
        assert boxes == sorted(boxes, key=lambda b: (b[1], b[0], b[3], b[2]))
        assert sorted(boxes) == expected
    assert len(measure.component_boxes(nested)) == 4
    assert measure.component_boxes(np.zeros((20, 20), np.uint8)) == []


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
    assert found.confidence is not None and found.confidence >= orientation.OSD_MIN_CONFIDENCE


def test_vietnamese_landscape_tiff_page(shared_data: Path) -> None:
    """vietsample2.tif page 1 is a bilevel portrait page stored turned 90° clockwise."""
    with Image.open(shared_data / "odd-inputs" / "vietocr3-samples" / "vietsample2.tif") as im:
        im.seek(0)
        bilevel = np.asarray(im.convert("1"))
    assert bilevel.dtype == np.bool_ and bilevel.shape[1] > bilevel.shape[0]
    result = cleanup_page(bilevel, 300, CFG)
    assert result.rotation == 270
    assert result.image.shape[0] > result.image.shape[1]  # portrait again
    assert line_direction(letters(result.image, 300)) == "horizontal"
    assert result.image.dtype == np.uint8 and result.image.ndim == 2
    assert set(np.unique(result.image)) <= {0, 255}  # still bilevel after the warp
    assert_same_geometry(result)


@pytest.mark.parametrize(
    "name",
    ["danang_1.pdf", "danang_3.pdf"],
)
def test_ink_above_and_below_the_lines_tells_up_from_down(shared_data: Path, name: str) -> None:
    """Real Vietnamese scans and a generated decision: clearly positive upright,
    clearly negative turned over."""
    from pdf2image import convert_from_path

    pdf = shared_data / "odd-inputs" / "vn-real-scans-vietadmin" / name
    scan = np.asarray(
        convert_from_path(str(pdf), dpi=100, first_page=1, last_page=1)[0].convert("L")
    )
    _, generated_page = generated("decision", 29, seal=True)
    for gray in (scan, small(to_gray(generated_page))):
        assert orientation.upright_score(measure.letter_ink(gray)) > 0.25
        turned_over = measure.letter_ink(np.ascontiguousarray(gray[::-1, ::-1]))
        assert orientation.upright_score(turned_over) < -0.25
    blank = measure.letter_ink(np.full((800, 600), 250, np.uint8))
    assert orientation.upright_score(blank) == 0.0  # no text: no say


@pytest.mark.parametrize(
    "name",
    [
        "tesseract-test-images/phototest.tif",
        "tesseract-test-images/eurotext.tif",
        "tesseract-test-images/8087_054.3B.tif",
        "vietocr3-samples/vietsample.tif",
        "vietocr3-samples/vietsample2.png",
        "ocrmypdf-tests-resources/typewriter.png",
    ],
)
@pytest.mark.parametrize("turned", [0, 90, 180, 270])
def test_real_pages_are_righted_by_their_ink_alone(shared_data: Path, name: str, turned: int):
    """English, French, Vietnamese and typewriter pages, turned each way: no OCR needed."""
    with Image.open(shared_data / "odd-inputs" / name) as im:
        dpi = float(im.info.get("dpi", (300, 300))[0] or 300)
        gray = np.asarray(im.convert("L"))
    delivered = rotate_cw(gray, turned)
    geometry = letters(delivered, dpi if dpi >= 50 else 300.0)
    direction = orientation.line_direction(geometry)
    assert orientation.ink_orientation(geometry, direction) == (360 - turned) % 360


def test_osd_that_contradicts_line_direction_is_ignored(
    page: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orientation, "tesseract_osd", lambda gray: (180, 40.0))
    found = orientation_of(rotate_cw(page, 90), DPI)  # lines are vertical: 180 cannot be right
    assert found.osd_rotation == 180
    assert found.rotation == 0


def test_weak_osd_keeps_page_as_is(page: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orientation, "tesseract_osd", lambda gray: (180, 0.8))
    assert orientation_of(page, DPI).rotation == 0


def test_osd_failure_keeps_rotation_zero() -> None:
    """Too few characters for OSD: no exception, no rotation, no confidence."""
    blank = np.full((1754, 1240), 250, np.uint8)
    blank[800:830, 500:530] = 0  # one blot: not text
    assert orientation.tesseract_osd(blank) is None
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


# --- the OCR image: seals, light, dust, size -------------------------------------------------


def generated(kind: str, seed: int, profile: str = "clean", seal: bool = False, dpi: int = DPI):
    """A page from the sample generator (with ground truth), as BGR uint8."""
    page = generate.degrade(
        generate.render_page(kind, seed=seed, dpi=dpi, seal=seal), profile, seed=seed
    )
    return page, np.ascontiguousarray(np.asarray(page.image)[:, :, ::-1])


def test_seal_is_removed_and_text_under_it_kept() -> None:
    """One letter rendered with and without a red seal: OCR copy of one ≈ the other."""
    _, plain = generated("letter", 21)
    _, sealed = generated("letter", 21, "seal")  # a red seal across the body text
    truth = to_gray(plain)
    seal = np.abs(sealed.astype(int) - plain.astype(int)).max(axis=2) > 40
    assert seal.sum() > 2000
    paper_under_seal = seal & (truth > 200)
    text_under_seal = seal & (truth < 100) & (colour_ink_mask(plain) == 0)  # not the signature
    assert text_under_seal.sum() > 60  # the seal does cross text
    raw = to_gray(sealed)
    assert (raw[paper_under_seal] < 200).mean() > 0.3  # plain gray keeps the seal: test can fail
    ocr = normalize_illumination(suppress_colour_ink(sealed, DPI), DPI)
    assert (ocr[paper_under_seal] > 200).mean() > 0.97
    assert (ocr[text_under_seal] < 128).mean() > 0.9


def test_blue_signature_is_removed() -> None:
    _, image = generated("decision", 22)
    blue = colour_ink_mask(image) > 0
    assert blue.sum() > 200  # the signature scribble
    ocr = normalize_illumination(suppress_colour_ink(image, DPI), DPI)
    assert (ocr[blue] > 170).mean() > 0.95
    assert (to_gray(image)[blue] < 128).mean() > 0.5


def test_faded_signature_on_yellowed_paper_is_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Faded toner on yellow paper: the blue leads the other channels by less than the
    threshold until the paper's own tint is balanced out."""
    _, fresh = generated("decision", 7001, dpi=300)
    _, faded = generated("decision", 7001, "faded", dpi=300)
    blue = cv2.dilate(colour_ink_mask(fresh), np.ones((3, 3), np.uint8)) > 0
    assert blue.sum() > 2000
    zones = colour_mark_zones(faded, 300) > 0
    assert zones[blue].mean() > 0.95
    ocr = normalize_illumination(suppress_colour_ink(faded, 300), 300)
    assert (ocr[blue] > 200).mean() > 0.95
    with monkeypatch.context() as m:  # the same page without the balance: the test can fail
        m.setattr(tone, "white_balance", lambda image, paper: image)
        assert not colour_mark_zones(faded, 300).any()


def test_contrast_stretch_whitens_paper_and_darkens_faded_ink() -> None:
    plain, _ = generated("letter", 28)
    _, faded = generated("letter", 28, "faded+photocopy")
    truth = np.asarray(plain.image.convert("L"))
    text, paper = truth < 80, truth > 240
    flat = normalize_illumination(to_gray(faded), DPI)
    out = tone.stretch_contrast(flat, DPI)
    assert np.median(out[text]) < np.median(flat[text]) - 5
    assert (out[paper] == 255).mean() > 0.9 > (flat[paper] == 255).mean()
    assert (out[text] < 128).mean() > 0.9
    blank = np.full((200, 200), 250, np.uint8)
    assert (tone.stretch_contrast(blank, DPI) == 250).all()  # no ink: nothing to stretch


def test_coloured_text_line_is_kept(page: np.ndarray) -> None:
    """A line of red print is content, not a seal: it stays in the OCR image."""
    colour = cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)
    cv2.putText(colour, "KHAN 2026 RED HEADING", (150, 1690), cv2.FONT_HERSHEY_SIMPLEX, 1.0,
                (40, 30, 200), 2)  # fmt: skip
    red = colour_ink_mask(colour) > 0
    assert red.sum() > 300
    assert not colour_mark_zones(colour, DPI).any()
    assert np.array_equal(suppress_colour_ink(colour, DPI), to_gray(colour))


def test_shadow_is_evened_out() -> None:
    plain, _ = generated("letter", 23)
    _, shaded = generated("letter", 23, "shadow")
    truth = np.asarray(plain.image.convert("L"))
    gray = to_gray(shaded)

    def tile_paper(img: np.ndarray) -> np.ndarray:
        h, w = img.shape
        tiles = [img[y : y + h // 4, x : x + w // 4] for y in range(0, h - 3, h // 4)
                 for x in range(0, w - 3, w // 4)]  # fmt: skip
        return np.array([np.percentile(t, 90) for t in tiles])

    assert tile_paper(gray).min() < 0.8 * tile_paper(gray).max()  # the shadow is there
    flat = normalize_illumination(gray, DPI)
    assert tile_paper(flat).min() >= 235
    text = truth < 100
    assert (flat[text] < 128).mean() > 0.9  # text in the shadow keeps its contrast


def test_speckle_removed_and_diacritics_kept(page: np.ndarray) -> None:
    """Isolated dust goes; a clean page of Vietnamese text loses not a single pixel."""
    assert np.array_equal(remove_speckle(page, DPI), page)  # dots of ạ, ệ, ị ... all stay
    dusty = page.copy()
    rng = np.random.default_rng(5)
    margin = np.zeros(page.shape, bool)
    margin[:, :100] = True  # the left margin holds no text at 150 dpi
    for y in range(10, page.shape[0] - 10, 30):  # dust 5 mm apart: no dot has a neighbour
        for x in (25, 65):
            cv2.circle(dusty, (x + int(rng.integers(-5, 6)), y), int(rng.integers(0, 2)), 20, -1)
    assert (dusty[margin] < 128).sum() > 300
    cleaned = remove_speckle(dusty, DPI)
    assert (cleaned[margin] < 128).sum() == 0
    assert np.array_equal(cleaned[:, 100:], page[:, 100:])


def test_small_print_is_enlarged_for_ocr(page: np.ndarray) -> None:
    """12 pt at 150 dpi is below Tesseract's comfort; 300 dpi is not."""
    height = measure.letter_height(page)
    assert height is not None and height < ocr_copy.OCR_MIN_TEXT_PX
    factor = ocr_copy.ocr_upscale_factor(height)
    assert 1.5 <= factor <= ocr_copy.OCR_MAX_UPSCALE
    big = cv2.resize(page, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    assert ocr_copy.ocr_upscale_factor(measure.letter_height(big)) == 1.0
    result = cleanup_page(page, DPI, UPRIGHT)
    assert result.ocr_scale == pytest.approx(factor)
    assert result.image.shape == page.shape  # the PDF image keeps its own resolution
    assert_same_geometry(result)


@pytest.mark.parametrize(
    ("height", "factor"),
    [(None, 1.0), (22.0, 1.0), (30.0, 1.0), (36.0, 1.0), (37.0, 30 / 37), (60.0, 0.5)],
)
def test_ocr_copy_of_large_print_is_made_smaller(height: float | None, factor: float) -> None:
    """Over 1.2 x ocr_max_text_px (30) the copy shrinks to 30 px letters; never otherwise."""
    assert ocr_copy.ocr_downscale_factor(height, 30.0) == pytest.approx(factor)
    assert ocr_copy.ocr_downscale_factor(height, 0.0) == 1.0  # 0: the setting is off


def test_large_print_page_gets_a_smaller_ocr_copy_and_keeps_its_pdf_image(page) -> None:
    big = cv2.resize(page, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)  # 450 dpi
    height = measure.letter_height(big)
    assert height is not None and height > 1.2 * 30
    result = cleanup_page(big, 3 * DPI, CleanupConfig(orientation=False, ocr_max_text_px=30.0))
    assert result.ocr_scale == pytest.approx(30.0 / height, rel=0.01)
    assert result.image.shape == big.shape
    assert_same_geometry(result)
    assert measure.letter_height(result.ocr_image) == pytest.approx(30.0, abs=2)


def test_phone_photo_is_flattened() -> None:
    page, photo = generated("letter", 24, "phone", dpi=100)
    corners = np.array(page.params["phone"]["corners"])
    result = cleanup_page(photo, 100, UPRIGHT)
    assert result.page_quad is not None
    assert np.abs(np.array(result.page_quad) - corners).max() < 0.015 * photo.shape[1]
    h, w = result.image.shape[:2]
    assert abs(h / w - 297 / 210) < 0.04
    gray = to_gray(result.image)
    for edge in (gray[0], gray[-1], gray[:, 0], gray[:, -1]):
        assert np.median(edge) > 100  # paper, not the table it lay on
    assert_same_geometry(result)


@pytest.mark.parametrize("profile", ["clean", "skew:3", "border"])
def test_flat_scans_get_no_perspective_warp(profile: str) -> None:
    _, scan = generated("receipt", 25, profile, dpi=100)
    assert geometry.find_page_quad(small(scan, 100)) is None


def test_duplex_back_with_show_through_is_blank() -> None:
    """Mirrored text bleeding through from the front is not content; faded toner text is."""
    template, _ = generated("letter", 26)
    paper = Image.new("RGB", template.image.size, template.info["paper"])
    back = generate.GeneratedPage(paper, DPI, "", None, "letter", {}, dict(template.info))
    for profile in ("bleed", "bleed+shadow"):
        shown = generate.degrade(back, profile, seed=26)
        gray = np.asarray(shown.image.convert("L"))
        assert (gray < 0.96 * np.percentile(gray, 90)).sum() > 2000  # show-through is visible
        assert is_blank(small(gray))
    _, faded = generated("receipt", 27, "faded")
    assert not is_blank(small(faded))


def test_a_shadowed_flat_scan_is_not_taken_for_a_photographed_sheet() -> None:
    """The lit part of a scan with a heavy shadow is a four-sided bright region too, but it
    runs into the image edges; flattening it would scramble the page (seen in bench)."""
    from samples import generate

    page = generate.render_page("decision", seed=8400, dpi=150, seal=True)
    page = generate.degrade(page, "shadow+photocopy", seed=8400)
    bgr = np.ascontiguousarray(np.asarray(page.image)[:, :, ::-1])
    small = measure.to_gray(measure.downscale(bgr, 150, 100))
    assert geometry.find_page_quad(small) is None
