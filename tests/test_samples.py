"""The synthetic page generator (samples/generate.py) and the committed demo inbox."""

from __future__ import annotations

import collections
import json
import os
import re
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest
from PIL import Image

from pipeline.lang.textnorm import nfc
from samples import canvas
from samples import generate as gen

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CODE = "000.00.13.H38-261127-0001"


@pytest.fixture(scope="module", autouse=True)
def _corpus(shared_data: Path):
    """Point the generator at the shared corpus (fails clearly when it is missing)."""
    old = os.environ.get("SOHOA_VI_CORPUS")
    os.environ["SOHOA_VI_CORPUS"] = str(shared_data / "vi-corpus")
    yield
    if old is None:
        os.environ.pop("SOHOA_VI_CORPUS", None)
    else:
        os.environ["SOHOA_VI_CORPUS"] = old


def _decode_qr(image: Image.Image) -> tuple[str, np.ndarray | None]:
    bgr = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
    value, points, _ = cv2.QRCodeDetector().detectAndDecode(bgr)
    return value, points


def _ink_profile_sharpness(image: Image.Image) -> float:
    """Variance of row ink sums: highest when text lines are horizontal."""
    ink = 255 - np.asarray(image.convert("L"), np.float64)
    return float(ink.sum(axis=1).var())


def test_same_seed_same_page_other_seed_other_page():
    a = gen.render_page("decision", seed=3, dpi=100, seal=True)
    b = gen.render_page("decision", seed=3, dpi=100, seal=True)
    c = gen.render_page("decision", seed=4, dpi=100, seal=True)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.text == b.text
    assert c.text != a.text
    da = gen.degrade(a, "skew+noise+seal", seed=9)
    db = gen.degrade(b, "noise+seal+skew", seed=9)  # order in the string does not matter
    assert da.image.tobytes() == db.image.tobytes()
    assert da.params == db.params


@pytest.mark.parametrize("kind", gen.KINDS)
def test_ground_truth_is_nfc_and_has_the_title(kind: str):
    page = gen.render_page(kind, seed=1, dossier_code=CODE, dpi=72)
    assert page.image.mode == "RGB"
    assert page.image.size == (round(210 * 72 / 25.4), round(297 * 72 / 25.4))
    assert unicodedata.is_normalized("NFC", page.text)
    lines = page.text.split("\n")
    assert len(lines) > 15 and all(line.strip() == line and line for line in lines)
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in lines
    titles = {
        "receipt": ["GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"],
        "decision": ["QUYẾT ĐỊNH"],
        "application": [p[1] for p in canvas._PROCEDURES],
        "letter": ["Kính gửi: Ông (bà)"],
    }[kind]
    assert any(t in page.text for t in titles)
    if kind == "receipt":
        assert page.dossier_code == CODE
        assert f"Mã hồ sơ: {CODE}" in lines
        assert "Lào Cai, ngày 27 tháng 11 năm 2026" in lines  # date taken from the code
    else:
        assert page.dossier_code is None
        assert CODE not in page.text


def test_receipt_without_code_gets_a_valid_one():
    page = gen.render_page("receipt", seed=42, dpi=72)
    assert page.dossier_code and gen.DOSSIER_CODE_RE.match(page.dossier_code)
    assert f"Mã hồ sơ: {page.dossier_code}" in page.text


@pytest.mark.parametrize("dpi", [200, 300])
def test_receipt_qr_decodes_with_opencv_at_top_left(dpi: int):
    page = gen.render_page("receipt", seed=5, dossier_code=CODE, dpi=dpi)
    value, points = _decode_qr(page.image)
    assert value == CODE
    w, h = page.image.size
    assert points is not None
    assert points[..., 0].max() < w / 4 and points[..., 1].max() < h / 8


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        gen.render_page("memo", seed=1, dpi=72)
    with pytest.raises(ValueError):
        gen.render_page("receipt", seed=1, dpi=72, dossier_code="../../etc")
    page = gen.render_page("letter", seed=1, dpi=72)
    with pytest.raises(ValueError):
        gen.degrade(page, "skew+coffee", seed=1)
    with pytest.raises(ValueError):
        gen.degrade(page, "noise:3", seed=1)


def test_skew_angle_and_sign_convention():
    page = gen.render_page("letter", seed=2, dpi=100)
    skewed = gen.degrade(page, "skew", seed=11)
    angle = skewed.params["skew"]
    assert 0.5 <= abs(angle) <= 5
    assert skewed.image.width > page.image.width  # expanded, no text cut off
    # positive = counter-clockwise: turning back by -angle straightens the lines
    back = skewed.image.rotate(-angle, resample=Image.Resampling.BICUBIC, fillcolor="white")
    wrong = skewed.image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor="white")
    assert _ink_profile_sharpness(back) > 2 * _ink_profile_sharpness(wrong)
    forced = gen.degrade(page, "skew:-1.25", seed=11)
    assert forced.params["skew"] == -1.25


def test_rotations_add_up_and_are_lossless():
    page = gen.render_page("application", seed=2, dpi=72)
    turned = gen.degrade(page, "rotate90", seed=1)
    assert turned.params["rotate"] == 90
    assert turned.image.size == page.image.size[::-1]
    restored = turned.image.transpose(Image.Transpose.ROTATE_270)
    assert restored.tobytes() == page.image.tobytes()
    again = gen.degrade(turned, "rotate180", seed=1)
    assert again.params["rotate"] == 270
    assert again.params["profile"] == "rotate90+rotate180"


@pytest.mark.parametrize(
    ("profile", "key"),
    [
        ("seal", "seal"),
        ("bleed", "bleed"),
        ("faded", "faded"),
        ("phone", "phone"),
        ("border", "border"),
        ("shadow", "shadow"),
        ("photocopy", "photocopy"),
        ("noise", "noise"),
        ("blur_jpeg", "blur_jpeg"),
        ("rotate270", "rotate"),
    ],
)
def test_damage_profiles_change_the_page_and_report_parameters(profile: str, key: str):
    page = gen.render_page("decision", seed=7, dpi=72)
    damaged = gen.degrade(page, profile, seed=3)
    assert key in damaged.params
    assert damaged.params["profile"] == profile
    assert damaged.text == page.text and damaged.image.mode == "RGB"
    assert damaged.image.tobytes() != page.image.tobytes()
    if profile == "border":
        b = damaged.params["border"]
        assert damaged.image.width == page.image.width + b["left"] + b["right"]
        assert damaged.image.height == page.image.height + b["top"] + b["bottom"]


def test_dpi150_downsamples_and_records_it():
    page = gen.render_page("receipt", seed=1, dossier_code=CODE, dpi=300)
    low = gen.degrade(page, "dpi150", seed=1)
    assert low.dpi == 150 and low.params["dpi"] == 150
    assert low.image.size == (page.image.width // 2, page.image.height // 2)


def test_writers_keep_pages_and_dpi(tmp_path: Path):
    pages = gen.make_dossier(CODE, ["receipt", "decision"], seed=1, dpi=100)
    assert pages[0].dossier_code == CODE and pages[1].dossier_code is None
    pdf = gen.write_pdf(pages, tmp_path / "a.pdf")
    with pikepdf.open(pdf) as doc:
        assert len(doc.pages) == 2
        box = [float(v) for v in doc.pages[0].mediabox]
        assert abs(box[2] - 595.3) < 2 and abs(box[3] - 841.9) < 2  # A4 at the page's DPI
    tif = gen.write_tiff(pages, tmp_path / "a.tif", grey=True)
    with Image.open(tif) as im:
        assert im.n_frames == 2
        assert round(im.info["dpi"][0]) == 100
    png = gen.write_png(pages[1], tmp_path / "a.png")
    with Image.open(png) as im:
        assert round(im.info["dpi"][0]) == 100 and im.size == pages[1].image.size


def _truth_pages(rel: str) -> list[str]:
    return (SAMPLES / "truth" / rel).with_suffix(".txt").read_text(encoding="utf-8").split("\f")


def test_committed_samples_match_the_manifest():
    manifest = json.loads((SAMPLES / "truth" / "manifest.json").read_text(encoding="utf-8"))
    assert [m["file"] for m in manifest] == [s[0] for s in gen.SAMPLES]
    total = 0
    for entry in manifest:
        path = SAMPLES / "inbox" / entry["file"]
        total += path.stat().st_size
        assert gen.DOSSIER_CODE_RE.match(entry["dossier_code"])
        pages = _truth_pages(entry["file"])
        assert len(pages) == len(entry["pages"])
        assert all(unicodedata.is_normalized("NFC", p) for p in pages)
        where = {
            "folder": path.parent.name,
            "filename": path.name.split("__")[0],
            "qr": None,
        }[entry["code_source"]]
        if where is not None:
            assert where == entry["dossier_code"]
            assert entry["dossier_code"] not in "\f".join(pages)  # the path is the only source
        else:
            assert f"Mã hồ sơ: {entry['dossier_code']}" in pages[0]
            assert entry["dossier_code"] not in path.as_posix()
    assert total < 1_600_000


def test_pdf_sample_has_three_a4_pages_with_a_red_seal():
    path = SAMPLES / "inbox" / gen.SAMPLES[1][0]
    with pikepdf.open(path) as doc:
        assert len(doc.pages) == 3
        image = pikepdf.PdfImage(next(iter(doc.pages[1].get_images().values()))).as_pil_image()
    a = np.asarray(image.convert("RGB")).astype(int)
    red = (a[..., 0] > 150) & (a[..., 1] < 110) & (a[..., 2] < 120)
    assert red.sum() > 1000


def test_tiff_sample_qr_decodes_at_200_dpi():
    with Image.open(SAMPLES / "inbox" / "motcua-02" / "bien-nhan.tif") as im:
        assert im.n_frames == 2
        assert round(im.info["dpi"][0]) == 200
        im.seek(0)
        value, _ = _decode_qr(im)
    assert value == "000.00.13.H38-261121-0003"


def test_committed_samples_are_what_the_generator_makes(tmp_path: Path):
    gen.build_samples(tmp_path / "inbox", tmp_path / "truth")
    for rel, *_ in gen.SAMPLES:
        fresh = (tmp_path / "truth" / rel).with_suffix(".txt").read_text(encoding="utf-8")
        assert fresh.split("\f") == _truth_pages(rel), rel
    assert (tmp_path / "truth" / "manifest.json").read_text(encoding="utf-8") == (
        SAMPLES / "truth" / "manifest.json"
    ).read_text(encoding="utf-8")


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", nfc(text).lower())


@pytest.mark.slow
def test_tesseract_reads_a_clean_300_dpi_page():
    pytesseract = pytest.importorskip("pytesseract")
    page = gen.render_page("decision", seed=11, dossier_code=CODE, dpi=300)
    found = collections.Counter(_words(pytesseract.image_to_string(page.image, lang="vie")))
    truth = _words(page.text)
    hits = 0
    for word in truth:
        if found[word]:
            found[word] -= 1
            hits += 1
    assert hits / len(truth) >= 0.9
