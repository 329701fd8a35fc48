"""Which reader finds the dossier code on a scanned page: zxing-cpp or OpenCV's detectors.

Why: issue 13 reads a code on every page of a stack (a receipt starts a dossier, a cover
sheet starts a document), so the reader must decode poor scans (photocopies, skew, 150
dpi, pages fed upside down) and must be cheap and silent on the far more common page that
carries no code at all. DESIGN.md §7 names zxing-cpp "or OpenCV's detectors where
measured better"; this is the measurement.

    python -m bench.qr.compare                 # the full run, a few hundred decodes
    python -m bench.qr.compare --quick         # 200 and 150 dpi, fewer conditions
    python -m bench.qr.compare --json /tmp/qr.json   # also every single result

Pages: a receipt of samples.generate (QR of 0.68 mm modules at the top left, Circular
01/2023), a cover sheet with a large centred QR, and a cover sheet with a Code 128
barcode of the same code, each rendered at 300, 200 and 150 dpi and damaged (skew 2.5°
and -4.5°, quarter turn, upside down, photocopy with blur, JPEG q=40, dark, and all of
photocopy+skew+JPEG at once; and, as stress, a faded original under a soft blur); a
"limits" set (the receipt's QR at 100 down to 50 dpi and under a blur up to 1.5 modules)
to see where each reader stops; pages without any code (a decision and a letter, clean and
photocopied, and the real scans in shared/data) for false decodes and the cost of a
miss. Readers: ``zxingcpp.read_barcodes`` (QR Code and Code 128), ``cv2.QRCodeDetector``,
``cv2.QRCodeDetectorAruco`` and ``cv2.barcode.BarcodeDetector``, each on the greyscale
page as the pipeline holds it. CPU time is ``time.process_time`` around the call alone,
single-threaded (``cv2.setNumThreads(1)``), in one process: fine to compare readers
within one run, not an absolute figure. Last, a probe: is a 100-dpi copy enough to
*find* a code before decoding at full resolution, and what does that save?
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np
import segno
import zxingcpp
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from bench.common import machine
from bench.fields.generated import ensure_corpus, shared_data
from samples import generate as sg

CODE = "000.00.13.H38-261127-0001"
A4_MM = (210.0, 297.0)
QR_LAYOUTS = ("receipt", "cover_qr")
LAYOUTS = (*QR_LAYOUTS, "cover_code128")
PROBE_DPI = 100
ZX_FORMATS = (zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.Code128)

# ---------------------------------------------------------------- readers


def read_zxing(gray: np.ndarray) -> list[str]:
    """zxing-cpp with its defaults (rotations, downscaled passes, inverted), QR + Code 128."""
    return [r.text for r in zxingcpp.read_barcodes(gray, formats=ZX_FORMATS)]


def read_cv_qr(gray: np.ndarray) -> list[str]:
    """OpenCV's classic QR detector; Multi so that a page with two codes is not hidden."""
    _ok, texts, _pts, _straight = cv2.QRCodeDetector().detectAndDecodeMulti(gray)
    return [t for t in texts if t]


def read_cv_aruco(gray: np.ndarray) -> list[str]:
    """OpenCV's QR detector that finds the finder patterns as ArUco-like markers."""
    _ok, texts, _pts, _straight = cv2.QRCodeDetectorAruco().detectAndDecodeMulti(gray)
    return [t for t in texts if t]


def read_cv_barcode(gray: np.ndarray) -> list[str]:
    """OpenCV's 1-D reader (EAN/UPC only: it cannot hold an alphanumeric dossier code)."""
    texts = cv2.barcode.BarcodeDetector().detectAndDecodeWithType(gray)[1]
    return [t for t in texts if t]


def read_zxing_all(gray: np.ndarray) -> list[str]:
    """zxing-cpp with every format on: the false-decode risk of 1-D symbologies on text."""
    return [r.text for r in zxingcpp.read_barcodes(gray)]


READERS: dict[str, Callable[[np.ndarray], list[str]]] = {
    "zxing-cpp": read_zxing,
    "cv2.QRCode": read_cv_qr,
    "cv2.QRAruco": read_cv_aruco,
    "cv2.barcode": read_cv_barcode,
}
ZXING_ALL = "zxing all formats"  # only on pages without a code

# ---------------------------------------------------------------- pages


def _font(style: str, pt: float, dpi: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(sg.font_path(style), round(pt * dpi / 72))


def cover_sheet(code: str, dpi: int, symbol: str = "qr") -> sg.GeneratedPage:
    """A separator sheet: a title, the code as a large centred QR (or Code 128), the code.

    The QR has 1.2 mm modules (about 40 mm with its quiet zone), the Code 128 0.38 mm bars
    over 120-odd mm: what an office printer makes of ``sohoa cover-sheet``.
    """
    mm = dpi / 25.4
    w, h = round(A4_MM[0] * mm), round(A4_MM[1] * mm)
    img = Image.new("RGB", (w, h), (252, 252, 250))
    draw = ImageDraw.Draw(img)
    title = _font("bold", 20, dpi)
    draw.text((w / 2, 45 * mm), "PHIẾU TÁCH HỒ SƠ", font=title, fill=(20, 20, 20), anchor="mm")
    if symbol == "qr":
        module = max(2, round(1.2 * mm))
        matrix = np.array(list(segno.make_qr(code, error="m").matrix_iter(border=4)), bool)
        cells = np.kron(matrix, np.ones((module, module), bool))
    else:
        barcode = zxingcpp.create_barcode(code, zxingcpp.BarcodeFormat.Code128)
        row = np.asarray(zxingcpp.write_barcode_to_image(barcode, scale=1))[0] < 128
        bar = max(2, round(0.38 * mm))
        quiet = np.zeros(10, bool)
        row = np.concatenate([quiet, row, quiet])
        cells = np.repeat(np.repeat(row[None, :], bar, axis=1), round(18 * mm), axis=0)
    symbol_img = Image.fromarray(np.where(cells, 18, 252).astype(np.uint8)).convert("RGB")
    top = round(70 * mm)
    img.paste(symbol_img, ((w - symbol_img.width) // 2, top))
    text_y = top + symbol_img.height + 14 * mm
    draw.text((w / 2, text_y), code, font=_font("bold", 22, dpi), fill=(20, 20, 20), anchor="mm")
    draw.text(
        (w / 2, text_y + 16 * mm),
        "Mã hồ sơ - đặt trước tài liệu đầu tiên của hồ sơ",
        font=_font("italic", 13, dpi),
        fill=(40, 40, 40),
        anchor="mm",
    )
    info = {"body": (0.2, 0.5), "paper": (252, 252, 250)}
    return sg.GeneratedPage(img, dpi, code, code, f"cover_{symbol}", {}, info)


def base_page(layout: str, dpi: int, seed: int) -> sg.GeneratedPage:
    """The undamaged page of a layout at a resolution (a scanner set to that dpi)."""
    if layout == "receipt":
        return sg.render_page("receipt", seed=seed, dossier_code=CODE, dpi=dpi)
    if layout == "cover_qr":
        return cover_sheet(CODE, dpi, "qr")
    if layout == "cover_code128":
        return cover_sheet(CODE, dpi, "code128")
    if layout in ("decision", "letter"):
        return sg.render_page(layout, seed=seed, dossier_code=CODE, dpi=dpi, seal=True)
    raise ValueError(layout)


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _blur(page: sg.GeneratedPage, sigma_at_300: float) -> sg.GeneratedPage:
    sigma = sigma_at_300 * page.dpi / 300
    return replace(page, image=page.image.filter(ImageFilter.GaussianBlur(sigma)))


def _photocopy(page: sg.GeneratedPage, seed: int) -> sg.GeneratedPage:
    """samples' photocopy (contrast crush, grain, toner speckle) plus the copier's blur."""
    return _blur(sg.degrade(page, "photocopy", seed=seed), 0.9)


def _dark(page: sg.GeneratedPage, seed: int) -> sg.GeneratedPage:
    """An underexposed scan: paper at about 40 % grey, ink lifted, a little sensor noise."""
    a = np.asarray(page.image.convert("RGB"), np.float32)
    rng = np.random.default_rng(seed)
    out = 25 + a * 0.42 + rng.normal(0, 4, a.shape[:2]).astype(np.float32)[..., None]
    img = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    return replace(page, image=img)


def _faded_blur(page: sg.GeneratedPage, seed: int) -> sg.GeneratedPage:
    """Stress beyond the brief: a faded original (half the contrast) and a soft focus."""
    return _blur(sg.degrade(page, "faded", seed=seed), 1.6)


def _hard(page: sg.GeneratedPage, seed: int) -> sg.GeneratedPage:
    page = _photocopy(sg.degrade(page, "skew:3.0", seed=seed), seed)
    return replace(page, image=_jpeg(page.image, 40))


CONDITIONS: dict[str, Callable[[sg.GeneratedPage, int], sg.GeneratedPage]] = {
    "clean": lambda p, s: p,
    "skew +2.5°": lambda p, s: sg.degrade(p, "skew:2.5", seed=s),
    "skew -4.5°": lambda p, s: sg.degrade(p, "skew:-4.5", seed=s),
    "rotated 90°": lambda p, s: sg.degrade(p, "rotate90", seed=s),
    "upside down": lambda p, s: sg.degrade(p, "rotate180", seed=s),
    "photocopy": _photocopy,
    "JPEG q=40": lambda p, s: replace(p, image=_jpeg(p.image, 40)),
    "dark": _dark,
    "photocopy+skew+JPEG": _hard,
    "faded+blur (stress)": _faded_blur,
}
QUICK_CONDITIONS = ("clean", "skew -4.5°", "upside down", "photocopy", "photocopy+skew+JPEG")


def gray(img: Image.Image) -> np.ndarray:
    """The page as the pipeline holds it before cleanup: 8-bit greyscale, C-contiguous."""
    return np.ascontiguousarray(np.asarray(img.convert("L")))


# ---------------------------------------------------------------- running


@dataclass
class Result:
    """One reader on one page: what it returned, whether that is right, and its CPU time."""

    reader: str
    layout: str
    dpi: int
    condition: str
    truth: str | None
    texts: list[str] = field(default_factory=list)
    ms: float = 0.0

    @property
    def correct(self) -> bool:
        return self.truth is not None and self.truth in self.texts

    @property
    def false(self) -> bool:
        """Any decoded text that is not the page's code (a wrong read, or one from nothing)."""
        return any(t != self.truth for t in self.texts)


def _reader(name: str) -> Callable[[np.ndarray], list[str]]:
    return read_zxing_all if name == ZXING_ALL else READERS[name]


def timed(fn: Callable[[np.ndarray], object], image: np.ndarray) -> tuple[object, float]:
    start = time.process_time()
    out = fn(image)
    return out, (time.process_time() - start) * 1000


def run_pages(
    pages: Iterable[tuple[str, int, str, str | None, np.ndarray]], readers: Sequence[str]
) -> list[Result]:
    results = []
    for layout, dpi, condition, truth, image in pages:
        for name in readers:
            texts, ms = timed(_reader(name), image)
            results.append(Result(name, layout, dpi, condition, truth, list(texts), ms))
    return results


def synthetic_pages(
    layouts: Sequence[str], dpis: Sequence[int], conditions: Sequence[str], seed: int
) -> Iterable[tuple[str, int, str, str | None, np.ndarray]]:
    """Every layout x dpi x condition, rendered and damaged one at a time (memory stays low)."""
    for layout in layouts:
        truth = CODE if layout in LAYOUTS else None
        for dpi in dpis:
            base = base_page(layout, dpi, seed)
            for i, condition in enumerate(conditions):
                page = CONDITIONS[condition](base, sg._seed_int(seed, layout, dpi, i) % 2**31)
                yield layout, dpi, condition, truth, gray(page.image)


LIMITS = (
    "100 dpi",
    "100 dpi photocopy",
    "75 dpi",
    "75 dpi photocopy",
    "60 dpi",
    "50 dpi",
    "150 dpi blur σ2",
    "150 dpi blur σ3",
    "150 dpi blur σ4",
    "150 dpi blur σ6",
)


def limit_pages(seed: int) -> Iterable[tuple[str, int, str, str | None, np.ndarray]]:
    """Beyond the brief, to find where each reader stops: the receipt's small QR (0.68 mm
    modules) at fax-like resolutions and under a blur growing to the width of a module.

    The low resolutions are a 300-dpi page reduced by area (a scanner set low); the blur
    sigma is given in 300-dpi pixels (σ4 at 150 dpi is 2 px, half a module).
    """
    base300 = base_page("receipt", 300, seed)
    base150 = base_page("receipt", 150, seed)
    for name in LIMITS:
        if name.startswith("150"):
            page = _blur(base150, float(name.rsplit("σ", 1)[1]))
            yield "receipt", 150, name, CODE, gray(page.image)
            continue
        dpi = int(name.split()[0])
        page = base300
        if "photocopy" in name:
            page = _photocopy(page, sg._seed_int(seed, name) % 2**31)
        small = _downscale(gray(page.image), 300, dpi)
        yield "receipt", dpi, name, CODE, np.ascontiguousarray(small)


def real_pages(dpi: int) -> Iterable[tuple[str, int, str, str | None, np.ndarray]]:
    """The real Vietnamese scans and PDFs in shared/data, rendered by poppler at ``dpi``."""
    base = shared_data() / "odd-inputs"
    scans = sorted((base / "vn-real-scans-vietadmin").glob("*.pdf"))
    files = [*scans, base / "vn-udhr-ohchr-pdf" / "udhr_vie.pdf"]
    with tempfile.TemporaryDirectory() as tmp:
        for pdf in files:
            if not pdf.is_file():
                continue
            stem = Path(tmp) / pdf.stem
            subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", pdf, stem], check=True)
            for png in sorted(Path(tmp).glob(f"{pdf.stem}-*.png")):
                with Image.open(png) as img:
                    yield f"real:{png.stem}", dpi, "real", None, gray(img)
                png.unlink()


# ---------------------------------------------------------------- the 100-dpi probe


@dataclass
class Probe:
    """Find on a 100-dpi copy, then decode only the found region at full resolution."""

    layout: str
    dpi: int
    condition: str
    has_code: bool
    full_ms: float  # zxing on the whole page at scan resolution
    full_ok: bool
    small_ms: float  # zxing on the 100-dpi copy, errors returned (found, not decoded)
    small_found: bool
    small_decoded: bool
    crop_ms: float  # zxing on the found region, cut from the full page with a margin
    crop_ok: bool
    cv_small_ms: float  # cv2.QRCodeDetector.detect on the 100-dpi copy
    cv_small_found: bool


def _downscale(image: np.ndarray, dpi: int, to: int = PROBE_DPI) -> np.ndarray:
    if dpi <= to:
        return image
    k = to / dpi
    return cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)


def probe(layout: str, dpi: int, condition: str, truth: str | None, image: np.ndarray) -> Probe:
    full, full_ms = timed(read_zxing, image)
    start = time.process_time()
    small = _downscale(image, dpi)
    found = zxingcpp.read_barcodes(small, formats=ZX_FORMATS, return_errors=True)
    small_ms = (time.process_time() - start) * 1000
    crop_ms, crop_ok = 0.0, False
    if found:
        start = time.process_time()
        k = image.shape[1] / small.shape[1]
        texts = []
        for hit in found:
            pos = hit.position
            xs = [pt.x for pt in (pos.top_left, pos.top_right, pos.bottom_left, pos.bottom_right)]
            ys = [pt.y for pt in (pos.top_left, pos.top_right, pos.bottom_left, pos.bottom_right)]
            margin = 0.25 * max(max(xs) - min(xs), max(ys) - min(ys)) + 10
            x0 = max(0, int((min(xs) - margin) * k))
            y0 = max(0, int((min(ys) - margin) * k))
            x1 = min(image.shape[1], int((max(xs) + margin) * k))
            y1 = min(image.shape[0], int((max(ys) + margin) * k))
            region = np.ascontiguousarray(image[y0:y1, x0:x1])
            texts += [r.text for r in zxingcpp.read_barcodes(region, formats=ZX_FORMATS)]
        crop_ms = (time.process_time() - start) * 1000
        crop_ok = truth is not None and truth in texts
    start = time.process_time()
    cv_found, _pts = cv2.QRCodeDetector().detectMulti(_downscale(image, dpi))
    cv_ms = (time.process_time() - start) * 1000
    return Probe(
        layout,
        dpi,
        condition,
        truth is not None,
        full_ms,
        truth in full if truth else False,
        small_ms,
        bool(found),
        any(h.valid and h.text == truth for h in found),
        crop_ms,
        crop_ok,
        cv_ms,
        bool(cv_found),
    )


# ---------------------------------------------------------------- tables


def _cell(rows: list[Result]) -> str:
    if not rows:
        return "-"
    ok = sum(r.correct for r in rows)
    bad = sum(r.false for r in rows)
    ms = statistics.median(r.ms for r in rows)
    return f"{100 * ok / len(rows):3.0f}% {bad:2d}f {ms:5.0f}ms"


def table(
    results: list[Result], key: Callable[[Result], object], keys: Sequence, title: str
) -> str:
    readers = list(dict.fromkeys(r.reader for r in results))
    width = max(len(str(k)) for k in [*keys, "all"]) + 2
    lines = [title, " " * width + "".join(f"{name:>19}" for name in readers)]
    for k in [*keys, "all"]:
        cells = []
        for name in readers:
            rows = [r for r in results if r.reader == name and (k == "all" or key(r) == k)]
            cells.append(f"{_cell(rows):>19}")
        lines.append(f"{k!s:<{width}}" + "".join(cells))
    return "\n".join(lines)


def miss_table(results: list[Result]) -> str:
    """Pages without a code: false decodes and CPU per page, by source and resolution."""
    readers = list(dict.fromkeys(r.reader for r in results))
    groups = dict.fromkeys(
        ("real" if r.layout.startswith("real:") else "synthetic", r.dpi) for r in results
    )
    lines = [
        "pages WITHOUT a code: false decodes / pages, median and max CPU ms per page",
        " " * 20 + "".join(f"{name:>22}" for name in readers),
    ]
    for source, dpi in groups:
        cells = []
        for name in readers:
            rows = [
                r
                for r in results
                if r.reader == name
                and r.dpi == dpi
                and ("real" if r.layout.startswith("real:") else "synthetic") == source
            ]
            bad = sum(r.false for r in rows)
            med = statistics.median(r.ms for r in rows)
            cells.append(f"{bad}/{len(rows)} {med:5.0f} {max(r.ms for r in rows):5.0f}ms".rjust(22))
        lines.append(f"{source} {dpi} dpi".ljust(20) + "".join(cells))
    return "\n".join(lines)


def probe_table(probes: list[Probe]) -> str:
    lines = [
        f"find on a {PROBE_DPI}-dpi copy, decode the region at full resolution (zxing-cpp); "
        "cv2 detect on the same copy",
        f"{'pages':<26}{'n':>4}{'full ok':>9}{'found@100':>10}{'read@100':>9}{'crop ok':>8}"
        f"{'full ms':>9}{'100dpi ms':>10}{'+crop ms':>9}{'cv found':>9}{'cv ms':>7}",
    ]

    def row(label: str, group: list[Probe]) -> str:
        n = len(group)
        if not n:
            return f"{label:<26}{0:>4}"
        pct = lambda xs: f"{100 * sum(xs) / n:.0f}%"  # noqa: E731 - a one-line formatter
        return (
            f"{label:<26}{n:>4}{pct(p.full_ok for p in group):>9}"
            f"{pct(p.small_found for p in group):>10}{pct(p.small_decoded for p in group):>9}"
            f"{pct(p.crop_ok for p in group):>8}"
            f"{statistics.median(p.full_ms for p in group):>9.0f}"
            f"{statistics.median(p.small_ms for p in group):>10.0f}"
            f"{statistics.median(p.crop_ms for p in group):>9.0f}"
            f"{pct(p.cv_small_found for p in group):>9}"
            f"{statistics.median(p.cv_small_ms for p in group):>7.0f}"
        )

    for layout in dict.fromkeys(p.layout for p in probes if p.has_code):
        for dpi in dict.fromkeys(p.dpi for p in probes):
            group = [p for p in probes if p.layout == layout and p.dpi == dpi]
            lines.append(row(f"{layout} {dpi} dpi", group))

    def source(p: Probe) -> str:
        return "real" if p.layout.startswith("real:") else "synthetic"

    for src, dpi in dict.fromkeys((source(p), p.dpi) for p in probes if not p.has_code):
        group = [p for p in probes if not p.has_code and p.dpi == dpi and source(p) == src]
        lines.append(row(f"no code, {src} {dpi} dpi", group))
    return "\n".join(lines)


def versions() -> str:
    names = ("zxing-cpp", "opencv-python-headless", "numpy", "pillow", "segno")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found) + f"; cv2.getNumThreads()={cv2.getNumThreads()}"


# ---------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.qr.compare", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200/150 dpi, five conditions")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write every result here")
    args = parser.parse_args(argv)

    cv2.setNumThreads(1)
    ensure_corpus()
    dpis = (200, 150) if args.quick else (300, 200, 150)
    conditions = QUICK_CONDITIONS if args.quick else tuple(CONDITIONS)
    readers = tuple(READERS)
    wall = time.monotonic()

    results = run_pages(synthetic_pages(LAYOUTS, dpis, conditions, args.seed), readers)
    none_conditions = ("clean", "photocopy")
    miss_readers = (*readers, ZXING_ALL)
    misses = run_pages(
        synthetic_pages(("decision", "letter"), dpis, none_conditions, args.seed), miss_readers
    )
    misses += run_pages(real_pages(200), miss_readers)
    real_with_code = [r for r in misses if r.layout.startswith("real:") and r.texts]

    probe_pages = [
        page
        for page in synthetic_pages(QR_LAYOUTS, dpis, conditions, args.seed)
        if page[1] > PROBE_DPI
    ]
    probes = [probe(*page) for page in probe_pages]
    del probe_pages
    probes += [
        probe(*page) for page in synthetic_pages(("decision", "letter"), dpis, ("clean",), 7)
    ]
    probes += [probe(*page) for page in real_pages(200)]

    limits = run_pages(limit_pages(args.seed), readers[:3])
    qr = [r for r in results if r.layout in QR_LAYOUTS]
    bar = [r for r in results if r.layout == "cover_code128"]
    print(f"machine: {machine()}")
    print(f"libraries: {versions()}")
    print(f"code: {CODE}; {len(results) + len(misses) + len(limits)} reads, {len(probes)} probes, "
          f"{time.monotonic() - wall:.0f} s wall")  # fmt: skip
    print("cell = share decoded right, false decodes (f), median CPU ms per page\n")
    print(table(qr, lambda r: r.condition, conditions, "QR pages (receipt + cover) by condition"))
    print()
    print(table(qr, lambda r: r.dpi, dpis, "QR pages by scan resolution"))
    print()
    print(table(qr, lambda r: r.layout, QR_LAYOUTS, "QR pages by layout"))
    print()
    print(table(bar, lambda r: r.condition, conditions, "Code 128 cover sheet by condition"))
    print()
    print(table(limits, lambda r: r.condition, LIMITS, "limits: the receipt's small QR"))
    print()
    print(miss_table(misses))
    print(f"real pages carrying a barcode (any reader): {len(real_with_code)}")
    print()
    print(probe_table(probes))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "libraries": versions(),
                    "results": [asdict(r) for r in results + misses + limits],
                    "probes": [asdict(p) for p in probes],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
