"""The two Tesseract engines: the library in process and the command, one TSV, the same words."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import OcrConfig, load_config
from pipeline.errors import ConfigError, OcrError
from pipeline.ocr import tesseract, tesseract_api
from pipeline.ocr.tsv import result_from_tsv, words_from_tsv
from samples import generate

TSV = (
    "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
    "1\t1\t0\t0\t0\t0\t0\t0\t800\t600\t-1\t\n"
    "4\t1\t1\t1\t1\t0\t10\t20\t300\t40\t-1\t\n"
    "5\t1\t1\t1\t1\t1\t10\t20\t120\t40\t96.5\tQuye\u0302\u0301t\n"  # decomposed: NFC'd
    "5\t1\t1\t1\t1\t2\t140\t20\t10\t40\t95\t \n"
    "5\t1\t2\t1\t3\t1\t10\t80\t90\t40\tnan?\tđịnh\n"
    "5\t1\t2\t1\t3\t2\t10\t80"  # cut short: ignored
)


def test_tsv_words_keep_boxes_layout_numbers_and_nfc() -> None:
    words = words_from_tsv(TSV)
    assert [w.text for w in words] == ["Quyết", "định"]
    first, second = words
    assert (first.left, first.top, first.width, first.height, first.conf) == (10, 20, 120, 40, 96.5)
    assert (second.block, second.par, second.line, second.conf) == (2, 1, 3, -1.0)


def test_tsv_result_means_only_scored_words() -> None:
    result = result_from_tsv(TSV, "tesseract x", "vie")
    assert (
        result.mean_confidence == 96.5 and result.text == "Quyết\n\nđịnh"
    )  # a new block: a blank line
    assert result_from_tsv("", "tesseract x", "vie").mean_confidence is None


@pytest.fixture(scope="module")
def page_gray() -> np.ndarray:
    rendered = generate.render_page("decision", seed=14, dpi=200)
    return np.ascontiguousarray(np.asarray(rendered.image.convert("L")))


def test_in_process_and_command_read_the_same_words(page_gray: np.ndarray) -> None:
    api = tesseract.ocr_page(page_gray, 200, OcrConfig(engine="api"))
    cli = tesseract.ocr_page(page_gray, 200, OcrConfig(engine="cli"))
    assert api.engine.endswith("(in process)") and "in process" not in cli.engine
    assert len(api.words) > 100
    same = set(w.text for w in api.words) & set(w.text for w in cli.words)
    assert len(same) >= 0.93 * len(set(w.text for w in cli.words))
    placed = {(w.text, w.left // 4, w.top // 4) for w in cli.words}
    near = [
        any(
            (w.text, w.left // 4 + dx, w.top // 4 + dy) in placed
            for dx in (-1, 0, 1)
            for dy in (-1, 0, 1)
        )
        for w in api.words
    ]
    assert sum(near) >= 0.93 * len(api.words)  # the same page coordinates from both


def test_in_process_engine_is_reused_within_a_worker(page_gray: np.ndarray) -> None:
    cfg = OcrConfig(engine="api")
    tesseract.ocr_page(page_gray[:400], 200, cfg)
    before = tesseract_api._engine.cache_info().currsize
    tesseract.ocr_page(page_gray[:400], 200, cfg)
    tesseract.ocr_page(page_gray[:400], 200, OcrConfig(engine="api", psm=6))
    assert tesseract_api._engine.cache_info().currsize == before  # psm is per call


def test_in_process_timeout_is_an_ocr_error_named_as_such(page_gray: np.ndarray) -> None:
    with pytest.raises(OcrError, match="timed out"):
        tesseract.ocr_page(page_gray, 200, OcrConfig(engine="api", timeout_seconds=0.001))
    words = tesseract.ocr_page(page_gray[:400], 200, OcrConfig(engine="api")).words
    assert words  # the engine is usable again after a timed-out page


@pytest.mark.parametrize("engine", ["api", "cli"])
def test_missing_language_names_it(engine: str) -> None:
    with pytest.raises(OcrError, match="xxx") as caught:
        tesseract.ocr_page(
            np.full((60, 200), 255, np.uint8), 200, OcrConfig(lang="xxx", engine=engine)
        )
    assert "timed out" not in str(caught.value)


def test_auto_falls_back_to_the_command_without_the_library(monkeypatch) -> None:
    monkeypatch.setattr(tesseract_api, "available", lambda: False)
    assert tesseract.engine_for(OcrConfig()) == "cli"
    assert tesseract.engine_for(OcrConfig(engine="cli")) == "cli"
    with pytest.raises(OcrError, match="tesserocr"):
        tesseract.engine_for(OcrConfig(engine="api"))


def test_auto_prefers_the_library_when_installed() -> None:
    assert tesseract_api.available()  # a dependency: CI must have it
    assert tesseract.engine_for(OcrConfig()) == "api"
    assert tesseract.engine_version(OcrConfig(engine="cli")).startswith("tesseract 5.")


def test_engine_setting_is_checked(tmp_path) -> None:
    home = str(tmp_path)
    assert load_config(env={"SOHOA_HOME": home, "SOHOA_OCR_ENGINE": "cli"}).ocr.engine == "cli"
    with pytest.raises(ConfigError, match="SOHOA_OCR_ENGINE"):
        load_config(env={"SOHOA_HOME": home, "SOHOA_OCR_ENGINE": "gpu"})


def test_warm_up_leaves_a_bad_setting_to_the_page() -> None:
    """A worker's set-up must not fail (it would break the pool); the page says why."""
    cfg = OcrConfig(lang="xxx", engine="api")
    tesseract.warm_up(cfg)
    with pytest.raises(OcrError, match="xxx"):
        tesseract.ocr_page(np.full((60, 200), 255, np.uint8), 200, cfg)


def test_vietnamese_readings_get_d_with_stroke_for_a_printed_eth(monkeypatch) -> None:
    row = "5\t1\t1\t1\t1\t1\t10\t20\t120\t40\t91\t\u00d0/c\n"
    monkeypatch.setattr(tesseract_api, "read_tsv", lambda *a: row)
    assert [
        w.text for w in tesseract.ocr_page(np.zeros((9, 9), np.uint8), 200, OcrConfig()).words
    ] == ["Đ/c"]
    other = tesseract.ocr_page(np.zeros((9, 9), np.uint8), 200, OcrConfig(lang="isl"))
    assert [w.text for w in other.words] == ["\u00d0/c"]  # Icelandic keeps its eth


def test_model_auto_reads_with_the_shipped_model_when_it_is_there(
    tmp_path, monkeypatch, page_gray: np.ndarray
) -> None:
    """``ocr.model: auto`` loads pipeline/ocr/data/sohoa_vie.traineddata when shipped; the
    stand-in here is a copy of the system's ``vie``, then a broken file that must fail."""
    from pipeline.ocr import tessdata

    system = tessdata.find("vie.traineddata")
    assert system is not None
    shipped = tmp_path / "ok"
    shipped.mkdir()
    (shipped / "sohoa_vie.traineddata").write_bytes((system / "vie.traineddata").read_bytes())
    monkeypatch.setattr(tessdata, "SHIPPED_DIR", shipped)
    assert tessdata.resolve(OcrConfig()) == tessdata.Model(
        str(shipped), "sohoa_vie", "sohoa_vie (sohoa)"
    )
    for engine in ("api", "cli"):
        result = tesseract.ocr_page(page_gray, 200, OcrConfig(engine=engine))
        assert result.lang == "sohoa_vie (sohoa)" and len(result.words) > 100
    # vie stays selectable, and an operator's own tessdata or language is kept
    assert tessdata.resolve(OcrConfig(model="system")) == tessdata.Model(None, "vie", "vie")
    assert tessdata.resolve(OcrConfig(tessdata_dir=str(system))).lang == "vie"
    assert tessdata.resolve(OcrConfig(lang="vie+eng")).lang == "vie+eng"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "sohoa_vie.traineddata").write_bytes(b"not a model")
    monkeypatch.setattr(tessdata, "SHIPPED_DIR", broken)
    with pytest.raises(OcrError):
        tesseract.ocr_page(page_gray, 200, OcrConfig(engine="api"))
    monkeypatch.setattr(tessdata, "SHIPPED_DIR", tmp_path / "absent")
    assert tessdata.resolve(OcrConfig()) == tessdata.Model(None, "vie", "vie")


def test_model_may_name_a_file_and_comes_from_the_environment(tmp_path) -> None:
    from pipeline.ocr import tessdata

    model = tmp_path / "mine.traineddata"
    model.write_bytes(b"x")
    assert tessdata.resolve(OcrConfig(model=str(model))) == tessdata.Model(
        str(tmp_path), "mine", "mine.traineddata"
    )
    with pytest.raises(OcrError, match=r"ocr\.model"):
        tessdata.resolve(OcrConfig(model=str(tmp_path / "missing.traineddata")))
    cfg = load_config(env={"SOHOA_HOME": str(tmp_path), "SOHOA_OCR_MODEL": "system"})
    assert cfg.ocr.model == "system"
