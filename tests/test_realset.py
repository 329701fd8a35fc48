"""The real development set (bench/realset): recall floors and the resolution decision.

A few representative pages, as scanned and as a forwarded low-resolution JPEG, go
through the page function as a document run calls it; their diacritic-folded and
exact word recall of the PDF's text layer must stay above floors set a little under
what sohoa reads today (bench/realset/README.md), so a regression fails here before
it shows in the benchmark.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.cleanup import measure, ocr_copy

REALSET = Path(__file__).resolve().parents[1] / "bench" / "realset"
sys.path.insert(0, str(REALSET))

import degrade  # noqa: E402
import run_pages  # noqa: E402
import score  # noqa: E402

# (page, variant): (folded floor, exact floor); measured values in the comments.
FLOORS = {
    ("danang1-p2", "orig"): (0.96, 0.95),  # 200-dpi G4 office scan: 0.976 0.976
    ("udhr-p1", "letter-blur"): (0.98, 0.97),  # 80-dpi JPEG, blurred: 0.992 0.983
    ("danang3-p3", "letter-turn-cw"): (0.95, 0.93),  # 80-dpi JPEG, turned 1-4°: 0.964 0.952
    # Sideways margin notes beside three lines the first reading loses: 0.976 0.959
    ("danang2-p1", "letter-turn-cw"): (0.96, 0.94),
}


@pytest.fixture(scope="module")
def images(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chosen pages and variants, made exactly as the benchmark makes them."""
    out = tmp_path_factory.mktemp("realset")
    ids = sorted({page for page, _ in FLOORS})
    names = sorted({v for _, v in FLOORS if v != "orig"})
    degrade.write_set(out, shared_data, degrade.DEFAULT_SEED, ids=ids, names=names)
    return out


def image_file(images: Path, page: str, variant: str) -> Path:
    rows = json.loads((images / "manifest.json").read_text(encoding="utf-8"))["images"]
    (row,) = [r for r in rows if r["id"] == page and r["variant"] == variant]
    return images / row["file"]


@pytest.mark.parametrize(("page", "variant"), list(FLOORS))
def test_real_page_recall_stays_above_its_floor(
    images: Path, tmp_path: Path, page: str, variant: str
) -> None:
    image = image_file(images, page, variant)
    run_pages.run_one(image, tmp_path, run_pages.options([]), True)
    text = (tmp_path / f"{image.name.rsplit('.', 1)[0]}.txt").read_text(encoding="utf-8")
    truth = (REALSET / "truth" / f"{page}.txt").read_text(encoding="utf-8")
    got = score.score_text(truth, text)
    folded, exact = FLOORS[(page, variant)]
    assert got.folded >= folded, f"folded recall {got.folded:.3f}"
    assert got.exact >= exact, f"exact recall {got.exact:.3f}"


def gray_of(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


def test_letter_height_follows_the_pixels_not_the_declared_dpi(images: Path) -> None:
    """The same page as scanned (200 dpi) and forwarded at 80 dpi (turned): smaller letters."""
    scan = measure.letter_height(gray_of(image_file(images, "danang3-p3", "orig")))
    letter = measure.letter_height(gray_of(image_file(images, "danang3-p3", "letter-turn-cw")))
    assert scan is not None and letter is not None
    assert 15 <= scan <= 22  # a 200-dpi office scan: 18 px
    assert 8 <= letter <= 13  # the 80-dpi copy: 11 px
    assert 1.5 <= scan / letter <= 3.0  # 2.5 in pixels; a blurred or turned copy reads taller


def test_low_resolution_pages_are_enlarged_before_cleanup(images: Path) -> None:
    """Only pages with small letters are enlarged, to about the letter size of a 200-dpi scan."""
    for page, variant in FLOORS:
        height = measure.letter_height(gray_of(image_file(images, page, variant)))
        factor = ocr_copy.work_upscale_factor(height)
        if variant == "orig":
            assert factor == 1.0
        else:
            assert 1.6 <= factor <= ocr_copy.OCR_MAX_UPSCALE
            assert height is not None and height * factor == pytest.approx(ocr_copy.WORK_LETTER_PX)


@pytest.mark.parametrize(
    ("height", "factor"),
    [
        (None, 1.0),  # no text measured: leave the page alone
        (20.0, 1.0),  # a 200-dpi scan
        (13.0, 1.0),  # the threshold itself
        (11.0, 2.0),  # a 100-dpi copy
        (8.0, 2.75),  # an 80-dpi forwarded letter
        (4.0, 4.0),  # tiny: never more than OCR_MAX_UPSCALE
    ],
)
def test_work_upscale_factor_on_known_letter_heights(height: float | None, factor: float) -> None:
    assert ocr_copy.work_upscale_factor(height) == pytest.approx(factor)


def test_page_function_enlarges_only_the_small_print_and_to_archive_resolution(
    images: Path,
) -> None:
    from pipeline.flow.page import enlarge_small_print

    opts = run_pages.options([])
    scan = gray_of(image_file(images, "danang1-p2", "orig"))
    assert enlarge_small_print(scan, 200.0, opts)[0] is scan
    letter = gray_of(image_file(images, "udhr-p1", "letter-blur"))
    big, dpi = enlarge_small_print(letter, 80.0, opts)
    assert dpi >= opts.pdf.min_output_dpi  # resampled once, for cleanup and the archive alike
    assert big.shape[1] / letter.shape[1] == pytest.approx(dpi / 80.0, rel=0.01)
    assert measure.letter_height(big) >= ocr_copy.WORK_LETTER_PX
