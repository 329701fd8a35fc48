"""A document's place in its dossier: component (MaThanhPhanHoSo), kind, procedure (MaTTHC).

Minimal stand-in with the signatures of the issue-21 contract (the ``handoff`` stream owns
this module; at the merge its version is kept). The codes travel into object metadata,
URLs and the national portal's JSON, so they are held to a safe charset: letters, digits,
``.``, ``-`` and ``_``, at most 64 characters, after NFC and trimming.
"""

from __future__ import annotations

import re

from pipeline.errors import UsageError
from pipeline.lang.textnorm import nfc

KINDS: tuple[str, ...] = ("submitted", "result")
_CODE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _code(text: str, what: str) -> str:
    cleaned = nfc(text or "").strip()
    if not _CODE_RE.fullmatch(cleaned):
        raise UsageError(
            f"{what} is 1-64 characters of letters, digits, '.', '-' and '_', got {text[:80]!r}"
        )
    return cleaned


def valid_component(text: str) -> str:
    """A component code (MaThanhPhanHoSo), trimmed; :class:`UsageError` if not safe."""
    return _code(text, "a component code")


def valid_procedure(text: str) -> str:
    """A procedure code (MaTTHC), trimmed; :class:`UsageError` if not safe."""
    return _code(text, "a procedure code")


def valid_kind(text: str) -> str:
    """``submitted`` (a paper the citizen handed in) or ``result`` (what the office issued)."""
    cleaned = nfc(text or "").strip().lower()
    if cleaned not in KINDS:
        raise UsageError(f"kind is submitted or result, got {text[:40]!r}")
    return cleaned
