"""PDF/A-2b assembly: the one-page files joined, with output intent and XMP metadata.

qpdf copies each page's streams straight from its file while writing, so a long
600-dpi dossier never sits in memory as a whole.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import pikepdf
from pikepdf import Array, Dictionary, Name
from PIL import ImageCms

from pipeline.lang.textnorm import nfc
from pipeline.output.font import FONT_NAME, FONT_RESOURCE


@dataclass(frozen=True, kw_only=True)
class PdfInfo:
    """Document-level metadata, written to both the XMP packet and the DocInfo dictionary."""

    title: str | None = None
    subject: str | None = None
    keywords: str | None = None
    language: str = "vi"
    created: datetime
    creator_tool: str = "sohoa"
    document_id: str | None = None


@dataclass(frozen=True)
class PdfaInfo:
    """The PDF/A flavour the assembled file claims (and, in tests, veraPDF confirms)."""

    part: int
    conformance: str


@lru_cache(maxsize=1)
def _srgb_profile() -> bytes:
    """LittleCMS's built-in sRGB: a display-class RGB profile, valid as a PDF/A output intent."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _add_output_intent(pdf: pikepdf.Pdf) -> None:
    """An sRGB output intent makes DeviceRGB (and, per PDF/A-2, DeviceGray) device-independent."""
    profile = pdf.make_stream(_srgb_profile(), N=3)
    intent = Dictionary(
        Type=Name.OutputIntent,
        S=Name.GTS_PDFA1,
        OutputConditionIdentifier="sRGB IEC61966-2.1",
        Info="sRGB IEC61966-2.1",
        DestOutputProfile=profile,
    )
    pdf.Root.OutputIntents = Array([pdf.make_indirect(intent)])


def _share_text_font(pdf: pikepdf.Pdf) -> None:
    """Point every page at one copy of the glyph-less font instead of one per page."""
    shared = None
    for page in pdf.pages:
        fonts = page.obj.get("/Resources", {}).get("/Font")
        if fonts is None or FONT_RESOURCE not in fonts:
            continue
        font = fonts[FONT_RESOURCE]
        if font.get("/BaseFont") != Name("/" + FONT_NAME):
            continue
        if shared is None:
            shared = font
        else:
            fonts[FONT_RESOURCE] = shared


def _xmp_date(value: datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat(timespec="seconds")


def _set_metadata(pdf: pikepdf.Pdf, info: PdfInfo, pdfa: PdfaInfo) -> None:
    """Write XMP and let pikepdf mirror it into DocInfo, as PDF/A requires them to agree."""
    created = _xmp_date(info.created)
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=True) as meta:
        meta["pdfaid:part"] = str(pdfa.part)
        meta["pdfaid:conformance"] = pdfa.conformance
        if info.title:
            meta["dc:title"] = nfc(info.title)
        if info.subject:
            meta["dc:description"] = nfc(info.subject)
        if info.keywords:
            meta["pdf:Keywords"] = nfc(info.keywords)
        meta["dc:language"] = {info.language}
        meta["xmp:CreateDate"] = created
        meta["xmp:ModifyDate"] = created
        meta["xmp:MetadataDate"] = created
        meta["xmp:CreatorTool"] = info.creator_tool
        meta["pdf:Producer"] = f"{info.creator_tool} (pikepdf {pikepdf.__version__})"
        if info.document_id:
            meta["xmpMM:DocumentID"] = info.document_id


def assemble_pdfa(page_paths: Sequence[Path], out_path: Path, info: PdfInfo) -> PdfaInfo:
    """Concatenate one-page PDFs into one PDF/A-2b file; memory bounded.

    Pages are gathered by qpdf's page job rather than ``Pdf.pages.extend``:
    pikepdf copies foreign stream data into memory at once, while the job
    leaves each image in its page file until the output is written, so a
    long 600-dpi dossier never sits in memory as a whole. The file appears at
    ``out_path`` only once complete.
    """
    if not page_paths:
        raise ValueError("no pages to assemble")
    pdfa = PdfaInfo(part=2, conformance="B")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".part")
    # Absolute paths: a relative name could read as a qpdf option or page range.
    inputs = [str(Path(p).resolve()) for p in page_paths]
    job = pikepdf.Job(["qpdf", "--empty", "--pages", *inputs, "--", str(partial)])
    pdf = job.create_pdf()
    try:
        _share_text_font(pdf)
        _add_output_intent(pdf)
        pdf.Root.Lang = pikepdf.String(info.language)
        _set_metadata(pdf, info, pdfa)
        pdf.save(partial, force_version="1.7", deterministic_id=True)
        os.replace(partial, out_path)
    finally:
        pdf.close()
        partial.unlink(missing_ok=True)
    return pdfa
