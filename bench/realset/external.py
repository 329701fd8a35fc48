"""Copies of the real pages damaged by tools this project did not write: ImageMagick,
GraphicsMagick and Pillow's own filters, with settings chosen apart from degrade.py's.

    /work/main/.venv/bin/python bench/realset/external.py --images DIR

Reads the originals that degrade.py wrote into ``DIR`` (``<id>.png``) and adds, for
each, the variants below as ``<id>.<variant>.jpg`` (or ``.png``), appending them to
``DIR/manifest.json``. Every copy is brought to a forwarded letter's resolution by the
tool's own resampling filter, as a mail client, a phone app or an office's copier
software does, then damaged and written as JPEG by that tool. No random draw: the
settings are fixed per variant, so the files are the same on every run with the same
tool versions (recorded in the manifest's ``tools``).

- ``im-blur``: ImageMagick, Lanczos to 85 dpi, Gaussian blur 0x0.7, JPEG q70;
- ``im-dark``: ImageMagick, Catrom to 90 dpi, ``-level 0%,100%,0.45`` then
  ``+level 18%,80%`` (grey paper, dark ink, gamma), JPEG q75;
- ``im-rotate``: ImageMagick, Mitchell to 85 dpi, turned 2.2° on white, JPEG q75;
- ``im-jpeg``: ImageMagick, Triangle to 75 dpi, JPEG q30;
- ``gm-blur``: GraphicsMagick, Box filter to 80 dpi, blur 0x0.6, JPEG q60;
- ``gm-rotate``: GraphicsMagick, Sinc to 95 dpi, turned -1.7°, JPEG q80;
- ``pil-bicubic``: Pillow, BICUBIC with ``reducing_gap`` to 80 dpi, UnsharpMask then
  GaussianBlur(0.8), JPEG q65 (4:2:0);
- ``pil-dark``: Pillow, HAMMING to 90 dpi, ``ImageEnhance.Brightness(0.7)`` and
  ``Contrast(0.6)``, JPEG q70.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter

VARIANTS: dict[str, tuple[str, float, list[str]]] = {
    # name: (tool, target dpi, the tool's options after the resize, before the output)
    "im-blur": (
        "magick",
        85,
        ["-filter", "Lanczos", "@resize", "-blur", "0x0.7", "-quality", "70"],
    ),
    "im-dark": (
        "magick",
        90,
        [
            "-filter",
            "Catrom",
            "@resize",
            "-level",
            "0%,100%,0.45",
            "+level",
            "18%,80%",
            "-quality",
            "75",
        ],
    ),
    "im-rotate": (
        "magick",
        85,
        [
            "-filter",
            "Mitchell",
            "@resize",
            "-background",
            "white",
            "-rotate",
            "2.2",
            "-quality",
            "75",
        ],
    ),
    "im-jpeg": ("magick", 75, ["-filter", "Triangle", "@resize", "-quality", "30"]),
    "gm-blur": ("gm", 80, ["-filter", "Box", "@resize", "-blur", "0x0.6", "-quality", "60"]),
    "gm-rotate": (
        "gm",
        95,
        ["-filter", "Sinc", "@resize", "-background", "white", "-rotate", "-1.7", "-quality", "80"],
    ),
    "pil-bicubic": ("pillow", 80, []),
    "pil-dark": ("pillow", 90, []),
}


def imagemagick() -> str:
    """ImageMagick's ``convert`` (Debian: apt-get install imagemagick), by its versioned name
    first: another ``convert`` earlier on the PATH may be a stand-in."""
    for name in ("convert-im6.q16", "magick", "/usr/bin/convert", "convert"):
        if found := shutil.which(name):
            return found
    raise FileNotFoundError("ImageMagick not installed (apt-get install imagemagick)")


def tool_versions() -> dict[str, str]:
    out = {}
    for name, cmd in (("magick", [imagemagick(), "-version"]), ("gm", ["gm", "version"])):
        if shutil.which(cmd[0]):
            out[name] = subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
    out["pillow"] = Image.__version__
    return out


def _pillow(name: str, source: Path, dpi: float, target: float, dest: Path) -> None:
    with Image.open(source) as image:
        image = image.convert("L" if image.mode in ("1", "L", "P") else "RGB")
        size = (round(image.width * target / dpi), round(image.height * target / dpi))
        if name == "pil-bicubic":
            small = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
            small = small.filter(ImageFilter.UnsharpMask(radius=1, percent=80, threshold=2))
            small = small.filter(ImageFilter.GaussianBlur(0.8))
            quality = 65
        else:
            small = image.resize(size, Image.Resampling.HAMMING)
            small = ImageEnhance.Brightness(small).enhance(0.7)
            small = ImageEnhance.Contrast(small).enhance(0.6)
            quality = 70
        buf = io.BytesIO()
        small.save(buf, "JPEG", quality=quality, dpi=(round(target), round(target)))
        dest.write_bytes(buf.getvalue())


def make(name: str, source: Path, dpi: float, dest: Path) -> None:
    """Write variant ``name`` of the page image ``source`` (``dpi``) to ``dest``."""
    tool, target, options = VARIANTS[name]
    if tool == "pillow":
        _pillow(name, source, dpi, target, dest)
        return
    percent = f"{100.0 * target / dpi:.4f}%"
    args = [a if a != "@resize" else "-resize" for a in options]
    at = args.index("-resize") + 1
    args.insert(at, percent)
    density = ["-density", str(round(target)), "-units", "PixelsPerInch"]
    # Grey or colour as scanned; a 1-bit page becomes grey when it is resampled.
    cmd = [imagemagick()] if tool == "magick" else ["gm", "convert"]
    subprocess.run([*cmd, str(source), *args, *density, str(dest)], check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True, help="degrade.py's output folder")
    parser.add_argument("--variants", help=f"comma-separated, from: {', '.join(VARIANTS)}")
    args = parser.parse_args(argv)
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    path = args.images / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    rows = [r for r in manifest["images"] if r["variant"] not in names]
    for row in [r for r in rows if r["variant"] == "orig"]:
        for name in names:
            dest = args.images / f"{row['id']}.{name}.jpg"
            make(name, args.images / row["file"], float(row["dpi"]), dest)
            with Image.open(dest) as done:
                size = list(done.size)
            tool, target, _ = VARIANTS[name]
            rows.append(
                {
                    **{k: row[k] for k in ("id", "category", "source", "page", "truth")},
                    "variant": name,
                    "file": dest.name,
                    "dpi": float(target),
                    "size": size,
                    "params": {"tool": tool},
                }
            )
        print(f"{row['id']}: {len(names)} external copies", file=sys.stderr)
    manifest["images"] = rows
    manifest["tools"] = tool_versions()
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
