"""Bounded work per input (issue 9 item 3): every bomb is refused with a reason or read within
bounds, and the page cap holds.

The bombs are made at test time by ``tests/support/bombs.py`` (a few KB to a few MB each).
Unit tests call ``pipeline.read`` directly; memory is measured as the peak RSS (VmHWM) of
a fresh interpreter doing one thing, never time. The end-to-end test runs one
``sohoa process`` batch of bombs and a good page against a real MinIO.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image

from pipeline.cleanup import page as cleanup
from pipeline.config import CleanupConfig, ConfigError, IngestConfig, load_config
from pipeline.read import pages, pdfimage, pdfinspect, textlayer
from pipeline.storage import objects as store
from samples import generate
from tests.support import bombs
from tests.support.cli import json_lines, sohoa

CFG = IngestConfig()
MiB = 2**20
CODE = "000.00.13.H38-261127-0909"


def peak_rss(code: str) -> tuple[int, str]:
    """(VmHWM in bytes, stdout) of a fresh Python running ``code``."""
    probe = (
        "\nimport sys\n"
        "hwm = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "sys.stdout.write(f'\\nVmHWM {hwm}\\n')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code + probe],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    head, _, tail = done.stdout.rpartition("VmHWM ")
    return int(tail.split()[0]) * 1024, head


def load_in_child(path: Path, config: str = "IngestConfig()") -> tuple[int, dict]:
    """Peak RSS of a fresh process that inspects ``path`` and loads its first page."""
    code = (
        "import json\n"
        "from pathlib import Path\n"
        "from pipeline.config import IngestConfig\n"
        "from pipeline.read import pages\n"
        f"cfg = {config}\n"
        f"path = Path({str(path)!r})\n"
        "info = pages.inspect(path, cfg)\n"
        "page = pages.load_page(path, info.media_type, 0, cfg)\n"
        "print(json.dumps({'shape': page.image.shape, 'dpi': page.dpi,"
        " 'source': page.dpi_source}))\n"
    )
    hwm, out = peak_rss(code)
    return hwm, json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------------ content-stream bomb


def test_content_stream_bomb_is_rendered_without_parsing_the_stream(tmp_path: Path) -> None:
    """5 M ``q Q`` in 24 KB: was 3.1 GB and 67 s through pikepdf's parser."""
    bomb = bombs.content_stream_bomb(tmp_path / "cs.pdf")
    assert bomb.stat().st_size < 64 * 1024
    hwm, page = load_in_child(bomb)
    assert page["source"] == "render", page  # the fast path declined; poppler drew it
    assert page["shape"][:2] == [3508, 2480] or page["shape"][:2] == [3509, 2480]
    assert hwm < 600 * MiB, f"peak RSS {hwm / MiB:.0f} MiB"


def test_fast_path_reads_at_most_the_content_cap(tmp_path: Path) -> None:
    bomb = bombs.content_stream_bomb(tmp_path / "cs.pdf")
    with pikepdf.open(bomb) as pdf:
        assert pdfimage.page_content(pdf.pages[0]) is None
        assert pdfimage.full_page_image(pdf.pages[0], CFG) is None
    small = bombs.content_stream_bomb(tmp_path / "small.pdf", repeats=10)
    with pikepdf.open(small) as pdf:
        content = pdfimage.page_content(pdf.pages[0])
        assert content is not None and content.count(b"q Q") == 10
        found = pdfimage.full_page_image(pdf.pages[0], CFG)
        assert found is not None, "a plain scanned page still takes the fast path"
        image, dpi, _ = found
        assert image.size == (1654, 2339) and dpi == pytest.approx(200, abs=1)


def test_tokenizer_takes_only_numbers_names_and_operators() -> None:
    ops = pdfimage.tokenize(b"q 595 0 0 842.5 0 -0.5 cm /Im#30 Do Q % scanner v1\n")
    assert ops == [
        ([], "q"),
        ([595.0, 0.0, 0.0, 842.5, 0.0, -0.5], "cm"),
        (["/Im0"], "Do"),
        ([], "Q"),
    ]
    for other in (b"BT (text) Tj ET", b"[1 2] 0 d", b"BI /W 1 ID x EI", b"<< >> BDC"):
        assert pdfimage.tokenize(other) is None, other


# ------------------------------------------------------------------ image stream bombs


def test_image_stream_inflating_past_its_declared_size_is_left_to_poppler(
    tmp_path: Path,
) -> None:
    """A 1654x2339 image (3.9 MB) whose stream inflates to 800 MB: was 1.66 GB via qpdf."""
    bomb = bombs.flate_overrun_bomb(tmp_path / "overrun.pdf")
    with pikepdf.open(bomb) as pdf:
        xobj = pdf.pages[0].Resources.XObject.Im0
        assert not pdfimage.decoded_size_fits(xobj, 1654, 2339)
    hwm, page = load_in_child(bomb)
    assert page["source"] == "render", page
    assert hwm < 600 * MiB, f"peak RSS {hwm / MiB:.0f} MiB"


def test_flate_image_bomb_is_rendered_within_the_page_budget(tmp_path: Path) -> None:
    """A 20000² image (400 MB inflated) on an A4 page: rendered at 300 dpi by poppler."""
    bomb = bombs.flate_image_bomb(tmp_path / "flate.pdf")
    hwm, page = load_in_child(bomb)
    h, w = page["shape"][:2]
    assert page["source"] == "render" and h * w <= CFG.max_page_pixels
    assert hwm < 600 * MiB, f"peak RSS {hwm / MiB:.0f} MiB"


def test_jpeg_whose_header_disagrees_with_the_pdf_is_not_decoded(tmp_path: Path) -> None:
    jpeg = tmp_path / "big.jpg"
    Image.new("L", (2000, 2000), 255).save(jpeg)
    pdf = pikepdf.new()
    xobj = pikepdf.Stream(pdf, jpeg.read_bytes())
    xobj.update(
        {
            "/Type": pikepdf.Name.XObject,
            "/Subtype": pikepdf.Name.Image,
            "/Width": 100,
            "/Height": 100,
            "/ColorSpace": pikepdf.Name.DeviceGray,
            "/BitsPerComponent": 8,
            "/Filter": pikepdf.Name.DCTDecode,
        }
    )
    assert not pdfimage.decoded_size_fits(xobj, 100, 100)
    assert pdfimage.decoded_size_fits(xobj, 2000, 2000)


# ------------------------------------------------------------------ object-count bombs


def test_object_count_bomb_is_refused_before_qpdf_opens_it(tmp_path: Path) -> None:
    bomb = bombs.object_count_bomb(tmp_path / "objects.pdf", objects=60_000)
    # entry 0, catalog, page tree, page, 60,000 annotations, 13 object streams, the xref stream
    assert pdfinspect.xref_entries(bomb) == 1 + 3 + 60_000 + 13 + 1
    cfg = IngestConfig(max_pdf_objects=50_000)
    with pytest.raises(pages.RejectedInput) as got:
        pages.inspect(bomb, cfg)
    assert str(got.value) == "PDF has 60,018 objects; limit 50,000 (ingest.max_pdf_objects)"
    assert pages.inspect(bomb, IngestConfig(max_pdf_objects=70_000)).pages == 1


def test_object_count_of_a_file_without_a_usable_xref_is_counted_from_its_bytes(
    tmp_path: Path,
) -> None:
    """qpdf rebuilds a missing table by scanning for ``N 0 obj``: so does the check."""
    objects: dict[int, bytes | bombs.Stream] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    }
    objects.update({n: b"null" for n in range(4, 3_004)})
    good = bombs.write_pdf(tmp_path / "good.pdf", objects, 1)
    broken = tmp_path / "no-xref.pdf"
    broken.write_bytes(good.read_bytes().split(b"xref\n")[0])
    assert pdfinspect.xref_entries(broken) is None
    with pytest.raises(pages.RejectedInput, match=r"3,003 objects; limit 2,000"):
        pages.inspect(broken, IngestConfig(max_pdf_objects=2_000))


def test_classic_xref_with_incremental_update_is_counted(tmp_path: Path) -> None:
    objects: dict[int, bytes | bombs.Stream] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    }
    path = bombs.write_pdf(tmp_path / "base.pdf", objects, 1)
    base = path.read_bytes()
    prev = int(base.rsplit(b"startxref", 1)[1].split()[0])
    update = bytearray(base)
    offsets = []
    for num in range(4, 54):  # an incremental update adding 50 objects
        offsets.append(len(update))
        update += b"%d 0 obj\nnull\nendobj\n" % num
    xref_at = len(update)
    update += b"xref\n4 50\n" + b"".join(b"%010d 00000 n \n" % off for off in offsets)
    update += b"trailer\n<< /Size 54 /Root 1 0 R /Prev %d >>\n" % prev
    update += b"startxref\n%d\n%%%%EOF\n" % xref_at
    path.write_bytes(bytes(update))
    assert pdfinspect.xref_entries(path) == 54
    with pytest.raises(pages.RejectedInput, match=r"54 objects; limit 50"):
        pages.inspect(path, IngestConfig(max_pdf_objects=50))
    assert pages.inspect(path, IngestConfig(max_pdf_objects=54)).pages == 1


def test_one_huge_array_is_refused_by_the_memory_limit_of_the_inspection(
    tmp_path: Path,
) -> None:
    """5 M numbers in one object stream (10 KB of file) cost qpdf ~0.7 GB to parse."""
    bomb = bombs.huge_array_bomb(tmp_path / "array.pdf", numbers=5_000_000)
    assert bomb.stat().st_size < 64 * 1024
    with pytest.raises(pages.RejectedInput) as got:
        pages.inspect(bomb, IngestConfig(pdf_memory_mb=256))
    assert "needs more than 256 MB to read (ingest.pdf_memory_mb)" in str(got.value)


# ------------------------------------------------------------------ page trees


def test_kids_naming_one_page_a_million_times_is_refused_by_the_page_cap(
    tmp_path: Path,
) -> None:
    """qpdf copies each repeated page: this took 2.3 GB and 17 s before the own walk."""
    bomb = bombs.kids_bomb(tmp_path / "kids.pdf")
    with pytest.raises(pages.RejectedInput) as got:
        pages.inspect(bomb, CFG)
    assert str(got.value) == (
        "PDF has 1,000,000 pages; limit 2,000 (ingest.max_pages); split it into smaller files"
    )
    liar = bombs.kids_bomb(tmp_path / "liar.pdf", declared=1)
    with pytest.raises(pages.RejectedInput, match=r"more than 2,000 pages; limit 2,000"):
        pages.inspect(liar, CFG)


def test_kids_walk_stays_small(tmp_path: Path) -> None:
    bomb = bombs.kids_bomb(tmp_path / "kids.pdf")
    code = (
        "from pathlib import Path\n"
        "from pipeline.read import pdfinspect\n"
        "limits = pdfinspect.PdfLimits(2000, 500000)\n"
        f"try:\n    pdfinspect.inspect_pdf(Path({str(bomb)!r}), limits)\n"
        "except pdfinspect.RejectedInput as exc:\n    print(exc)\n"
    )
    hwm, out = peak_rss(code)
    assert "1,000,000 pages" in out
    assert hwm < 200 * MiB, f"peak RSS {hwm / MiB:.0f} MiB"


def test_deep_page_tree_is_refused(tmp_path: Path) -> None:
    bomb = bombs.deep_tree_bomb(tmp_path / "deep.pdf")
    with pytest.raises(pages.RejectedInput, match=r"nested more than 64 levels deep"):
        pages.inspect(bomb, CFG)


def test_page_tree_loop_is_refused(tmp_path: Path) -> None:
    bomb = bombs.page_tree_loop(tmp_path / "loop.pdf")
    with pytest.raises(pages.RejectedInput, match=r"page tree is broken: .* twice \(a loop\)"):
        pages.inspect(bomb, CFG)


def test_inherited_fonts_count_as_a_text_layer(tmp_path: Path) -> None:
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    path = bombs.write_pdf(
        tmp_path / "inherit.pdf",
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 /Resources << /Font << /F1 4 0 R >> >> >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
            4: font,
        },
        1,
    )
    assert pages.inspect(path, CFG).has_text


# ------------------------------------------------------------------ the page cap


def test_page_cap_names_the_count_and_the_setting(tmp_path: Path) -> None:
    blank = bombs.blank_pages_pdf(tmp_path / "blank.pdf", pages=5_000)
    with pytest.raises(pages.RejectedInput) as got:
        pages.inspect(blank, CFG)
    assert "5,000 pages; limit 2,000 (ingest.max_pages)" in str(got.value)
    assert pages.inspect(blank, IngestConfig(max_pages=10_000)).pages == 5_000


def test_tiff_with_many_frames_is_refused_without_decoding_them(tmp_path: Path) -> None:
    bomb = bombs.tiff_frames_bomb(tmp_path / "frames.tif")
    with pytest.raises(pages.RejectedInput) as got:
        pages.inspect(bomb, CFG)
    assert str(got.value) == (
        "image file has 100,000 frames (pages); limit 2,000 (ingest.max_pages);"
        " split it into smaller files"
    )
    with pytest.raises(pages.RejectedInput, match=r"more than 1,000 frames"):
        pages.inspect(bomb, IngestConfig(max_pages=10))


def test_tiff_frame_chain_that_loops_is_counted_once(tmp_path: Path) -> None:
    looped = bombs.tiff_frames_bomb(tmp_path / "loop.tif", frames=30, loop=True, side=16)
    info = pages.inspect(looped, CFG)
    assert info.pages == 30
    assert pages.load_page(looped, info.media_type, 29, CFG).image.shape == (16, 16)


def test_page_of_a_few_pixels_is_refused_with_a_reason(tmp_path: Path) -> None:
    """A 1x1 frame broke cleanup's downscaling with an OpenCV assertion ("failed")."""
    tiny = bombs.tiff_frames_bomb(tmp_path / "tiny.tif", frames=3)
    with pytest.raises(pages.RejectedInput, match=r"page 1 is 1x1 pixels: too small"):
        pages.load_page(tiny, pages.TIFF, 0, CFG)


def test_later_tiff_frame_over_the_file_pixel_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "two.tif"
    frames = [Image.new("L", (100, 100), 255), Image.new("L", (3000, 3000), 255)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    cfg = IngestConfig(max_file_pixels=1_000_000)
    info = pages.inspect(path, cfg)  # the first frame is small
    with pytest.raises(pages.RejectedInput, match=r"page 2: image of 3000x3000 pixels exceeds"):
        pages.load_page(path, info.media_type, 1, cfg)


# ------------------------------------------------------------------ poppler's bounds


def test_render_out_of_memory_names_the_setting(shared_data: Path) -> None:
    hugemono = shared_data / "odd-inputs" / "ocrmypdf-tests-resources" / "hugemono.pdf"
    cfg = IngestConfig(pdf_memory_mb=100)
    with pytest.raises(pages.RejectedInput) as got:
        pages.render_page(hugemono, 0, 60, cfg)
    assert str(got.value) == "page 1: rendering needs more than 100 MB (ingest.pdf_memory_mb)"


def test_render_timeout_names_the_setting(tmp_path: Path) -> None:
    bomb = bombs.content_stream_bomb(tmp_path / "cs.pdf")
    with pytest.raises(pages.RejectedInput, match=r"\(ingest.pdf_timeout_seconds\)"):
        pages.render_page(bomb, 0, 300, IngestConfig(pdf_timeout_seconds=0.001))


def test_text_layer_larger_than_the_cap_falls_back_to_ocr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pdf = bombs.text_layer_bomb(tmp_path / "text.pdf", words=2_000)
    assert len(textlayer.read_words(pdf, 0, 300)) > 50
    monkeypatch.setattr(textlayer, "MAX_LAYER_BYTES", 4_096)
    assert textlayer.read_words(pdf, 0, 300) == []


# ------------------------------------------------------------------ pixel budgets


def test_rendered_page_is_read_back_gray_or_bgr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(pages, "BAND_BYTES", 3 * 40 * 7)  # 7 rows a band: several bands
    rgb = np.repeat(np.linspace(40, 240, 50, dtype=np.uint8)[:, None, None], 40, axis=1)
    rgb = np.ascontiguousarray(np.repeat(rgb, 3, axis=2))  # a gray ramp: every row differs
    rgb[10, 10] = 200
    ppm = tmp_path / "gray.ppm"
    Image.fromarray(rgb).save(ppm)
    arr, colour = pages.read_ppm(ppm)
    assert colour == "gray" and arr.shape == (50, 40) and int(arr[10, 10]) == 200
    rgb[48, 3] = (255, 0, 0)  # one red pixel in the last band
    Image.fromarray(rgb).save(ppm)
    arr, colour = pages.read_ppm(ppm)
    assert colour == "colour" and arr.shape == (50, 40, 3)
    assert tuple(arr[48, 3]) == (0, 0, 255)  # BGR
    assert np.array_equal(arr, rgb[..., ::-1])  # the gray bands read before it kept their rows


def test_image_over_the_page_budget_is_scaled_to_fit(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (2000, 1500), (250, 250, 250)).save(path, dpi=(600, 600))
    page = pages.load_page(path, pages.PNG, 0, IngestConfig(max_page_pixels=750_000))
    h, w = page.image.shape[:2]
    assert h * w <= 750_000 and (w, h) == (1000, 750)
    assert page.dpi == pytest.approx(300, abs=0.1) and page.dpi_source == "file"


def test_ocr_copy_over_its_budget_is_scaled_down_and_boxes_still_map() -> None:
    image = np.full((3000, 2000), 255, np.uint8)
    image[1000:1040, 300:1700] = 0
    clean = cleanup.cleanup_page(image, 300, CleanupConfig(max_ocr_pixels=1_500_000))
    oh, ow = clean.ocr_image.shape
    h, w = clean.image.shape
    assert oh * ow <= 1_500_000 * 1.01 and clean.ocr_scale < 1
    assert abs(oh - h * clean.ocr_scale) <= 1 and abs(ow - w * clean.ocr_scale) <= 1


def test_limits_are_validated() -> None:
    for bad in (
        {"ingest": {"max_pages": 0}},
        {"ingest": {"max_pdf_objects": 0}},
        {"ingest": {"pdf_memory_mb": 10}},
        {"ingest": {"pdf_timeout_seconds": 0}},
        {"cleanup": {"max_ocr_pixels": 10}},
    ):
        with pytest.raises(ConfigError):
            load_config(env={}, overrides=bad)
    assert load_config(env={}, overrides={"ingest": {"max_pages": 10_000}}).ingest.max_pages == (
        10_000
    )


# ------------------------------------------------------------------ end to end


def small_page(path: Path) -> Path:
    page = generate.render_page("application", seed=909, dpi=200)
    page.image.crop((0, 0, page.image.width, page.image.height // 4)).save(path, dpi=(200, 200))
    return path


@pytest.mark.integration
@pytest.mark.slow
def test_batch_of_bombs_each_settles_with_its_reason_and_the_rest_goes_on(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    expected = {  # file → (status, words the reason must contain)
        "noi-dung.pdf": ("indexed", ""),
        "doi-tuong.pdf": ("rejected", "600,126 objects; limit 500,000 (ingest.max_pdf_objects)"),
        "trang-lap.pdf": ("rejected", "1,000,000 pages; limit 2,000 (ingest.max_pages)"),
        "cay-sau.pdf": ("rejected", "nested more than 64 levels deep"),
        "vong.pdf": ("rejected", "(a loop)"),
        "5000-trang.pdf": ("rejected", "5,000 pages; limit 2,000 (ingest.max_pages)"),
        "khung.tif": ("rejected", "100,000 frames (pages); limit 2,000 (ingest.max_pages)"),
        "don.png": ("indexed", ""),
    }
    bombs.content_stream_bomb(drop / "noi-dung.pdf")
    bombs.object_count_bomb(drop / "doi-tuong.pdf", objects=600_000)
    bombs.kids_bomb(drop / "trang-lap.pdf")
    bombs.deep_tree_bomb(drop / "cay-sau.pdf")
    bombs.page_tree_loop(drop / "vong.pdf")
    bombs.blank_pages_pdf(drop / "5000-trang.pdf")
    bombs.tiff_frames_bomb(drop / "khung.tif")
    small_page(drop / "don.png")
    env = sohoa_env
    files = [drop / name for name in expected]
    result = sohoa(env, "--json", "process", *map(str, files), "--dossier", CODE)
    rows = json_lines(result.stdout)  # in the order documents settle
    assert len(rows) == len(files), result.stdout + result.stderr
    assert result.returncode == 3, result.stderr  # some input rejected
    (batch,) = json_lines(sohoa(env, "--json", "show", rows[0]["batch_id"]).stdout)
    names = {d["document_id"]: d["source_name"] for d in batch["documents"]}
    by_name = {names[r["document_id"]]: r for r in rows}
    st = store.connect(load_config(env=env))
    for path in files:
        row = by_name[path.name]
        status, words = expected[path.name]
        assert row["status"] == status, (path.name, row["error"], result.stderr[-2000:])
        assert words in (row["error"] or ""), (path.name, row["error"])
        raw = "sha256/" + hashlib.sha256(path.read_bytes()).hexdigest()
        assert st.get_bytes(st.raw_bucket, raw) == path.read_bytes(), "original kept"
    assert "Traceback" not in result.stderr
