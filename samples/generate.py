"""Synthetic Vietnamese administrative pages with ground truth, deterministic by seed.

Why: the pipeline (cleanup, OCR, dossier-code detection) needs pages whose true text,
skew angle and dossier code are known exactly, in the look of real documents laid out
per Decree 30/2020/NĐ-CP. Body sentences come from the public-domain legal corpus in
``shared/data/vi-corpus`` so the OCR sees real administrative vocabulary.

Conventions:
- ``GeneratedPage.text`` is the NFC text of every drawn text line, in reading order
  (two-column blocks: left column first), lines joined by ``"\\n"``. Seal text, the
  signature scribble and the QR code are not text.
- ``params["skew"]`` is in degrees, positive = the content turned counter-clockwise as
  seen by the viewer (PIL's ``rotate`` sign); undo with ``image.rotate(-skew)``.
- ``params["rotate"]`` (0/90/180/270) is the counter-clockwise quarter turn applied;
  undo by turning clockwise by the same amount.

CLI: ``python -m samples.generate --samples samples/inbox`` rebuilds the committed demo
inbox (and ``samples/truth``); ``python -m samples.generate --kinds receipt,decision
--seed 3 --profile skew+noise --out /tmp/x.pdf`` writes one synthetic dossier.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import io
import json
import math
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import img2pdf
import numpy as np
import pikepdf
import segno
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from pipeline.lang.textnorm import nfc

KINDS = ("receipt", "application", "decision", "letter")
PROFILES = (  # applied in this order whatever order the profile string names them
    "clean",
    "seal",
    "bleed",
    "faded",
    "rotate90",
    "rotate180",
    "rotate270",
    "skew",
    "phone",
    "border",
    "shadow",
    "photocopy",
    "noise",
    "blur_jpeg",
    "dpi150",
)
DOSSIER_CODE_RE = re.compile(r"^[0-9A-Z]{1,3}(\.[0-9A-Z]{1,3}){0,4}-\d{6}-\d{4,7}$")
A4_MM = (210.0, 297.0)
SEAL_RED = (205, 32, 45)


@dataclass
class GeneratedPage:
    """One rendered page and everything a test needs to score the pipeline on it."""

    image: Image.Image  # RGB
    dpi: int
    text: str  # ground truth, NFC, "\n" between lines
    dossier_code: str | None  # the code printed/encoded on this page, None if absent
    kind: str
    params: dict = field(default_factory=dict)  # damage applied, e.g. {"skew": 2.3}
    info: dict = field(default_factory=dict)  # layout facts (agency, body band, colours)


# ---------------------------------------------------------------- deterministic randomness


def _seed_int(*keys: object) -> int:
    """Stable 64-bit seed from any keys; Python's hash() is salted per process."""
    digest = hashlib.sha256(":".join(str(k) for k in keys).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _py_rng(*keys: object) -> random.Random:
    return random.Random(_seed_int(*keys))


def _np_rng(*keys: object) -> np.random.Generator:
    return np.random.default_rng(_seed_int(*keys))


# ---------------------------------------------------------------- fonts

_FONT_FILES = {
    "regular": ("Noto Serif", "NotoSerif-Regular.ttf", "DejaVuSerif.ttf"),
    "bold": ("Noto Serif:bold", "NotoSerif-Bold.ttf", "DejaVuSerif-Bold.ttf"),
    "italic": ("Noto Serif:italic", "NotoSerif-Italic.ttf", "DejaVuSerif-Italic.ttf"),
    "bolditalic": (
        "Noto Serif:bold:italic",
        "NotoSerif-BoldItalic.ttf",
        "DejaVuSerif-BoldItalic.ttf",
    ),
}
_FONT_ROOTS = ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts"))


def _scan_fonts(name: str) -> str | None:
    for root in _FONT_ROOTS:
        for dirpath, _dirs, files in os.walk(root):
            if name in files:
                return str(Path(dirpath) / name)
    return None


@functools.cache
def font_path(style: str) -> str:
    """Path of the Noto Serif face for ``style`` (DejaVu Serif if Noto is missing).

    fc-match is asked first but only trusted when it returns Noto itself: fontconfig
    silently substitutes fonts that may lack Vietnamese letters.
    """
    pattern, noto, dejavu = _FONT_FILES[style]
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        if Path(found).name == noto and Path(found).is_file():
            return found
    except (OSError, subprocess.SubprocessError):
        pass
    for name in (noto, dejavu):
        path = _scan_fonts(name)
        if path:
            return path
    raise FileNotFoundError(f"neither {noto} nor {dejavu} found; install fonts-noto-core")


@functools.lru_cache(maxsize=128)
def _font(style: str, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(style), size_px)


# ---------------------------------------------------------------- corpus


def corpus_dir() -> Path:
    """Where the Vietnamese legal corpus lives (env ``SOHOA_VI_CORPUS`` overrides)."""
    if os.environ.get("SOHOA_VI_CORPUS"):
        return Path(os.environ["SOHOA_VI_CORPUS"])
    shared = os.environ.get("SOHOA_SHARED_DATA")
    base = Path(shared) if shared else Path(__file__).resolve().parents[2] / "shared" / "data"
    return base / "vi-corpus"


_ENUMERATOR = re.compile(r"^(?:\d+(?:\.\d+)*\.|[a-zđ]\)|-)\s+")


@functools.cache
def _corpus() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(prose paragraphs, "Căn cứ ..." citations) from the legal corpus, NFC, in file order."""
    folder = corpus_dir() / "underthesea-vietnamese-legal-corpus"
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"Vietnamese legal corpus not found under {folder}")
    paragraphs: list[str] = []
    citations: list[str] = []
    for path in files:
        text = nfc(path.read_text(encoding="utf-8"))
        for raw in text.splitlines():
            line = _ENUMERATOR.sub("", " ".join(raw.split()))
            if not 70 <= len(line) <= 330 or line.isupper() or not line[0].isupper():
                continue
            if line.startswith(("Điều ", "Chương", "Căn cứ", "Mục ")):
                continue
            if line[-1] in ";:,":
                line = line[:-1] + "."
            if line.endswith("."):
                paragraphs.append(line)
        number = re.search(r"^(?:Bộ luật|Luật) số:\s*(\S+)", text, re.M)
        date = re.search(r"^Hà Nội, ngày (\d+) tháng (\d+) năm (\d{4})", text, re.M)
        name = re.search(r"Quốc hội ban hành (Bộ luật|Luật) ([^.]+)\.", text)
        if number and date and name:
            title = name.group(2)[0].upper() + name.group(2)[1:]
            citations.append(
                f"Căn cứ {name.group(1)} {title} số {number.group(1)} ngày {date.group(1)} "
                f"tháng {date.group(2)} năm {date.group(3)};"
            )
    return tuple(paragraphs), tuple(citations)


# ---------------------------------------------------------------- case data (synthetic)

_SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô", "Lò")
_MIDDLE = ("Văn", "Thị", "Đức", "Minh", "Thu", "Quang", "Ngọc", "Hữu", "Thanh", "Xuân")
_GIVEN = (
    "Anh", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hùng", "Hương", "Khánh",
    "Lan", "Long", "Mai", "Nam", "Phương", "Quân", "Sơn", "Thảo", "Trang", "Tuấn", "Yến",
)  # fmt: skip
_STREETS = ("Hoàng Liên", "Nguyễn Huệ", "Trần Hưng Đạo", "Hoàng Sào", "Lê Lợi", "Nhạc Sơn")
_WARDS = ("Cốc Lếu", "Kim Tân", "Duyên Hải", "Bắc Cường", "Pom Hán", "Bình Minh")
# (superior, agency lines, abbreviation, head title, agency in running text, department)
_AGENCIES = (
    ("UBND TỈNH LÀO CAI", ("SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG",), "STNMT", "GIÁM ĐỐC",
     "Sở Tài nguyên và Môi trường", ("Quản lý đất đai", "QLĐĐ")),
    ("UBND TỈNH LÀO CAI", ("SỞ XÂY DỰNG",), "SXD", "GIÁM ĐỐC",
     "Sở Xây dựng", ("Quản lý xây dựng", "QLXD")),
    ("UBND TỈNH LÀO CAI", ("SỞ TƯ PHÁP",), "STP", "GIÁM ĐỐC",
     "Sở Tư pháp", ("Hành chính tư pháp", "HCTP")),
    ("UBND THÀNH PHỐ LÀO CAI", ("PHÒNG QUẢN LÝ ĐÔ THỊ",), "QLĐT", "TRƯỞNG PHÒNG",
     "Phòng Quản lý đô thị thành phố Lào Cai", ("Quy hoạch", "QH")),
)  # fmt: skip
# (procedure, application title, dossier components, indexes of agencies handling it)
_PROCEDURES = (
    ("Cấp giấy phép xây dựng đối với công trình nhà ở riêng lẻ",
     "ĐƠN ĐỀ NGHỊ CẤP GIẤY PHÉP XÂY DỰNG",
     ("Đơn đề nghị cấp giấy phép xây dựng", "Bản sao Giấy chứng nhận quyền sử dụng đất",
      "Bản vẽ thiết kế xây dựng công trình"), (1, 3)),
    ("Đăng ký biến động quyền sử dụng đất, tài sản gắn liền với đất",
     "ĐƠN ĐĂNG KÝ BIẾN ĐỘNG ĐẤT ĐAI, TÀI SẢN GẮN LIỀN VỚI ĐẤT",
     ("Đơn đăng ký biến động đất đai", "Bản gốc Giấy chứng nhận đã cấp",
      "Hợp đồng chuyển nhượng quyền sử dụng đất"), (0,)),
    ("Cấp bản sao trích lục hộ tịch",
     "TỜ KHAI CẤP BẢN SAO TRÍCH LỤC HỘ TỊCH",
     ("Tờ khai cấp bản sao trích lục hộ tịch", "Bản sao Căn cước công dân"), (2,)),
)  # fmt: skip
_TITLES = {
    "receipt": "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
    "decision": "QUYẾT ĐỊNH",
    "letter": None,  # a công văn has no title line, only "V/v ..." under its number
}


@dataclass
class _Case:
    """Facts shared by all pages of one dossier, so its pages agree with each other."""

    code: str | None
    received: dt.date
    applicant: str
    clerk: str
    signer: str
    address: str
    phone: str
    agency: tuple
    procedure: tuple


def _case(dossier_code: str | None, seed: int) -> _Case:
    rng = _py_rng("case", dossier_code or seed)
    received = None
    if dossier_code:
        try:
            received = dt.datetime.strptime(dossier_code.split("-")[-2], "%y%m%d").date()
        except ValueError:
            received = None
    if received is None:
        received = dt.date(2026, 1, 5) + dt.timedelta(days=rng.randrange(330))

    def person() -> str:
        return f"{rng.choice(_SURNAMES)} {rng.choice(_MIDDLE)} {rng.choice(_GIVEN)}"

    address = (
        f"Số nhà {rng.randrange(2, 280)}, đường {rng.choice(_STREETS)}, "
        f"phường {rng.choice(_WARDS)}, thành phố Lào Cai, tỉnh Lào Cai"
    )
    phone = f"09{rng.randrange(10, 99)} {rng.randrange(100, 999)} {rng.randrange(100, 999)}"
    procedure = rng.choice(_PROCEDURES)
    return _Case(
        code=dossier_code,
        received=received,
        applicant=person(),
        clerk=person(),
        signer=person(),
        address=address,
        phone=phone,
        agency=_AGENCIES[rng.choice(procedure[3])],
        procedure=procedure,
    )


def _date_line(day: dt.date) -> str:
    """Place and date per Decree 30: day < 10 and months 1-2 take a leading zero."""
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"Lào Cai, ngày {day.day:02d} tháng {month} năm {day.year}"


# ---------------------------------------------------------------- drawing


class _Canvas:
    """An A4 page being drawn top-down; every text line drawn is recorded as ground truth."""

    def __init__(self, dpi: int, paper: tuple[int, int, int], ink: tuple[int, int, int]):
        self.dpi = dpi
        self.w, self.h = self.mm(A4_MM[0]), self.mm(A4_MM[1])
        self.img = Image.new("RGB", (self.w, self.h), paper)
        self.draw = ImageDraw.Draw(self.img)
        self.paper, self.ink = paper, ink
        self.left, self.right = self.mm(30), self.w - self.mm(20)
        self.bottom = self.h - self.mm(20)
        self.lines: list[str] = []

    def mm(self, value: float) -> int:
        return round(value * self.dpi / 25.4)

    def font(self, style: str, pt: float) -> ImageFont.FreeTypeFont:
        return _font(style, round(pt * self.dpi / 72))

    def put(
        self,
        text: str,
        style: str,
        pt: float,
        x0: int,
        x1: int,
        y: int,
        align: str = "center",
        rule: float = 0.0,
        leading: float = 1.3,
    ) -> int:
        """Draw one line with its top at ``y``; shrink it to fit; return the next line's y."""
        text = nfc(" ".join(text.split()))
        font = self.font(style, pt)
        while font.getlength(text) > x1 - x0 and pt > 8:
            pt -= 0.5
            font = self.font(style, pt)
        width = font.getlength(text)
        x = {"left": x0, "center": x0 + (x1 - x0 - width) / 2, "right": x1 - width}[align]
        ascent, _descent = font.getmetrics()
        self.draw.text((x, y + ascent), text, font=font, fill=self.ink, anchor="ls")
        self.lines.append(text)
        below = y + round(font.size * leading)
        if rule:
            ry = y + ascent + round(font.size * 0.3)
            half = width * rule / 2
            mid = x + width / 2
            self.draw.line([(mid - half, ry), (mid + half, ry)], fill=self.ink, width=self.mm(0.3))
            below = max(below, ry + self.mm(2.5))
        return below

    def wrap(self, text: str, font: ImageFont.FreeTypeFont, width: int, indent: int) -> list:
        words = nfc(text).split()
        space = font.getlength(" ")
        lines: list[list[str]] = [[]]
        used = indent
        for word in words:
            w = font.getlength(word)
            if lines[-1] and used + space + w > width:
                lines.append([])
                used = 0
            used += (space if lines[-1] else 0) + w
            lines[-1].append(word)
        return [line for line in lines if line]

    def paragraph(
        self,
        text: str,
        y: int,
        *,
        style: str = "regular",
        pt: float = 13.5,
        x0: int | None = None,
        x1: int | None = None,
        indent_mm: float = 12.7,
        justify: bool = True,
        limit: int | None = None,
        leading: float = 1.35,
    ) -> int | None:
        """Wrap and draw a paragraph; None (nothing drawn) if it would pass ``limit``."""
        x0 = self.left if x0 is None else x0
        x1 = self.right if x1 is None else x1
        font = self.font(style, pt)
        indent = self.mm(indent_mm)
        lines = self.wrap(text, font, x1 - x0, indent)
        step = round(font.size * leading)
        if limit is not None and y + step * len(lines) > limit:
            return None
        ascent, _ = font.getmetrics()
        for i, words in enumerate(lines):
            start = x0 + (indent if i == 0 else 0)
            widths = [font.getlength(w) for w in words]
            gap = font.getlength(" ")
            if justify and i < len(lines) - 1 and len(words) > 1:
                stretched = (x1 - start - sum(widths)) / (len(words) - 1)
                if stretched < gap * 3:
                    gap = stretched
            x = float(start)
            for word, w in zip(words, widths, strict=True):
                self.draw.text((x, y + ascent), word, font=font, fill=self.ink, anchor="ls")
                x += w + gap
            self.lines.append(" ".join(words))
            y += step
        return y + self.mm(1.5)

    def scribble(self, cx: int, cy: int, rng: random.Random) -> None:
        """A hand signature: a looping pen stroke (not text, not in the ground truth)."""
        w, h = self.mm(rng.uniform(30, 42)), self.mm(rng.uniform(8, 13))
        f1, f2, f3 = rng.uniform(3, 5), rng.uniform(0.6, 1.4), rng.uniform(5, 8)
        p1, p2, p3 = (rng.uniform(0, math.tau) for _ in range(3))
        pts = []
        for i in range(240):
            t = i / 239
            x = cx + w * (t - 0.5) + w * 0.07 * math.sin(math.tau * f1 * t + p1)
            y = cy + h * 0.45 * math.cos(math.tau * f1 * t + p1) * math.sin(math.pi * t + p2)
            y += h * 0.15 * math.sin(math.tau * f3 * t + p3) - h * 0.2 * (t - 0.5) * f2
            pts.append((x, y))
        self.draw.line(pts, fill=(30, 40, 115), width=max(1, self.mm(0.4)), joint="curve")

    def qr(self, code: str, x: int, y: int) -> int:
        """Paste a QR code of ``code`` (quiet zone included) at (x, y); return its size."""
        module = max(3, round(self.dpi * 0.68 / 25.4))
        matrix = np.array(list(segno.make_qr(code, error="m").matrix_iter(border=4)), bool)
        cells = np.kron(matrix, np.ones((module, module), bool))
        rgb = np.where(cells[..., None], np.array((18, 18, 18)), np.array(self.paper))
        self.img.paste(Image.fromarray(rgb.astype(np.uint8)), (x, y))
        return cells.shape[0]


def _draw_star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: int) -> None:
    pts = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.4
        angle = -math.pi / 2 + i * math.pi / 5
        pts.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    draw.polygon(pts, fill=fill)


def _seal_mask(dpi: int, ring_text: str, rng: random.Random) -> Image.Image:
    """Ink mask (L, 255 = ink) of a round official seal: two rings, text ring, stars."""
    px = dpi / 25.4
    size = round(38 * px)
    r = size / 2
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse([1, 1, size - 2, size - 2], outline=255, width=max(2, round(0.9 * px)))
    inner = r - 6.6 * px
    draw.ellipse([r - inner, r - inner, r + inner, r + inner], outline=255, width=round(0.35 * px))
    _draw_star(draw, r, r, 7.5 * px, 255)
    _draw_star(draw, r, size - 3.6 * px, 1.6 * px, 255)
    text_r = r - 3.6 * px
    span = math.radians(290)
    pt = 9.0
    while True:
        font = _font("bold", round(pt * dpi / 72))
        widths = [font.getlength(ch) * 1.08 for ch in ring_text]
        if sum(widths) / text_r <= span or pt <= 5:
            break
        pt -= 0.25
    theta = -sum(widths) / text_r / 2
    box = round(font.size * 1.6)
    for ch, w in zip(ring_text, widths, strict=True):
        theta += w / text_r / 2
        glyph = Image.new("L", (box, box), 0)
        ImageDraw.Draw(glyph).text((box / 2, box / 2), ch, font=font, fill=255, anchor="mm")
        glyph = glyph.rotate(-math.degrees(theta), resample=Image.Resampling.BICUBIC)
        gx = r + text_r * math.sin(theta) - box / 2
        gy = r - text_r * math.cos(theta) - box / 2
        region = (round(gx), round(gy), round(gx) + box, round(gy) + box)
        mask.paste(ImageChops.lighter(mask.crop(region), glyph), region[:2])
        theta += w / text_r / 2
    return mask.rotate(rng.uniform(-25, 25), resample=Image.Resampling.BICUBIC)


def stamp_seal(
    image: Image.Image, center: tuple[int, int], dpi: int, ring_text: str, rng: random.Random
) -> Image.Image:
    """Press a red seal onto ``image`` at ``center``; ink multiplies like real stamp ink."""
    mask = _seal_mask(dpi, ring_text, rng)
    nrng = np.random.default_rng(rng.randrange(2**32))
    texture = Image.fromarray(nrng.random((mask.height // 8 + 1, mask.width // 8 + 1)) * 255)
    texture = texture.convert("L").resize(mask.size, Image.Resampling.BICUBIC)
    alpha = np.asarray(mask, float) / 255 * (0.55 + 0.4 * np.asarray(texture, float) / 255)
    alpha *= rng.uniform(0.8, 0.95)
    x0, y0 = center[0] - mask.width // 2, center[1] - mask.height // 2
    # clip the seal to the page; only the covered region is touched
    sx0, sy0 = max(0, -x0), max(0, -y0)
    sx1 = min(mask.width, image.width - x0)
    sy1 = min(mask.height, image.height - y0)
    if sx1 <= sx0 or sy1 <= sy0:
        return image
    box = (x0 + sx0, y0 + sy0, x0 + sx1, y0 + sy1)
    region = np.asarray(image.crop(box).convert("RGB"), np.float32)
    a = alpha[sy0:sy1, sx0:sx1, None].astype(np.float32)
    tint = np.array(SEAL_RED, np.float32) / 255
    inked = np.rint(np.clip(region * (1 - a + a * tint), 0, 255)).astype(np.uint8)
    out = image.convert("RGB").copy()
    out.paste(Image.fromarray(inked, "RGB"), box[:2])
    return out


# ---------------------------------------------------------------- page layouts


def _header(cv: _Canvas, case: _Case, y: int, number: str | None, date: dt.date) -> int:
    """Agency block (left) and national motto (right), then number and date lines."""
    superior, agency_lines = case.agency[0], case.agency[1]
    lx0, lx1 = cv.left - cv.mm(12), cv.left + cv.mm(68)
    rx0, rx1 = cv.left + cv.mm(62), cv.right + cv.mm(4)
    ly = cv.put(superior, "regular", 12.5, lx0, lx1, y)
    for i, line in enumerate(agency_lines):
        last = i == len(agency_lines) - 1
        ly = cv.put(line, "bold", 12.5, lx0, lx1, ly, rule=0.4 if last else 0)
    ry = cv.put("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "bold", 12.5, rx0, rx1, y)
    ry = cv.put("Độc lập - Tự do - Hạnh phúc", "bold", 13.5, rx0, rx1, ry, rule=1.0)
    row = max(ly, ry) + cv.mm(1)
    ly = cv.put(number, "regular", 13, lx0, lx1, row) if number else row
    ry = cv.put(_date_line(date), "italic", 13.5, rx0, rx1, row)
    return max(ly, ry)


def _signature(
    cv: _Canvas,
    y: int,
    x0: int,
    x1: int,
    lines: Sequence[tuple[str, str]],
    name: str,
    rng: random.Random,
) -> tuple[int, tuple[int, int]]:
    """Signature block: authority lines, a scribble, the name. Returns (y, scribble centre)."""
    for text, style in lines:
        y = cv.put(text, style, 13.5, x0, x1, y)
    centre = ((x0 + x1) // 2 + cv.mm(rng.uniform(-4, 4)), y + cv.mm(11))
    cv.scribble(*centre, rng)
    y = cv.put(name, "bold", 13.5, x0, x1, y + cv.mm(24))
    return y, centre


def _fill(cv: _Canvas, y: int, limit: int, rng: random.Random, count: int, **kw) -> int:
    """Draw up to ``count`` corpus paragraphs that fit above ``limit``."""
    paragraphs, _ = _corpus()
    drawn = tries = 0
    while drawn < count and tries < 40:
        tries += 1
        nxt = cv.paragraph(rng.choice(paragraphs), y, limit=limit, **kw)
        if nxt is not None:
            y, drawn = nxt, drawn + 1
    return y


def _receiving_block(cv: _Canvas, y: int, case: _Case, rng: random.Random) -> int:
    """Two signature columns: the applicant and the receiving clerk."""
    mid = (cv.left + cv.right) // 2
    ly, _ = _signature(
        cv,
        y,
        cv.left - cv.mm(10),
        mid,
        [("NGƯỜI NỘP HỒ SƠ", "bold"), ("(Ký và ghi rõ họ tên)", "italic")],
        case.applicant,
        rng,
    )
    ry, _ = _signature(
        cv,
        y,
        mid,
        cv.right,
        [("NGƯỜI TIẾP NHẬN HỒ SƠ", "bold"), ("(Ký và ghi rõ họ tên)", "italic")],
        case.clerk,
        rng,
    )
    return max(ly, ry)


def _layout_receipt(cv: _Canvas, case: _Case, rng: random.Random, qr: bool) -> dict:
    code = case.code or ""
    if qr:
        cv.qr(code, cv.mm(5), cv.mm(6))
    hub = (("UBND TỈNH LÀO CAI", ("TRUNG TÂM PHỤC VỤ", "HÀNH CHÍNH CÔNG")),)
    receipt_case = replace(case, agency=hub[0])
    y = _header(cv, receipt_case, cv.mm(20), None, case.received)
    y += cv.mm(6)
    y = cv.put(_TITLES["receipt"], "bold", 14, cv.left, cv.right, y)
    y = cv.put(f"Mã hồ sơ: {code}", "bold", 13.5, cv.left, cv.right, y)
    body_top = y + cv.mm(3)
    procedure, _title, components = case.procedure[:3]
    y = cv.paragraph(
        f"Trung tâm Phục vụ hành chính công tỉnh Lào Cai tiếp nhận hồ sơ của: {case.applicant}",
        body_top,
        justify=False,
    )
    items = [
        f"Địa chỉ: {case.address}",
        f"Số điện thoại: {case.phone}",
        f"Nội dung yêu cầu giải quyết: {procedure}.",
        "1. Thành phần hồ sơ nộp gồm:",
        *(f"- {c}: 01 bản;" for c in components),
        "2. Số lượng hồ sơ: 01 (bộ).",
        f"3. Thời gian giải quyết hồ sơ theo quy định là: {rng.choice((5, 10, 15))} ngày làm việc.",
    ]
    hour, minute = rng.randrange(7, 16), rng.choice((0, 15, 20, 30, 45))
    due = case.received + dt.timedelta(days=rng.randrange(7, 21))
    items += [
        f"4. Thời gian nhận hồ sơ: {hour:02d} giờ {minute:02d} phút, "
        f"ngày {case.received:%d/%m/%Y}.",
        f"5. Thời gian trả kết quả giải quyết hồ sơ: {hour:02d} giờ {minute:02d} phút, "
        f"ngày {due:%d/%m/%Y}.",
        "6. Đăng ký nhận kết quả tại: Trung tâm Phục vụ hành chính công tỉnh Lào Cai.",
        f"Vào Sổ theo dõi hồ sơ, Quyển số: {rng.randrange(1, 12):02d}, "
        f"Số thứ tự: {rng.randrange(100, 9999)}.",
    ]
    for item in items:
        y = cv.paragraph(item, y, indent_mm=0, justify=False) or y
    body_bottom = y
    _receiving_block(cv, y + cv.mm(6), case, rng)
    return {"body": (body_top, body_bottom)}


def _layout_application(cv: _Canvas, case: _Case, rng: random.Random, qr: bool) -> dict:
    y = cv.mm(20)
    y = cv.put("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "bold", 13, cv.left, cv.right, y)
    y = cv.put("Độc lập - Tự do - Hạnh phúc", "bold", 14, cv.left, cv.right, y, rule=1.0)
    y += cv.mm(8)
    procedure, title = case.procedure[:2]
    y = cv.put(title, "bold", 14, cv.left, cv.right, y)
    y = cv.put(f"Kính gửi: {case.agency[4]} tỉnh Lào Cai", "regular", 14, cv.left, cv.right, y)
    body_top = y + cv.mm(4)
    y = body_top
    for item in (
        "1. Thông tin về người đề nghị:",
        f"- Họ và tên: {case.applicant}",
        f"- Số định danh cá nhân: 0{rng.randrange(10**10, 10**11)}",
        f"- Địa chỉ liên hệ: {case.address}",
        f"- Số điện thoại: {case.phone}",
        f"2. Nội dung đề nghị: {procedure}.",
        "3. Lý do đề nghị:",
    ):
        y = cv.paragraph(item, y, indent_mm=0, justify=False) or y
    y = _fill(cv, y, cv.bottom - cv.mm(78), rng, 3)
    y = cv.paragraph(
        "4. Cam kết: Tôi xin cam đoan những nội dung trong đơn là đúng sự thật và hoàn toàn "
        "chịu trách nhiệm trước pháp luật.",
        y,
        indent_mm=0,
    )
    body_bottom = y
    x0 = (cv.left + cv.right) // 2 - cv.mm(10)
    y = cv.put(_date_line(case.received), "italic", 13.5, x0, cv.right + cv.mm(4), y + cv.mm(4))
    _signature(
        cv,
        y,
        x0,
        cv.right + cv.mm(4),
        [("NGƯỜI LÀM ĐƠN", "bold"), ("(Ký, ghi rõ họ tên)", "italic")],
        case.applicant,
        rng,
    )
    return {"body": (body_top, body_bottom)}


def _closing(
    cv: _Canvas, y: int, case: _Case, rng: random.Random, recipients: Sequence[str]
) -> tuple[int, int]:
    """The "Nơi nhận" list (left) and the KT. signature (right); return the scribble centre."""
    y += cv.mm(4)
    lx0, lx1 = cv.left, cv.left + cv.mm(70)
    ly = cv.put("Nơi nhận:", "bolditalic", 12, lx0, lx1, y, align="left", leading=1.2)
    for item in recipients:
        ly = cv.put(item, "regular", 11, lx0, lx1, ly, align="left", leading=1.2)
    head = case.agency[3]
    sx0, sx1 = cv.left + cv.mm(75), cv.right + cv.mm(4)
    _y, centre = _signature(
        cv, y, sx0, sx1, [(f"KT. {head}", "bold"), (f"PHÓ {head}", "bold")], case.signer, rng
    )
    return centre


def _layout_decision(cv: _Canvas, case: _Case, rng: random.Random, qr: bool) -> dict:
    _sup, _lines, abbr, head, agency_text, (dept, dept_abbr) = case.agency
    issued = case.received + dt.timedelta(days=rng.randrange(3, 15))
    number = f"Số: {rng.randrange(12, 990)}/QĐ-{abbr}"
    y = _header(cv, case, cv.mm(20), number, issued) + cv.mm(6)
    y = cv.put(_TITLES["decision"], "bold", 14, cv.left, cv.right, y)
    subject = f"Về việc giải quyết hồ sơ {case.procedure[0][0].lower()}{case.procedure[0][1:]}"
    for line in cv.wrap(subject, cv.font("bold", 14), cv.right - cv.left - cv.mm(20), 0):
        y = cv.put(" ".join(line), "bold", 14, cv.left, cv.right, y)
    y += cv.mm(1.5)
    cv.draw.line(
        [((cv.left + cv.right) / 2 - cv.mm(20), y), ((cv.left + cv.right) / 2 + cv.mm(20), y)],
        fill=cv.ink,
        width=cv.mm(0.3),
    )
    y += cv.mm(5)
    y = cv.put(f"{head} {agency_text.upper()}", "bold", 14, cv.left, cv.right, y)
    body_top = y + cv.mm(2)
    y = body_top
    _, citations = _corpus()
    for citation in rng.sample(citations, 2):
        y = cv.paragraph(citation, y, style="italic")
    y = cv.paragraph(
        f"Căn cứ Quyết định số {rng.randrange(5, 60)}/2021/QĐ-UBND ngày "
        f"{rng.randrange(1, 28):02d} tháng {rng.randrange(3, 12)} năm 2021 của Ủy ban nhân "
        f"dân tỉnh Lào Cai quy định chức năng, nhiệm vụ, quyền hạn của {agency_text};",
        y,
        style="italic",
    )
    y = cv.paragraph(
        f"Xét hồ sơ đề nghị của ông (bà) {case.applicant} và đề nghị của Trưởng phòng {dept}.",
        y,
        style="italic",
    )
    y = cv.put("QUYẾT ĐỊNH:", "bold", 14, cv.left, cv.right, y + cv.mm(2)) + cv.mm(1)
    limit = cv.bottom - cv.mm(80)
    short = [p for p in _corpus()[0] if len(p) < 160]
    for n in (1, 2):
        # reserve room for the next article so "Điều 2" is never skipped
        room = limit - (cv.mm(14) if n == 1 else 0)
        for _ in range(20):
            nxt = cv.paragraph(f"Điều {n}. {rng.choice(short)}", y, limit=room)
            if nxt is not None:
                y = nxt
                break
    y = _fill(cv, y, limit, rng, rng.randrange(3))
    y = cv.paragraph(
        f"Điều 3. Quyết định này có hiệu lực kể từ ngày ký. Chánh Văn phòng, Trưởng phòng "
        f"{dept} và ông (bà) {case.applicant} chịu trách nhiệm thi hành Quyết định này./.",
        y,
    )
    body_bottom = y
    centre = _closing(cv, y, case, rng, ["- Như Điều 3;", f"- Lưu: VT, {dept_abbr}."])
    return {"body": (body_top, body_bottom), "signature": centre}


def _layout_letter(cv: _Canvas, case: _Case, rng: random.Random, qr: bool) -> dict:
    _sup, _lines, abbr, _head, agency_text, (dept, dept_abbr) = case.agency
    issued = case.received + dt.timedelta(days=rng.randrange(1, 10))
    number = f"Số: {rng.randrange(100, 4000)}/{abbr}-{dept_abbr}"
    y = _header(cv, case, cv.mm(20), number, issued)
    lx0, lx1 = cv.left - cv.mm(12), cv.left + cv.mm(68)
    subject = f"V/v hướng dẫn hoàn thiện hồ sơ của ông (bà) {case.applicant}"
    for line in cv.wrap(subject, cv.font("regular", 12), lx1 - lx0 - cv.mm(6), 0):
        y = cv.put(" ".join(line), "regular", 12, lx0, lx1, y, leading=1.2)
    y += cv.mm(6)
    y = cv.put(f"Kính gửi: Ông (bà) {case.applicant}", "regular", 14, cv.left, cv.right, y)
    body_top = y + cv.mm(3)
    y = cv.paragraph(
        f"{agency_text} nhận được hồ sơ {case.procedure[0][0].lower()}{case.procedure[0][1:]} "
        f"của ông (bà) {case.applicant}, địa chỉ: {case.address}. Sau khi xem xét, "
        f"{agency_text} có ý kiến như sau:",
        body_top,
    )
    y = _fill(cv, y, cv.bottom - cv.mm(66), rng, 6)
    y = cv.paragraph(
        f"Mọi vướng mắc đề nghị liên hệ phòng {dept}, số điện thoại {case.phone} để được "
        "hướng dẫn./.",
        y,
    )
    body_bottom = y
    centre = _closing(cv, y, case, rng, ["- Như trên;", f"- Lưu: VT, {dept_abbr}."])
    return {"body": (body_top, body_bottom), "signature": centre}


_LAYOUTS: dict[str, Callable[[_Canvas, _Case, random.Random, bool], dict]] = {
    "receipt": _layout_receipt,
    "application": _layout_application,
    "decision": _layout_decision,
    "letter": _layout_letter,
}


def _ring_text(case: _Case) -> str:
    superior = case.agency[0].replace("UBND", "ỦY BAN NHÂN DÂN")
    return f"{superior} • {' '.join(case.agency[1])}"


def render_page(
    kind: str,
    *,
    seed: int,
    dossier_code: str | None = None,
    dpi: int = 300,
    seal: bool = False,
    qr: bool | None = None,
) -> GeneratedPage:
    """Render one clean page of ``kind`` (see KINDS).

    Pages sharing a ``dossier_code`` share applicant, agency, procedure and dates (taken
    from the code's YYMMDD); ``seed`` picks the page's own sentences and numbers. Only a
    receipt prints the code ("Mã hồ sơ:") and, by default, a QR code of it at top-left;
    a receipt without a code gets one derived from ``seed``.
    """
    if kind not in _LAYOUTS:
        raise ValueError(f"unknown page kind {kind!r}; expected one of {', '.join(KINDS)}")
    if dossier_code is not None:
        dossier_code = nfc(dossier_code).strip().upper()
        if not DOSSIER_CODE_RE.match(dossier_code):
            raise ValueError(f"not a dossier code: {dossier_code!r}")
    qr = kind == "receipt" if qr is None else qr
    case = _case(dossier_code, seed)
    if case.code is None and (kind == "receipt" or qr):
        code_rng = _py_rng("code", seed)
        case.code = f"000.00.13.H38-{case.received:%y%m%d}-{code_rng.randrange(1, 9999):04d}"
    rng = _py_rng("page", kind, seed)
    shade = rng.randrange(242, 253)
    paper = (shade + 2, shade + 1, max(0, shade - rng.randrange(3, 9)))
    grey = rng.randrange(15, 50)
    cv = _Canvas(dpi, paper, (grey, grey, grey + 3))
    info = _LAYOUTS[kind](cv, case, rng, qr)
    image = cv.img
    if seal and "signature" in info:
        sx, sy = info["signature"]
        centre = (sx - cv.mm(rng.uniform(14, 20)), sy - cv.mm(rng.uniform(0, 6)))
        image = stamp_seal(image, centre, dpi, _ring_text(case), rng)
        info["seal"] = centre
    elif seal:
        image = stamp_seal(image, (cv.w // 2, cv.h * 2 // 3), dpi, _ring_text(case), rng)
    body = info["body"]
    info.update(
        body=(body[0] / cv.h, body[1] / cv.h),
        paper=paper,
        ink=cv.ink,
        ring_text=_ring_text(case),
    )
    on_page = case.code if (kind == "receipt" or qr) else None
    return GeneratedPage(image, dpi, "\n".join(cv.lines), on_page, kind, {}, info)


# ---------------------------------------------------------------- damage

_Damage = Callable[[Image.Image, int, GeneratedPage, np.random.Generator, str], tuple]


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float32)


def _img(a: np.ndarray) -> Image.Image:
    a = np.clip(a, 0, 255, out=a if a.dtype == np.float32 else None)
    return Image.fromarray(np.rint(a).astype(np.uint8), "RGB")


def _gain_map(w: int, h: int, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Evaluate a smooth illumination field at 1/8 scale and enlarge it: same look, ~50x faster."""
    import cv2

    sw, sh = max(2, w // 8), max(2, h // 8)
    ys, xs = np.mgrid[0:sh, 0:sw].astype(np.float32)
    small = fn(xs * (w / sw), ys * (h / sh)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]


def _paper(page: GeneratedPage, img: Image.Image) -> tuple[int, int, int]:
    return tuple(page.info.get("paper") or img.getpixel((0, 0)))


def _d_seal(img, dpi, page, rng, arg):
    w, h = img.size
    top, bottom = page.info.get("body", (0.3, 0.7))
    centre = (int(rng.uniform(0.3, 0.7) * w), int(rng.uniform(top, max(top, bottom)) * h))
    text = page.info.get("ring_text", "ỦY BAN NHÂN DÂN TỈNH LÀO CAI")
    img = stamp_seal(img, centre, dpi, text, random.Random(int(rng.integers(2**32))))
    return img, dpi, {"seal": {"center": list(centre)}}


def _d_bleed(img, dpi, page, rng, arg):
    other = render_page("letter", seed=int(rng.integers(2**31)), dpi=dpi).image.convert("L")
    other = other.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize(img.size)
    other = other.filter(ImageFilter.GaussianBlur(dpi / 150))
    k = float(rng.uniform(0.10, 0.2))
    darken = 1 - k * (1 - np.asarray(other, np.float32) / 255)
    return _img(_arr(img) * darken[..., None]), dpi, {"bleed": round(k, 3)}


def _d_faded(img, dpi, page, rng, arg):
    f = float(rng.uniform(0.35, 0.55))
    bg = np.array(_paper(page, img), np.float32)
    out = bg - (bg - _arr(img)) * np.float32(f)
    out *= np.array([1.0, 0.985, 0.95], np.float32)
    return _img(out), dpi, {"faded": round(f, 3)}


def _rotate(turn: int):
    transpose = {
        90: Image.Transpose.ROTATE_90,
        180: Image.Transpose.ROTATE_180,
        270: Image.Transpose.ROTATE_270,
    }[turn]

    def apply(img, dpi, page, rng, arg):
        return img.transpose(transpose), dpi, {"rotate": turn}

    return apply


def _d_skew(img, dpi, page, rng, arg):
    if arg:
        angle = float(arg)
    else:
        angle = round(float(rng.uniform(0.5, 5.0)) * float(rng.choice([-1.0, 1.0])), 2)
    out = img.rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=_paper(page, img)
    )
    return out, dpi, {"skew": angle}


def _d_phone(img, dpi, page, rng, arg):
    import cv2

    a = np.asarray(img.convert("RGB"))
    h, w = a.shape[:2]
    m = rng.uniform(0.03, 0.1, size=8)
    dst = np.float32(
        [
            [m[0] * w, m[1] * h],
            [w - m[2] * w, m[3] * h],
            [w - m[4] * w, h - m[5] * h],
            [m[6] * w, h - m[7] * h],
        ]
    )
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    table = rng.integers(45, 100, size=3)
    warped = cv2.warpPerspective(
        a,
        cv2.getPerspectiveTransform(src, dst),
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(int(v) for v in table),
    ).astype(np.float32)
    lx, ly = rng.uniform(0, w), rng.uniform(0, h)
    low = float(rng.uniform(0.55, 0.75))
    reach = 0.8 * math.hypot(w, h)  # light falls off over most of the diagonal

    def light(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 1.05 - (1.05 - low) * np.clip(np.hypot(x - lx, y - ly) / reach, 0, 1)

    out = warped * _gain_map(w, h, light)
    out += rng.normal(0, 3, size=warped.shape[:2]).astype(np.float32)[..., None]
    out = cv2.GaussianBlur(out, (0, 0), max(0.5, dpi / 300))
    params = {
        "corners": [[round(float(v), 1) for v in pt] for pt in dst],
        "background": [int(v) for v in table],
        "min_gain": round(low, 3),
    }
    return _img(out), dpi, {"phone": params}


def _d_border(img, dpi, page, rng, arg):
    w, h = img.size
    sides = {s: bool(rng.random() < 0.7) for s in ("top", "bottom", "left", "right")}
    if not any(sides.values()):
        sides["left"] = True
    widths = {
        s: int(rng.uniform(0.015, 0.06) * (h if s in ("top", "bottom") else w)) if on else 0
        for s, on in sides.items()
    }
    shade = int(rng.integers(5, 45))
    size = (w + widths["left"] + widths["right"], h + widths["top"] + widths["bottom"])
    out = Image.new("RGB", size, (shade, shade, shade))
    out.paste(img, (widths["left"], widths["top"]))
    return out, dpi, {"border": {**widths, "shade": shade}}


def _d_shadow(img, dpi, page, rng, arg):
    a = _arr(img)
    h, w = a.shape[:2]
    theta = float(rng.uniform(0, math.tau))
    c, s = math.cos(theta), math.sin(theta)
    span = abs(c) / 2 + abs(s) / 2  # the projection runs from -span to +span over the page
    low = float(rng.uniform(0.45, 0.7))
    power = float(rng.uniform(1.5, 2.5))

    def field(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        proj = ((x / w - 0.5) * c + (y / h - 0.5) * s + span) / (2 * span)
        return 1 - (1 - low) * np.clip(proj, 0, 1) ** power

    params = {"direction_deg": round(math.degrees(theta), 1), "min_gain": round(low, 3)}
    return _img(a * _gain_map(w, h, field)), dpi, {"shadow": params}


def _d_photocopy(img, dpi, page, rng, arg):
    import cv2

    g = np.asarray(img.convert("L"), np.float32)
    paper = float(np.percentile(g, 90))
    t = np.clip((g / max(paper, 1)) * 1.35 - 0.4, 0, 1) ** 1.6
    background = int(rng.integers(185, 215))
    out = 15 + (background - 15) * t
    h, w = g.shape
    grain = cv2.GaussianBlur(rng.normal(0, 10, size=(h, w)).astype(np.float32), (0, 0), 2)
    out += grain * t
    count = int(h * w * rng.uniform(2e-5, 5e-5))
    radius = max(1, round(dpi / 200))
    for x, y in zip(rng.integers(0, w, count), rng.integers(0, h, count), strict=True):
        cv2.circle(out, (int(x), int(y)), int(rng.integers(1, radius + 2)), 25.0, -1)
    rgb = np.repeat(out[..., None], 3, axis=2)
    return _img(rgb), dpi, {"photocopy": {"background": background, "speckles": count}}


def _d_noise(img, dpi, page, rng, arg):
    a = _arr(img)
    sigma = float(rng.uniform(5, 12))
    a += rng.normal(0, sigma, size=a.shape[:2]).astype(np.float32)[..., None]
    amount = float(rng.uniform(0.002, 0.008))
    hit = rng.random(a.shape[:2])
    a[hit < amount / 2] = 20
    a[hit > 1 - amount / 2] = 250
    return _img(a), dpi, {"noise": {"sigma": round(sigma, 2), "salt_pepper": round(amount, 4)}}


def _d_blur_jpeg(img, dpi, page, rng, arg):
    sigma = float(rng.uniform(0.6, 1.3)) * dpi / 300
    quality = int(rng.integers(25, 46))
    buf = io.BytesIO()
    img.filter(ImageFilter.GaussianBlur(sigma)).save(buf, "JPEG", quality=quality)
    out = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return out, dpi, {"blur_jpeg": {"sigma": round(sigma, 2), "quality": quality}}


def _d_dpi150(img, dpi, page, rng, arg):
    if dpi <= 150:
        return img, dpi, {"dpi": dpi}
    size = (round(img.width * 150 / dpi), round(img.height * 150 / dpi))
    return img.resize(size, Image.Resampling.LANCZOS), 150, {"dpi": 150}


_DAMAGE: dict[str, _Damage] = {
    "seal": _d_seal,
    "bleed": _d_bleed,
    "faded": _d_faded,
    "rotate90": _rotate(90),
    "rotate180": _rotate(180),
    "rotate270": _rotate(270),
    "skew": _d_skew,
    "phone": _d_phone,
    "border": _d_border,
    "shadow": _d_shadow,
    "photocopy": _d_photocopy,
    "noise": _d_noise,
    "blur_jpeg": _d_blur_jpeg,
    "dpi150": _d_dpi150,
}


def parse_profile(profile: str) -> list[tuple[str, str]]:
    """``"noise+skew:-1.5"`` → ``[("skew", "-1.5"), ("noise", "")]`` in application order."""
    steps = []
    for token in profile.split("+"):
        name, _, arg = token.strip().partition(":")
        if not name:
            continue
        if name not in PROFILES:
            raise ValueError(f"unknown damage {name!r}; expected some of {', '.join(PROFILES)}")
        if arg and name != "skew":
            raise ValueError(f"only skew takes a value (skew:<degrees>), got {token!r}")
        steps.append((name, arg))
    return sorted(steps, key=lambda s: PROFILES.index(s[0]))


def degrade(page: GeneratedPage, profile: str, *, seed: int) -> GeneratedPage:
    """Apply a damage profile such as ``"skew+noise+seal"`` and record its parameters.

    Damages apply in physical order (on paper, then in the scanner, then in the file:
    see PROFILES) whatever order the string names them; each draws from its own random
    stream, so adding one damage does not change another's parameters. ``skew:<deg>``
    forces the angle. Rotations and skews add up in ``params``.
    """
    img, dpi, params = page.image, page.dpi, dict(page.params)
    applied = []
    for name, arg in parse_profile(profile):
        applied.append(f"{name}:{arg}" if arg else name)
        if name == "clean":
            continue
        img, dpi, found = _DAMAGE[name](img, dpi, page, _np_rng(seed, name), arg)
        for key, value in found.items():
            if key == "rotate":
                params[key] = (params.get(key, 0) + value) % 360
            elif key == "skew":
                params[key] = round(params.get(key, 0.0) + value, 2)
            else:
                params[key] = value
    previous = page.params.get("profile")
    params["profile"] = "+".join([previous, *applied] if previous else applied) or "clean"
    return replace(page, image=img.convert("RGB"), dpi=dpi, params=params)


def make_dossier(
    dossier_code: str,
    kinds: list[str],
    *,
    seed: int,
    dpi: int = 300,
    profile: str = "clean",
) -> list[GeneratedPage]:
    """Pages of one dossier (shared applicant and dates); decisions and letters get a seal."""
    pages = []
    for i, kind in enumerate(kinds):
        page_seed = _seed_int(seed, i, kind) % 2**31
        page = render_page(
            kind, seed=page_seed, dossier_code=dossier_code, dpi=dpi, seal=kind == "decision"
        )
        pages.append(degrade(page, profile, seed=page_seed))
    return pages


# ---------------------------------------------------------------- writers


def write_png(page: GeneratedPage, path: str | Path, *, colors: int | None = None) -> Path:
    """PNG with its DPI recorded (pHYs); ``colors`` makes a small palette PNG."""
    path = Path(path)
    image = page.image
    if colors:
        image = image.quantize(colors, dither=Image.Dither.NONE)
    image.save(path, format="PNG", dpi=(page.dpi, page.dpi), optimize=True)
    return path


def _jpeg(page: GeneratedPage, quality: int, grey: bool = False) -> bytes:
    buf = io.BytesIO()
    page.image.convert("L" if grey else "RGB").save(
        buf, "JPEG", quality=quality, dpi=(page.dpi, page.dpi), optimize=True, subsampling=2
    )
    return buf.getvalue()


def write_pdf(
    pages: Sequence[GeneratedPage], path: str | Path, *, quality: int = 50, grey: bool = False
) -> Path:
    """Multi-page PDF of JPEG images, each page sized by its DPI (as a scanner writes)."""
    path = Path(path)
    data = img2pdf.convert([_jpeg(p, quality, grey) for p in pages], nodate=True)
    with pikepdf.open(io.BytesIO(data)) as pdf:  # a content-derived /ID: same pages, same bytes
        if "/ID" in pdf.trailer:
            del pdf.trailer["/ID"]
        pdf.save(path, deterministic_id=True)
    return path


def write_tiff(
    pages: Sequence[GeneratedPage],
    path: str | Path,
    *,
    quality: int = 50,
    grey: bool = False,
    lossless: bool = False,
) -> Path:
    """Multi-page TIFF, JPEG-compressed (or deflated with ``lossless``); one DPI for all pages.

    Colour JPEG-in-TIFF is written without chroma subsampling (about 3x the size of a
    JPEG), so scanner-like greyscale (``grey=True``) is the way to keep files small.
    """
    dpis = {p.dpi for p in pages}
    if len(dpis) != 1:
        raise ValueError(f"a TIFF here carries one DPI for all pages, got {sorted(dpis)}")
    path = Path(path)
    # fresh images: JPEG-damaged pages carry JFIF/EXIF info that libtiff rejects
    images = [Image.fromarray(np.asarray(p.image.convert("L" if grey else "RGB"))) for p in pages]
    codec = (
        {"compression": "tiff_deflate"}
        if lossless
        else {"compression": "tiff_jpeg", "quality": quality}
    )
    images[0].save(
        path,
        format="TIFF",
        save_all=True,
        append_images=images[1:],
        dpi=(pages[0].dpi, pages[0].dpi),
        **codec,
    )
    return path


def write_pages(pages: Sequence[GeneratedPage], path: str | Path, **options) -> Path:
    """Write by suffix: .png/.jpg (one page), .pdf, .tif/.tiff; options go to the writer."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return write_pdf(pages, path, **options)
    if suffix in (".tif", ".tiff"):
        return write_tiff(pages, path, **options)
    if len(pages) != 1:
        raise ValueError(f"{suffix} holds one page, got {len(pages)}")
    if suffix == ".png":
        return write_png(pages[0], path, **options)
    if suffix in (".jpg", ".jpeg"):
        path.write_bytes(_jpeg(pages[0], 75))
        return path
    raise ValueError(f"unsupported output type {suffix!r}")


def truth_text(pages: Sequence[GeneratedPage]) -> str:
    """Ground truth of a file: pages separated by form feed, like the archive's .txt."""
    return "\f".join(p.text for p in pages)


# ---------------------------------------------------------------- committed demo samples

# (path under the inbox, dossier code, where the pipeline must find it, writer options,
#  pages as (kind, seal, profile)); sizes are kept small for the repository
SAMPLES: tuple[tuple[str, str, str, dict, tuple[tuple[str, bool, str], ...]], ...] = (
    (
        "motcua-01/000.00.13.H38-261120-0001/to-khai.png",
        "000.00.13.H38-261120-0001",
        "folder",
        {"colors": 16},
        (("application", False, "skew:1.4"),),
    ),
    (
        "motcua-01/000.00.13.H38-261120-0002__ho-so-xay-dung.pdf",
        "000.00.13.H38-261120-0002",
        "filename",
        {"quality": 45},
        (
            ("application", False, "clean"),
            ("decision", True, "skew:-0.7"),
            ("letter", False, "shadow"),
        ),
    ),
    (
        "motcua-02/bien-nhan.tif",
        "000.00.13.H38-261121-0003",
        "qr",
        {"quality": 50, "grey": True},
        (("receipt", False, "skew:0.6"), ("application", False, "clean")),
    ),
)
SAMPLE_DPI = 200


def build_samples(inbox: Path, truth: Path, *, dpi: int = SAMPLE_DPI) -> list[dict]:
    """Write the demo inbox files, their ground truth and a manifest; return the manifest."""
    manifest = []
    for index, (rel, code, source, options, spec) in enumerate(SAMPLES):
        pages = []
        for n, (kind, seal, profile) in enumerate(spec):
            seed = 1000 * (index + 1) + n
            page = render_page(kind, seed=seed, dossier_code=code, dpi=dpi, seal=seal)
            pages.append(degrade(page, profile, seed=seed))
        target = inbox / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        write_pages(pages, target, **options)
        truth_file = (truth / rel).with_suffix(".txt")
        truth_file.parent.mkdir(parents=True, exist_ok=True)
        truth_file.write_text(truth_text(pages), encoding="utf-8")
        manifest.append(
            {
                "file": rel,
                "truth": str(truth_file.relative_to(truth)),
                "dossier_code": code,
                "code_source": source,
                "dpi": dpi,
                "pages": [
                    {"kind": p.kind, "dossier_code_on_page": p.dossier_code, "params": p.params}
                    for p in pages
                ],
            }
        )
    (truth / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m samples.generate",
        description="Render synthetic Vietnamese administrative pages with ground truth.",
    )
    parser.add_argument("--samples", type=Path, help="rebuild the demo inbox into this folder")
    parser.add_argument("--truth", type=Path, help="ground-truth folder (default: ../truth)")
    parser.add_argument("--kinds", default="receipt", help=f"comma list of {', '.join(KINDS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--code", help="dossier code, e.g. 000.00.13.H38-261127-0001")
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument("--profile", default="clean", help="e.g. skew+noise+seal")
    parser.add_argument("--out", type=Path, help="output .png/.jpg/.pdf/.tif (+ .txt truth)")
    args = parser.parse_args(argv)
    if args.samples:
        truth = args.truth or args.samples.resolve().parent / "truth"
        for entry in build_samples(args.samples, truth):
            print(json.dumps(entry, ensure_ascii=False))
        return 0
    if not args.out:
        parser.error("give --samples DIR or --out FILE")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or set(kinds) - set(KINDS):
        parser.error(f"--kinds: choose from {', '.join(KINDS)}")
    if args.code and not DOSSIER_CODE_RE.match(args.code.strip().upper()):
        parser.error(f"--code: not a dossier code: {args.code!r}")
    try:
        parse_profile(args.profile)
    except ValueError as exc:
        parser.error(f"--profile: {exc}")
    code = args.code
    pages = []
    for i, kind in enumerate(kinds):
        seed = _seed_int(args.seed, i, kind) % 2**31
        page = render_page(kind, seed=seed, dossier_code=code, dpi=args.dpi)
        code = code or page.dossier_code
        pages.append(degrade(page, args.profile, seed=seed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_pages(pages, args.out)
    args.out.with_suffix(".txt").write_text(truth_text(pages), encoding="utf-8")
    for p in pages:
        print(json.dumps({"kind": p.kind, "dossier_code": p.dossier_code, **p.params}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
