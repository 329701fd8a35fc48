"""Which reads of a document share one audit row: a PDF viewer's ranged requests.

A browser's PDF viewer opens a file with one request and then fetches the ranges it
shows, dozens of them for a long document. Each is a read of the document, so none
may go unrecorded, but one row per range would bury the log. The first request of a
session for a PDF writes the row, whatever range it asks for; the same session's
requests for the same PDF in the next ``seconds`` are covered by it. The window is
counted from the row, not from the last request, so a long reading writes a row
every window. Nothing here decides to skip a row for a request no row covers.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_ENTRIES = 20000  # (session, key) pairs remembered; the oldest go first


class ReadWindow:
    """The time of the last row per (session, object), in this process's memory."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.max_entries = max_entries
        self._rows: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def due(self, session: str, key: str) -> bool:
        """Whether this read needs a row of its own; if so it is counted as written now.

        The caller that gets True writes the row and calls :meth:`forget` if it could not,
        so a failed write never leaves a window that no row covers.
        """
        now = self.clock()
        pair = (session, key)
        with self._lock:
            last = self._rows.get(pair)
            if last is not None and self.seconds > 0 and now - last < self.seconds:
                return False
            self._rows[pair] = now
            self._rows.move_to_end(pair)
            while len(self._rows) > self.max_entries:
                self._rows.popitem(last=False)
            return True

    def forget(self, session: str, key: str) -> None:
        with self._lock:
            self._rows.pop((session, key), None)
