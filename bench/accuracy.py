"""OCR accuracy per damage profile: sohoa vs bare Tesseract vs OCRmyPDF on the same pages.

    .venv/bin/python -m bench.accuracy [--pages-per-profile 2] [--dpi 300]
        [--model debian|best_int|legacy] [--systems sohoa,tesseract,ocrmypdf] [--real] [--quick]

Generates degraded Vietnamese pages with ground truth (samples.generate), one file of
N pages per profile, and in the same run reads every profile with:
- sohoa: ``sohoa process`` on a lossless multi-page TIFF (the pages keep their DPI),
  against a real MinIO; the archived PDF/A is fetched and its text layer read by
  ``pdftotext``, so what is scored is what records staff search;
- bare ``tesseract -l vie`` on each page PNG, two at a time with OMP_THREAD_LIMIT=1;
- ``ocrmypdf --deskew --clean --rotate-pages -l vie`` on a lossless PDF of the pages,
  then ``pdftotext``.
Each system gets the same file per profile and all cores, so pages/min include each
tool's start-up per file, as when a scanner drops a file. sohoa then also reads all
the files in one ``sohoa process`` call (``--no-batch`` skips it): how the watcher
service meets a full inbox, with its start-up paid once.

Scores (bench.cer): CER with the order of whole lines forgiven (two-column blocks come
out in different orders from different tools; the strict reading-order CER is printed
too), word recall exact and folded (case and diacritics ignored, đ → d).

``--model`` picks the Vietnamese model for all three systems: Debian's ``vie`` (the fast
LSTM) or one from scripts/get-models.sh. ``--real`` reads the real development set
instead of generated pages (bench/realset/compare.py: hand-transcribed real scans and
their degraded copies, exact and folded word recall and CER per category, the three
systems in one run, Debian's model).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import img2pdf

from bench.cer import cer, cer_aligned, word_recall
from bench.common import machine, table
from pipeline.lang.textnorm import nfc
from samples import generate
from tests.support.minio import new_server

REPO = Path(__file__).resolve().parents[1]
PROFILES = (
    "clean",
    "skew",
    "noise",
    "shadow",
    "seal",
    "blur_jpeg",
    "rotate180",
    "rotate90",
    "dpi150",
    "bleed",
    "faded",
    "photocopy",
    "phone",
    "skew+noise+seal",
    "shadow+photocopy",
    "rotate270+skew+seal",
)
QUICK_PROFILES = ("clean", "skew+noise+seal", "rotate180", "phone")
SYSTEMS = ("sohoa", "tesseract", "ocrmypdf")
CODE = "000.00.13.H38-261127-0009"
DEBIAN_TESSDATA = Path("/usr/share/tesseract-ocr/5/tessdata")
MODELS = {
    "debian": None,
    "best_int": REPO / ".cache" / "tessdata" / "best_int",
    "legacy": REPO / ".cache" / "tessdata" / "legacy",
}


@dataclass
class ProfileSet:
    """The pages of one profile and the files each system reads them from."""

    profile: str
    truths: list[str]
    pngs: list[Path]
    tiff: Path
    pdf: Path


@dataclass
class Reading:
    """What one system read from one profile's file: text per page and the wall time."""

    texts: list[str]
    seconds: float
    confidences: list[float | None] = field(default_factory=list)


# ---------------------------------------------------------------- pages


def make_sets(profiles: list[str], per_profile: int, dpi: int, work: Path) -> list[ProfileSet]:
    """Render ``per_profile`` pages per profile, kinds in turn, decisions with their seal."""
    sets = []
    for p_index, profile in enumerate(profiles):
        folder = work / f"{p_index:02d}-{profile.replace('+', '_')}"
        folder.mkdir(parents=True)
        pages = []
        for i in range(per_profile):
            seed = 7000 + 100 * p_index + i
            kind = generate.KINDS[(p_index + i) % len(generate.KINDS)]
            page = generate.render_page(
                kind, seed=seed, dpi=dpi, dossier_code=CODE, seal=kind == "decision"
            )
            pages.append(generate.degrade(page, profile, seed=seed))
        pngs = [generate.write_png(p, folder / f"page-{i}.png") for i, p in enumerate(pages)]
        for i, p in enumerate(pages):  # kept with --keep, for reading the errors
            (folder / f"page-{i}.truth.txt").write_text(p.text, encoding="utf-8")
        tiff = generate.write_tiff(pages, folder / "pages.tif", lossless=True)
        pdf = folder / "pages.pdf"
        pdf.write_bytes(img2pdf.convert([str(p) for p in pngs]))
        sets.append(ProfileSet(profile, [p.text for p in pages], pngs, tiff, pdf))
    return sets


def pdf_pages_text(pdf: Path) -> list[str]:
    """Text of each page as ``pdftotext`` reads it (its default reading order), NFC."""
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True
    ).stdout.decode("utf-8")
    pages = out.split("\f")
    if pages and not pages[-1].strip():
        pages.pop()
    return [nfc(p) for p in pages]


# ---------------------------------------------------------------- the three systems


class Sohoa:
    """``sohoa process`` against one MinIO and one home for the whole run."""

    def __init__(self, work: Path, model_dir: Path | None) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.work = work
        self.model_dir = model_dir
        self.server = new_server(work / "minio")
        self.server.start()
        self.env = {**os.environ, **self.server.env(), "SOHOA_HOME": str(work / "home")}
        self.env.pop("SOHOA_CONFIG", None)
        if model_dir:
            config = work / "sohoa-model.yaml"
            config.write_text(f"ocr:\n  tessdata_dir: {json.dumps(str(model_dir))}\n")
            self.env["SOHOA_CONFIG"] = str(config)
        from minio import Minio

        self.client = Minio(
            self.server.endpoint,
            access_key=self.server.access_key,
            secret_key=self.server.secret_key,
            secure=False,
        )
        self.bucket = os.environ.get("SOHOA_BUCKET_ARCHIVE", "archive")

    def close(self) -> None:
        self.server.stop()

    def process(self, path: Path, code: str = CODE) -> tuple[list[dict], float]:
        """``sohoa process PATH --dossier CODE`` on a file or a folder of files: the archived
        documents' rows and the wall time.

        A file may become several documents: a stack is cut at a receipt or cover sheet
        (pipeline.dossier.split), so a 2-page file of a letter and a receipt is two."""
        cmd = [sys.executable, "-m", "workers.cli", "--json", "process", str(path)]
        started = time.perf_counter()
        run = subprocess.run(
            [*cmd, "--dossier", code], env=self.env, capture_output=True, text=True, cwd=REPO
        )
        seconds = time.perf_counter() - started
        rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        docs = [r for r in rows if r.get("pdf_key")]
        if run.returncode != 0 or not docs:
            raise RuntimeError(f"sohoa failed on {path}: {run.stderr[-800:]}\n{run.stdout[-800:]}")
        return docs, seconds

    def fetch(self, key: str, dest: Path) -> Path:
        response = self.client.get_object(self.bucket, key)
        try:
            dest.write_bytes(response.read())
        finally:
            response.close()
            response.release_conn()
        return dest

    def pages_of(self, rows: list[dict], scratch: Path) -> dict[str, list[tuple[str, float]]]:
        """Per source file name, its pages' text and mean confidence in the file's page order,
        across every document the file became."""
        found: dict[str, list[tuple[int, str, float]]] = {}
        for row in rows:
            meta = json.loads(self.fetch(row["metadata_key"], scratch / "doc.json").read_text())
            texts = pdf_pages_text(self.fetch(row["pdf_key"], scratch / "doc.pdf"))
            confs = list(meta.get("ocr", {}).get("mean_confidence") or [])
            first = (meta.get("split") or {}).get("source_pages", [1])[0]
            name = meta["source"]["file_name"]
            for i, text in enumerate(texts):
                conf = confs[i] if i < len(confs) else None
                found.setdefault(name, []).append((first + i, text, conf))
        return {name: [(t, c) for _, t, c in sorted(pages)] for name, pages in found.items()}

    def read(self, ps: ProfileSet) -> Reading:
        rows, seconds = self.process(ps.tiff)
        pages = self.pages_of(rows, ps.tiff.parent).get(ps.tiff.name, [])
        return Reading([t for t, _ in pages], seconds, [c for _, c in pages])


def read_batch(sets: list[ProfileSet], work: Path, model_dir: Path | None) -> Score:
    """All profiles' files dropped at once, as a scanner fills an inbox: one ``sohoa process``.

    The per-file runs above pay sohoa's start-up (interpreter, worker pool, language
    model) for every 2-page file; the watcher service pays it once. Pages of all
    files share the pool here, so no core waits for the slowest page of a file.
    """
    sohoa = Sohoa(work / "sohoa-batch", model_dir)
    try:
        inbox = work / "batch-inbox"
        inbox.mkdir()
        by_name = {}
        for n, ps in enumerate(sets):
            name = f"{n:02d}-{ps.profile.replace('+', '_')}.tif"
            shutil.copyfile(ps.tiff, inbox / name)
            by_name[name] = ps
        rows, seconds = sohoa.process(inbox)
        pages = sohoa.pages_of(rows, work)
        texts = {name: [t for t, _ in found] for name, found in pages.items()}
    finally:
        sohoa.close()
    truths = [t for name in by_name for t in by_name[name].truths]
    pages = [t for name in by_name for t in (texts.get(name) or [""] * len(by_name[name].truths))]
    return score(truths, Reading(pages, seconds))


def tesseract_cmd(model_dir: Path | None) -> list[str]:
    return ["tesseract", "--tessdata-dir", str(model_dir or DEBIAN_TESSDATA)]


def read_tesseract(ps: ProfileSet, model_dir: Path | None, jobs: int) -> Reading:
    """Bare Tesseract, its best case here: one single-threaded process per core."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(png: Path) -> str:
        out = subprocess.run(
            [*tesseract_cmd(model_dir), str(png), "stdout", "-l", "vie"],
            env=env,
            capture_output=True,
            check=True,
        )
        return nfc(out.stdout.decode("utf-8"))

    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        texts = list(pool.map(one, ps.pngs))
    return Reading(texts, time.perf_counter() - started)


def ocrmypdf_exe() -> str | None:
    exe = shutil.which("ocrmypdf") or str(Path(sys.executable).parent / "ocrmypdf")
    return exe if Path(exe).exists() else None


def read_ocrmypdf(ps: ProfileSet, model_dir: Path | None, jobs: int) -> Reading:
    exe = ocrmypdf_exe()
    if exe is None:
        raise RuntimeError("ocrmypdf not installed (pip install -r bench/requirements.txt)")
    env = dict(os.environ)
    if model_dir:
        env["TESSDATA_PREFIX"] = str(model_dir)
    out = ps.pdf.with_name("ocrmypdf.pdf")
    cmd = [exe, "--deskew", "--clean", "--rotate-pages", "-l", "vie", "--jobs", str(jobs)]
    started = time.perf_counter()
    run = subprocess.run([*cmd, str(ps.pdf), str(out)], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"ocrmypdf failed ({run.returncode}) on {ps.pdf}: {run.stderr[-800:]}")
    return Reading(pdf_pages_text(out), seconds)


# ---------------------------------------------------------------- scoring and report


@dataclass
class Score:
    cer: float
    cer_strict: float
    recall: float
    recall_folded: float
    pages: int
    seconds: float

    @property
    def pages_per_min(self) -> float:
        return self.pages / self.seconds * 60 if self.seconds else 0.0


def score(truths: list[str], reading: Reading) -> Score:
    """Mean page scores; a page the system lost entirely scores as empty text."""
    texts = reading.texts + [""] * (len(truths) - len(reading.texts))
    pairs = list(zip(truths, texts, strict=False))
    return Score(
        statistics.fmean(cer_aligned(t, h) for t, h in pairs),
        statistics.fmean(cer(t, h) for t, h in pairs),
        statistics.fmean(word_recall(t, h) for t, h in pairs),
        statistics.fmean(word_recall(t, h, folded=True) for t, h in pairs),
        len(truths),
        reading.seconds,
    )


def combine(scores: list[Score]) -> Score:
    """Page-weighted means over profiles; pages/min over the summed wall time."""
    pages = sum(s.pages for s in scores)

    def mean(attr: str) -> float:
        return sum(getattr(s, attr) * s.pages for s in scores) / pages

    return Score(
        mean("cer"),
        mean("cer_strict"),
        mean("recall"),
        mean("recall_folded"),
        pages,
        sum(s.seconds for s in scores),
    )


def row(profile: str, system: str, s: Score) -> list[object]:
    return [
        profile,
        system,
        f"{s.cer:.4f}",
        f"{s.cer_strict:.4f}",
        f"{s.recall:.4f}",
        f"{s.recall_folded:.4f}",
        f"{s.pages_per_min:.1f}",
    ]


HEADERS = ["profile", "system", "CER", "CER strict", "recall", "recall folded", "pages/min"]


def worse_than_others(results: dict[str, dict[str, Score]], margin: float = 0.002) -> list[str]:
    """Profiles where sohoa's CER is worse than a rival's (same model) by more than ``margin``.

    Labels are ``system`` or ``system/model``; sohoa is compared with the rivals that
    used its model.
    """
    notes = []
    for profile, by_label in results.items():
        for label, mine in by_label.items():
            system, _, model = label.partition("/")
            if system != "sohoa":
                continue
            for rival, theirs in by_label.items():
                other, _, other_model = rival.partition("/")
                if other != "sohoa" and other_model == model and mine.cer > theirs.cer + margin:
                    notes.append(
                        f"{profile}: {label} CER {mine.cer:.4f} > {rival} {theirs.cer:.4f} "
                        f"(folded recall {mine.recall_folded:.4f} vs {theirs.recall_folded:.4f})"
                    )
    return notes


# ---------------------------------------------------------------- main


def read(system: str, ps: ProfileSet, sohoa: Sohoa | None, model_dir: Path | None, jobs: int):
    """One system's reading of one profile's file."""
    if system == "sohoa":
        assert sohoa is not None
        return sohoa.read(ps)
    if system == "tesseract":
        return read_tesseract(ps, model_dir, jobs)
    return read_ocrmypdf(ps, model_dir, jobs)


def real_devset(systems: list[str], keep: Path | None) -> int:
    """``--real``: the three systems on the real development set (bench/realset/compare.py)."""
    sys.path.insert(0, str(REPO / "bench" / "realset"))
    import compare

    with tempfile.TemporaryDirectory(prefix="sohoa-real-") as tmp:
        work = keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"machine: {machine()}")
        print(compare.run(work, systems, os.cpu_count() or 1))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages-per-profile", type=int, default=2)
    ap.add_argument("--dpi", type=int, default=300)
    ap.add_argument(
        "--model", default="debian", help=f"comma list of {', '.join(MODELS)} (default debian)"
    )
    ap.add_argument(
        "--systems", default=",".join(SYSTEMS), help="comma list of " + ",".join(SYSTEMS)
    )
    ap.add_argument("--profiles", help="comma list overriding the default profiles")
    ap.add_argument(
        "--real", action="store_true", help="the real development set instead (bench/realset)"
    )
    ap.add_argument("--quick", action="store_true", help=f"1 page of {', '.join(QUICK_PROFILES)}")
    ap.add_argument("--keep", type=Path, help="keep the pages and outputs in this folder")
    ap.add_argument(
        "--no-batch", action="store_true", help="skip the all-files-in-one-call sohoa run"
    )
    args = ap.parse_args(argv)

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if not systems or set(systems) - set(SYSTEMS):
        ap.error(f"--systems: choose from {', '.join(SYSTEMS)}")
    models = [m.strip() for m in args.model.split(",") if m.strip()]
    if not models or set(models) - set(MODELS):
        ap.error(f"--model: choose from {', '.join(MODELS)}")
    for model in models:
        folder = MODELS[model]
        if folder and not (folder / "vie.traineddata").is_file():
            ap.error(f"--model {model}: run scripts/get-models.sh first")
    if args.real:
        return real_devset(systems, args.keep)
    profiles = list(QUICK_PROFILES if args.quick else PROFILES)
    if args.profiles:
        profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    per_profile = 1 if args.quick else args.pages_per_profile
    jobs = os.cpu_count() or 1

    def label(system: str, model: str) -> str:
        return system if len(models) == 1 else f"{system}/{model}"

    tmp = tempfile.TemporaryDirectory(prefix="sohoa-acc-")
    work = Path(tmp.name)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        work = args.keep
    load_before = os.getloadavg()
    started = time.perf_counter()
    sets = make_sets(profiles, per_profile, args.dpi, work / "pages")
    print(f"generated {per_profile * len(profiles)} pages", file=sys.stderr)
    results: dict[str, dict[str, Score]] = {}
    failures: list[str] = []
    runs: dict[str, Sohoa] = {}
    batch: dict[str, Score] = {}
    try:
        if "sohoa" in systems:
            for model in models:
                runs[model] = Sohoa(work / f"sohoa-{model}", MODELS[model])
        for ps in sets:
            results[ps.profile] = {}
            for system in systems:
                for model in models:
                    name = label(system, model)
                    try:
                        reading = read(system, ps, runs.get(model), MODELS[model], jobs)
                    except (RuntimeError, subprocess.CalledProcessError) as exc:
                        failures.append(f"{ps.profile} / {name}: {exc}")
                        reading = Reading([], float("nan"))
                    s = results[ps.profile][name] = score(ps.truths, reading)
                    print(f"{ps.profile:22} {name:20} CER {s.cer:.4f}", file=sys.stderr)
        if "sohoa" in systems and not args.no_batch:
            for model in models:
                batch[label("sohoa", model)] = read_batch(
                    sets, work / f"batch-{model}", MODELS[model]
                )
    finally:
        for sohoa in runs.values():
            sohoa.close()
        if not args.keep:
            tmp.cleanup()
    load_after = os.getloadavg()

    labels = [label(s, m) for s in systems for m in models]
    rows = []
    for profile, by_label in results.items():
        rows.extend(row(profile, name, s) for name, s in by_label.items())
    totals = {name: combine([results[p][name] for p in results]) for name in labels}
    print(f"machine: {machine()}")
    print(
        f"load average before/after: {' '.join(f'{x:.2f}' for x in load_before)} / "
        f"{' '.join(f'{x:.2f}' for x in load_after)}; run took "
        f"{time.perf_counter() - started:.0f} s"
    )
    described = ", ".join(f"{m} ({MODELS[m] or DEBIAN_TESSDATA})" for m in models)
    print(
        f"model: {described}; {per_profile} A4 page(s) per profile at {args.dpi} dpi, "
        f"{len(profiles)} profiles, one file per profile; {jobs} cores per system\n"
    )
    print(table(HEADERS, rows))
    print()
    print(table(HEADERS, [row("ALL", name, s) for name, s in totals.items()]))
    worst = {name: max(results[p][name].cer for p in results) for name in labels}
    print("\nworst profile CER: " + ", ".join(f"{k} {v:.4f}" for k, v in worst.items()))
    for model in models:
        mine, theirs = totals.get(label("sohoa", model)), totals.get(label("ocrmypdf", model))
        if mine and theirs and theirs.pages_per_min:
            ratio = mine.pages_per_min / theirs.pages_per_min
            print(f"{label('sohoa', model)} / {label('ocrmypdf', model)} pages/min: {ratio:.2f}x")
    for name, s in batch.items():
        print(
            f"\n{name}, all {s.pages} pages ({len(results)} files) in one `sohoa process` call: "
            f"{s.seconds:.1f} s, {s.pages_per_min:.1f} pages/min, CER {s.cer:.4f}, "
            f"recall folded {s.recall_folded:.4f}"
        )
        theirs = totals.get(name.replace("sohoa", "ocrmypdf"))
        if theirs and theirs.pages_per_min:
            print(f"  / ocrmypdf per file: {s.pages_per_min / theirs.pages_per_min:.2f}x")
    notes = worse_than_others(results)
    print("\nwhere sohoa is worse (CER, by more than 0.002):")
    print("\n".join(f"  {n}" for n in notes) if notes else "  nowhere")
    if failures:
        print("\nfailures:\n" + "\n".join(f"  {f}" for f in failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
