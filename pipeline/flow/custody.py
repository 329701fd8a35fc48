"""Taking a dropped file into custody: ledger row, verified raw copy, then move out of the inbox.

The order is the guarantee: the file is recorded as ``received``, its bytes are
uploaded to the raw bucket and read back to the same SHA-256, and only then is
the local file moved (to the spool, where processing reads it). A crash or an
outage at any step leaves the file where it was or a verified copy in MinIO,
never neither. Raw keys are content-addressed, so re-uploading is harmless.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pipeline import faults
from pipeline.archive.layout import raw_key
from pipeline.config import Config
from pipeline.errors import DuplicateContent
from pipeline.lang.textnorm import nfc
from pipeline.storage.ledger import Document, Ledger, mark_duplicate, this_process
from pipeline.storage.ledger.states import RECEIVED, STORED_RAW
from pipeline.storage.objects import ObjectStore, sha256_file


def _hash_and_size(path: Path) -> tuple[str, int]:
    before = path.stat().st_size
    digest = sha256_file(path)
    after = path.stat().st_size
    if before != after:
        raise OSError(f"{path} changed while it was being read")
    return digest, after


def spool_path(cfg: Config, doc_id: str) -> Path:
    return cfg.spool_dir / doc_id


def _move(src: Path, dest: Path) -> None:
    """Move across filesystems safely: copy, fsync, then unlink the source."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dest)
        return
    except OSError:
        pass
    tmp = dest.with_name(dest.name + ".part")
    shutil.copyfile(src, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, dest)
    src.unlink()


def accept_file(
    ledger: Ledger,
    objects: ObjectStore,
    cfg: Config,
    path: Path,
    *,
    batch_id: str,
    station: str | None,
    folder_name: str | None,
    dossier_hint: str | None,
    actor: str,
    keep_source: bool = False,
) -> Document:
    """Record ``path``, store its verified raw copy, and move it into the spool.

    ``keep_source`` leaves the file in place (``sohoa process`` on a user's own
    files); the spool then gets a copy.
    """
    sha256, size = _hash_and_size(path)
    resumable = [
        d
        for d in ledger.find_documents(
            sha256=sha256, source_path=str(path), states=[RECEIVED, STORED_RAW]
        )
        if not spool_path(cfg, d.id).exists()
    ]
    owner = str(this_process())
    if resumable:
        doc = ledger.update_fields(resumable[0].id, owner=owner)
    else:
        doc = ledger.add_document(
            batch_id,
            actor=actor,
            source_name=nfc(path.name),
            source_path=str(path),
            sha256=sha256,
            size=size,
            station=station,
            folder_name=folder_name,
            dossier_hint=dossier_hint,
            owner=owner,
        )
    if doc.state == RECEIVED:
        key = raw_key(sha256)
        faults.crash_point("before_raw_upload")
        objects.put_file(
            objects.raw_bucket,
            key,
            path,
            sha256,
            meta={
                "original-name": nfc(path.name),
                "station": station or "",
                "size": size,
                "folder": folder_name or "",
                "batch-id": doc.batch_id,
                "document-id": doc.id,
            },
        )
        faults.crash_point("after_raw_upload")
        try:
            doc = ledger.transition(
                doc.id,
                STORED_RAW,
                actor=actor,
                stage="ingest",
                reason=f"raw copy verified at {objects.raw_bucket}/{key}",
                raw_key=key,
            )
        except DuplicateContent as dup:
            # The same bytes are already in custody: keep the verified raw copy, record the
            # duplicate, and clear the inbox entry.
            ledger.update_fields(doc.id, raw_key=key)
            doc = mark_duplicate(ledger, doc.id, dup.prior, actor=actor)
            if not keep_source:
                path.unlink(missing_ok=True)
            return doc
    dest = spool_path(cfg, doc.id)
    if keep_source:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    else:
        _move(path, dest)
    faults.crash_point("after_spool")
    return doc
