"""One page through cleanup and OCR: orientation asked only when the first reading is poor."""

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.flow import page
from samples import generate


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return load_config(env={"SOHOA_HOME": str(tmp_path_factory.mktemp("home"))})


def _bgr(profile: str) -> np.ndarray:
    rendered = generate.render_page("decision", seed=91, dpi=200)
    return np.ascontiguousarray(
        np.asarray(generate.degrade(rendered, profile, seed=91).image)[:, :, ::-1]
    )


def test_upright_page_is_read_once_without_osd(cfg):
    clean, result = page.clean_and_read(_bgr("clean"), 200, cfg)
    assert clean.rotation == 0 and clean.orientation_deferred
    assert result.mean_confidence > cfg.ocr.orientation_recheck_confidence


@pytest.mark.parametrize(
    ("profile", "turn"), [("rotate180", 180), ("rotate90", 90), ("rotate270", 270)]
)
def test_turned_page_is_righted_by_its_ink_without_osd(cfg, monkeypatch, profile, turn):
    """The marks above vs below the lines say which way is up: one reading, no OSD run."""
    from pipeline.cleanup import orientation

    reads, osd = [], []
    real_read, real_osd = page._read, orientation.tesseract_osd
    monkeypatch.setattr(page, "_read", lambda *a: reads.append(1) or real_read(*a))
    monkeypatch.setattr(orientation, "tesseract_osd", lambda *a: osd.append(1) or real_osd(*a))
    clean, result = page.clean_and_read(_bgr(profile), 200, cfg)
    assert clean.rotation == turn
    assert (len(reads), len(osd)) == (1, 0)
    assert result.mean_confidence > 85
    assert "QUYẾT ĐỊNH" in " ".join(w.text for w in result.words)


def test_a_wrong_ink_guess_is_caught_by_the_poor_reading(cfg, monkeypatch):
    from pipeline.cleanup import orientation

    monkeypatch.setattr(
        orientation, "ink_orientation", lambda *a: 180
    )  # an upright page, turned over
    clean, result = page.clean_and_read(_bgr("clean"), 200, cfg)
    assert clean.rotation == 0
    assert result.mean_confidence > 85


def test_upside_down_page_the_ink_hint_misses_is_turned_after_a_poor_reading(cfg, monkeypatch):
    from pipeline.cleanup import orientation

    monkeypatch.setattr(orientation, "upright_score", lambda *a: 0.0)  # no hint: the old path
    clean, result = page.clean_and_read(_bgr("rotate180"), 200, cfg)
    assert clean.rotation == 180
    assert result.mean_confidence > 85


def test_upscaling_respects_the_pixel_budget():
    image = np.zeros((1000, 1000), np.uint8)
    same, dpi = page.upscale_to(image, 100, 200, max_pixels=1_000_000)
    assert same is image and dpi == 100
    bigger, dpi = page.upscale_to(image, 100, 200, max_pixels=2_250_000)
    assert bigger.shape == (1500, 1500) and dpi == pytest.approx(150)
