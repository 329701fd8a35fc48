"""What people read: Vietnamese words for the ledger's codes and reasons, and local times.

The ledger, the logs and ``--json`` keep their English codes and reasons (programs and
the people who debug read those); the web page and the CLI's human output pass them
through here at display time, so one table of wording serves both and nothing stored
changes. :mod:`.labels` names states, stages and roles; :mod:`.reasons` renders a
reason through a table of message patterns; :mod:`.times` turns stored UTC times into
the office's clock (Asia/Ho_Chi_Minh) and reads dates typed ``dd/mm/yyyy``.
"""

from pipeline.display.labels import (
    ROLE_LABELS,
    STAGE_LABELS,
    STATE_LABELS,
    actor_vi,
    stage_vi,
    state_vi,
)
from pipeline.display.reasons import reason_vi, untranslated
from pipeline.display.times import iso_local, local_date, local_time, parse_vn_date

__all__ = [
    "ROLE_LABELS",
    "STAGE_LABELS",
    "STATE_LABELS",
    "actor_vi",
    "iso_local",
    "local_date",
    "local_time",
    "parse_vn_date",
    "reason_vi",
    "stage_vi",
    "state_vi",
    "untranslated",
]
