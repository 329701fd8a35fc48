"""Archived PDF/A-2b documents made with the project's own writer, for signing tests and bench.

Each page is a scanned-looking A4 image (paper grain, so JPEG has something to
encode, as on a real scan) with a Vietnamese heading drawn near the top, and the
text layer written by ``write_page_pdf`` from the words' exact boxes.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.ocr.words import Word
from pipeline.output.page_pdf import write_page_pdf
from pipeline.output.pdfa import PdfInfo, assemble_pdfa

NOTO_SERIF = Path("/usr/share/fonts/truetype/noto/NotoSerif-Regular.ttf")
ICT = timezone(timedelta(hours=7))
LINES = [
    "ỦY BAN NHÂN DÂN            CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "TỈNH LÀO CAI                    Độc lập - Tự do - Hạnh phúc",
    "QUYẾT ĐỊNH về việc cấp giấy phép xây dựng",
    "Phạm Văn Anh đề nghị cấp giấy phép cho nhà ở riêng lẻ",
]


@cache
def _font(px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(NOTO_SERIF), px)


def page_image(n: int, dpi: int = 200, seed: int = 0) -> tuple[np.ndarray, list[Word]]:
    """An A4 page at ``dpi``: text from the top margin down, then grain below."""
    width, height = round(8.27 * dpi), round(11.69 * dpi)
    rng = np.random.default_rng(seed + n)
    grain = rng.normal(242, 3, (height, width, 1)).clip(0, 255).astype(np.uint8)
    tint = np.array([1.0, 0.99, 0.95])
    page = Image.fromarray((grain * tint).clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(page)
    font = _font(round(dpi * 0.16))
    words: list[Word] = []
    y = round(dpi * 0.6)  # content starts ~15 mm from the top, as on an office letter
    for line_no, line in enumerate([*LINES, f"Trang {n} của hồ sơ"], start=1):
        x = round(dpi * 0.8)
        for text in line.split():
            left, top, right, bottom = draw.textbbox((x, y), text, font=font)
            draw.text((x, y), text, font=font, fill=(30, 30, 60))
            words.append(Word(text, left, top, right - left, bottom - top, 95.0, 1, 1, line_no))
            x = right + round(font.getlength(" "))
        y += round(dpi * 0.32)
    bgr = np.ascontiguousarray(np.asarray(page)[:, :, ::-1])
    return bgr, words


def make_archived_pdf(out: Path, pages: int = 3, dpi: int = 200, jpeg_quality: int = 85) -> Path:
    """A PDF/A-2b like the pipeline archives: ``pages`` colour pages, searchable text."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for n in range(1, pages + 1):
            image, words = page_image(n, dpi)
            paths.append(Path(tmp) / f"{n}.pdf")
            write_page_pdf(image, dpi, words, paths[-1], jpeg_quality=jpeg_quality)
        info = PdfInfo(
            title="Hồ sơ cấp giấy phép xây dựng",
            created=datetime(2025, 3, 14, 9, 30, 5, tzinfo=ICT),
            document_id="uuid:6f1c2d3e-0000-4000-8000-000000000002",
        )
        assemble_pdfa(paths, out, info)
    return out
