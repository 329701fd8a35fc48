"""Junk lines out, and a second reading of the ink the first one missed (real Tesseract)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from pipeline import ocr
from pipeline.config import load_config
from pipeline.flow import page
from pipeline.ocr import reread
from pipeline.ocr.words import Word
from samples import generate

NOTO_SERIF = Path("/usr/share/fonts/truetype/noto/NotoSerif-Regular.ttf")
DPI = 300
LINES = ["Nơi nhận: Như Điều 3", "Lưu trữ văn phòng Sở", "PHÓ GIÁM ĐỐC Bùi Ngọc Quân"]


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return load_config(env={"SOHOA_HOME": str(tmp_path_factory.mktemp("home"))})


def rendered() -> tuple[np.ndarray, list[list[Word]]]:
    """Three lines of 12-pt print at 300 dpi, gray, with every word's exact ink box."""
    font = ImageFont.truetype(str(NOTO_SERIF), 50)
    image = Image.new("L", (1800, 700), 255)
    draw = ImageDraw.Draw(image)
    lines: list[list[Word]] = []
    y = 120
    for n, text in enumerate(LINES, start=1):
        x, line = 150, []
        for token in text.split():
            left, top, right, bottom = draw.textbbox((x, y), token, font=font)
            draw.text((x, y), token, font=font, fill=0)
            line.append(Word(token, left, top, right - left, bottom - top, 95.0, 1, 1, n))
            x = right + round(font.getlength(" "))
        lines.append(line)
        y += 150
    return np.asarray(image).copy(), lines


def box_of(line: list[Word]) -> tuple[int, int, int, int]:
    left, top = min(w.left for w in line), min(w.top for w in line)
    right = max(w.left + w.width for w in line)
    bottom = max(w.top + w.height for w in line)
    return left, top, right - left, bottom - top


def inside(inner: tuple[int, ...], outer: tuple[int, ...], slack: int = 4) -> bool:
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[0] + inner[2] <= outer[0] + outer[2] + slack
        and inner[1] + inner[3] <= outer[1] + outer[3] + slack
    )


# --- junk --------------------------------------------------------------------------------------


def test_a_line_of_low_confidence_junk_is_dropped() -> None:
    qr = Word("Ih>nH)", 91, 103, 200, 56, 0.0, 1, 1, 1)
    name = [
        Word(t, 300 + 100 * i, 400, 90, 50, 30.0, 2, 1, 1)
        for i, t in enumerate(["Bùi", "Ngọc", "Quân"])
    ]
    year = Word("2026", 300, 500, 90, 50, 10.0, 3, 1, 1)
    signs = Word("~", 300, 600, 30, 20, 12.0, 4, 1, 1)
    kept = ocr.drop_junk_lines([qr, *name, year, signs])
    assert [w.text for w in kept] == ["Bùi", "Ngọc", "Quân", "2026"]  # syllables and numbers stay


def test_small_junk_inside_a_line_goes_and_normal_sized_junk_stays() -> None:
    """Tone marks Tesseract split off onto the line below come out as tiny junk words."""
    words = [
        Word("Như", 380, 2619, 95, 35, 96.0, 1, 1, 2),
        Word("Điều", 490, 2616, 98, 38, 96.0, 1, 1, 2),
        Word("š", 1646, 2625, 13, 9, 0.0, 1, 1, 2),  # detached marks
        Word("Xq", 1700, 2616, 60, 36, 20.0, 1, 1, 2),  # junk, but letter-sized: kept
    ]
    assert [w.text for w in ocr.drop_junk_lines(words)] == ["Như", "Điều", "Xq"]


# --- finding what was missed -------------------------------------------------------------------


def test_a_line_without_words_is_found_and_a_covered_page_has_none() -> None:
    image, lines = rendered()
    everything = tuple(w for line in lines for w in line)
    assert reread.missed_regions(image, everything, DPI) == []
    first_two = tuple(w for line in lines[:2] for w in line)
    regions = reread.missed_regions(image, first_two, DPI)
    assert len(regions) == 1
    assert inside(box_of(lines[2]), regions[0])


def test_ink_under_junk_counts_as_missed() -> None:
    image, lines = rendered()
    junk = Word("z z", *box_of(lines[2]), 8.0, 1, 1, 3)
    words = (*lines[0], *lines[1], junk)
    regions = reread.missed_regions(image, words, DPI)
    assert len(regions) == 1 and inside(box_of(lines[2]), regions[0])


def test_a_lost_line_beside_many_scribbles_is_still_found() -> None:
    """Margin notes written sideways beside a letter (danang2-p1 of the development set)
    leave dozens of uncovered scraps: the widest regions are read, not none of them."""
    image, lines = rendered()
    canvas = np.full((1400, 1800), 255, np.uint8)
    canvas[:700] = image
    for i in range(30):  # scraps of handwriting below the text: 6 x 3 mm each
        y, x = 760 + (i // 6) * 110, 150 + (i % 6) * 260
        canvas[y : y + 36, x : x + 70 : 3] = 0
    known = tuple(w for line in lines[:2] for w in line)
    regions = reread.missed_regions(canvas, known, DPI)
    assert len(regions) == reread.MAX_REGIONS
    assert any(inside(box_of(lines[2]), r) for r in regions)
    assert regions == sorted(regions, key=lambda r: (r[1], r[0]))  # in reading order


def test_dust_and_word_box_slivers_are_not_regions() -> None:
    image, lines = rendered()
    image[600:604, 1500:1504] = 0  # a speck of dust far from any text
    short = []
    for w in (w for line in lines for w in line):  # boxes a little short of the last letter
        short.append(replace(w, width=max(1, w.width - 6)))
    assert reread.missed_regions(image, tuple(short), DPI) == []


def test_a_page_read_without_any_word_gets_no_second_full_run() -> None:
    """Everything missed is not a layout slip: the regions would be the whole page."""
    image, lines = rendered()
    top, left = 100, 120  # the text block alone: its lines cover a third of this image
    crop = np.ascontiguousarray(image[top:540, left:900])
    moved = [[replace(w, left=w.left - left, top=w.top - top) for w in line] for line in lines]
    assert len(reread.missed_regions(crop, (*moved[0], *moved[1]), DPI)) == 1
    assert reread.missed_regions(crop, (), DPI) == []


def test_a_qr_code_is_not_a_region() -> None:
    """Tesseract has nothing to say about a QR code: reading it again would waste a run."""
    import segno

    image, lines = rendered()
    matrix = segno.make_qr("000.00.13.H38-261127-0009", error="m").matrix_iter(border=4)
    code = np.kron(np.array(list(matrix), bool), np.ones((8, 8), bool))
    patch = np.where(code, 0, 255).astype(np.uint8)[:, : 1800 - 1450]
    image[60 : 60 + patch.shape[0], 1450 : 1450 + patch.shape[1]] = patch
    everything = tuple(w for line in lines for w in line)
    assert reread.missed_regions(image, everything, DPI) == []


def test_regions_are_read_in_one_run_in_page_coordinates(cfg) -> None:
    image, lines = rendered()
    regions = reread.missed_regions(image, (*lines[0],), DPI)
    assert len(regions) == 2
    found = reread.read_regions(image, regions, DPI, cfg.ocr)
    texts = [" ".join(w.text for w in f) for f in found]
    assert texts == LINES[1:]
    for region, words in zip(regions, found, strict=True):
        for w in words:
            assert inside((w.left, w.top, w.width, w.height), region, slack=10)


# --- merging -------------------------------------------------------------------------------------


def test_merge_puts_words_beside_their_line_or_in_reading_order() -> None:
    head = [
        Word("Nơi", 100, 100, 80, 40, 95, 1, 1, 1),
        Word("nhận:", 200, 100, 120, 40, 95, 1, 1, 1),
    ]
    tail = [Word("Bùi", 100, 500, 80, 40, 95, 2, 1, 1)]
    beside = Word("KT.", 900, 105, 70, 40, 90, 0, 0, 0)  # level with the first line
    between = Word("PHÓ", 900, 300, 90, 40, 92, 0, 0, 0)  # a line of its own above "Bùi"
    merged = reread.merge(
        (*head, *tail), [(880, 90, 120, 60), (880, 290, 120, 60)], [[beside], [between]]
    )
    assert [w.text for w in merged] == ["Nơi", "nhận:", "KT.", "PHÓ", "Bùi"]
    assert (merged[2].block, merged[2].line) == (1, 1)
    assert merged[3].block not in (1, 2)


def test_merge_replaces_doubtful_words_only_with_a_clearly_better_reading() -> None:
    good = Word("Quân", 100, 100, 100, 40, 95, 1, 1, 1)
    doubtful = Word("G1AM", 300, 100, 120, 40, 40, 1, 1, 1)
    region = (290, 90, 140, 60)
    better = Word("GIÁM", 300, 100, 120, 40, 93, 0, 0, 0)
    worse = Word("GLAM", 300, 100, 120, 40, 45, 0, 0, 0)
    assert [w.text for w in reread.merge((good, doubtful), [region], [[better]])] == [
        "Quân",
        "GIÁM",
    ]
    assert [w.text for w in reread.merge((good, doubtful), [region], [[worse]])] == ["Quân", "G1AM"]


# --- the whole page ----------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["api", "cli"])
def test_signature_block_lines_lost_by_the_layout_are_read_again(cfg, engine) -> None:
    """A sealed decision with show-through, from the bench: the full-page layout merges the
    recipients list with the signature block and loses "PHÓ GIÁM ĐỐC" (Tesseract 5.3) or
    the line "- Lưu: VT, QLĐĐ." (5.5, in process), both read again by the second look."""
    rendered_page = generate.render_page(
        "decision", seed=7901, dpi=DPI, dossier_code="000.00.13.H38-261127-0009", seal=True
    )
    damaged = generate.degrade(rendered_page, "bleed", seed=7901)
    bgr = np.ascontiguousarray(np.asarray(damaged.image)[:, :, ::-1])
    cfg = replace(cfg, ocr=replace(cfg.ocr, engine=engine))
    off = replace(cfg, ocr=replace(cfg.ocr, reread_missed=False))

    def text(config) -> str:
        _, result = page.clean_and_read(bgr, DPI, config)
        return ocr.words_to_text(ocr.drop_junk_lines(result.words))

    once, twice = text(off), text(cfg)
    assert "PHÓ GIÁM ĐỐC" not in once or "Lưu:" not in once  # the slip is there: can fail
    assert "PHÓ GIÁM ĐỐC" in twice and "- Lưu:" in twice
