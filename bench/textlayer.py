"""What checking a PDF's own text layer against the page costs, next to the OCR it sits on.

    .venv/bin/python -m bench.textlayer [--rounds 3]

A text layer is kept only where OCR of the rendered page reads the same words in the
same place (pipeline.read.textlayer.reconcile). Per page: CPU seconds of the OCR every
page gets (cleanup, Tesseract, the second look), of reading the layer (pdftotext,
counted with its child), of the new check (reconcile) and of the syllable correction
that now runs on a layered page too; then what a cheaper confirmation would cost
(Tesseract alone on the page scaled down to 150 and 100 dpi) and what share of the
layer's words it confirms. Pages: a one-page receipt and a full page, each born
digital (text drawn with a font) and as a scan with Tesseract's own text layer.
Medians of ``--rounds`` runs, CPU time of this process and its children.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import cv2

from bench.common import machine, table
from pipeline import ocr
from pipeline.config import load_config
from pipeline.flow import page as flow_page
from pipeline.lang import correct
from pipeline.model import PageOptions
from pipeline.read import pages, textlayer
from tests.support.layered_pdf import Line, render, tesseract_pdf, write_pdf

T = TypeVar("T")
RECEIPT = (
    "ỦY BAN NHÂN DÂN TỈNH LÀO CAI",
    "Mã hồ sơ: 000.00.13.H38-261127-0101",
    "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
    "Bộ phận Một cửa đã tiếp nhận hồ sơ của ông bà",
    "về việc cấp giấy phép xây dựng nhà ở riêng lẻ",
    "Thời gian giải quyết theo quy định là mười lăm ngày",
)
PROSE = (
    "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;",
    "Căn cứ Nghị định số 61/2018/NĐ-CP ngày 23 tháng 4 năm 2018 của Chính phủ",
    "về thực hiện cơ chế một cửa, một cửa liên thông trong giải quyết thủ tục",
    "hành chính; theo đề nghị của Chánh Văn phòng Ủy ban nhân dân tỉnh,",
    "Điều 1. Ban hành kèm theo Quyết định này Quy chế tiếp nhận hồ sơ, trả kết",
    "quả giải quyết thủ tục hành chính tại Bộ phận Một cửa các cấp trên địa bàn.",
    "Điều 2. Quyết định này có hiệu lực thi hành kể từ ngày ký ban hành.",
    "Điều 3. Chánh Văn phòng Ủy ban nhân dân tỉnh, Giám đốc các sở, Thủ trưởng",
    "các ban, ngành; Chủ tịch Ủy ban nhân dân các huyện, thị xã, thành phố và",
    "các tổ chức, cá nhân có liên quan chịu trách nhiệm thi hành Quyết định này.",
)


def cpu(run: Callable[[], T]) -> tuple[T, float]:
    """``run()`` and the CPU seconds it took here and in the children it waited for."""

    def now() -> float:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + kids.ru_utime + kids.ru_stime

    start = now()
    out = run()
    return out, now() - start


def pages_to_measure(folder: Path) -> dict[str, Path]:
    receipt = [Line(t, 60, 760 - 28 * i) for i, t in enumerate(RECEIPT)]
    full = [Line(t, 50, 790 - 22 * (i % 35), size=10.5) for i, t in enumerate(PROSE * 3)]
    made = {
        "receipt, born digital": write_pdf(folder / "receipt.pdf", receipt),
        "full page, born digital": write_pdf(folder / "full.pdf", full),
    }
    for name, path in list(made.items()):
        scan = name.replace("born digital", "scan + OCR layer")
        made[scan] = tesseract_pdf(render(path), folder / f"scan-{path.name}")
    return made


def measure(path: Path, options: PageOptions) -> dict[str, float]:
    loaded = pages.load_page(path, pages.PDF, 0, options.ingest)
    image, dpi = flow_page.enlarge_small_print(loaded.image, loaded.dpi, options)
    (clean, result), t_ocr = cpu(lambda: flow_page.clean_and_read(image, dpi, options))
    layer, t_read = cpu(lambda: textlayer.read_words(path, 0, dpi, options.ingest))

    def corrected() -> tuple[ocr.Word, ...]:
        return correct.correct_words(ocr.drop_junk_lines(result.words))[0]

    words, t_correct = cpu(corrected)
    seen, t_check = cpu(lambda: textlayer.reconcile(layer, words))
    _, t_keep = cpu(lambda: textlayer.keep_existing(ocr.words_to_text(seen.layer), result.text))
    row = {
        "words": len(layer),
        "kept": len(seen.layer),
        "ocr": t_ocr,
        "read": t_read,
        "check": t_check,
        "correct": t_correct,
        "keep": t_keep,
    }
    gray = clean.image if clean.image.ndim == 2 else cv2.cvtColor(clean.image, cv2.COLOR_BGR2GRAY)
    for low in (150, 100):
        factor = low / dpi
        small = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        quick, t_low = cpu(lambda small=small, low=low: ocr.ocr_page(small, low, options.ocr))
        back = ocr.scale_boxes(quick, 1 / factor).words
        confirmed = textlayer.reconcile(layer, back)
        row[f"ocr{low}"] = t_low
        row[f"confirmed{low}"] = len(confirmed.layer) / max(1, len(layer))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    options = PageOptions.from_config(load_config(env={}))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-textlayer-") as tmp:
        for name, path in pages_to_measure(Path(tmp)).items():
            runs = [measure(path, options) for _ in range(args.rounds)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            rows.append(
                [
                    name,
                    f"{med['kept']:.0f}/{med['words']:.0f}",
                    f"{med['ocr']:.3f}",
                    f"{med['read']:.3f}",
                    f"{med['check'] * 1000:.1f} ms",
                    f"{med['correct'] * 1000:.0f} ms",
                    f"{(med['check'] + med['correct']) / med['ocr']:.1%}",
                    f"{med['ocr150']:.3f} ({med['confirmed150']:.0%})",
                    f"{med['ocr100']:.3f} ({med['confirmed100']:.0%})",
                ]
            )
    print(machine())
    print(
        table(
            [
                "page",
                "layer words kept",
                "OCR s",
                "read layer s",
                "check",
                "correction",
                "new / OCR",
                "OCR 150 dpi s (confirms)",
                "OCR 100 dpi s (confirms)",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
