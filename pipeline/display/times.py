"""Times for people in the office's clock; ISO 8601 with its offset for programs.

The ledger and the audit log store UTC (``2026-12-07T16:22:47+00:00``); a clerk reads
``07/12/2026 23:22``. Vietnam keeps one offset all year, so without the system's zone
database the fixed +07:00 gives the same answer.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import cache

from pipeline.config import DISPLAY_TIMEZONE
from pipeline.errors import QueryError

_VN_DATE_RE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


@cache
def office_zone() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(DISPLAY_TIMEZONE)
    except Exception:  # no zone database (a slim container): Vietnam has no summer time
        return timezone(timedelta(hours=7), "ICT")


def _parse(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    if moment.tzinfo is None:  # the ledger writes UTC; a bare time is read as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(office_zone())


def local_time(value: str | datetime | None, empty: str = "—") -> str:
    """``dd/mm/yyyy HH:MM`` in the office's clock; text that is not a time is shown as is."""
    moment = _parse(value)
    if moment is None:
        return empty if value in (None, "") else str(value)
    return moment.strftime("%d/%m/%Y %H:%M")


def local_date(value: str | date | None, empty: str = "—") -> str:
    """``dd/mm/yyyy``: a date as it is, a time converted to the office's day first."""
    if value is None or value == "":
        return empty
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.strftime("%d/%m/%Y")
    text = str(value)
    if len(text) == 10:
        try:
            return date.fromisoformat(text).strftime("%d/%m/%Y")
        except ValueError:
            return text
    moment = _parse(value)
    return moment.strftime("%d/%m/%Y") if moment else text


def iso_local(value: str | datetime | None) -> str | None:
    """ISO 8601 with the office's offset (``2026-12-07T23:22:47+07:00``) for JSON."""
    moment = _parse(value)
    if moment is None:
        return None if value in (None, "") else str(value)
    return moment.isoformat(timespec="seconds")


def parse_vn_date(raw: str | None, name: str = "ngày") -> str | None:
    """A date typed ``dd/mm/yyyy`` (or ISO ``yyyy-mm-dd``) → ISO, or None when left empty.

    A date field on a form is plain text with this format, not ``<input type=date>``,
    whose shown format follows the browser's locale (``mm/dd/yyyy`` on an English one).
    """
    text = (raw or "").strip()
    if not text:
        return None
    found = _VN_DATE_RE.fullmatch(text)
    try:
        if found:
            day, month, year = (int(g) for g in found.groups())
            return date(year, month, day).isoformat()
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise QueryError(
        f"{name} «{text[:20]}» không phải ngày hợp lệ: gõ theo dạng dd/mm/yyyy, ví dụ 20/11/2026"
    )
