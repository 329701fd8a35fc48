"""The document state machine of DESIGN §4, as pure data and functions.

Every backend enforces exactly these rules (:func:`check_transition`), so a
document moves the same way whether its ledger is a SQLite file on a scanning PC
or the office's PostgreSQL.
"""

from __future__ import annotations

from pipeline.errors import TransitionError

RECEIVED = "received"
STORED_RAW = "stored_raw"
PROCESSING = "processing"
ARCHIVED = "archived"
INDEXED = "indexed"
FAILED = "failed"
REJECTED = "rejected"
NEEDS_DOSSIER = "needs_dossier"
DUPLICATE = "duplicate"

STATES = (
    RECEIVED,
    STORED_RAW,
    PROCESSING,
    ARCHIVED,
    INDEXED,
    FAILED,
    REJECTED,
    NEEDS_DOSSIER,
    DUPLICATE,
)
# Where a document may go from each state. Retrying re-enters "processing" from
# failed/rejected; assigning a code re-enters it from needs_dossier; custody hands a
# file that changed while it was taken back to "received" (taken again as it is then).
# An operator in the web, whose key cannot run documents, queues one for a worker
# instead: back to "stored_raw" from failed, rejected or needs_dossier (retry, assign),
# or from indexed (a flagged document run again: a new version of the same keys).
ALLOWED: dict[str, frozenset[str]] = {
    RECEIVED: frozenset({STORED_RAW, DUPLICATE, FAILED}),
    STORED_RAW: frozenset({PROCESSING, DUPLICATE, REJECTED, FAILED, RECEIVED}),
    PROCESSING: frozenset({ARCHIVED, FAILED, REJECTED, NEEDS_DOSSIER, DUPLICATE, STORED_RAW}),
    ARCHIVED: frozenset({INDEXED}),
    INDEXED: frozenset({STORED_RAW}),
    FAILED: frozenset({PROCESSING, STORED_RAW, DUPLICATE}),
    REJECTED: frozenset({PROCESSING, STORED_RAW, DUPLICATE}),
    NEEDS_DOSSIER: frozenset({PROCESSING, STORED_RAW, DUPLICATE}),
    DUPLICATE: frozenset(),
}
# At most one document per SHA-256 may be in these states (backends enforce it with a
# unique index): the one that holds, or will hold, the archive copy of those bytes.
LIVE_STATES = (STORED_RAW, PROCESSING, ARCHIVED, INDEXED, NEEDS_DOSSIER)
# Not yet settled: some process is (or was, before it died) working on the document.
UNFINISHED_STATES = (RECEIVED, STORED_RAW, PROCESSING)
# Settled, and an operator should read the reason.
ATTENTION_STATES = (FAILED, REJECTED, NEEDS_DOSSIER, DUPLICATE)
# What `sohoa retry BATCH` re-runs besides interrupted documents.
RETRYABLE_STATES = (FAILED, REJECTED, NEEDS_DOSSIER, STORED_RAW)


def check_transition(
    doc_id: str, current: str, to_state: str, expect: tuple[str, ...] | None
) -> None:
    """Raise :class:`TransitionError` unless ``current → to_state`` is allowed (and expected)."""
    if to_state not in ALLOWED:
        raise TransitionError(f"unknown state {to_state!r}")
    if expect is not None and current not in expect:
        raise TransitionError(f"document {doc_id} is {current}, expected one of {list(expect)}")
    if to_state not in ALLOWED[current]:
        raise TransitionError(f"document {doc_id}: {current} → {to_state} is not allowed")


def batch_status(counts: dict[str, int]) -> str:
    """A batch is as bad as its worst document; ``done`` once every document is settled."""
    for state in (FAILED, REJECTED, NEEDS_DOSSIER):
        if counts.get(state):
            return state
    if any(counts.get(s) for s in UNFINISHED_STATES):
        return "in_progress"
    return "done" if counts else "empty"
