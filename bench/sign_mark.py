"""Where the conversion mark lands on real pages, and proof that it covers no ink.

Every real scanned page under ``shared/data/odd-inputs`` (the Đà Nẵng office scans, one
with a "SAO Y" certification block at the top right; the VietOCR samples; the UDHR; the
Tesseract test scans) is made page 1 of an archived PDF/A the way the pipeline makes one
(page image + text layer, ``write_page_pdf`` and ``assemble_pdfa``), signed with the test
PKI's agency key, and both files are rendered with poppler: no pixel the mark changed
may lie on an ink pixel of the original page. Prints one row per page (free space found,
or room added above the page) and the totals.

    /work/main/.venv/bin/python -m bench.sign_mark [--data ../shared/data] [--dpi 150] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from tests.support.marks import archived_page, overlap

SOURCES = {
    # folder under odd-inputs: what to take (all pages of each file)
    "vn-real-scans-vietadmin": ("*.pdf",),
    "vietocr3-samples": ("*.tif",),
    "vn-udhr-ohchr-pdf": ("*.pdf",),
    "tesseract-test-images": ("*.tif", "*.png"),
}
RENDER_DPI = 144


def data_dir() -> Path:
    shared = os.environ.get("SOHOA_SHARED_DATA")
    if shared:
        return Path(shared)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    return Path("../shared/data")


def real_pages(data: Path) -> Iterator[tuple[str, Image.Image, int]]:
    """(name, page image, dpi) for every real page, in file order."""
    for folder, patterns in SOURCES.items():
        for pattern in patterns:
            for path in sorted((data / "odd-inputs" / folder).glob(pattern)):
                if path.suffix == ".pdf":
                    yield from _pdf_pages(path)
                else:
                    yield from _image_pages(path)


def _pdf_pages(path: Path) -> Iterator[tuple[str, Image.Image, int]]:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    for n in range(1, pages + 1):
        with tempfile.TemporaryDirectory() as tmp:
            stem = Path(tmp) / "p"
            subprocess.run(
                ["pdftoppm", "-r", "200", "-f", str(n), "-l", str(n), "-singlefile", path, stem],
                check=True,
                capture_output=True,
            )
            with Image.open(f"{stem}.ppm") as im:
                yield f"{path.stem}-p{n}", im.convert("RGB"), 200


def _image_pages(path: Path) -> Iterator[tuple[str, Image.Image, int]]:
    with Image.open(path) as im:
        for n in range(getattr(im, "n_frames", 1)):
            im.seek(n)
            dpi = round(float((im.info.get("dpi") or (300, 300))[0])) or 300
            yield f"{path.stem}-p{n + 1}", im.convert("RGB"), max(dpi, 72)


def main(argv: list[str] | None = None) -> int:
    from pipeline.config import SignConfig
    from pipeline.sign import open_signer, sign_pdf
    from tests.support.pki import PASSPHRASE, running_pki

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--dpi", type=int, default=RENDER_DPI, help="resolution of the check")
    ap.add_argument("--keep", type=Path, default=None, help="keep the signed pages here")
    args = ap.parse_args(argv)
    data = args.data or data_dir()
    work = Path(tempfile.mkdtemp(prefix="sohoa-mark-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    counts = {"free-space": 0, "room-added": 0}
    bad = 0
    with running_pki(work / "pki") as pki:
        cfg = SignConfig(pkcs12=pki.write_pkcs12("agency"), trust=pki.write_trust())
        with open_signer(cfg, {"SOHOA_SIGN_PASSPHRASE": PASSPHRASE}) as signer:
            print(f"{'page':28} {'placement':11} {'box (pt)':28} {'mark px':>8} {'on ink':>7}")
            for name, image, dpi in real_pages(data):
                original = archived_page(image, dpi, work / f"{name}.pdf")
                signed = work / f"{name}.signed.pdf"
                record = sign_pdf(signer, original, signed)
                mark = record.mark or {}
                counts[mark["placement"]] += 1
                pixels, on_ink = overlap(signed, args.dpi)
                bad += on_ink > 0
                box = ", ".join(f"{v:.0f}" for v in mark["box"])
                print(f"{name:28} {mark['placement']:11} {box:28} {pixels:8d} {on_ink:7d}")
    total = sum(counts.values())
    print(
        f"\n{total} pages: free space found on {counts['free-space']}, room added on "
        f"{counts['room-added']}; pages where the mark touches ink: {bad}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
