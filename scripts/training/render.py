"""A text line as an office's copy shows it to Tesseract: printed, scanned, damaged, enlarged.

The line is drawn four times larger than the target resolution and reduced by area
averaging (a scanner integrates light over each sensor cell), at 70-300 dpi, in a
Times-like serif of an administrative document (bold and capitals for titles, italics
now and then). Then the damage copies carry: blur of soft optics, grey paper and
gamma, sensor grain, a fax's or a scanner's one-bit threshold, a photocopier's steep
curve and toner dust, JPEG at the qualities mail clients and phones write. Last, what
the pipeline does before Tesseract reads a page (pipeline.flow.page.enlarge_small_print
and pipeline.cleanup.ocr_copy.make_ocr_image): letters under 13 px enlarged bicubically
to 22 px, the OCR copy's enlargement and tone filters. So the model learns the pixels
it will really be given.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.cleanup import measure, ocr_copy
from pipeline.config import CleanupConfig

SUPERSAMPLE = 4
ARCHIVE_DPI = 200.0  # pipeline: once enlarged, at least the archive's resolution

# (family, regular, bold, italic); the first four are trained on, FreeSerif is held out.
FONT_DIRS = (
    Path("/usr/share/fonts/truetype"),
    Path("/usr/share/texmf/fonts/opentype/public/tex-gyre"),
)
FONTS: dict[str, tuple[str, str, str]] = {
    "termes": ("texgyretermes-regular.otf", "texgyretermes-bold.otf", "texgyretermes-italic.otf"),
    "liberation": (
        "liberation2/LiberationSerif-Regular.ttf",
        "liberation2/LiberationSerif-Bold.ttf",
        "liberation2/LiberationSerif-Italic.ttf",
    ),
    "noto": (
        "noto/NotoSerif-Regular.ttf",
        "noto/NotoSerif-Bold.ttf",
        "noto/NotoSerif-Italic.ttf",
    ),
    "dejavu": (
        "dejavu/DejaVuSerif.ttf",
        "dejavu/DejaVuSerif-Bold.ttf",
        "dejavu/DejaVuSerif-Italic.ttf",
    ),
    "freeserif": (
        "freefont/FreeSerif.ttf",
        "freefont/FreeSerifBold.ttf",
        "freefont/FreeSerifItalic.ttf",
    ),
}
TRAIN_FONTS = ("termes", "liberation", "noto", "dejavu")
HELD_OUT_FONTS = ("freeserif",)
DPIS = (70, 80, 90, 100, 120, 150, 200, 300)
DPI_WEIGHTS = (3, 4, 3, 3, 2, 2, 3, 1)  # the low-resolution copies are the hard part


@dataclass(frozen=True)
class Style:
    font: str
    weight: int  # 0 regular, 1 bold, 2 italic
    points: float
    dpi: int
    damage: str
    seed: int


def font_path(family: str, weight: int) -> Path:
    name = FONTS[family][weight]
    for folder in FONT_DIRS:
        for candidate in (folder / name, folder / Path(name).name):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"font {name} (apt-get install fonts-texgyre fonts-liberation2 ...)")


def draw(text: str, style: Style) -> np.ndarray:
    """The line in black on white at ``style.dpi``, anti-aliased as a scan is."""
    px = style.points / 72.0 * style.dpi * SUPERSAMPLE
    font = ImageFont.truetype(str(font_path(style.font, style.weight)), max(4, round(px)))
    left, _, right, _ = font.getbbox(text)
    pad = round(px * 0.6)
    width, height = right - left + 2 * pad, round(px * 1.9)
    img = Image.new("L", (width, height), 255)
    baseline_top = round((height - px * 1.25) / 2)
    ImageDraw.Draw(img).text((pad - left, baseline_top), text, font=font, fill=0)
    big = np.asarray(img)
    size = (max(1, width // SUPERSAMPLE), max(1, height // SUPERSAMPLE))
    return cv2.resize(big, size, interpolation=cv2.INTER_AREA)


def _jpeg(gray: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def damage(gray: np.ndarray, style: Style) -> tuple[np.ndarray, bool]:
    """(damaged line, bilevel): the kind ``style.damage`` names, drawn from ``style.seed``."""
    rng = np.random.default_rng(style.seed)
    out = gray.astype(np.float32)
    kind = style.damage
    bilevel = False
    if kind in ("blur", "worn", "photocopy", "jpeg-blur"):
        sigma = rng.uniform(0.3, 0.7) if kind != "photocopy" else rng.uniform(0.2, 0.4)
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if kind in ("dark", "worn"):
        paper, ink = rng.uniform(150, 205), rng.uniform(10, 50)
        gamma = rng.uniform(1.2, 2.0)
        out = ink + (paper - ink) * (out / 255.0) ** gamma
    if kind in ("noise", "worn"):
        out += rng.normal(0, rng.uniform(4, 14), out.shape)
    if kind == "photocopy":
        mid, slope = rng.uniform(120, 170), rng.uniform(3, 6)
        out = 255 / (1 + np.exp(-slope * (out - mid) / 64))
        dots = rng.random(out.shape) < rng.uniform(0.001, 0.006)
        out[dots] = rng.uniform(0, 90)
        out = cv2.GaussianBlur(out, (0, 0), 0.5)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if kind == "fax":  # one bit, as a fax or a cheap office scanner writes
        level = rng.uniform(110, 170)
        out = np.where(out < level, 0, 255).astype(np.uint8)
        bilevel = True
    if kind in ("jpeg", "jpeg-blur", "worn", "dark", "noise"):
        out = _jpeg(out, int(rng.integers(30, 90)))
    return out, bilevel


COPIES = 8  # the line repeated on its page, so the letter measure has enough letters
PAGE_LINES = 24  # a page is this many line heights tall (the letter measure's scale)


def _as_page(gray: np.ndarray) -> np.ndarray:
    """The line on a page of its own paper, printed ``COPIES`` times, one line apart."""
    h, w = gray.shape
    page = np.full((h * PAGE_LINES, w), int(np.median(gray)), np.uint8)
    for k in range(COPIES):
        page[2 * k * h : (2 * k + 1) * h] = gray
    return page


def as_pipeline_reads(gray: np.ndarray, dpi: float, bilevel: bool) -> np.ndarray:
    """The OCR copy the pipeline would hand Tesseract for a page printed with this line.

    The pipeline measures the letters of the whole page; a lone line has too few and
    is too tall for its strip, so the line is measured and cleaned on a page of its own
    (``_as_page``) and its first copy cut out of the result.
    """
    h = gray.shape[0]
    page = _as_page(gray)
    factor = ocr_copy.work_upscale_factor(measure.letter_height(page))
    if factor > 1.0:
        factor = min(ocr_copy.OCR_MAX_UPSCALE, max(factor, ARCHIVE_DPI / dpi))
        page = ocr_copy.enlarge(page, factor)
        if bilevel:
            _, page = cv2.threshold(page, 127, 255, cv2.THRESH_BINARY)
        dpi *= factor
    image, scale = ocr_copy.make_ocr_image(page, dpi, bilevel, CleanupConfig())
    bottom = round(h * factor * scale)
    return np.ascontiguousarray(image[:bottom])


def render(text: str, style: Style) -> np.ndarray:
    """``text`` as Tesseract will see it in a copy printed and damaged as ``style`` says."""
    gray = draw(text, style)
    gray, bilevel = damage(gray, style)
    return as_pipeline_reads(gray, style.dpi, bilevel)


DAMAGES = ("clean", "blur", "dark", "noise", "jpeg", "jpeg-blur", "fax", "photocopy", "worn")
DAMAGE_WEIGHTS = (2, 2, 1, 1, 2, 2, 1, 1, 2)


def draw_style(rng: np.random.Generator, fonts: tuple[str, ...], seed: int, upper: bool) -> Style:
    """A random printing of one line: font, weight, size, resolution and damage."""
    dpi = int(rng.choice(DPIS, p=np.array(DPI_WEIGHTS) / sum(DPI_WEIGHTS)))
    weight = 1 if upper and rng.random() < 0.7 else (2 if rng.random() < 0.08 else 0)
    if not upper and weight == 0 and rng.random() < 0.06:
        weight = 1
    points = float(rng.uniform(11.5, 14.5))
    damage_kind = str(rng.choice(DAMAGES, p=np.array(DAMAGE_WEIGHTS) / sum(DAMAGE_WEIGHTS)))
    if dpi >= 200 and damage_kind == "clean" and rng.random() < 0.5:
        damage_kind = "fax"  # 200-dpi one-bit scans are the offices' commonest
    font = str(rng.choice(fonts))
    return Style(font, weight, points, dpi, damage_kind, seed)
