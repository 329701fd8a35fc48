"""Anchoring from the processes that append: now and then, after the row is committed.

Every process that appends to the audit log (the web app, workers, an operator's
or administrator's commands) writes the head of the chain as an anchor
(:mod:`pipeline.access.anchors`) at most once per ``audit.anchor_seconds``, so
rows can only be rewritten unnoticed for that long after they were written.

The anchor is written after the append's transaction has committed, never inside
it: the chain's lock is not held while MinIO is asked, and an append never fails
because MinIO is away. A failed anchor is logged (once per run of failures) and
tried again at the next append, but not more often than every few seconds, so a
MinIO that hangs costs one slow request now and then, not every request. While
one thread of the process is writing an anchor, the others do not wait for it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

from pipeline.access.anchors import AnchorStore, Head

log = logging.getLogger(__name__)
_RETRY_SECONDS = 10.0  # after a failed anchor, the soonest the next append tries again


class Anchorer:
    """One process's throttled anchor writer (shared by every audit log it opens)."""

    def __init__(
        self,
        store: AnchorStore,
        every: float,
        *,
        role: str | None,
        identity: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.every = every
        self.role = role
        self.identity = identity
        self.clock = clock
        self.host = socket.gethostname()
        self.last_key: str | None = None
        self._next = float("-inf")  # the first append of a process anchors at once
        self._anchored: Head | None = None
        self._failing = False
        self._busy = threading.Lock()

    def after_append(self, head: Head) -> str | None:
        """Anchor ``head`` when it is time; the key written, else None. Never raises for
        storage: the append it follows has already succeeded and must stay so."""
        if self.clock() < self._next or not self._busy.acquire(blocking=False):
            return None
        try:
            now = self.clock()
            if now < self._next or head == self._anchored:
                return None
            try:
                key = self.store.write(head, host=self.host, role=self.role, identity=self.identity)
            except Exception as exc:  # whatever went wrong, the row is in
                self._next = now + min(self.every, _RETRY_SECONDS)
                if not self._failing:
                    log.warning("audit anchor not written (tried again later): %s", exc)
                self._failing = True
                return None
            if self._failing:
                log.warning("audit anchor written again: %s", key)
            self._failing = False
            self._anchored, self._next, self.last_key = head, now + self.every, key
            return key
        finally:
            self._busy.release()
