"""Reading pages: type by content, DPI from the file or the configuration, clear rejections."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.config import IngestConfig
from pipeline.read import pages

CFG = IngestConfig()


def _png(path: Path, dpi=None, mode="L") -> Path:
    img = Image.new(mode, (400, 300), 255 if mode != "RGB" else (255, 255, 255))
    kwargs = {"dpi": dpi} if dpi else {}
    img.save(path, **kwargs)
    return path


def test_dpi_from_file(tmp_path):
    page = pages.load_page(_png(tmp_path / "a.png", (200, 200)), pages.PNG, 0, CFG)
    assert (page.dpi, page.dpi_source) == (pytest.approx(200, abs=0.5), "file")


@pytest.mark.parametrize("dpi", [None, (1, 1), (72000, 72000), (0, 0)])
def test_missing_or_bogus_dpi_falls_back_to_config(tmp_path, dpi):
    path = _png(tmp_path / "b.png", dpi)
    page = pages.load_page(path, pages.sniff(path), 0, IngestConfig(default_dpi=250))
    assert (page.dpi, page.dpi_source) == (250, "config")


def test_type_comes_from_bytes_not_the_name(tmp_path):
    tif_named_pdf = tmp_path / "scan.pdf"
    Image.new("L", (50, 50), 255).save(tif_named_pdf, format="TIFF")
    assert pages.sniff(tif_named_pdf) == pages.TIFF
    text_named_jpg = tmp_path / "photo.jpg"
    text_named_jpg.write_text("Đây không phải là ảnh", encoding="utf-8")
    with pytest.raises(pages.RejectedInput, match="not a PDF, TIFF, JPEG or PNG"):
        pages.sniff(text_named_jpg)


def test_an_unknown_file_is_named_by_its_first_characters_without_escapes(tmp_path):
    """The reason quotes what a person would see, so JSON and logs escape nothing twice."""
    note = tmp_path / "note.pdf"
    note.write_bytes(b"hello\n\x00\x01world")
    with pytest.raises(pages.RejectedInput) as caught:
        pages.sniff(note)
    assert str(caught.value).endswith("(it starts with 'hello···world')")
    assert "\\" not in json.dumps(str(caught.value), ensure_ascii=False)


def test_empty_file_is_rejected(tmp_path):
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(pages.RejectedInput, match="empty file"):
        pages.inspect(empty, CFG)


def test_truncated_png_is_rejected_with_reason(tmp_path):
    path = _png(tmp_path / "t.png", (300, 300), mode="RGB")
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (600, 800, 3), dtype=np.uint8)).save(
        path
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(pages.RejectedInput):
        info = pages.inspect(path, CFG)
        pages.load_page(path, info.media_type, 0, CFG)


def test_modes_become_bgr_or_gray(tmp_path):
    for mode, colour in (("1", "bilevel"), ("L", "gray"), ("RGB", "gray"), ("P", "gray")):
        path = tmp_path / f"m{mode}.png"
        Image.new(mode, (40, 30)).save(path, dpi=(300, 300))
        page = pages.load_page(path, pages.PNG, 0, CFG)
        assert page.colour == colour and page.image.dtype == np.uint8
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (40, 30), (200, 0, 0, 0)).save(rgba)
    page = pages.load_page(rgba, pages.PNG, 0, CFG)
    assert page.image.shape == (30, 40) and page.image.min() == 255  # transparent → white paper


def test_pdf_render_dpi_respects_the_pixel_budget():
    assert pages.pdf_render_dpi(595, 842, CFG) == 300
    huge = pages.pdf_render_dpi(8400, 8400, CFG)  # hugemono.pdf: 35000 px at its native 300 dpi
    assert (8400 / 72 * huge) ** 2 <= CFG.max_page_pixels


def test_multipage_tiff_frames_one_at_a_time(shared_data):
    path = shared_data / "odd-inputs" / "vietocr3-samples" / "vietsample2.tif"
    info = pages.inspect(path, CFG)
    assert (info.media_type, info.pages) == (pages.TIFF, 2)
    first = pages.load_page(path, info.media_type, 0, CFG)
    second = pages.load_page(path, info.media_type, 1, CFG)
    assert first.image.shape[1] > first.image.shape[0]  # page 1 is landscape
    assert second.image.shape[0] > second.image.shape[1]
    assert first.colour == "bilevel" and first.dpi == 300


def test_encrypted_pdf_with_user_password_is_rejected(shared_data):
    path = shared_data / "odd-inputs" / "ocrmypdf-tests-resources" / "skew-encrypted.pdf"
    with pytest.raises(pages.RejectedInput, match="password"):
        pages.inspect(path, CFG)


def test_invalid_pdf_is_rejected(shared_data):
    path = shared_data / "odd-inputs" / "ocrmypdf-tests-resources" / "invalid.pdf"
    with pytest.raises(pages.RejectedInput):
        pages.inspect(path, CFG)


def _scan_pdf(tmp_path: Path, rotate: int = 0) -> Path:
    """A one-page 'scanned' PDF: a 200-dpi image over the whole page, maybe with /Rotate."""
    import img2pdf
    import pikepdf

    img = Image.new("RGB", (400, 600), (250, 250, 245))
    img.paste((200, 20, 20), (0, 0, 100, 50))  # a red mark at the top-left of the sheet
    src = tmp_path / "scan.jpg"
    img.save(src, dpi=(200, 200), quality=95)
    pdf_path = tmp_path / f"scan-{rotate}.pdf"
    pdf_path.write_bytes(img2pdf.convert(str(src)))
    if rotate:
        with pikepdf.open(pdf_path, allow_overwriting_input=True) as pdf:
            pdf.pages[0].obj["/Rotate"] = rotate
            pdf.save(pdf_path)
    return pdf_path


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_scanned_pdf_page_image_is_taken_directly_and_matches_a_render(tmp_path, rotate):
    path = _scan_pdf(tmp_path, rotate)
    direct = pages.load_page(path, pages.PDF, 0, CFG)
    assert direct.dpi_source == "image" and direct.dpi == pytest.approx(200, abs=0.5)
    assert type(direct.dpi) is float  # numpy scalars break pikepdf when the page is written
    rendered = pages.load_page(path, pages.PDF, 0, IngestConfig(pdf_render_dpi=200, max_dpi=199))
    assert rendered.dpi_source == "render"  # 200 dpi is outside [70, 199]: no fast path
    assert direct.image.shape == rendered.image.shape

    def mark_centre(image: np.ndarray) -> np.ndarray:
        ys, xs = np.nonzero(image.astype(int).sum(axis=2) < 500)  # the red mark, not paper
        return np.array([ys.mean(), xs.mean()])

    assert np.abs(mark_centre(direct.image) - mark_centre(rendered.image)).max() < 3


def test_pages_with_more_than_one_image_are_rendered(shared_data):
    cfg = CFG
    ccitt = pages.load_page(
        shared_data / "odd-inputs" / "ocrmypdf-tests-resources" / "ccitt.pdf", pages.PDF, 0, cfg
    )
    assert (ccitt.dpi_source, ccitt.colour) == ("image", "bilevel")
    masks = pages.load_page(
        shared_data / "odd-inputs" / "ocrmypdf-tests-resources" / "masks.pdf", pages.PDF, 0, cfg
    )
    assert masks.dpi_source == "render"
