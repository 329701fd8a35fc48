"""Inspecting a PDF's structure within bounds: object count, page tree, page count, quirks.

Everything that walks a whole PDF happens here, once per file, before any page is
read. The cross-reference table's size is read from the file's own bytes before
qpdf opens it (qpdf spends ~360 bytes per object just opening a file). The page
tree is walked by hand, with limits on pages, depth and entries and with loop
detection, before qpdf's own walk: pikepdf runs that walk at open unless told not
to, and it copies a page named twice, so a /Kids array naming one page a million
times became a million pages (2.3 GB). The document info is read without
pikepdf's ``docinfo``, which creates an info object when there is none and so
makes qpdf resolve every object in the file (1.9 GB on 1.2 M objects).

What no check can foresee (a single array of ten million numbers inside an
object stream costs qpdf 1.4 GB to parse from a 20 KB file) is bounded by where
this runs: :func:`inspect_pdf` is called in a child process (``python -m
pipeline.read.pdfinspect``) under an address-space limit and a timeout.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.errors import RejectedInput
from pipeline.read.limits import limit_memory

MAX_TREE_DEPTH = 64  # a balanced tree of a million pages is 20 levels deep
MAX_SIGNATURE_FIELDS = 10_000  # form fields looked at to tell whether the file is signed
_TAIL = 4096  # bytes at the end of the file where ``startxref`` must be
_MAX_XREF_SECTIONS = 256  # incremental updates followed through /Prev


@dataclass(frozen=True)
class PdfFacts:
    pages: int
    encrypted: bool
    has_text: bool
    signed: bool
    producer: str | None


@dataclass(frozen=True)
class PdfLimits:
    max_pages: int
    max_objects: int


def _fmt(n: int) -> str:
    return f"{n:,}"


# ----------------------------------------------------------------- objects, from the bytes

_STARTXREF = re.compile(rb"startxref\s+(\d+)")
_INT_KEY = {key: re.compile(rb"/" + key + rb"\s+(\d+)") for key in (b"Size", b"Prev", b"XRefStm")}
_INDEX = re.compile(rb"/Index\s*\[([\d\s]*)\]")
_SUBSECTION = re.compile(rb"\s*(\d+)\s+(\d+)[ \t]*\r?\n?")
_OBJ_HEADER = re.compile(rb"\d+\s+\d+\s+obj\b")


def xref_entries(path: Path) -> int | None:
    """How many objects the file's cross-reference sections declare, read without qpdf.

    The largest of every section's /Size and the sum of its entry counts (an /Index
    or the subsection headers), over the chain of incremental updates. None when the
    file has no usable ``startxref``: qpdf then rebuilds the table by scanning the
    file, which :func:`object_headers` counts instead.
    """
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - _TAIL))
        found = _STARTXREF.findall(fh.read())
        if not found:
            return None
        offset: int | None = int(found[-1])
        seen: set[int] = set()
        declared = counted = 0
        while offset is not None and offset not in seen and len(seen) < _MAX_XREF_SECTIONS:
            if not 0 <= offset < size:
                break
            seen.add(offset)
            fh.seek(offset)
            head = fh.read(_TAIL)
            if head.lstrip().startswith(b"xref"):
                entries, trailer = _table_section(fh, offset + head.index(b"xref") + 4)
            else:
                entries, trailer = _stream_section(head)
            if trailer is None:
                break
            counted += entries
            declared = max(declared, _int(trailer, b"Size") or 0)
            stream = _int(trailer, b"XRefStm")
            if stream is not None and stream not in seen and 0 <= stream < size:
                fh.seek(stream)  # a hybrid file's second table
                extra, _ = _stream_section(fh.read(_TAIL))
                counted += extra
                seen.add(stream)
            offset = _int(trailer, b"Prev")
    if not seen:
        return None
    return max(declared, counted)


def _int(data: bytes, key: bytes) -> int | None:
    m = _INT_KEY[key].search(data)
    return int(m.group(1)) if m else None


def _table_section(fh: object, pos: int) -> tuple[int, bytes | None]:
    """(entries, trailer bytes) of a classic ``xref`` table whose first subsection is at pos."""
    entries = 0
    for _ in range(100_000):  # subsections; real files have a handful
        fh.seek(pos)  # type: ignore[attr-defined]
        line = fh.read(64)  # type: ignore[attr-defined]
        m = _SUBSECTION.match(line)
        if not m:
            trailer = line + fh.read(_TAIL)  # type: ignore[attr-defined]
            return entries, trailer if b"trailer" in trailer else None
        count = int(m.group(2))
        entries += count
        pos += m.end() + 20 * count  # every entry is exactly 20 bytes (ISO 32000 7.5.4)
    return entries, None


def _stream_section(head: bytes) -> tuple[int, bytes | None]:
    """(entries, its dictionary) of a cross-reference stream starting ``head``."""
    end = head.find(b"stream")
    if end < 0 or b"/XRef" not in head[:end]:
        return 0, None
    dictionary = head[:end]
    m = _INDEX.search(dictionary)
    if m:
        numbers = [int(v) for v in m.group(1).split()]
        return sum(numbers[1::2]), dictionary
    return _int(dictionary, b"Size") or 0, dictionary


def object_headers(path: Path) -> int:
    """``N G obj`` headers in the file, as qpdf finds them when it rebuilds a broken table.

    One pass of a regular expression over the file (about 0.1 s per 20 MB).
    """
    count = 0
    carry = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(4 * 2**20):
            data = carry + chunk
            cut = max(0, len(data) - 64)  # a header starting past here may continue next chunk
            end = 0
            for m in _OBJ_HEADER.finditer(data):
                if m.start() >= cut:
                    break
                count += 1
                end = m.end()
            carry = data[max(cut, end) :]
    return count + len(_OBJ_HEADER.findall(carry))


def check_object_count(path: Path, limits: PdfLimits) -> None:
    """Refuse a file with more objects than ``ingest.max_pdf_objects``, before qpdf opens it."""
    declared = xref_entries(path)
    count = declared if declared is not None else object_headers(path)
    _refuse_objects(count, limits)


def _refuse_objects(count: int, limits: PdfLimits) -> None:
    if count > limits.max_objects:
        raise RejectedInput(
            f"PDF has {_fmt(count)} objects; limit {_fmt(limits.max_objects)}"
            " (ingest.max_pdf_objects)"
        )


# ----------------------------------------------------------------- the page tree, by hand


def walk_page_tree(pdf: object, limits: PdfLimits) -> tuple[int, bool]:
    """(pages, whether any page has fonts) from a bounded walk of the page tree.

    Refuses, with a reason, a tree with more than ``max_pages`` pages, one nested
    deeper than MAX_TREE_DEPTH, one that reaches a node twice (a loop, or a subtree
    shared by two parents, which qpdf refuses as a loop too), or one with more kid
    entries than a tree of ``max_pages`` pages could need. Fonts are looked up
    where a page gets its resources: its own /Resources, else the nearest ancestor's.
    """
    import pikepdf

    root = pdf.Root.get("/Pages")  # type: ignore[attr-defined]
    if not isinstance(root, pikepdf.Dictionary):
        raise RejectedInput("PDF has no page tree (/Root /Pages is missing)")
    try:
        declared_n = int(root.get("/Count", 0))
    except (TypeError, ValueError):
        declared_n = 0
    budget = 4 * limits.max_pages + 1_000  # kid entries a sane tree of max_pages needs
    pages = 0
    fonts = False
    seen: set[tuple[int, int]] = set()
    # Each frame: the /Kids array being walked, the next index, the fonts inherited there.
    stack: list[tuple[pikepdf.Array, int, bool]] = []

    def enter(node: pikepdf.Dictionary, inherited: bool) -> None:
        nonlocal pages, fonts
        here = _has_fonts(node, inherited)
        kids = node.get("/Kids")
        if kids is None and node.get("/Type") != "/Pages":
            pages += 1
            fonts = fonts or here
            if pages > limits.max_pages:
                raise RejectedInput(_too_many_pages(declared_n, limits))
            return
        key = node.objgen
        if key != (0, 0):
            if key in seen:
                raise RejectedInput(
                    f"PDF page tree is broken: it reaches object {key[0]} twice (a loop)"
                )
            seen.add(key)
        if len(stack) >= MAX_TREE_DEPTH:
            raise RejectedInput(
                f"PDF page tree is nested more than {MAX_TREE_DEPTH} levels deep; a real"
                " document needs far fewer"
            )
        if isinstance(kids, pikepdf.Array):
            stack.append((kids, 0, here))

    enter(root, False)
    while stack:
        kids, index, inherited = stack[-1]
        if index >= len(kids):
            stack.pop()
            continue
        stack[-1] = (kids, index + 1, inherited)
        budget -= 1
        if budget < 0:
            raise RejectedInput(
                f"PDF page tree has more entries than {_fmt(limits.max_pages)} pages need"
                " (ingest.max_pages)"
            )
        kid = kids[index]
        if isinstance(kid, pikepdf.Dictionary):
            enter(kid, inherited)
    return pages, fonts


def _has_fonts(node: object, inherited: bool) -> bool:
    import pikepdf

    res = node.get("/Resources")  # type: ignore[attr-defined]
    if not isinstance(res, pikepdf.Dictionary):
        return inherited
    return bool(res.get("/Font"))


def _too_many_pages(declared: int, limits: PdfLimits) -> str:
    """The count when the file declares a larger one; the walk stops at the limit."""
    limit = limits.max_pages
    what = f"{_fmt(declared)} pages" if declared > limit else f"more than {_fmt(limit)} pages"
    return f"PDF has {what}; limit {_fmt(limit)} (ingest.max_pages); split it into smaller files"


# ----------------------------------------------------------------- the whole inspection


def inspect_pdf(path: Path, limits: PdfLimits) -> PdfFacts:
    """Count pages and learn the file's quirks, refusing what exceeds the limits."""
    import pikepdf

    check_object_count(path, limits)
    try:
        # pikepdf's default pushes inherited attributes down to every page at open,
        # which is qpdf's whole-tree walk: it must wait until walk_page_tree has passed.
        pdf = pikepdf.open(path, inherit_page_attributes=False)
    except pikepdf.PasswordError as exc:
        raise RejectedInput(
            "encrypted PDF that needs a password to open; ask for an unprotected copy"
        ) from exc
    except pikepdf.PdfError as exc:
        raise RejectedInput(f"damaged or invalid PDF: {exc}") from exc
    with pdf:
        try:
            size = int(pdf.trailer.get("/Size", 0))
        except (TypeError, ValueError):
            size = 0
        _refuse_objects(size, limits)  # also covers a table qpdf rebuilt while opening
        try:
            walked, has_text = walk_page_tree(pdf, limits)
            pages = len(pdf.pages)
        except pikepdf.PdfError as exc:
            raise RejectedInput(f"damaged or invalid PDF: {exc}") from exc
        _raise_if_out_of_memory(pdf)
        if pages == 0 or walked == 0:
            raise RejectedInput("PDF has no pages")
        if pages > limits.max_pages:
            raise RejectedInput(_too_many_pages(pages, limits))
        return PdfFacts(
            pages=pages,
            encrypted=pdf.is_encrypted,
            has_text=has_text,
            signed=_is_signed(pdf),
            producer=_producer(pdf),
        )


def _raise_if_out_of_memory(pdf: object) -> None:
    """qpdf reports an allocation that failed as a warning and reads on without the object."""
    if any("bad_alloc" in w for w in pdf.get_warnings()):  # type: ignore[attr-defined]
        raise MemoryError("qpdf ran out of memory reading the file")


def _producer(pdf: object) -> str | None:
    """/Producer of the document info, read without creating an info dictionary."""
    import pikepdf

    try:
        info = pdf.trailer.get("/Info")  # type: ignore[attr-defined]
        if isinstance(info, pikepdf.Dictionary) and "/Producer" in info:
            return str(info.Producer)
    except (pikepdf.PdfError, ValueError):
        pass
    return None


def _is_signed(pdf: object) -> bool:
    """A signature field among the first MAX_SIGNATURE_FIELDS form fields."""
    import pikepdf

    try:
        form = pdf.Root.get("/AcroForm")  # type: ignore[attr-defined]
        fields = form.get("/Fields") if isinstance(form, pikepdf.Dictionary) else None
        if not isinstance(fields, pikepdf.Array):
            return False
        for i in range(min(len(fields), MAX_SIGNATURE_FIELDS)):
            field = fields[i]
            if isinstance(field, pikepdf.Dictionary) and field.get("/FT") == "/Sig":
                return True
    except (pikepdf.PdfError, ValueError, TypeError):
        return False
    return False


def main(argv: list[str]) -> int:
    """Child entry point: ``PATH MAX_PAGES MAX_OBJECTS MEMORY_MB`` → one JSON line on stdout."""
    path, max_pages, max_objects, memory_mb = argv
    limit_memory(int(memory_mb) * 2**20)
    try:
        facts = inspect_pdf(Path(path), PdfLimits(int(max_pages), int(max_objects)))
    except RejectedInput as exc:
        print(json.dumps({"rejected": str(exc)}))
        return 0
    except MemoryError:
        sys.stderr.write("MemoryError\n")  # the parent names ingest.pdf_memory_mb
        return 3
    print(json.dumps({"facts": asdict(facts)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
