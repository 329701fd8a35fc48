"""Searchable PDF/A output: text layer, geometry, image encoding, assembly, PDF/A metadata.

Pages are rendered here with Pillow and Noto Serif, so every word's text and
pixel box is known exactly; Poppler's tools then read the PDF the way a viewer
or indexer would.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from pipeline.ocr.words import Word
from pipeline.output.page_pdf import write_page_pdf
from pipeline.output.pdfa import PdfaInfo, PdfInfo, assemble_pdfa

REPO = Path(__file__).resolve().parents[1]
NOTO_SERIF = Path("/usr/share/fonts/truetype/noto/NotoSerif-Regular.ttf")
LINES = [
    "QUYẾT ĐỊNH",
    "Phạm Văn Anh đề nghị cấp giấy phép",
    "Ủy ban nhân dân tỉnh Lào Cai xác nhận",
]
DPI = 200
ICT = timezone(timedelta(hours=7))


def render(
    lines: list[str], size: tuple[int, int] = (1400, 520), font_px: int = 44
) -> tuple[Image.Image, list[Word]]:
    """Draw the lines on a cream page and return it with each word's exact ink box."""
    font = ImageFont.truetype(str(NOTO_SERIF), font_px)
    page = Image.new("RGB", size, (248, 243, 228))
    draw = ImageDraw.Draw(page)
    words: list[Word] = []
    y = 60
    for line_no, line in enumerate(lines, start=1):
        x = 90
        for text in line.split():
            left, top, right, bottom = draw.textbbox((x, y), text, font=font)
            draw.text((x, y), text, font=font, fill=(25, 25, 70))
            words.append(Word(text, left, top, right - left, bottom - top, 96.0, 1, 1, line_no))
            x = right + round(font.getlength(" "))
        y += int(font_px * 2.2)
    return page, words


def bgr(page: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(page.convert("RGB"))[:, :, ::-1])


def run(*cmd: str | Path) -> str:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=True).stdout


def bbox_words(pdf: Path, page: int = 1) -> list[tuple[str, tuple[float, ...]]]:
    """Words and their boxes (points, top-left origin) as Poppler extracts them."""
    out = run("pdftotext", "-bbox", "-f", page, "-l", page, pdf, "-")
    pattern = (
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    )
    return [(m[4], tuple(float(v) for v in m[:4])) for m in re.findall(pattern, out)]


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def points(word: Word, dpi: float) -> tuple[float, ...]:
    s = 72.0 / dpi
    return (word.left * s, word.top * s, (word.left + word.width) * s, (word.top + word.height) * s)


def image_list(pdf: Path) -> list[dict[str, str]]:
    """`pdfimages -list` rows as dicts keyed by its header (width, color, bpc, enc, x-ppi…)."""
    lines = run("pdfimages", "-list", pdf).splitlines()
    header = lines[0].split()
    return [dict(zip(header, row.split(), strict=False)) for row in lines[2:]]


def info(title: str = "Hồ sơ cấp giấy phép xây dựng") -> PdfInfo:
    return PdfInfo(
        title=title,
        subject="Đơn đề nghị cấp giấy phép",
        keywords="giấy phép, xây dựng",
        created=datetime(2025, 3, 14, 9, 30, 5, tzinfo=ICT),
        document_id="uuid:6f1c2d3e-0000-4000-8000-000000000001",
    )


@pytest.fixture(scope="module")
def vi_page() -> tuple[Image.Image, list[Word]]:
    return render(LINES)


@pytest.fixture(scope="module")
def page_pdf(tmp_path_factory: pytest.TempPathFactory, vi_page) -> Path:
    page, words = vi_page
    out = tmp_path_factory.mktemp("page") / "page.pdf"
    write_page_pdf(bgr(page), DPI, words, out)
    return out


# --------------------------------------------------------------------------- text layer


def test_text_extracts_with_exact_vietnamese_lines(page_pdf: Path) -> None:
    text = run("pdftotext", page_pdf, "-")
    got = [line for line in text.splitlines() if line.strip()]
    assert got == LINES  # exact NFC diacritics, spaces between words, reading order


def test_layout_mode_keeps_each_line_together(page_pdf: Path) -> None:
    text = run("pdftotext", "-layout", page_pdf, "-")
    got = [re.sub(" +", " ", line.strip()) for line in text.splitlines() if line.strip()]
    assert got == LINES


def test_word_boxes_match_pixel_boxes(page_pdf: Path, vi_page) -> None:
    _, words = vi_page
    extracted = bbox_words(page_pdf)
    assert [t for t, _ in extracted] == [w.text for w in words]
    for (text, box), word in zip(extracted, words, strict=True):
        assert iou(box, points(word, DPI)) > 0.5, (text, box, points(word, DPI))


def test_glyphless_font_is_embedded_with_unicode_map(page_pdf: Path) -> None:
    rows = [r.split() for r in run("pdffonts", page_pdf).splitlines()[2:]]
    assert len(rows) == 1
    name, *kind, encoding, emb, _sub, uni, _obj, _gen = rows[0]
    assert name == "GlyphLessFont"
    assert kind == ["CID", "TrueType"]
    assert (encoding, emb, uni) == ("Identity-H", "yes", "yes")


def test_text_is_invisible(page_pdf: Path) -> None:
    with pikepdf.open(page_pdf) as pdf:
        content = pdf.pages[0].Contents.read_bytes().decode("ascii")
    assert "3 Tr" in content
    assert content.index("Do") < content.index("BT")  # image first, text on top


LONG_LINE = "Trình tự hòa giải tranh chấp lao động tập thể về lợi ích"


@pytest.mark.parametrize(
    "damage",
    ["overlap", "wide_gap", "uneven_height"],
)
def test_a_line_with_odd_word_boxes_stays_one_line(tmp_path: Path, damage: str) -> None:
    """Tesseract's boxes overlap on italics and gape around specks; the line must not split."""
    page, words = render([LONG_LINE, LONG_LINE, LONG_LINE], (2400, 400))
    odd = []
    for w in words:
        if damage == "overlap" and w.text == "giải":  # a tail reaching under the next word
            w = Word(w.text, w.left, w.top, w.width + 40, w.height, w.conf, 1, 1, w.line)
        elif damage == "wide_gap" and w.text == "động":  # box short of the word's end
            w = Word(w.text, w.left, w.top, w.width - 40, w.height, w.conf, 1, 1, w.line)
        elif damage == "uneven_height" and w.text == "tập":  # specks high above it
            w = Word(
                w.text, w.left, w.top - 2 * w.height, w.width, 3 * w.height, w.conf, 1, 1, w.line
            )
        elif damage == "uneven_height" and w.text == "thể":  # and one below the next
            w = Word(w.text, w.left, w.top, w.width, 2 * w.height, w.conf, 1, 1, w.line)
        odd.append(w)
    out = tmp_path / "odd.pdf"
    write_page_pdf(bgr(page), DPI, odd, out)
    got = [line for line in run("pdftotext", out, "-").splitlines() if line.strip()]
    assert got == [LONG_LINE] * 3


def render_rows(
    rows: list[list[tuple[int, str]]], size: tuple[int, int] = (2400, 700), font_px: int = 40
) -> tuple[Image.Image, list[Word]]:
    """Rows of (x, text) pieces; each row is one OCR line, as Tesseract reads a header row."""
    font = ImageFont.truetype(str(NOTO_SERIF), font_px)
    page = Image.new("RGB", size, (248, 243, 228))
    draw = ImageDraw.Draw(page)
    words: list[Word] = []
    for line_no, row in enumerate(rows, start=1):
        y = 60 + 70 * (line_no - 1)
        for x, piece in row:
            for text in piece.split():
                left, top, right, bottom = draw.textbbox((x, y), text, font=font)
                draw.text((x, y), text, font=font, fill=(25, 25, 70))
                words.append(Word(text, left, top, right - left, bottom - top, 96.0, 1, 1, line_no))
                x = right + round(font.getlength(" "))
    return page, words


HEADER_LEFT = ["UBND TỈNH LÀO CAI", "SỞ TƯ PHÁP", "Số: 12/STP"]
HEADER_RIGHT = [
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "Lào Cai, ngày 5 tháng 3 năm 2025",
]
BODY = "Kính gửi Ủy ban nhân dân tỉnh Lào Cai xác nhận hồ sơ cấp giấy phép xây dựng"


def test_two_column_header_reads_column_by_column(tmp_path: Path) -> None:
    """Organ | national motto read as one OCR line per row, with a gutter of about an em
    on the first row (as on the Đà Nẵng scans): the text layer gives the left column,
    then the right one, then the body, and never a row of both."""
    page, words = render_rows(
        [
            [(150, HEADER_LEFT[0]), (580, HEADER_RIGHT[0])],  # 36 px after "CAI"
            [(200, HEADER_LEFT[1]), (1150, HEADER_RIGHT[1])],
            [(160, HEADER_LEFT[2]), (1100, HEADER_RIGHT[2])],
            [(90, BODY)],
        ]
    )
    assert words[4].left - (words[3].left + words[3].width) < words[3].height * 1.3
    out = tmp_path / "header.pdf"
    write_page_pdf(bgr(page), DPI, words, out)
    got = [line for line in run("pdftotext", out, "-").splitlines() if line.strip()]
    assert got == [*HEADER_LEFT, *HEADER_RIGHT, BODY]


def test_a_lost_word_does_not_cut_its_line(tmp_path: Path) -> None:
    """A wide gap where Tesseract lost a word, under and over lines with no gap there, is
    not a gutter: the line stays whole and in place."""
    lines = ["Vừng trán em vương trời quê hương", "Mắt em dìu dịu buồn Tây Phương"]
    lines.append("Tôi thấy xứ Đoài mây trắng lắm")
    page, words = render_rows([[(90, text)] for text in lines], size=(1400, 400))
    words = [w for w in words if w.text != "dịu"]  # a gap of two ems, four word gaps
    out = tmp_path / "lost.pdf"
    write_page_pdf(bgr(page), DPI, words, out)
    got = [line for line in run("pdftotext", out, "-").splitlines() if line.strip()]
    assert got == [lines[0], "Mắt em dìu buồn Tây Phương", lines[2]]


def test_words_lost_down_a_paragraph_do_not_make_columns(tmp_path: Path) -> None:
    """A blurred page loses a word in several lines of a paragraph at about the same
    place; the sentence goes on after each gap in lower case, so these are no gutter."""
    left = ["Thực hiện tốt công tác", "Đổi mới căn bản giáo dục", "Tổ chức tốt việc học tập"]
    right = ["nhằm đẩy nhanh công cuộc", "đào tạo trên địa bàn", "suốt đời cho nhân dân"]
    page, words = render_rows(  # gaps of 1-3 ems, all under one another
        [[(90, a), (610, b)] for a, b in zip(left, right, strict=True)], size=(1400, 400)
    )
    out = tmp_path / "river.pdf"
    write_page_pdf(bgr(page), DPI, words, out)
    got = [line for line in run("pdftotext", out, "-").splitlines() if line.strip()]
    assert got == [f"{a} {b}" for a, b in zip(left, right, strict=True)]


def test_non_bmp_characters_are_dropped_and_blank_words_skipped(tmp_path: Path) -> None:
    page, words = render(["Số hồ sơ"], size=(800, 200))
    words = [
        *words[:-1],
        Word(
            "sơ\U0001f600",
            *(getattr(words[-1], f) for f in ("left", "top", "width", "height")),
            90.0,
            1,
            1,
            1,
        ),
        Word("   ", 10, 10, 30, 30, 10.0, 1, 1, 2),
        Word("x", 10, 10, 0, 30, 10.0, 1, 1, 3),
    ]
    out = tmp_path / "p.pdf"
    write_page_pdf(bgr(page), DPI, words, out)
    assert run("pdftotext", out, "-").split() == ["Số", "hồ", "sơ"]


def test_page_without_words_has_image_only(tmp_path: Path) -> None:
    page, _ = render(["Trang trắng"], size=(600, 200))
    out = tmp_path / "p.pdf"
    write_page_pdf(bgr(page), DPI, [], out)
    assert run("pdftotext", out, "-").strip() == ""
    assert len(image_list(out)) == 1


# --------------------------------------------------------------------------- images


def test_colour_page_is_jpeg_at_native_resolution(tmp_path: Path, vi_page) -> None:
    page, words = vi_page
    out = tmp_path / "p.pdf"
    write_page_pdf(bgr(page), 300, words, out, jpeg_quality=70)
    (row,) = image_list(out)
    assert (row["width"], row["height"]) == (str(page.width), str(page.height))
    assert (row["x-ppi"], row["y-ppi"]) == ("300", "300")
    assert (row["color"], row["bpc"], row["enc"]) == ("rgb", "8", "jpeg")
    with pikepdf.open(out) as pdf:
        box = [float(v) for v in pdf.pages[0].MediaBox]
    assert box == pytest.approx([0, 0, page.width / 300 * 72, page.height / 300 * 72])


def test_colours_survive(tmp_path: Path) -> None:
    image = np.zeros((300, 300, 3), np.uint8)
    image[:, :150] = (0, 0, 200)  # BGR: red on the left
    image[:, 150:] = (200, 0, 0)  # blue on the right
    out = tmp_path / "p.pdf"
    write_page_pdf(image, DPI, [], out)
    run("pdfimages", "-png", out, tmp_path / "img")
    rgb = np.asarray(Image.open(tmp_path / "img-000.png").convert("RGB")).astype(int)
    assert np.abs(rgb[150, 60] - (200, 0, 0)).max() < 12
    assert np.abs(rgb[150, 240] - (0, 0, 200)).max() < 12


def test_gray_page_is_gray_jpeg(tmp_path: Path, vi_page) -> None:
    page, words = vi_page
    gray = np.asarray(page.convert("L"))
    for name, image in (("gray", gray), ("neutral-bgr", np.dstack([gray, gray, gray]))):
        out = tmp_path / f"{name}.pdf"
        write_page_pdf(image, DPI, words, out)
        (row,) = image_list(out)
        assert (row["color"], row["bpc"], row["enc"]) == ("gray", "8", "jpeg"), name


def test_bilevel_page_is_lossless_one_bit(tmp_path: Path, vi_page) -> None:
    page, words = vi_page
    bilevel = np.where(np.asarray(page.convert("L")) < 140, 0, 255).astype(np.uint8)
    out = tmp_path / "p.pdf"
    write_page_pdf(bilevel, DPI, words, out)
    (row,) = image_list(out)
    assert (row["color"], row["bpc"], row["enc"]) == ("gray", "1", "ccitt")
    assert (row["x-ppi"], row["y-ppi"]) == (str(DPI), str(DPI))
    run("pdfimages", "-png", out, tmp_path / "img")
    decoded = np.asarray(Image.open(tmp_path / "img-000.png").convert("L"))
    assert np.array_equal(decoded, bilevel)  # same pixels, same polarity
    assert out.stat().st_size < bilevel.size / 8 / 5  # G4, far below raw 1-bit
    assert run("pdftotext", out, "-").split() == [w.text for w in words]


# --------------------------------------------------------------------------- assembly and PDF/A


@pytest.fixture(scope="module")
def three_pages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A colour, a bilevel and a gray page, each saying which page it is."""
    folder = tmp_path_factory.mktemp("pages")
    paths = []
    for n, (label, kind) in enumerate([("một", "colour"), ("hai", "bilevel"), ("ba", "gray")], 1):
        page, words = render([f"Trang {label} của hồ sơ"], size=(900, 300))
        gray = np.asarray(page.convert("L"))
        image = {
            "colour": bgr(page),
            "bilevel": np.where(gray < 140, 0, 255).astype(np.uint8),
            "gray": gray,
        }[kind]
        paths.append(folder / f"{n}.pdf")
        write_page_pdf(image, DPI, words, paths[-1])
    return paths


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory, three_pages: list[Path]) -> Path:
    out = tmp_path_factory.mktemp("doc") / "000.00.13.H38-250314-0001.1.pdf"
    assert assemble_pdfa(three_pages, out, info()) == PdfaInfo(part=2, conformance="B")
    return out


def test_assembly_keeps_pages_in_order(document: Path) -> None:
    assert len(pikepdf.open(document).pages) == 3
    for n, label in enumerate(["một", "hai", "ba"], 1):
        text = run("pdftotext", "-f", n, "-l", n, document, "-").strip()
        assert text == f"Trang {label} của hồ sơ"
    assert [r["enc"] for r in image_list(document)] == ["jpeg", "ccitt", "jpeg"]


def test_assembly_shares_one_font(document: Path) -> None:
    rows = run("pdffonts", document).splitlines()[2:]
    assert len(rows) == 1 and "GlyphLessFont" in rows[0]


def test_pdfa_metadata_and_docinfo_agree(document: Path) -> None:
    pdf = pikepdf.open(document)
    meta = pdf.open_metadata()
    assert meta["pdfaid:part"] == "2"
    assert meta["pdfaid:conformance"] == "B"
    assert meta["dc:title"] == "Hồ sơ cấp giấy phép xây dựng"
    assert meta["dc:language"] == {"vi"}
    assert meta["xmp:CreateDate"] == "2025-03-14T09:30:05+07:00"
    assert meta["xmpMM:DocumentID"] == "uuid:6f1c2d3e-0000-4000-8000-000000000001"
    doc = pdf.docinfo
    assert str(doc.Title) == meta["dc:title"]
    assert str(doc.Subject) == meta["dc:description"] == "Đơn đề nghị cấp giấy phép"
    assert str(doc.Keywords) == meta["pdf:Keywords"]
    assert str(doc.Creator) == meta["xmp:CreatorTool"] == "sohoa"
    assert str(doc.Producer) == meta["pdf:Producer"]
    assert str(doc.CreationDate).startswith("D:20250314093005+07'00")
    assert str(pdf.Root.Lang) == "vi"


def test_pdfa_file_structure(document: Path) -> None:
    pdf = pikepdf.open(document)
    assert document.read_bytes()[:8] in (b"%PDF-1.4", b"%PDF-1.5", b"%PDF-1.6", b"%PDF-1.7")
    assert not pdf.is_encrypted
    assert len(pdf.trailer.ID) == 2
    (intent,) = pdf.Root.OutputIntents
    assert intent.S == pikepdf.Name.GTS_PDFA1
    profile = intent.DestOutputProfile
    icc = profile.read_bytes()
    assert profile.N == 3
    assert icc[12:20] in (b"mntrRGB ", b"prtrRGB ")  # display/output class, RGB data
    assert icc[8] in (2, 4)  # ICC major version
    assert "/JavaScript" not in pdf.Root and "/AA" not in pdf.Root
    for page in pdf.pages:
        assert "/Group" not in page.obj  # no transparency group
        for xobject in page.Resources.XObject.values():
            assert "/SMask" not in xobject


def test_assembly_of_nothing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        assemble_pdfa([], tmp_path / "x.pdf", info())
    assert not (tmp_path / "x.pdf").exists()


def test_assembly_leaves_no_file_when_a_page_is_broken(tmp_path: Path, three_pages) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"not a pdf")
    out = tmp_path / "doc.pdf"
    with pytest.raises(Exception):  # noqa: B017 - qpdf's error type is its own business
        assemble_pdfa([three_pages[0], broken], out, info())
    assert list(tmp_path.iterdir()) == [broken]


MEMORY_PROBE = textwrap.dedent(
    """
    import resource, sys
    from datetime import datetime, timezone
    from pathlib import Path
    from pipeline.output.pdfa import PdfInfo, assemble_pdfa
    pages = sorted(Path(sys.argv[1]).glob("p*.pdf"))
    info = PdfInfo(title="t", created=datetime(2025, 1, 1, tzinfo=timezone.utc))
    assemble_pdfa(pages[:1], Path(sys.argv[1]) / "warm.pdf", info)  # imports, caches
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assemble_pdfa(pages, Path(sys.argv[1]) / "all.pdf", info)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) * 1024)
    """
)


def test_assembly_of_many_pages_is_memory_bounded(tmp_path: Path) -> None:
    """40 pages of incompressible images: peak memory must not grow with their total size.

    Copying the pages with ``Pdf.pages.extend`` grows the peak by about half of
    the pages' size here; streaming them from their files grows it by ~nothing.
    """
    rng = np.random.default_rng(7)
    for n in range(40):
        noise = rng.integers(0, 256, (1100, 1100, 3), dtype=np.uint8)
        word = Word(f"Trang {n + 1}", 50, 50, 300, 40, 90.0, 1, 1, 1)
        write_page_pdf(noise, DPI, [word], tmp_path / f"p{n:03}.pdf", jpeg_quality=90)
    total = sum(p.stat().st_size for p in tmp_path.glob("p*.pdf"))
    assert total > 35_000_000
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    growth = int(probe.stdout.split()[-1])
    assert growth < total * 0.15, (
        f"peak RSS grew {growth / 1e6:.1f} MB for {total / 1e6:.1f} MB of pages"
    )
    out = tmp_path / "all.pdf"
    assert len(pikepdf.open(out).pages) == 40
    assert run("pdftotext", "-f", 40, "-l", 40, out, "-").strip() == "Trang 40"


# --------------------------------------------------------------------------- validators


def verapdf_command() -> list[str] | None:
    """The veraPDF CLI: $SOHOA_VERAPDF, else the jar scripts/get-verapdf.sh caches, else PATH."""
    if cmd := os.environ.get("SOHOA_VERAPDF"):
        return shlex.split(cmd)
    jars = sorted((REPO / ".cache" / "verapdf").glob("verapdf-cli-*.jar"))
    if jars and shutil.which("java"):
        return ["java", "-jar", str(jars[-1])]
    if exe := shutil.which("verapdf"):
        return [exe]
    return None


def test_verapdf_accepts_documents_as_pdfa_2b(
    tmp_path: Path, three_pages: list[Path], document: Path, page_pdf: Path
) -> None:
    """Assembled files pass (colour + bilevel; colour + bilevel + gray); a bare page PDF
    (no XMP, no output intent) must fail, which shows the validator really checks."""
    cmd = verapdf_command()
    if cmd is None:
        pytest.skip("veraPDF not found: run scripts/get-verapdf.sh (or set SOHOA_VERAPDF)")
    good = tmp_path / "two.pdf"
    assemble_pdfa(three_pages[:2], good, info())
    result = subprocess.run(
        [
            *cmd,
            "--flavour",
            "2b",
            "--format",
            "text",
            "-v",
            str(good),
            str(document),
            str(page_pdf),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = result.stdout + result.stderr
    assert f"PASS {good} 2b" in result.stdout, report
    assert f"PASS {document} 2b" in result.stdout, report
    assert f"FAIL {page_pdf} 2b" in result.stdout, report


def test_tesseract_words_give_searchable_aligned_text(tmp_path: Path, vi_page) -> None:
    """Real Tesseract boxes (not ours) in, same words out of the PDF at the same places."""
    pytesseract = pytest.importorskip("pytesseract")
    page, _ = vi_page
    data = pytesseract.image_to_data(page, lang="vie", output_type=pytesseract.Output.DICT)
    words = [
        Word(t, x, tp, w, h, float(c), b, p, ln)
        for t, x, tp, w, h, c, b, p, ln in zip(
            data["text"],
            data["left"],
            data["top"],
            data["width"],
            data["height"],
            data["conf"],
            data["block_num"],
            data["par_num"],
            data["line_num"],
            strict=True,
        )
        if t.strip()
    ]
    assert len(words) >= 15
    out = tmp_path / "p.pdf"
    write_page_pdf(bgr(page), DPI, words, out)
    extracted = bbox_words(out)
    assert [t for t, _ in extracted] == [w.text for w in words]
    for (text, box), word in zip(extracted, words, strict=True):
        assert iou(box, points(word, DPI)) > 0.5, text
    assert "Phạm Văn Anh" in run("pdftotext", out, "-")
