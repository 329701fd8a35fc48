"""What synthetic pages are drawn with: seeded randomness, fonts that cover Vietnamese,
the legal corpus for body text, invented case data, a canvas with text and seals.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import os
import random
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import segno
from PIL import Image, ImageChops, ImageDraw, ImageFont

from pipeline.lang.textnorm import nfc

A4_MM = (210.0, 297.0)


SEAL_RED = (205, 32, 45)


def _seed_int(*keys: object) -> int:
    """Stable 64-bit seed from any keys; Python's hash() is salted per process."""
    digest = hashlib.sha256(":".join(str(k) for k in keys).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _py_rng(*keys: object) -> random.Random:
    return random.Random(_seed_int(*keys))


def _np_rng(*keys: object) -> np.random.Generator:
    return np.random.default_rng(_seed_int(*keys))


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
