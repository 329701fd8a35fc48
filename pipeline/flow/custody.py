"""Taking a dropped file into custody: ledger row, verified raw copy, then move out of the inbox.

The order is the guarantee: the file is recorded as ``received``, its bytes are
uploaded to the raw bucket and read back to the same SHA-256, and only then is
the local file moved (to the spool, where processing reads it). A crash or an
outage at any step leaves the file where it was or a verified copy in MinIO,
never neither. Raw keys are content-addressed, so re-uploading is harmless.

A file can still change while it is taken: a writer the watcher cannot see (on
another machine) that pauses longer than the stability window, then carries on
through its open handle, which follows the file into the spool. So the bytes are
hashed through one descriptor whose size and mtime must not move meanwhile, and
what arrived in the spool is checked again (size, mtime, SHA-256). If it is not
what was recorded and uploaded, the file goes back to the inbox and its document
back to ``received``; the watcher takes it again once it is stable, as it is then,
under the same document. The raw copy of the earlier bytes stays (raw is never
pruned) and the event names it. Processing never gets bytes other than the hash
recorded for the document.

Names are bytes (:mod:`pipeline.names`): the ledger gets the exact bytes of the
file name beside its display form, and the raw object's metadata can give them back.

A scanner station has no ledger: :func:`hand_over` puts the original and then its
custody record (:mod:`pipeline.flow.intake`) into raw, and removes the file from the
inbox only once MinIO has confirmed both. Either way the raw object's version id is
recorded (``raw_version``): processing reads that version, whatever is put over the
same key later.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import pwd
import shutil
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline import faults, names
from pipeline.archive.layout import raw_key
from pipeline.config import Config
from pipeline.dossier.codes import normalize_code
from pipeline.dossier.place import FOLDER, Place, checked_place
from pipeline.errors import DuplicateContent, UsageError
from pipeline.flow.intake import CustodyRecord, record_key
from pipeline.storage.ledger import Document, Ledger, mark_duplicate, this_process
from pipeline.storage.ledger.states import RECEIVED, STORED_RAW, UNFINISHED_STATES
from pipeline.storage.objects import ObjectStore, sha256_file

_CHUNK = 1024 * 1024
# S3 user metadata travels in headers of about 2 KB in all; the exact name is in the
# base64 field, so the display form may be shortened.
_META_NAME_CHARS = 300


class FileChanged(OSError):
    """The file changed while it was being taken; it is (back) in the inbox, to take later."""


@dataclass(frozen=True)
class Fingerprint:
    """What was read: the SHA-256 and the identity of the file it came from."""

    sha256: str
    size: int
    mtime_ns: int
    dev: int
    ino: int
    nlink: int

    def same_file(self, st: os.stat_result) -> bool:
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (
            self.dev,
            self.ino,
            self.size,
            self.mtime_ns,
        )


def spool_path(cfg: Config, doc_id: str) -> Path:
    return cfg.spool_dir / doc_id


def fingerprint(path: Path) -> Fingerprint:
    """Hash a regular file through one descriptor; raise FileChanged if it moved meanwhile.

    ``O_NOFOLLOW | O_NONBLOCK``: a name swapped for a symlink or a FIFO since it was
    scanned fails here instead of being followed or blocking the caller.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", names.display(path))
        digest = hashlib.sha256()
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise FileChanged(f"{names.display(path)} changed while it was being read")
    return Fingerprint(
        digest.hexdigest(),
        after.st_size,
        after.st_mtime_ns,
        after.st_dev,
        after.st_ino,
        after.st_nlink,
    )


def _difference(path: Path, fp: Fingerprint, same_inode: bool) -> str | None:
    """How the file at ``path`` differs from what was fingerprinted, or None."""
    st = os.stat(path)
    if st.st_size != fp.size:
        return f"{fp.size} bytes when taken, {st.st_size} now"
    if same_inode and st.st_mtime_ns != fp.mtime_ns:
        return "modified after it was read"
    if sha256_file(path) != fp.sha256:
        return "its content changed after it was read"
    return None


def _take_out(src: Path, dest: Path) -> bool:
    """Move ``src`` to ``dest``: True for a rename (same inode); False for a copy, which is
    fsynced but leaves ``src`` for the caller to unlink once the copy is checked."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dest)
        return True
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    tmp = dest.with_name(dest.name + ".part")
    shutil.copyfile(src, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, dest)
    return False


def _return_to_inbox(spooled: Path, original: Path, doc_id: str) -> Path:
    """Put a file back where it was found (or beside it, if that name was taken since)."""
    original.parent.mkdir(parents=True, exist_ok=True)
    for candidate in (original, original.with_name(f"returned-{doc_id}{original.suffix[:16]}")):
        try:
            os.link(spooled, candidate)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            with open(candidate, "xb") as out, open(spooled, "rb") as src:
                shutil.copyfileobj(src, out)
                out.flush()
                os.fsync(out.fileno())
        spooled.unlink()
        return candidate
    raise FileExistsError(f"cannot put {names.display(original)} back: both names are taken")


def _raw_meta(name: str, doc: Document) -> dict[str, object]:
    """The raw object's metadata: what a ledger rebuilt from raw needs to know of the file.

    The name to read and, since HTTP headers trim spaces and the display form escapes,
    its exact bytes (base64); where it came from (station, folder, batch, document).
    """
    return _meta(name, doc.station, doc.folder_name, doc.size, doc.batch_id, doc.id)


def _meta(
    name: str | bytes,
    station: str | None,
    folder: str | None,
    size: int,
    batch_id: str,
    doc_id: str,
) -> dict[str, object]:
    return {
        "original-name": names.display(name)[:_META_NAME_CHARS],
        "original-name-base64": base64.urlsafe_b64encode(names.raw(name)).decode("ascii"),
        "station": (station or "")[:_META_NAME_CHARS],
        "folder": (folder or "")[:_META_NAME_CHARS],
        "size": size,
        "batch-id": batch_id,
        "document-id": doc_id,
    }


def station_actor() -> str:
    """``station:<host>:<OS user>``: who handed a document over, as its custody record says."""
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = str(os.getuid())
    return f"station:{socket.gethostname()}:{user}"


def hand_over(
    objects: ObjectStore,
    path: Path,
    *,
    batch_id: str,
    doc_id: str,
    seq: int,
    station: str | None,
    origin: str,
    folder_name: str | None,
    actor: str,
    known: Fingerprint | None = None,
    component_code: str | None = None,
    kind: str | None = None,
    procedure_code: str | None = None,
    dossier_code: str | None = None,
) -> tuple[CustodyRecord, str]:
    """A station's custody, with its MinIO key alone: the original into raw, its custody
    record beside it (:mod:`pipeline.flow.intake`), and only once MinIO has confirmed both,
    the file out of the inbox.

    ``component_code``, ``kind`` and ``procedure_code`` are the document's place in its
    dossier (a folder below the dossier folder, or an API upload's parameters), and
    ``dossier_code`` the dossier an API upload names in its URL; each is checked here
    (:class:`~pipeline.errors.UsageError`) before anything is stored.

    A crash before the end leaves the file in the inbox, to be taken again: the raw key is
    its content, and a second record for the same bytes becomes a duplicate at the
    intake. A file that changed after it was hashed is refused by MinIO's checksum and
    stays; one that changed after it was uploaded stays in the inbox too (FileChanged),
    to be taken again as it is then, while the bytes already handed over are a document
    of their own (raw and its record are locked: nothing can take them back).
    """
    place = checked_place(component_code, kind, procedure_code, FOLDER)
    explicit = None
    if dossier_code is not None:
        explicit = normalize_code(dossier_code)
        if explicit is None:
            raise UsageError(f"not a valid dossier code: {dossier_code!r}")
    fp = known or fingerprint(path)
    if known is not None and not known.same_file(os.lstat(path)):
        raise FileChanged(f"{names.display(path)} changed since it was read")
    station = names.display(station) if station else station
    folder_name = names.display(folder_name) if folder_name else folder_name
    original = raw_key(fp.sha256)
    faults.crash_point("before_raw_upload")
    version = objects.put_file(
        objects.raw_bucket,
        original,
        path,
        fp.sha256,
        meta=_meta(path.name, station, folder_name, fp.size, batch_id, doc_id),
    )
    faults.crash_point("after_raw_upload")
    taken_at = datetime.now(UTC)
    record = CustodyRecord(
        batch_id=batch_id,
        document_id=doc_id,
        seq=seq,
        station=station,
        origin=names.display(origin),
        folder_name=folder_name,
        source_path=names.display(path),
        source_name=names.display(path.name),
        source_name_base64=base64.urlsafe_b64encode(names.raw(path.name)).decode("ascii"),
        size=fp.size,
        sha256=fp.sha256,
        raw_key=original,
        raw_version=version,
        taken_at=taken_at.isoformat(timespec="seconds"),
        actor=actor,
        component_code=place.component_code,
        kind=place.kind,
        procedure_code=place.procedure_code,
        explicit_code=explicit,
    )
    key = record_key(doc_id, taken_at)
    objects.put_bytes(objects.raw_bucket, key, record.to_json(), content_type="application/json")
    faults.crash_point("after_custody_record")
    try:
        st = os.lstat(path)
        change = None if fp.same_file(st) else "modified after it was read"
        change = change or _difference(path, fp, same_inode=True)
    except FileNotFoundError:
        return record, key  # moved away by its owner: the bytes are in custody all the same
    if change:
        raise FileChanged(
            f"{names.display(path)} changed after it was handed over ({change}): the bytes"
            f" handed over are document {doc_id}; the file stays in the inbox and is taken"
            " again as it is then"
        )
    path.unlink()
    return record, key


def _resumable(
    ledger: Ledger, cfg: Config, source_path: str, name: bytes, sha256: str
) -> Document | None:
    """A document this same file got before custody was complete, to carry on with.

    A ``received`` one (a crash before the raw copy, or handed back because the file
    changed) takes the file as it is now, whatever its bytes; a ``stored_raw`` one
    only if the bytes are the ones its raw copy holds.
    """
    for doc in ledger.find_documents(source_path=source_path, states=[RECEIVED, STORED_RAW]):
        if doc.parent_id is not None:  # a later document of a split stack, not a file
            continue
        if doc.source_name_bytes not in (None, name) or spool_path(cfg, doc.id).exists():
            continue
        if doc.state == RECEIVED or doc.sha256 == sha256:
            return doc
    return None


def accept_file(
    ledger: Ledger,
    objects: ObjectStore,
    cfg: Config,
    path: Path,
    *,
    batch_id: str | Callable[[], str],
    station: str | None,
    folder_name: str | None,
    dossier_hint: str | None,
    actor: str,
    keep_source: bool = False,
    known: Fingerprint | None = None,
    twin: str | None = None,
    place: Place | None = None,
) -> Document:
    """Record ``path``, store its verified raw copy, and move it into the spool.

    ``batch_id`` may be a function that creates the batch: the watcher calls it only
    when the file needs a new document. ``known`` is a fingerprint the caller already
    took (the file must still match it). ``twin`` is a settled document of this watcher's
    drop with the same SHA-256: the file is then recorded as its duplicate. ``place`` is
    the document's place in its dossier (a folder below the dossier folder). ``keep_source``
    leaves the file in place (``sohoa process`` on a user's own files); the spool then
    gets a copy. Raises FileChanged when the file changed while it was taken.
    """
    fp = known or fingerprint(path)
    if known is not None and not known.same_file(os.lstat(path)):
        raise FileChanged(f"{names.display(path)} changed since it was read")
    name_raw = names.raw(path.name)
    source_path = names.display(path)
    station = names.display(station) if station else station
    folder_name = names.display(folder_name) if folder_name else folder_name
    owner = str(this_process())
    doc = _resumable(ledger, cfg, source_path, name_raw, fp.sha256)
    if doc is None:
        doc = ledger.add_document(
            batch_id if isinstance(batch_id, str) else batch_id(),
            actor=actor,
            source_name=names.display(path.name),
            source_name_bytes=name_raw,
            source_path=source_path,
            sha256=fp.sha256,
            size=fp.size,
            station=station,
            folder_name=folder_name,
            dossier_hint=dossier_hint,
            owner=owner,
            **(place.fields() if place is not None else {}),
        )
    else:
        doc = ledger.update_fields(doc.id, sha256=fp.sha256, size=fp.size, owner=owner)
    key = raw_key(fp.sha256)
    if doc.state == RECEIVED:
        prior = ledger.get_document(twin) if twin else None
        if (
            prior
            and prior.state not in UNFINISHED_STATES
            and (prior.sha256, prior.raw_key) == (fp.sha256, key)
        ):
            # The twin's custody verified these very bytes in raw already.
            ledger.update_fields(doc.id, raw_key=key, raw_version=prior.raw_version)
            doc = mark_duplicate(ledger, doc.id, prior, actor=actor)
            if not keep_source:
                path.unlink(missing_ok=True)
            return doc
        faults.crash_point("before_raw_upload")
        version = objects.put_file(
            objects.raw_bucket, key, path, fp.sha256, meta=_raw_meta(path.name, doc)
        )
        faults.crash_point("after_raw_upload")
        try:
            doc = ledger.transition(
                doc.id,
                STORED_RAW,
                actor=actor,
                stage="ingest",
                reason=f"raw copy verified at {objects.raw_bucket}/{key}"
                + (f" (version {version})" if version else ""),
                raw_key=key,
                raw_version=version,
            )
        except DuplicateContent as dup:
            # The same bytes are already in custody: keep the verified raw copy, record the
            # duplicate, and clear the inbox entry.
            ledger.update_fields(doc.id, raw_key=key, raw_version=version)
            doc = mark_duplicate(ledger, doc.id, dup.prior, actor=actor)
            if not keep_source:
                path.unlink(missing_ok=True)
            return doc
    dest = spool_path(cfg, doc.id)
    if keep_source:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        if _difference(dest, fp, same_inode=False):
            dest.unlink()  # processing then reads the raw copy: the bytes that were recorded
    else:
        renamed = _take_out(path, dest)
        change = _difference(dest, fp, same_inode=renamed)
        if change:
            _hand_back(ledger, doc, dest, renamed, path, change, actor)
        if not renamed:
            path.unlink()
    faults.crash_point("after_spool")
    return doc


def _hand_back(
    ledger: Ledger,
    doc: Document,
    spooled: Path,
    renamed: bool,
    original: Path,
    change: str,
    actor: str,
) -> None:
    """The file is not what was recorded: back to the inbox first, then back to ``received``.

    In that order, a crash in between leaves the document ``stored_raw`` (processed from
    its raw copy, the earlier bytes) and the file in the inbox (taken again): one
    document too many, never one lost.
    """
    if renamed:
        back = _return_to_inbox(spooled, original, doc.id)
    else:  # a copy to another filesystem: the original never left
        spooled.unlink()
        back = original
    ledger.transition(
        doc.id,
        RECEIVED,
        actor=actor,
        stage="ingest",
        reason=f"the file changed while it was taken ({change}); back in the inbox as"
        f" {names.display(back.name)}, to be taken again as it is then"
        f" (raw {doc.raw_key} keeps the earlier bytes)",
    )
    raise FileChanged(f"{names.display(original)} changed while it was taken: {change}")
