"""Small real input files for end-to-end tests: generated Vietnamese pages, quick to OCR."""

from __future__ import annotations

from pathlib import Path

import img2pdf

from samples import generate


def small_page(seed: int, path: Path, *, kind: str = "application", dpi: int = 200) -> Path:
    """The top quarter of a generated page: real Vietnamese text, no dossier code."""
    page = generate.render_page(kind, seed=seed, dpi=dpi)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.image.crop((0, 0, page.image.width, page.image.height // 4)).save(path, dpi=(dpi, dpi))
    return path


def small_pdf(seeds: list[int], path: Path, *, dpi: int = 200) -> Path:
    """A PDF of one small page per seed (JPEG pages, as a scanner writes them): one
    document, an application's first page then later pages (no header, no motto), so
    ``split.by_content`` keeps it whole as it keeps a real multi-page document."""
    jpgs = []
    for n, seed in enumerate(seeds):
        kind = "application" if n == 0 else "continuation"
        png = small_page(seed, path.parent / f".{path.stem}-{seed}.png", kind=kind, dpi=dpi)
        jpg = png.with_suffix(".jpg")
        from PIL import Image

        with Image.open(png) as img:
            img.convert("RGB").save(jpg, quality=90, dpi=(dpi, dpi))
        png.unlink()
        jpgs.append(jpg)
    path.write_bytes(img2pdf.convert([str(j) for j in jpgs]))
    for jpg in jpgs:
        jpg.unlink()
    return path
