"""Uploads through ``/api/v1``: which document each one is, kept by idempotency key.

A system that sends a file and loses the answer (a timeout, a dropped connection) sends
it again with the same ``Idempotency-Key``. The first request reserves a row here
before anything is handed over: the key, the bytes' SHA-256, what was asked (dossier,
component, kind, name) and the document and batch ids the upload will carry. A request
with the same key finds that row and gets the same document:

- same bytes and request, already handed over: the same answer, nothing done again;
- same bytes and request, not handed over yet (the first one failed half-way, or is still
  running): custody runs again *with the row's ids*. The original's key is its content
  and a second custody record of the same document id is skipped by the intake, so two
  runs make one document, never two;
- other bytes or another request under the same key: refused (the caller answers 409).

Every upload has a row, with or without a key, so ``GET /api/v1/documents/{id}`` knows a
document from its 202 on, before a worker's intake has recorded it in the ledger.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.access.db import AccessBackend, Tx, iso_utc


@dataclass(frozen=True)
class Upload:
    document_id: str
    client: str
    idempotency_key: str | None
    batch_id: str
    dossier_code: str
    sha256: str
    request: dict[str, Any]  # what was asked besides the bytes: component, kind, name, …
    created_at: str
    handed_over_at: str | None

    def same_request(self, sha256: str, dossier_code: str, request: dict[str, Any]) -> bool:
        return (self.sha256, self.dossier_code, self.request) == (sha256, dossier_code, request)


def _upload(row: Any) -> Upload:
    return Upload(
        document_id=row["document_id"],
        client=row["client"],
        idempotency_key=row["idempotency_key"],
        batch_id=row["batch_id"],
        dossier_code=row["dossier_code"],
        sha256=row["sha256"],
        request=json.loads(row["request"]),
        created_at=row["created_at"],
        handed_over_at=row["handed_over_at"],
    )


class UploadStore:
    def __init__(self, backend: AccessBackend, clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.clock = clock

    def reserve(
        self,
        client: str,
        key: str | None,
        *,
        document_id: str,
        batch_id: str,
        dossier_code: str,
        sha256: str,
        request: dict[str, Any],
    ) -> tuple[Upload, bool]:
        """The row for ``(client, key)``: a new one with these ids (True), or the one an
        earlier request with the same key made (False), whatever it holds."""
        stamp = iso_utc(self.clock())
        text = json.dumps(request, ensure_ascii=False, sort_keys=True)

        def reserve(tx: Tx) -> tuple[Upload, bool]:
            tx.execute(
                "INSERT INTO api_uploads (document_id, client, idempotency_key, batch_id,"
                " dossier_code, sha256, request, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (client, idempotency_key) DO NOTHING",
                (document_id, client, key, batch_id, dossier_code, sha256, text, stamp),
            )
            row = tx.execute(
                "SELECT * FROM api_uploads WHERE document_id = ?", (document_id,)
            ).fetchone()
            if row is not None:  # ours (also after a retried commit)
                return _upload(row), True
            row = tx.execute(
                "SELECT * FROM api_uploads WHERE client = ? AND idempotency_key = ?",
                (client, key),
            ).fetchone()
            return _upload(row), False

        return self.backend.write(reserve)

    def handed_over(self, document_id: str) -> None:
        """Custody of this upload is complete (its original and record are in raw)."""
        stamp = iso_utc(self.clock())
        self.backend.write(
            lambda tx: tx.execute(
                "UPDATE api_uploads SET handed_over_at = ?"
                " WHERE document_id = ? AND handed_over_at IS NULL",
                (stamp, document_id),
            )
        )

    def get(self, document_id: str) -> Upload | None:
        row = self.backend.read(
            lambda tx: tx.execute(
                "SELECT * FROM api_uploads WHERE document_id = ?", (document_id,)
            ).fetchone()
        )
        return _upload(row) if row else None

    def for_dossier(self, dossier_code: str) -> list[Upload]:
        """Every upload sent to this dossier, oldest first."""
        rows = self.backend.read(
            lambda tx: tx.execute(
                "SELECT * FROM api_uploads WHERE dossier_code = ? ORDER BY created_at, document_id",
                (dossier_code,),
            ).fetchall()
        )
        return [_upload(r) for r in rows]
