"""Small hostile files made at test time: PDFs and TIFFs that are cheap to send, costly to read.

Each bomb is a few KB to a few MB on disk and would take gigabytes or hours to read
naively. They are written as raw bytes (a minimal PDF / TIFF writer below) rather
than with pikepdf, because qpdf normalises what it writes: it would repair the very
page-tree defects (duplicate /Kids, loops) these files exist to carry.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

A4 = b"[0 0 595 842]"
OBJSTM_CHUNK = 5_000  # objects per object stream, like real writers use


@dataclass(frozen=True)
class Stream:
    """A stream object: its dictionary (without /Length) and its already-encoded data."""

    dictionary: bytes
    data: bytes


def write_pdf(
    path: Path, objects: dict[int, bytes | Stream], root: int, *, packed: bool = False
) -> Path:
    """Write ``objects`` (number → body) as a PDF whose catalog is object ``root``.

    ``packed`` puts every non-stream object into flate-compressed object streams and
    the cross-reference table into a compressed xref stream (PDF 1.5), which is how a
    million objects fit into a few MB.
    """
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, tuple[int, int, int]] = {}  # num -> (type, field2, field3)

    def emit(num: int, body: bytes | Stream) -> None:
        offsets[num] = (1, len(out), 0)
        out.extend(b"%d 0 obj\n" % num)
        if isinstance(body, Stream):
            out.extend(body.dictionary[:-2] + b" /Length %d >>\nstream\n" % len(body.data))
            out.extend(body.data + b"\nendstream")
        else:
            out.extend(body)
        out.extend(b"\nendobj\n")

    next_num = max(objects) + 1
    plain = sorted(n for n, b in objects.items() if not isinstance(b, Stream))
    for num in sorted(n for n, b in objects.items() if isinstance(b, Stream)):
        emit(num, objects[num])
    if not packed:
        for num in plain:
            emit(num, objects[num])
        size = next_num
        out_xref = len(out)
        out.extend(b"xref\n0 %d\n0000000000 65535 f \n" % size)
        for num in range(1, size):
            kind, off, _ = offsets.get(num, (0, 0, 0))
            out.extend(b"%010d 00000 n \n" % off if kind else b"0000000000 65535 f \n")
        out.extend(b"trailer\n<< /Size %d /Root %d 0 R >>\n" % (size, root))
        out.extend(b"startxref\n%d\n%%%%EOF\n" % out_xref)
        path.write_bytes(bytes(out))
        return path
    for start in range(0, len(plain), OBJSTM_CHUNK):
        chunk = plain[start : start + OBJSTM_CHUNK]
        stm_num = next_num
        next_num += 1
        header, bodies = [], bytearray()
        for index, num in enumerate(chunk):
            header.append(b"%d %d" % (num, len(bodies)))
            bodies.extend(objects[num] + b"\n")
            offsets[num] = (2, stm_num, index)
        head = b" ".join(header) + b"\n"
        emit(
            stm_num,
            Stream(
                b"<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode >>"
                % (len(chunk), len(head)),
                zlib.compress(head + bodies, 6),
            ),
        )
    xref_num = next_num
    size = xref_num + 1
    offsets[xref_num] = (1, len(out), 0)
    rows = bytearray(b"\x00\x00\x00\x00\x00\xff\xff")
    for num in range(1, size):
        kind, a, b = offsets.get(num, (0, 0, 0))
        rows.extend(struct.pack(">BIH", kind, a, b))
    xref_at = len(out)
    out.extend(b"%d 0 obj\n" % xref_num)
    data = zlib.compress(bytes(rows), 6)
    out.extend(
        b"<< /Type /XRef /Size %d /W [1 4 2] /Root %d 0 R /Filter /FlateDecode /Length %d >>"
        b"\nstream\n" % (size, root, len(data))
    )
    out.extend(data + b"\nendstream\nendobj\n")
    out.extend(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    path.write_bytes(bytes(out))
    return path


def _blank_page(parent: int, extra: bytes = b"") -> bytes:
    return b"<< /Type /Page /Parent %d 0 R /MediaBox %s%s >>" % (parent, A4, extra)


def content_stream_bomb(path: Path, repeats: int = 5_000_000) -> Path:
    """One A4 page whose content is ``repeats`` × ``q Q`` and then a full-page image.

    It looks exactly like a scanned page to a content-stream parser that reads it to
    the end (only q, Q, cm and Do), and 5 M pairs compress to about 20 KB.
    """
    content = b"q Q " * repeats + b"q 595 0 0 842 0 0 cm /Im0 Do Q\n"
    objects: dict[int, bytes | Stream] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: _blank_page(2, b" /Resources << /XObject << /Im0 5 0 R >> >> /Contents 4 0 R"),
        4: Stream(b"<< /Filter /FlateDecode >>", zlib.compress(content, 9)),
        5: Stream(
            b"<< /Type /XObject /Subtype /Image /Width 1654 /Height 2339 /ColorSpace /DeviceGray"
            b" /BitsPerComponent 8 /Filter /FlateDecode >>",
            zlib.compress(b"\xff" * (1654 * 2339), 9),
        ),
    }
    return write_pdf(path, objects, 1)


def object_count_bomb(path: Path, objects: int = 1_200_000) -> Path:
    """One page annotated with ``objects`` tiny annotation objects, packed into object streams.

    A renderer that loads the page's annotations, or any walk over all objects, meets
    every one of them; the file stays a few MB.
    """
    first = 4
    refs = b" ".join(b"%d 0 R" % n for n in range(first, first + objects))
    body: dict[int, bytes | Stream] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: _blank_page(2, b" /Annots [" + refs + b"]"),
    }
    annot = b"<< /Type /Annot /Subtype /Square /Rect [0 0 1 1] >>"
    for n in range(first, first + objects):
        body[n] = annot
    return write_pdf(path, body, 1, packed=True)


def kids_bomb(path: Path, kids: int = 1_000_000, declared: int | None = None) -> Path:
    """A page tree whose one /Kids array names the same page ``kids`` times.

    ``declared`` is the /Count it claims (default: the truth). A reader that copies
    each repeated page to give it its own object, as qpdf does, builds a million pages.
    """
    refs = b"3 0 R " * kids
    objects: dict[int, bytes | Stream] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids 4 0 R /Count %d >>" % (kids if declared is None else declared),
        3: _blank_page(2),
        4: b"[" + refs + b"]",
    }
    return write_pdf(path, objects, 1, packed=True)


def deep_tree_bomb(path: Path, depth: int = 100_000) -> Path:
    """A page tree ``depth`` levels deep: each /Pages node has one child, the last a page."""
    objects: dict[int, bytes | Stream] = {1: b"<< /Type /Catalog /Pages 2 0 R >>"}
    for level in range(depth):
        num = 2 + level
        parent = b" /Parent %d 0 R" % (num - 1) if level else b""
        objects[num] = b"<< /Type /Pages /Kids [%d 0 R] /Count 1%s >>" % (num + 1, parent)
    objects[2 + depth] = _blank_page(1 + depth)
    return write_pdf(path, objects, 1, packed=True)


def page_tree_loop(path: Path) -> Path:
    """A page tree whose second kid is an ancestor: walking it naively never ends."""
    objects: dict[int, bytes | Stream] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 3 >>",
        3: _blank_page(2),
        4: b"<< /Type /Pages /Parent 2 0 R /Kids [5 0 R 2 0 R] /Count 2 >>",
        5: _blank_page(4),
    }
    return write_pdf(path, objects, 1)


def blank_pages_pdf(path: Path, pages: int = 5_000) -> Path:
    """A well-formed PDF of ``pages`` distinct blank A4 pages (each with an empty content)."""
    objects: dict[int, bytes | Stream] = {1: b"<< /Type /Catalog /Pages 2 0 R >>"}
    empty = 3
    objects[empty] = Stream(b"<< >>", b"")
    first = 4
    kids = b" ".join(b"%d 0 R" % (first + i) for i in range(pages))
    objects[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages)
    for i in range(pages):
        objects[first + i] = _blank_page(2, b" /Contents %d 0 R" % empty)
    return write_pdf(path, objects, 1, packed=True)


def flate_image_bomb(path: Path, side: int = 20_000) -> Path:
    """An A4 page drawing one ``side``² 8-bit gray image that inflates from KB to side² bytes."""
    compressor = zlib.compressobj(9)
    row = b"\xff" * side
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    objects: dict[int, bytes | Stream] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: _blank_page(2, b" /Resources << /XObject << /Im0 5 0 R >> >> /Contents 4 0 R"),
        4: Stream(b"<< >>", b"q 595 0 0 842 0 0 cm /Im0 Do Q\n"),
        5: Stream(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
            b" /BitsPerComponent 8 /Filter /FlateDecode >>" % (side, side),
            b"".join(parts),
        ),
    }
    return write_pdf(path, objects, 1)


def tiff_frames_bomb(path: Path, frames: int = 100_000, loop: bool = False, side: int = 1) -> Path:
    """A little-endian TIFF of ``frames`` ``side``×``side`` bilevel frames sharing one strip.

    ``loop`` makes the last frame's next-IFD pointer go back to the first one.
    """
    strip = b"\xff" * (((side + 7) // 8) * side)
    entries = [  # tag, type (3 SHORT, 4 LONG), value; StripOffsets is patched below
        (256, 4, side),  # ImageWidth
        (257, 4, side),  # ImageLength
        (259, 3, 1),  # Compression: none
        (262, 3, 1),  # Photometric: black is zero
        (273, 4, 0),  # StripOffsets
        (278, 4, side),  # RowsPerStrip
        (279, 4, len(strip)),  # StripByteCounts
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    data_at = 8
    first_ifd = data_at + len(strip) + len(strip) % 2  # IFDs start on a word boundary
    out = bytearray(b"II*\x00" + struct.pack("<I", first_ifd) + strip + b"\x00" * (len(strip) % 2))
    for i in range(frames):
        at = first_ifd + i * ifd_size
        nxt = at + ifd_size if i + 1 < frames else (first_ifd if loop else 0)
        out.extend(struct.pack("<H", len(entries)))
        for tag, kind, value in entries:
            value = data_at if tag == 273 else value
            packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
            out.extend(struct.pack("<HHI", tag, kind, 1) + packed)
        out.extend(struct.pack("<I", nxt))
    path.write_bytes(bytes(out))
    return path


def flate_overrun_bomb(path: Path, inflated: int = 800 * 2**20) -> Path:
    """A full-page 1654×2339 gray image (A4 at 200 dpi) whose stream inflates to ``inflated``.

    The image needs 3.9 MB; a decoder that inflates the whole stream before looking
    (qpdf's ``read_bytes``) holds all of it, one that stops at the image's size does not.
    """
    width, height = 1654, 2339
    compressor = zlib.compressobj(9)
    block = b"\xff" * 2**20
    parts = [compressor.compress(block) for _ in range(inflated // len(block))]
    parts.append(compressor.flush())
    objects: dict[int, bytes | Stream] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: _blank_page(2, b" /Resources << /XObject << /Im0 5 0 R >> >> /Contents 4 0 R"),
        4: Stream(b"<< >>", b"q 595 0 0 842 0 0 cm /Im0 Do Q\n"),
        5: Stream(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
            b" /BitsPerComponent 8 /Filter /FlateDecode >>" % (width, height),
            b"".join(parts),
        ),
    }
    return write_pdf(path, objects, 1)


def text_layer_bomb(path: Path, words: int = 1_000_000) -> Path:
    """One A4 page whose text layer is ``words`` one-letter words in 1-pt type.

    A text extractor asked for the page's words with their boxes writes each one out;
    the content is a few KB compressed.
    """
    per_line, lines_per_block = 250, 800
    ops = [b"BT /F1 1 Tf 40 821 Td"]
    letters = b"abcdefghijklmnopqrstuvwxyz"
    for i in range(words):
        ops.append(b"(%c) Tj 2 0 Td" % letters[(i // (per_line * lines_per_block)) % 26])
        if (i + 1) % per_line == 0:
            line = (i + 1) // per_line
            ops.append(b"-500 %d Td" % (lines_per_block - 1 if line % lines_per_block == 0 else -1))
    ops.append(b"ET")
    objects: dict[int, bytes | Stream] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: _blank_page(2, b" /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R"),
        4: Stream(b"<< /Filter /FlateDecode >>", zlib.compress(b"\n".join(ops), 9)),
        5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    return write_pdf(path, objects, 1)


def huge_array_bomb(path: Path, numbers: int = 10_000_000) -> Path:
    """One page whose /Annots is a single direct array of ``numbers`` zeros, in an object stream.

    Nothing counts it as objects (the file has six), yet a parser holds every element:
    qpdf took 1.4 GB to open the 20 KB this makes by default.
    """
    page = _blank_page(2, b" /Annots [" + b"0 " * numbers + b"]")
    objects: dict[int, bytes | Stream] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: page,
    }
    return write_pdf(path, objects, 1, packed=True)
