"""Synthetic Vietnamese administrative pages with ground truth, deterministic by seed.

Why: the pipeline (cleanup, OCR, dossier-code detection) needs pages whose true text,
skew angle and dossier code are known exactly, in the look of real documents laid out
per Decree 30/2020/NĐ-CP. Body sentences come from the public-domain legal corpus in
``shared/data/vi-corpus`` so the OCR sees real administrative vocabulary. The parts:
:mod:`samples.canvas`, :mod:`samples.layouts`, :mod:`samples.damage`, :mod:`samples.writers`.

CLI: ``python -m samples.generate --samples samples/inbox`` rebuilds the committed demo
inbox (and ``samples/truth``); ``python -m samples.generate --kinds receipt,decision
--seed 3 --profile skew+noise --out /tmp/x.pdf`` writes one synthetic dossier.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from samples.canvas import _seed_int
from samples.damage import PROFILES, degrade, parse_profile
from samples.layouts import DOSSIER_CODE_RE, KINDS, GeneratedPage, render_page
from samples.writers import truth_text, write_pages, write_pdf, write_png, write_tiff

# The generator's public face: tests and benchmarks import these from here.
__all__ = [
    "KINDS",
    "PROFILES",
    "GeneratedPage",
    "build_samples",
    "degrade",
    "make_dossier",
    "parse_profile",
    "render_page",
    "truth_text",
    "write_pages",
    "write_pdf",
    "write_png",
    "write_tiff",
]


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
