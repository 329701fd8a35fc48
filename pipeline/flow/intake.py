"""Custody records: a station hands documents over with its MinIO key alone; the intake
on the worker side records them in the ledger.

A scanner station holds the ``station`` key and nothing else: no database, no broker.
For each settled file it puts the original into raw (``sha256/<hex>``, verified by
MinIO's SHA-256 checksum) and then a small JSON *custody record* beside it, under
:data:`RECORD_PREFIX`, naming everything the ledger needs: the ids the station chose
for the batch and the document, where the file came from, its name (display form and
exact bytes), size, SHA-256, and the raw object's version id. Raw is object-locked, so
records are never deleted and nothing here relies on deleting them.

The intake (``sohoa worker``, a processing ``sohoa watch``, ``sohoa retry --failed``)
lists the records it has not seen, and for each one inserts the batch and the document
(``stored_raw``) with the record's own ids. The insert is the idempotence: of several
intakes applying one record, exactly one creates the row, and only that one sends the
document on. A record whose bytes another live document already holds becomes a
``duplicate`` row. A record that does not parse is reported and skipped, never applied.

Record keys sort in time order (``intake/<UTC day>/<UTC time>-<document id>.json``), so
the intake lists only what lies after a cursor. Stations' clocks drift and records
arrive out of order, so each listing starts :attr:`Cursor.margin_seconds` behind the
newest key seen, and what it lists again is skipped by key (and, were it missed, by
document id): one LIST when nothing is new.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.archive.layout import raw_key
from pipeline.dossier.codes import normalize_code
from pipeline.dossier.place import FOLDER, UPLOAD, Place, checked_place
from pipeline.errors import NotFound, RejectedInput, UsageError
from pipeline.flow.context import Services
from pipeline.storage.ledger import Document, Ledger
from pipeline.storage.ledger.base import duplicate_reason
from pipeline.storage.ledger.records import now
from pipeline.storage.ledger.states import DUPLICATE, LIVE_STATES, STORED_RAW

RECORD_PREFIX = "intake/"
_PLACE_FIELDS = ("component_code", "kind", "procedure_code", "explicit_code")
FORMAT = 1
_MAX_RECORD_BYTES = 64 * 1024
_MAX_TEXT = 4096
_ID = re.compile(r"^[bd][0-9a-f]{11}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_KEY = re.compile(
    r"^intake/(\d{4}-\d{2}-\d{2})/(\d{12})-(d[0-9a-f]{11})\.json$"
)  # day / HHMMSSffffff - document id


@dataclass(frozen=True)
class CustodyRecord:
    """What a station knows of one document it handed over; the ledger row is made from it."""

    batch_id: str
    document_id: str
    seq: int  # the document's place in its batch (the drop group), from 1
    station: str | None
    origin: str  # the drop group, relative to the inbox
    folder_name: str | None  # the nearest folder above the file (a dossier code, or not)
    source_path: str  # display form
    source_name: str  # display form
    source_name_base64: str  # the name's exact bytes (urlsafe base64)
    size: int
    sha256: str
    raw_key: str
    raw_version: str | None
    taken_at: str  # the station's clock, UTC ISO 8601
    actor: str  # station:<host>:<OS user>
    # The document's place in its dossier (issue 21), from a folder below the dossier folder
    # or the API upload's parameters; ``explicit_code`` is the dossier code an upload names
    # in its URL. Optional: records written before have none, and still read.
    component_code: str | None = None
    kind: str | None = None
    procedure_code: str | None = None
    explicit_code: str | None = None

    def to_json(self) -> bytes:
        return json.dumps(
            {"format": FORMAT, **asdict(self)}, ensure_ascii=False, sort_keys=True
        ).encode("utf-8")

    @property
    def name_bytes(self) -> bytes:
        return base64.urlsafe_b64decode(self.source_name_base64.encode("ascii"))

    @classmethod
    def from_json(cls, data: bytes) -> CustodyRecord:
        """Parse and check a record; :class:`RejectedInput` for anything a station could not
        have written (it came through a key that may put anything under the prefix)."""
        if len(data) > _MAX_RECORD_BYTES:
            raise RejectedInput(f"custody record of {len(data)} bytes")
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise RejectedInput(f"custody record is not JSON: {exc}") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise RejectedInput("custody record of an unknown format")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            value = raw.get(f.name)
            optional = f.name in ("station", "folder_name", "raw_version", *_PLACE_FIELDS)
            kind = int if f.name in ("seq", "size") else str
            if value is None and optional:
                values[f.name] = None
                continue
            if not isinstance(value, kind) or isinstance(value, bool):
                raise RejectedInput(f"custody record: {f.name} is missing or not {kind.__name__}")
            if kind is str:
                if len(value) > _MAX_TEXT:
                    raise RejectedInput(f"custody record: {f.name} is too long")
                value = unicodedata.normalize("NFC", value)
            values[f.name] = value
        rec = cls(**values)
        if not (_ID.match(rec.batch_id) and rec.batch_id[0] == "b"):
            raise RejectedInput("custody record: bad batch id")
        if not (_ID.match(rec.document_id) and rec.document_id[0] == "d"):
            raise RejectedInput("custody record: bad document id")
        if not _SHA.match(rec.sha256) or rec.raw_key != raw_key(rec.sha256):
            raise RejectedInput("custody record: the raw key is not sha256/<its SHA-256>")
        if rec.size < 0 or rec.seq < 1:
            raise RejectedInput("custody record: bad size or sequence number")
        try:
            rec.name_bytes  # noqa: B018 - it must decode
        except (binascii.Error, ValueError):
            raise RejectedInput("custody record: the name's bytes are not base64") from None
        try:
            rec.place  # noqa: B018 - each part must check out
        except UsageError as exc:
            raise RejectedInput(f"custody record: {exc}") from None
        if rec.explicit_code is not None and normalize_code(rec.explicit_code) is None:
            raise RejectedInput("custody record: the dossier code is not a valid code")
        return rec

    @property
    def place(self) -> Place:
        """The place in the dossier the record gives: from the API upload when it names its
        dossier (``explicit_code``), else from the folder below the dossier folder."""
        return checked_place(
            self.component_code,
            self.kind,
            self.procedure_code,
            UPLOAD if self.explicit_code else FOLDER,
        )


def record_key(document_id: str, at: datetime) -> str:
    """``intake/<UTC day>/<UTC time to the microsecond>-<document id>.json``: time order."""
    at = at.astimezone(UTC)
    return f"{RECORD_PREFIX}{at:%Y-%m-%d}/{at:%H%M%S%f}-{document_id}.json"


def _key_parts(key: str) -> tuple[datetime, str] | None:
    m = _KEY.match(key)
    if m is None:
        return None
    at = datetime.strptime(f"{m.group(1)} {m.group(2)}", "%Y-%m-%d %H%M%S%f")
    return at.replace(tzinfo=UTC), m.group(3)


@dataclass
class Cursor:
    """How far the intake has listed: the newest key seen, and the keys it dealt with in
    the margin behind it (listed again at every pass, skipped without a look)."""

    margin_seconds: float
    path: Path | None = None  # where the newest key is kept between runs (SOHOA_HOME)
    last: str | None = None
    seen: set[str] = field(default_factory=set)
    _saved: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.last is None and self.path is not None and self.path.is_file():
            text = self.path.read_text(encoding="utf-8").strip()
            self.last = self._saved = text if _key_parts(text) else None

    def start_after(self) -> str | None:
        parts = _key_parts(self.last) if self.last else None
        if parts is None:
            return None
        back = parts[0] - timedelta(seconds=self.margin_seconds)
        return f"{RECORD_PREFIX}{back:%Y-%m-%d}/{back:%H%M%S%f}"

    def done(self, key: str) -> None:
        self.seen.add(key)
        if _key_parts(key) and (self.last is None or key > self.last):
            self.last = key

    def save(self) -> None:
        """Keep the newest key (mode 0600), so a restart lists from there, not from the start."""
        floor = self.start_after() or ""
        self.seen = {k for k in self.seen if k > floor}
        if self.path is None or self.last is None or self.last == self._saved:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.last + "\n")
        os.replace(tmp, self.path)
        self._saved = self.last


def cursor_for(services: Services) -> Cursor:
    """This machine's cursor, kept under its ``SOHOA_HOME``."""
    cfg = services.cfg
    return Cursor(cfg.run.intake_margin_seconds, cfg.home / "intake.cursor")


def list_records(services: Services, cursor: Cursor) -> list[str]:
    """Record keys after the cursor (less its margin) not dealt with yet, in time order."""
    objects = services.objects
    keys = objects.list_keys(
        objects.raw_bucket, RECORD_PREFIX, ".json", start_after=cursor.start_after()
    )
    return [k for k in keys if k not in cursor.seen]


def read_record(services: Services, key: str) -> CustodyRecord:
    objects = services.objects
    return CustodyRecord.from_json(objects.get_bytes(objects.raw_bucket, key))


def _known(ledger: Ledger, doc_id: str) -> bool:
    try:
        ledger.get_document(doc_id)
    except NotFound:
        return False
    return True


def as_document(rec: CustodyRecord, key: str) -> Document:
    """The document a record stands for, as the intake will record it (``stored_raw``)."""
    return _row(rec, key, None, None)


def _row(rec: CustodyRecord, key: str, owner: str | None, lease_until: str | None) -> Document:
    stamp = now()
    version = f" version {rec.raw_version}" if rec.raw_version else ""
    return Document(
        id=rec.document_id,
        batch_id=rec.batch_id,
        seq=rec.seq,
        station=rec.station,
        folder_name=rec.folder_name,
        source_name=rec.source_name,
        source_path=rec.source_path,
        sha256=rec.sha256,
        size=rec.size,
        media_type=None,
        raw_key=rec.raw_key,
        dossier_hint=normalize_code(rec.explicit_code),
        dossier_code=None,
        dossier_source=None,
        ordinal=None,
        state=STORED_RAW,
        stage="intake",
        reason=f"handed over by {rec.actor} at {rec.taken_at} (custody record {key});"
        f" raw copy verified by MinIO at {rec.raw_key}{version}",
        pages=None,
        pdf_key=None,
        metadata_key=None,
        text_key=None,
        mean_confidence=None,
        duplicate_of=None,
        created_at=stamp,
        updated_at=stamp,
        source_name_bytes=rec.name_bytes,
        owner=owner,
        lease_until=lease_until,
        raw_version=rec.raw_version,
        **rec.place.fields(),
    )


def apply_record(
    ledger: Ledger,
    rec: CustodyRecord,
    key: str,
    *,
    actor: str,
    owner: str | None,
    lease_until: str | None,
) -> Document | None:
    """The record's batch and document into the ledger, once; the new document (held by
    ``owner`` until ``lease_until``) for the caller to run or send, else None: already
    there (another intake was first), or recorded as a duplicate of a live document."""
    if _known(ledger, rec.document_id):
        return None
    doc = _row(rec, key, owner, lease_until)
    batch = {
        "id": rec.batch_id,
        "station": rec.station,
        "origin": rec.origin,
        "created_at": doc.created_at,
    }
    for _ in range(3):
        if ledger.restore(batch, doc, actor, doc.reason or "", stage="intake"):
            return doc
        if _known(ledger, rec.document_id):
            return None
        # Refused for its bytes: another live document holds them.
        prior = next(
            (
                d
                for d in ledger.find_documents(sha256=rec.sha256, states=list(LIVE_STATES))
                if d.parent_id is None
            ),
            None,
        )
        if prior is None:
            continue  # it settled meanwhile: try the plain insert again
        dup = dataclasses.replace(
            doc,
            state=DUPLICATE,
            stage="dedupe",
            reason=duplicate_reason(prior),
            duplicate_of=prior.id,
            pdf_key=prior.pdf_key,
            metadata_key=prior.metadata_key,
            text_key=prior.text_key,
            dossier_code=prior.dossier_code,
            pages=prior.pages,
            owner=None,
            lease_until=None,
        )
        ledger.restore(batch, dup, actor, dup.reason or "", stage="intake")
        return None
    return None


def take_in(
    services: Services,
    cursor: Cursor,
    *,
    actor: str,
    owner: str | None,
    lease_until: str | None,
    log: Callable[[str], None],
) -> list[Document]:
    """One pass of the intake: every new record applied; the documents this pass created."""
    created: list[Document] = []
    for key in list_records(services, cursor):
        parts = _key_parts(key)
        if parts is None:
            log(f"intake: {key} is not a custody record's name; skipped")
            cursor.done(key)
            continue
        if _known(services.ledger, parts[1]):  # applied before (this cursor's first pass)
            cursor.done(key)
            continue
        try:
            rec = read_record(services, key)
            if rec.document_id != parts[1]:
                raise RejectedInput("custody record: its name and its document id differ")
        except RejectedInput as exc:
            log(f"intake: {key} skipped: {exc}")
            cursor.done(key)
            continue
        doc = apply_record(
            services.ledger, rec, key, actor=actor, owner=owner, lease_until=lease_until
        )
        cursor.done(key)
        if doc is not None:
            created.append(doc)
    cursor.save()
    return created


def take_in_records(services: Services, log: Callable[[str], None]) -> list[Document]:
    """One intake pass with this machine's cursor, the documents left unclaimed for the
    caller's own recovery (``sohoa retry --failed`` runs them as it runs the rest)."""
    return take_in(
        services, cursor_for(services), actor="intake", owner=None, lease_until=None, log=log
    )
