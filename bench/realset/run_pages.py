"""sohoa's page function on the development set's images, without MinIO: for tuning.

    .venv/bin/python bench/realset/run_pages.py --images DIR --out DIR [--jobs 2]
        [--pages ID,ID] [--variants NAME,NAME] [--set section.key=value ...] [--pdf]

Each image of ``DIR/manifest.json`` (degrade.py) goes through
:func:`pipeline.flow.page.process_page` as the document run calls it, in ``--jobs``
worker processes with ``OMP_THREAD_LIMIT=1``; the page text (``PageResult.text``, what
goes into the archive's ``.txt`` and the index) is written to ``OUT/<image stem>.txt``,
and with ``--pdf`` the text layer of the one-page PDF as ``pdftotext`` reads it instead.
``OUT/cpu.json`` records the CPU seconds of each page (the worker's own time plus that
of its Tesseract children), which do not depend on how busy the machine is. Score with
``score.py OUT``. ``bench/accuracy.py --real`` is the end-to-end run (``sohoa process``,
the archived PDF/A); this one is for trying settings quickly.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import load_config  # noqa: E402
from pipeline.flow.page import process_page  # noqa: E402
from pipeline.model import PageJob, PageOptions, SourceRef  # noqa: E402
from pipeline.read import pages  # noqa: E402


def options(settings: list[str]) -> PageOptions:
    """The default page options with ``section.key=value`` overrides (YAML-typed values)."""
    import yaml

    overrides: dict[str, dict[str, object]] = {}
    for item in settings:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        overrides.setdefault(section, {})[name] = yaml.safe_load(value)
    home = tempfile.mkdtemp(prefix="realset-home-")
    return PageOptions.from_config(load_config(env={"SOHOA_HOME": home}, overrides=overrides))


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (Tesseract), user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_one(
    image: Path, out: Path, opts: PageOptions, pdf_text: bool, words: bool = False
) -> tuple[str, float, float]:
    """One image through the page function: (stem, CPU seconds, wall seconds)."""
    media = pages.sniff(image)
    job = PageJob(
        document_id="realset",
        source=SourceRef(raw_key=image.name, sha256="0" * 64, size=0, media_type=media),
        index=0,
        options=opts,
        work_key="realset",
    )
    cpu, wall = cpu_seconds(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="realset-page-") as tmp:
        pdf = Path(tmp) / "page.pdf"
        result = process_page(job, image, pdf)
        spent = cpu_seconds() - cpu
        text = result.text
        if pdf_text:
            text = subprocess.run(
                ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True
            ).stdout.decode("utf-8")
    stem = image.name.rsplit(".", 1)[0]
    (out / f"{stem}.txt").write_text(text, encoding="utf-8")
    if (
        words
    ):  # the page's words with boxes and confidence (before correction with ocr.correct=false)
        (out / f"{stem}.words.json").write_text(
            json.dumps(result.word_boxes, ensure_ascii=False), encoding="utf-8"
        )
    return image.name, spent, time.perf_counter() - wall


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--pages")
    parser.add_argument("--variants")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--pdf", action="store_true", help="score the PDF's text layer")
    parser.add_argument("--tune", action="store_true", help="leave out the held-out pages")
    parser.add_argument("--words", action="store_true", help="also write <stem>.words.json")
    args = parser.parse_args(argv)
    rows = json.loads((args.images / "manifest.json").read_text(encoding="utf-8"))["images"]
    if args.pages:
        rows = [r for r in rows if r["id"] in args.pages.split(",")]
    if args.tune:
        manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
        rows = [r for r in rows if r["id"] not in set(manifest.get("holdout", ()))]
    if args.variants:
        rows = [r for r in rows if r["variant"] in args.variants.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in args.out.glob("*.txt"):
        stale.unlink()
    opts = options(args.set)
    os.environ["OMP_THREAD_LIMIT"] = "1"
    cpu: dict[str, float] = {}
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(run_one, args.images / r["file"], args.out, opts, args.pdf, args.words)
            for r in rows
        ]
        for done, future in enumerate(futures, 1):
            name, spent, _ = future.result()
            cpu[name] = round(spent, 3)
            if done % 20 == 0 or done == len(futures):
                print(f"{done}/{len(futures)} pages", file=sys.stderr)
    (args.out / "cpu.json").write_text(json.dumps(cpu, indent=1), encoding="utf-8")
    total = sum(cpu.values())
    print(
        f"{len(cpu)} pages, {total / max(len(cpu), 1):.2f} CPU s/page, "
        f"{time.perf_counter() - started:.0f} s wall",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
