"""Degraded copies of the real development set, made the way real copies degrade.

    /work/main/.venv/bin/python bench/realset/degrade.py --out DIR [--data ../shared/data]
        [--seed 14] [--pages ID,ID] [--variants NAME,NAME] [--no-orig] [--list]

For each page of ``manifest.json`` the CLI renders the page from its source in
``shared/data`` (PDF pages with ``pdftoppm`` at the manifest's resolution, TIFF frames
and PNGs as stored), writes it as ``DIR/<id>.png`` and its variants as
``DIR/<id>.<variant>.png`` (``.jpg`` for the JPEG ones: the very bytes the degradation
produced, never encoded twice), each with its DPI in the file, and ``DIR/manifest.json``
listing every image with its page, variant, DPI, parameters and truth file. Nothing is
stored in the repository: the images are generated again, identically, from the seed.

Variants (``VARIANTS``; each draws its parameters from its own generator seeded by the
page seed and the variant name, so adding a variant never changes the others).

Resolution only:

- ``dpi100``, ``dpi70``: the page downscaled (area averaging) to 100 and 70 dpi;
- ``jpeg100``, ``jpeg70``: downscaled, then JPEG at quality 35–50 (4:2:0 chroma).

A damaged scan, at the page's resolution up to 200 dpi (300-dpi pages come down to 200):

- ``blur``: Gaussian blur, sigma 0.15–0.25 mm; ``box``: 3×3 box blur (2×2 below 150 dpi);
- ``dark``: greyish paper (paper level 165–195, ink 15–40, gamma 1.4–2.0) and uneven light;
- ``noise``: Gaussian grain (sigma 10–18 grey levels) and salt-and-pepper dots;
- ``turn-ccw``, ``turn-cw``: turned 1–4° either way on a white canvas grown to keep the
  corners;
- ``photocopy``: grey; slight blur, contrast crushed by a steep curve (thin strokes break,
  bold ones fill), toner speckle, a faint drum streak, slight blur again.

A letter passed from office to office as a small JPEG, calibrated on the issue's held-out
letter (a 576×960 JPEG, about 70 dpi, on which bare Tesseract still reads 0.97-0.99 of
the words): the page at 80 dpi (an A4 page is about 661×935 px), damaged once, then JPEG
at quality 75-85, what mail clients and phone apps write. At 70 dpi the print of these
pages is smaller than the held-out letter's: bare Tesseract reads 0.87 of the words of an
undamaged 70-dpi JPEG, 0.97 at 80 dpi, 0.98 at 90 (seed 14, all 20 pages):

- ``letter``: just that; ``letter-blur`` (sigma 0.4-0.6 px), ``letter-dark`` (as
  ``dark``), ``letter-noise`` (grain 5-9), ``letter-turn-ccw``, ``letter-turn-cw`` (1-4°);
- ``letter-worn``: a little of everything at once: blur 0.3-0.4 px, half-strength grey
  paper, light grain, turned 1-2.5° either way, JPEG.

A harsh family, the letter at 70 dpi after many more hands (JPEG quality 35-50, stronger
damage): far below what bare Tesseract reads well (0.39-0.63 of the words), kept to check
that no step makes a hopeless page worse:

- ``harsh-blur`` (sigma 0.5-0.8 px), ``harsh-turn`` (1-4° either way), ``harsh-worn``
  (blur 0.3-0.5 px, half-strength grey paper, light grain, turned 1-2.5°).

Only numpy, OpenCV and Pillow (and ``pdftoppm`` for PDF pages); nothing from ``sohoa``.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageSequence

HERE = Path(__file__).resolve().parent
DEFAULT_SEED = 14

Image.MAX_IMAGE_PIXELS = 200_000_000


def default_data() -> Path:
    """``shared/data`` next to the checkout: the first ``<ancestor>/shared/data`` above here."""
    for folder in HERE.parents:
        if (folder / "shared" / "data").is_dir():
            return folder / "shared" / "data"
    return Path("../shared/data")


# --- pixels ---------------------------------------------------------------------------


def to_array(image: Image.Image) -> np.ndarray:
    """uint8 array of ``image``: H×W for grey (1-bit and grey palettes too), H×W×3 for colour."""
    if image.mode in ("1", "L", "I;16", "I", "F"):
        return np.asarray(image.convert("L"), dtype=np.uint8).copy()
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return rgb[..., 0].copy()
    return rgb.copy()


def to_image(array: np.ndarray, dpi: float) -> Image.Image:
    """PIL image of a uint8 array (grey or RGB), its DPI recorded in ``info``."""
    image = Image.fromarray(np.ascontiguousarray(array), "L" if array.ndim == 2 else "RGB")
    image.info["dpi"] = (dpi, dpi)
    return image


def grey(array: np.ndarray) -> np.ndarray:
    """The array as one grey channel (luma of RGB)."""
    return array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_RGB2GRAY)


def resample(array: np.ndarray, dpi: float, target_dpi: float) -> np.ndarray:
    """The page scanned at ``target_dpi`` instead of ``dpi``: area averaging when shrinking."""
    if abs(target_dpi - dpi) < 1e-6:
        return array.copy()
    scale = target_dpi / dpi
    height, width = array.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(array, size, interpolation=method)


def gaussian_blur(array: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels (out-of-focus, soft optics)."""
    return cv2.GaussianBlur(array, (0, 0), sigmaX=sigma, sigmaY=sigma)


def box_blur(array: np.ndarray, size: int) -> np.ndarray:
    """Mean over a ``size``×``size`` box (motion-free smear of a cheap sensor or copier)."""
    return cv2.blur(array, (size, size))


def darken(
    array: np.ndarray, rng: np.random.Generator, *, strength: float = 1.0
) -> tuple[np.ndarray, dict]:
    """Greyish paper and uneven light: levels and gamma pulled down, a slope of shade.

    ``strength`` scales how far paper and gamma move from white and 1.0 (1.0: full range).
    Returns the array and the parameters drawn.
    """
    paper = 255 - strength * (255 - rng.uniform(165, 195))
    ink = rng.uniform(15, 40)
    gamma = 1 + strength * (rng.uniform(1.4, 2.0) - 1)
    shade = strength * rng.uniform(0.05, 0.15)
    angle = rng.uniform(0, 2 * np.pi)
    height, width = array.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (xs / max(width - 1, 1)) * np.cos(angle) + (ys / max(height - 1, 1)) * np.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    light = 1 - shade * ramp
    level = (array.astype(np.float32) / 255) ** gamma
    if array.ndim == 3:
        light = light[..., None]
    out = (ink + (paper - ink) * level) * light
    params = {
        "paper": round(paper, 1),
        "ink": round(ink, 1),
        "gamma": round(gamma, 2),
        "shade": round(shade, 3),
    }
    return np.clip(out, 0, 255).astype(np.uint8), params


def add_noise(
    array: np.ndarray, rng: np.random.Generator, *, strength: float = 1.0
) -> tuple[np.ndarray, dict]:
    """Sensor grain (Gaussian) plus salt-and-pepper dots; returns the array and parameters."""
    sigma = strength * rng.uniform(10, 18)
    density = strength * rng.uniform(0.001, 0.003)
    grain = rng.normal(0, sigma, array.shape[:2]).astype(np.float32)
    if array.ndim == 3:
        grain = grain[..., None]  # the same grain on every channel, as a grey sensor gives
    noisy = array.astype(np.float32) + grain
    dots = rng.random(array.shape[:2])
    noisy[dots < density / 2] = 0
    noisy[dots > 1 - density / 2] = 255
    params = {"sigma": round(sigma, 1), "salt_pepper": round(density, 4)}
    return np.clip(noisy, 0, 255).astype(np.uint8), params


def turn(array: np.ndarray, degrees: float) -> np.ndarray:
    """The page turned ``degrees`` (positive: counter-clockwise) on a larger white canvas."""
    height, width = array.shape[:2]
    centre = (width / 2, height / 2)
    matrix = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w = int(np.ceil(height * sin + width * cos))
    new_h = int(np.ceil(height * cos + width * sin))
    matrix[0, 2] += new_w / 2 - centre[0]
    matrix[1, 2] += new_h / 2 - centre[1]
    white = (255, 255, 255) if array.ndim == 3 else 255
    return cv2.warpAffine(
        array,
        matrix,
        (new_w, new_h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=white,
    )


def photocopy(array: np.ndarray, dpi: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A grey photocopy: soft optics, a steep tone curve, toner speckle and a drum streak."""
    scale = dpi / 200
    page = gaussian_blur(grey(array), 0.6 * scale).astype(np.float32) / 255
    threshold = rng.uniform(0.55, 0.7)
    steepness = rng.uniform(0.04, 0.07)
    crushed = 1 / (1 + np.exp(-(page - threshold) / steepness))
    height, width = page.shape
    specks = np.zeros((height, width), np.uint8)
    density = rng.uniform(2e-4, 6e-4)
    count = int(density * height * width)
    ys = rng.integers(0, height, count)
    xs = rng.integers(0, width, count)
    radii = rng.integers(0, max(1, round(1.5 * scale)) + 1, count)
    for y, x, r in zip(ys.tolist(), xs.tolist(), radii.tolist(), strict=True):
        cv2.circle(specks, (x, y), r, 255, -1)
    speck_ink = rng.uniform(0.1, 0.5, (height, width)).astype(np.float32)
    crushed = np.where(specks > 0, np.minimum(crushed, speck_ink), crushed)
    streak_x = int(rng.integers(0, width))
    streak_w = max(1, round(rng.uniform(1, 3) * scale))
    streak_level = rng.uniform(0.75, 0.9)
    band = crushed[:, streak_x : streak_x + streak_w]
    crushed[:, streak_x : streak_x + streak_w] = np.minimum(band, streak_level)
    out = gaussian_blur((crushed * 255).astype(np.uint8), 0.5 * scale)
    params = {
        "threshold": round(threshold, 3),
        "steepness": round(steepness, 3),
        "speck_density": round(density, 5),
        "streak_x": streak_x,
    }
    return out, params


def jpeg(array: np.ndarray, dpi: float, quality: int) -> Image.Image:
    """The array through a JPEG file at ``quality`` (4:2:0 chroma for colour).

    The decoded image is returned; the file's bytes are kept in ``info["jpeg_bytes"]``.
    """
    buffer = io.BytesIO()
    source = to_image(array, dpi)
    options = {"quality": int(quality), "dpi": (round(dpi), round(dpi)), "optimize": False}
    if source.mode == "RGB":
        options["subsampling"] = 2
    source.save(buffer, format="JPEG", **options)
    data = buffer.getvalue()
    decoded = Image.open(io.BytesIO(data))
    decoded.load()
    decoded.info["jpeg_bytes"] = data
    decoded.info["dpi"] = (dpi, dpi)
    return decoded


# --- variants -------------------------------------------------------------------------

Recipe = Callable[[np.ndarray, float, np.random.Generator], tuple[object, float, dict]]


SCAN_DPI = 200.0  # scan-like variants are made at the page's resolution, at most this
LETTER_DPI = 80.0  # the forwarded letter: an A4 page is then about 661×935 px
HARSH_DPI = 70.0  # the harsh family: about 579×819 px


def _scan(dpi: float) -> float:
    return min(dpi, SCAN_DPI)


def _quality(rng: np.random.Generator) -> int:
    return int(rng.integers(35, 51))


def _plain(target: float) -> Recipe:
    def make(array: np.ndarray, dpi: float, rng: np.random.Generator):
        return resample(array, dpi, target), target, {}

    return make


def _jpeg(target: float) -> Recipe:
    def make(array: np.ndarray, dpi: float, rng: np.random.Generator):
        quality = _quality(rng)
        return jpeg(resample(array, dpi, target), target, quality), target, {"quality": quality}

    return make


def _blur(array: np.ndarray, dpi: float, rng: np.random.Generator):
    target = _scan(dpi)
    sigma_mm = float(rng.uniform(0.15, 0.25))
    sigma = sigma_mm * target / 25.4
    out = gaussian_blur(resample(array, dpi, target), sigma)
    return out, target, {"sigma_mm": round(sigma_mm, 3), "sigma_px": round(sigma, 2)}


def _box(array: np.ndarray, dpi: float, rng: np.random.Generator):
    target = _scan(dpi)
    size = 3 if target >= 150 else 2
    return box_blur(resample(array, dpi, target), size), target, {"size": size}


def _dark(array: np.ndarray, dpi: float, rng: np.random.Generator):
    target = _scan(dpi)
    out, params = darken(resample(array, dpi, target), rng)
    return out, target, params


def _noise(array: np.ndarray, dpi: float, rng: np.random.Generator):
    target = _scan(dpi)
    out, params = add_noise(resample(array, dpi, target), rng)
    return out, target, params


def _turn(sign: int) -> Recipe:
    def make(array: np.ndarray, dpi: float, rng: np.random.Generator):
        target = _scan(dpi)
        degrees = sign * float(rng.uniform(1, 4))
        out = turn(resample(array, dpi, target), degrees)
        return out, target, {"degrees": round(degrees, 2)}

    return make


def _photocopy(array: np.ndarray, dpi: float, rng: np.random.Generator):
    target = _scan(dpi)
    out, params = photocopy(resample(array, dpi, target), target, rng)
    return out, target, params


LETTER_QUALITY = (75, 85)  # a forwarded letter: what mail clients and phone apps write
HARSH_QUALITY = (35, 50)  # the same letter saved again and again


def _letter_plain(page: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    return page, {}


def _letter_blur(page: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    sigma = float(rng.uniform(0.4, 0.6))
    return gaussian_blur(page, sigma), {"sigma_px": round(sigma, 2)}


def _harsh_blur(page: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    sigma = float(rng.uniform(0.5, 0.8))
    return gaussian_blur(page, sigma), {"sigma_px": round(sigma, 2)}


def _letter_dark(page: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    return darken(page, rng)


def _letter_noise(page: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    return add_noise(page, rng, strength=0.5)


def _letter_turn(sign: int) -> Callable[[np.ndarray, np.random.Generator], tuple]:
    """Turned 1-4°; ``sign`` 0 draws the direction too."""

    def make(page: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        degrees = float(rng.uniform(1, 4))
        direction = sign or (1 if rng.random() < 0.5 else -1)
        return turn(page, direction * degrees), {"degrees": round(direction * degrees, 2)}

    return make


def _letter(
    damage: Callable[[np.ndarray, np.random.Generator], tuple],
    quality: tuple[int, int] = LETTER_QUALITY,
    target: float = LETTER_DPI,
) -> Recipe:
    """The page as a forwarded letter (``target`` dpi), damaged once, then saved as a JPEG."""

    def make(array: np.ndarray, dpi: float, rng: np.random.Generator):
        page, params = damage(resample(array, dpi, target), rng)
        q = int(rng.integers(quality[0], quality[1] + 1))
        return jpeg(page, target, q), target, {**params, "quality": q}

    return make


def _worn(max_sigma: float, quality: tuple[int, int], target: float = LETTER_DPI) -> Recipe:
    """The forwarded letter with a little of everything: blur, grey, grain, a turn, JPEG."""

    def make(array: np.ndarray, dpi: float, rng: np.random.Generator):
        page = resample(array, dpi, target)
        sigma = float(rng.uniform(0.3, max_sigma))
        page = gaussian_blur(page, sigma)
        page, dark = darken(page, rng, strength=0.5)
        page, grain = add_noise(page, rng, strength=0.4)
        degrees = float(rng.uniform(1, 2.5)) * (1 if rng.random() < 0.5 else -1)
        page = turn(page, degrees)
        q = int(rng.integers(quality[0], quality[1] + 1))
        params = {
            "sigma_px": round(sigma, 2),
            "dark": dark,
            "noise": grain,
            "degrees": round(degrees, 2),
            "quality": q,
        }
        return jpeg(page, target, q), target, params

    return make


VARIANTS: dict[str, Recipe] = {
    "dpi100": _plain(100),
    "dpi70": _plain(70),
    "jpeg100": _jpeg(100),
    "jpeg70": _jpeg(70),
    "blur": _blur,
    "box": _box,
    "dark": _dark,
    "noise": _noise,
    "turn-ccw": _turn(1),
    "turn-cw": _turn(-1),
    "photocopy": _photocopy,
    "letter": _letter(_letter_plain),
    "letter-blur": _letter(_letter_blur),
    "letter-dark": _letter(_letter_dark),
    "letter-noise": _letter(_letter_noise),
    "letter-turn-ccw": _letter(_letter_turn(1)),
    "letter-turn-cw": _letter(_letter_turn(-1)),
    "letter-worn": _worn(0.4, LETTER_QUALITY),
    "harsh-blur": _letter(_harsh_blur, HARSH_QUALITY, HARSH_DPI),
    "harsh-turn": _letter(_letter_turn(0), HARSH_QUALITY, HARSH_DPI),
    "harsh-worn": _worn(0.5, HARSH_QUALITY, HARSH_DPI),
}


def variants(
    page_image: Image.Image, dpi: float, seed: int, names: list[str] | None = None
) -> list[tuple[str, Image.Image, float]]:
    """Degraded copies of one page: ``[(name, image, dpi), ...]`` in ``VARIANTS`` order.

    ``dpi`` is the page image's true resolution; ``seed`` makes the result reproducible
    (each variant has its own generator, seeded by ``seed`` and its name). ``names``
    picks a subset. Each image carries its parameters in ``info["degrade"]``; JPEG
    variants also carry their file's bytes in ``info["jpeg_bytes"]``.
    """
    array = to_array(page_image)
    out = []
    for name, recipe in VARIANTS.items():
        if names is not None and name not in names:
            continue
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        result, new_dpi, params = recipe(array, float(dpi), rng)
        image = result if isinstance(result, Image.Image) else to_image(result, new_dpi)
        image.info["degrade"] = params
        out.append((name, image, new_dpi))
    return out


# --- pages ----------------------------------------------------------------------------


def page_seed(seed: int, page_id: str) -> int:
    """The seed of one page: stable across runs, machines and the order pages come in."""
    return zlib.crc32(f"{seed}:{page_id}".encode())


def load_manifest(path: Path = HERE / "manifest.json") -> list[dict]:
    """The pages of the development set's manifest."""
    return json.loads(path.read_text(encoding="utf-8"))["pages"]


def render_pdf_page(path: Path, page: int, dpi: int, *, hide_annotations: bool) -> Image.Image:
    """One PDF page rendered by ``pdftoppm`` at ``dpi`` (annotations hidden when asked)."""
    with tempfile.TemporaryDirectory(prefix="realset-") as tmp:
        command = ["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-png"]
        if hide_annotations:
            command.append("-hide-annotations")
        subprocess.run([*command, str(path), f"{tmp}/page"], check=True, capture_output=True)
        (png,) = Path(tmp).glob("page*.png")
        with Image.open(png) as image:
            image.load()
            return image.copy()


def load_page(entry: dict, data_root: Path) -> tuple[Image.Image, float]:
    """The page image of a manifest entry and its resolution, from ``shared/data``."""
    source = data_root / entry["source"]
    render = entry.get("render", {})
    if render.get("kind") == "pdf":
        dpi = int(render.get("dpi", entry["native_dpi"]))
        image = render_pdf_page(
            source, entry["page"], dpi, hide_annotations=bool(render.get("hide_annotations"))
        )
        return image, float(dpi)
    with Image.open(source) as stack:
        frame = int(render.get("frame", entry["page"] - 1))
        for index, image in enumerate(ImageSequence.Iterator(stack)):
            if index == frame:
                image.load()
                return image.copy(), float(entry["native_dpi"])
    raise ValueError(f"{source} has no frame {frame}")


def pages(
    data_root: Path, ids: list[str] | None = None, manifest: Path = HERE / "manifest.json"
) -> Iterator[tuple[dict, Image.Image, float]]:
    """(manifest entry, page image, dpi) for every page, or for the pages in ``ids``."""
    for entry in load_manifest(manifest):
        if ids is None or entry["id"] in ids:
            image, dpi = load_page(entry, data_root)
            yield entry, image, dpi


def save(image: Image.Image, dpi: float, stem: Path) -> Path:
    """Write ``image`` losslessly as PNG, or as its JPEG bytes for a JPEG variant."""
    data = image.info.get("jpeg_bytes")
    if data is not None:
        path = stem.with_name(stem.name + ".jpg")
        path.write_bytes(data)
        return path
    path = stem.with_name(stem.name + ".png")
    image.save(path, format="PNG", dpi=(round(dpi), round(dpi)))
    return path


def write_set(
    out: Path,
    data_root: Path,
    seed: int,
    *,
    ids: list[str] | None = None,
    names: list[str] | None = None,
    originals: bool = True,
) -> list[dict]:
    """Write originals and variants of the chosen pages to ``out`` with a manifest; return it."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for entry, image, dpi in pages(data_root, ids):
        common = {
            "id": entry["id"],
            "category": entry["category"],
            "source": entry["source"],
            "page": entry["page"],
            "truth": str(HERE / "truth" / f"{entry['id']}.txt"),
        }
        if originals:
            page = to_image(to_array(image), dpi)
            path = save(page, dpi, out / entry["id"])
            rows.append(
                {
                    **common,
                    "variant": "orig",
                    "file": path.name,
                    "dpi": dpi,
                    "size": list(page.size),
                    "params": {},
                }
            )
        for name, variant, new_dpi in variants(image, dpi, page_seed(seed, entry["id"]), names):
            path = save(variant, new_dpi, out / f"{entry['id']}.{name}")
            rows.append(
                {
                    **common,
                    "variant": name,
                    "file": path.name,
                    "dpi": round(new_dpi, 2),
                    "size": list(variant.size),
                    "params": variant.info["degrade"],
                }
            )
        print(f"{entry['id']}: {sum(r['id'] == entry['id'] for r in rows)} images", file=sys.stderr)
    manifest = {"seed": seed, "data": str(data_root), "images": rows}
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command line: write the degraded set (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="folder to write the images to")
    parser.add_argument(
        "--data", type=Path, default=None, help="shared/data (default: found above)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--pages", help="comma-separated page ids (default: all)")
    parser.add_argument("--variants", help=f"comma-separated, from: {', '.join(VARIANTS)}")
    parser.add_argument("--no-orig", action="store_true", help="do not write the originals")
    parser.add_argument("--list", action="store_true", help="list pages and variants, then stop")
    args = parser.parse_args(argv)
    if args.list:
        for entry in load_manifest():
            print(f"{entry['id']:18} {entry['category']:10} {entry['source']} p{entry['page']}")
        print("variants:", " ".join(VARIANTS))
        return 0
    if args.out is None:
        parser.error("--out is required")
    names = args.variants.split(",") if args.variants else None
    unknown = sorted(set(names or []) - VARIANTS.keys())
    if unknown:
        parser.error(f"unknown variants: {', '.join(unknown)}")
    ids = args.pages.split(",") if args.pages else None
    data = args.data or default_data()
    rows = write_set(args.out, data, args.seed, ids=ids, names=names, originals=not args.no_orig)
    print(f"{len(rows)} images in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
