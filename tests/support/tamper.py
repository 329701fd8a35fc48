"""The ways a signed copy gets altered after signing (issue 23's table), as test files.

Each function writes a new file from a signed one; none touches the original.
"""

from __future__ import annotations

from pathlib import Path

from pyhanko.pdf_utils.generic import (
    ArrayObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    StreamObject,
    TextStringObject,
)
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers import PdfSignatureMetadata
from pyhanko.sign.signers.pdf_cms import Signer


def byte_flip(signed: Path, out: Path, at: int) -> Path:
    """One bit changed at ``at`` (inside the signed range: the page image, say)."""
    data = bytearray(signed.read_bytes())
    data[at] ^= 0x01
    out.write_bytes(bytes(data))
    return out


def overlay(signed: Path, out: Path) -> Path:
    """An update that replaces page 1's content: the bytes signed are intact, the page is not."""
    with open(signed, "rb") as fh:
        writer = IncrementalPdfFileWriter(fh)
        page_ref, _ = writer.find_page_for_modification(0)
        page = page_ref.get_object()
        fake = StreamObject(stream_data=b"BT /F1 12 Tf 72 720 Td (Forged) Tj ET")
        page[NameObject("/Contents")] = writer.add_object(fake)
        writer.update_container(page)
        with open(out, "wb") as dst:
            writer.write(dst)
    return out


def annotation(signed: Path, out: Path) -> Path:
    """An update that adds a note on page 1."""
    with open(signed, "rb") as fh:
        writer = IncrementalPdfFileWriter(fh)
        page_ref, _ = writer.find_page_for_modification(0)
        page = page_ref.get_object()
        note = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Annot"),
                NameObject("/Subtype"): NameObject("/Text"),
                NameObject("/Rect"): ArrayObject([FloatObject(v) for v in (100, 100, 200, 200)]),
                NameObject("/Contents"): TextStringObject("Đã sửa lại"),
            }
        )
        annots = [*page.get("/Annots", ArrayObject()), writer.add_object(note)]
        page[NameObject("/Annots")] = ArrayObject(annots)
        writer.update_container(page)
        with open(out, "wb") as dst:
            writer.write(dst)
    return out


def second_signature(signed: Path, out: Path, signer: Signer) -> Path:
    """Another signature appended by ``signer``, in a field of its own."""
    with open(signed, "rb") as fh:
        writer = IncrementalPdfFileWriter(fh)
        meta = PdfSignatureMetadata(field_name="Second", subfilter=fields.SigSeedSubFilter.PADES)
        with open(out, "wb") as dst:
            signers.PdfSigner(meta, signer).sign_pdf(writer, output=dst)
    return out


def first_revision(signed: Path, out: Path, unsigned_size: int) -> Path:
    """The file cut back to the bytes before the signature: a copy whose signature was stripped."""
    out.write_bytes(signed.read_bytes()[:unsigned_size])
    return out
