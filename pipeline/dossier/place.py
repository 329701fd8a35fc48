"""A document's place in its dossier, as the national portal's dossier sync names it.

A one-stop system files every copy under the dossier (``MaHoSo``) as a submitted paper
(``TaiLieuNop``) or a result (``DanhSachGiayToKetQua``), each with its component code
(``MaThanhPhanHoSo``); the dossier carries its procedure code (``MaTTHC``). sohoa keeps
the same three things per document: ``component_code``, ``kind`` (:data:`KINDS`) and
``procedure_code``.

They arrive from four places, and :func:`effective_place` decides between them:

- an operator (``sohoa assign … --component``, the web's assign form): ``assigned``,
  above everything;
- a cover sheet's QR (``sohoa cover-sheet CODE --component C --kind result``): ``cover``,
  for the document it starts;
- the API upload's parameters (``upload``) or a folder below the dossier folder
  (``inbox/<station>/<code>/<component>/file``: ``folder``), for the whole file.

The codes become folder names, URL parameters and index values, so they are held to a
safe charset: ASCII letters, digits, ``.``, ``-`` and ``_``, at most 64 characters,
after NFC and trimming. A component given without a kind is a ``submitted`` paper
(what a reception desk scans); with neither, both stay unknown (``None``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pipeline.errors import UsageError
from pipeline.lang.textnorm import nfc

SUBMITTED = "submitted"
RESULT = "result"
KINDS = (SUBMITTED, RESULT)
MAX_CODE_CHARS = 64
_CODE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Where a document's place came from (``Document.place_source``), strongest first.
ASSIGNED = "assigned"
COVER = "cover"
UPLOAD = "upload"
FOLDER = "folder"


def _code(text: str | None, what: str) -> str:
    value = nfc(text or "").strip()
    if not _CODE_RE.fullmatch(value) or value in (".", ".."):
        raise UsageError(
            f"{what} {text!r} must be 1-{MAX_CODE_CHARS} characters of ASCII letters, digits,"
            " '.', '-' and '_'"
        )
    return value


def valid_component(text: str) -> str:
    """The component code (MaThanhPhanHoSo), checked; :class:`UsageError` otherwise."""
    return _code(text, "the component code")


def valid_procedure(text: str) -> str:
    """The procedure code (MaTTHC), checked; :class:`UsageError` otherwise."""
    return _code(text, "the procedure code")


def valid_kind(text: str) -> str:
    """``submitted`` or ``result`` (any case, trimmed); :class:`UsageError` otherwise."""
    value = nfc(text or "").strip().lower()
    if value not in KINDS:
        raise UsageError(f"the kind {text!r} must be one of {', '.join(KINDS)}")
    return value


@dataclass(frozen=True)
class Place:
    """Where a document sits in its dossier; any part may be unknown (``None``)."""

    component_code: str | None = None
    kind: str | None = None
    procedure_code: str | None = None
    source: str | None = None  # ASSIGNED, COVER, UPLOAD, FOLDER

    @property
    def empty(self) -> bool:
        return self.component_code is None and self.kind is None and self.procedure_code is None

    def with_default_kind(self) -> Place:
        """A component without a kind is a submitted paper."""
        if self.component_code is not None and self.kind is None:
            return replace(self, kind=SUBMITTED)
        return self

    def fields(self) -> dict[str, str | None]:
        """The ledger's columns (``Document.component_code`` …)."""
        return {
            "component_code": self.component_code,
            "kind": self.kind,
            "procedure_code": self.procedure_code,
            "place_source": None if self.empty else self.source,
        }


def checked_place(
    component: str | None, kind: str | None, procedure: str | None, source: str
) -> Place:
    """A place from a person's or a system's input, every given part checked (UsageError)."""
    return Place(
        valid_component(component) if component is not None else None,
        valid_kind(kind) if kind is not None else None,
        valid_procedure(procedure) if procedure is not None else None,
        source,
    ).with_default_kind()


def folder_component(name: str | None) -> str | None:
    """A folder's name as a component code, or None when it cannot be one (it is then
    just a folder: ``scans``, ``2026 (copy)``…)."""
    try:
        return valid_component(name) if name else None
    except UsageError:
        return None


def effective_place(row: Place, cover: Place | None) -> Place:
    """The place a document is archived with: the ledger row's (folder, upload or an
    operator's) and the place on the cover sheet that started it, if any.

    An operator's decision stands. Otherwise the cover sheet, which names this one
    document, wins over what was said for the whole file: its component (with its own
    kind, or ``submitted``), or its kind alone; its procedure code, or the file's.
    """
    if row.source == ASSIGNED or cover is None or cover.empty:
        return row.with_default_kind()
    if cover.component_code is not None:
        component, kind = cover.component_code, cover.kind
    else:
        component, kind = row.component_code, cover.kind or row.kind
    return Place(
        component, kind, cover.procedure_code or row.procedure_code, COVER
    ).with_default_kind()


def amended(
    current: Place, component: str | None, kind: str | None, procedure: str | None
) -> Place:
    """An operator's change to a document's place: the parts given (each checked) replace
    the current ones, the rest stay; the place is then the operator's (``assigned``)."""
    given = checked_place(component, kind, procedure, ASSIGNED)
    return Place(
        given.component_code or current.component_code,
        (kind and given.kind) or current.kind,
        given.procedure_code or current.procedure_code,
        ASSIGNED,
    ).with_default_kind()
