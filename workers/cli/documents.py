"""`sohoa cover-sheet`: the separator sheet a clerk puts before each document of a stack."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.config import Config
from pipeline.dossier.cover import cover_payload, write_cover_pdf
from pipeline.errors import ExitCode, UsageError
from workers.cli.output import Output


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "cover-sheet",
        parents=[common],
        help="print a separator sheet (QR of the dossier code) to put before a document",
        description=(
            "An A4 PDF with the dossier code as a QR code and in large text (and the"
            " document type, if given). In a scanned stack, every page after such a sheet"
            " up to the next one is one document of that dossier; the sheet itself is"
            " recorded, not archived (split.keep_cover_sheets). With --component (and"
            " --kind, --procedure) it also says where that document goes in the dossier"
            " (MaThanhPhanHoSo, a submitted paper or a result, MaTTHC)."
        ),
    )
    p.add_argument("code", metavar="CODE", help="dossier code, e.g. 000.00.13.H38-261127-0001")
    p.add_argument("--type", dest="doc_type", metavar="T", help="document type printed on it")
    p.add_argument("--component", metavar="C", help="the component code (MaThanhPhanHoSo)")
    p.add_argument(
        "--kind", choices=("submitted", "result"), help="a submitted paper (default) or a result"
    )
    p.add_argument("--procedure", metavar="P", help="the procedure code (MaTTHC)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.pdf", help="where to write")
    p.set_defaults(handler=cmd_cover_sheet)


def cmd_cover_sheet(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    place = {"component": args.component, "kind": args.kind, "procedure": args.procedure}
    payload = cover_payload(args.code, args.doc_type, **place)  # UsageError (exit 2) if invalid
    target = Path(args.output)
    if target.is_dir():
        raise UsageError(f"{target} is a folder; give a file name such as cover.pdf")
    if not target.parent.exists():
        raise UsageError(f"no such folder: {target.parent}")
    write_cover_pdf(payload.code, target, payload.doc_type, **place)
    placed = payload.place
    out.row(
        {
            "file": str(target),
            "dossier_code": payload.code,
            "type": payload.doc_type,
            "component_code": placed.component_code if placed else None,
            "kind": placed.kind if placed else None,
            "procedure_code": placed.procedure_code if placed else None,
        }
    )
    return int(ExitCode.OK)
