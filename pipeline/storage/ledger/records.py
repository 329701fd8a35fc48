"""The ledger's records: plain, immutable, the same whatever the backend."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.storage.ledger.states import ATTENTION_STATES, PROCESSING, STORED_RAW


@dataclass(frozen=True)
class Document:
    id: str
    batch_id: str
    seq: int
    station: str | None
    folder_name: str | None
    source_name: str
    source_path: str | None
    sha256: str
    size: int
    media_type: str | None
    raw_key: str | None
    dossier_hint: str | None
    dossier_code: str | None
    dossier_source: str | None
    ordinal: int | None
    state: str
    stage: str | None
    reason: str | None
    pages: int | None
    pdf_key: str | None
    metadata_key: str | None
    text_key: str | None
    mean_confidence: float | None
    duplicate_of: str | None
    created_at: str
    updated_at: str
    review: str | None = None  # why an operator should look at the archived pages, if at all
    # The file name's exact bytes (a name need not be UTF-8); source_name is its display form.
    source_name_bytes: bytes | None = None
    owner: str | None = None  # the process working on it (see Owner), while unfinished
    lease_until: str | None = None  # when that process's claim runs out unless renewed
    # A scanned stack split at separator sheets (issue 13): the first document keeps the
    # source's row, every further one is a row of its own with ``parent_id`` = that row's
    # id. ``segment`` counts from 1 in stack order; ``first_page``/``last_page`` are the
    # source pages (1-based, inclusive) it was cut from; ``segment_info`` is JSON: what
    # started it (cover sheet, receipt), the separator's page and code, the cover's type,
    # the source pages left out. All None for a file that is one document.
    parent_id: str | None = None
    segment: int | None = None
    first_page: int | None = None
    last_page: int | None = None
    segment_info: str | None = None
    # The archived copy's agency signature: its PAdES level ("PAdES-B-T"), "pending" while it
    # waits for `sohoa sign --pending`, None when signing was not configured.
    signature: str | None = None
    # Which machines ran it: "<host that ran the document>; pages: <host> ×n, …"
    processed_by: str | None = None
    # The raw object's version id recorded at custody: the locked original, read by that id
    # whenever the source is fetched (a later PUT over the same key cannot replace it).
    raw_version: str | None = None
    # Its place in the dossier (issue 21, pipeline/dossier/place.py): the component code
    # (MaThanhPhanHoSo), "submitted" or "result", the procedure code (MaTTHC), and where
    # they came from ("assigned", "cover", "upload", "folder").
    component_code: str | None = None
    kind: str | None = None
    procedure_code: str | None = None
    place_source: str | None = None
    # The archived PDF's SHA-256 as it is now in the archive (signed or not): what a
    # one-stop system checks the copy it downloads against.
    pdf_sha256: str | None = None

    def summary(self) -> dict[str, Any]:
        """The fields `sohoa process` prints, in DESIGN §3 order."""
        return {
            "document_id": self.id,
            "batch_id": self.batch_id,
            "dossier_code": self.dossier_code,
            "status": self.state,
            "pages": self.pages,
            "pdf_key": self.pdf_key,
            "metadata_key": self.metadata_key,
            "text_key": self.text_key,
            "error": self.reason if self.state in ATTENTION_STATES else None,
            "signature": self.signature,
        }


DOCUMENT_FIELDS = frozenset(f.name for f in fields(Document))
# ``transition(expect_owner=...)`` default: whoever holds the document.
ANY_OWNER = object()


@dataclass(frozen=True)
class SegmentRow:
    """One document of a split stack as the ledger records it (see ``Ledger.record_split``)."""

    segment: int  # 1-based, stack order
    first_page: int  # source pages, 1-based, inclusive
    last_page: int
    info: str  # JSON, kept as Document.segment_info


def segment_row(
    parent: Document, seg: SegmentRow, child_id: str, seq: int, stamp: str, state: str
) -> dict[str, Any]:
    """The columns of a further document of ``parent``'s stack, as every backend inserts it:
    the source's bytes and names, its own pages and segment, waiting in ``state``."""
    return {
        "id": child_id,
        "batch_id": parent.batch_id,
        "seq": seq,
        "station": parent.station,
        "folder_name": parent.folder_name,
        "source_name": parent.source_name,
        "source_path": parent.source_path,
        "sha256": parent.sha256,
        "size": parent.size,
        "media_type": parent.media_type,
        "raw_key": parent.raw_key,
        "raw_version": parent.raw_version,
        "state": state,
        "stage": "split",
        "reason": f"document {seg.segment} of {parent.id}'s stack"
        f" (pages {seg.first_page}-{seg.last_page})",
        "pages": seg.last_page - seg.first_page + 1,
        "created_at": stamp,
        "updated_at": stamp,
        "source_name_bytes": parent.source_name_bytes,
        "owner": parent.owner,
        "lease_until": parent.lease_until,
        "parent_id": parent.id,
        "segment": seg.segment,
        "first_page": seg.first_page,
        "last_page": seg.last_page,
        "segment_info": seg.info,
    }


def segment_event(parent: Document, seg: SegmentRow) -> str:
    """The reason of a further document's first event."""
    return (
        f"pages {seg.first_page}-{seg.last_page} of {parent.source_name}"
        f" (document {parent.id}), document {seg.segment} of its stack"
    )


def split_event(segments: Sequence[SegmentRow]) -> str:
    """The reason of the source document's ``split`` event."""
    ranges = ", ".join(f"{g.first_page}-{g.last_page}" for g in segments)
    return f"split into {len(segments)} document(s) at separator pages: pages {ranges}"


@dataclass(frozen=True)
class Owner:
    """Who holds a document: ``host:pid:start``. The start time tells a reused pid apart."""

    host: str
    pid: int
    start: str

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.start}"

    @classmethod
    def parse(cls, text: str | None) -> Owner | None:
        if not text or text.count(":") < 2:
            return None
        host, pid, start = text.split(":", 2)
        return cls(host, int(pid), start) if pid.isdigit() else None


def process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None if it is not running."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def this_process() -> Owner:
    pid = os.getpid()
    return Owner(socket.gethostname(), pid, process_start(pid) or "0")


# The owner of a document sent to the workers' queue and not started yet: the claim is
# only its lease (any machine's pick-up sends it again once that runs out), not a process.
QUEUED = "queued@"


def queued_owner() -> str:
    return f"{QUEUED}{socket.gethostname()}"


def owner_gone(owner_text: str | None, lease_until: str | None) -> bool:
    """True when the holder of a document can no longer be working on it.

    On this host the answer is exact (is that process, with that start time, alive?).
    A holder on another machine is presumed alive until its lease runs out, and so is a
    queued document (:data:`QUEUED`), wherever it was queued.
    """
    if owner_text and owner_text.startswith(QUEUED):
        return lease_until is None or lease_until < now()
    owner = Owner.parse(owner_text)
    if owner is None:
        return True
    if owner.host == socket.gethostname():
        return process_start(owner.pid) != owner.start
    return lease_until is None or lease_until < now()


def stalled(doc: Document) -> bool:
    """A document someone took and nobody works on any more: in ``processing`` (or claimed in
    ``stored_raw``) by a process that is gone or whose lease ran out. A pick-up takes it over
    within ``run.pickup_seconds``; meanwhile operators see it as stalled."""
    if doc.state == PROCESSING or (doc.state == STORED_RAW and doc.owner):
        return owner_gone(doc.owner, doc.lease_until)
    return False


def lease(seconds: float) -> str:
    """The end of a lease of ``seconds`` from now, as the ledger stores it."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="seconds")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:11]


def document_columns() -> list[tuple[str, type, bool]]:
    """``(name, type, required)`` for each field of :class:`Document`, in order.

    The backends derive their ``documents`` table from this (SQLite adds columns a
    newer ``Document`` has; PostgreSQL creates and reconciles its table from it),
    so a field added to the record needs no column list edited anywhere.
    """
    import types
    import typing

    hints = typing.get_type_hints(Document)
    out: list[tuple[str, type, bool]] = []
    for f in fields(Document):
        hint = hints[f.name]
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else ()
        base = next((a for a in args if a is not type(None)), hint)
        required = not args and f.default is MISSING
        out.append((f.name, base, required))
    return out
