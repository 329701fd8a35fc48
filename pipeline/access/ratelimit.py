"""Calls per client per minute, counted in the access tables so every web server shares them.

The generic cell rate algorithm (GCRA): each client has one number, the *theoretical
arrival time* (TAT) its calls have reached if they came evenly at ``per_minute``. A call
is let through unless the TAT lies more than a minute's burst ahead of now; each call
moves it one interval (60 / ``per_minute`` seconds) on. So a client may send a full
minute's calls at once and then one per interval, and is never let through twice its
rate at a window's edge, as fixed per-minute windows allow. One row per client, one
write per call, under a lock (``Tx.lock``: a PostgreSQL advisory lock, SQLite's write
lock) so the servers of an office count one client together.

A refused call learns how long to wait (``Retry-After``); its refusal does not move
the TAT, so a client that keeps trying is not locked out longer than its own rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.access.db import AccessBackend, Tx

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float  # seconds until a call would be let through (0 when allowed)
    remaining: int  # calls that could follow at once


class RateLimiter:
    def __init__(
        self, backend: AccessBackend, per_minute: int, clock: Callable[[], float] = time.time
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.backend = backend
        self.per_minute = per_minute
        self.clock = clock

    def take(self, client: str) -> Decision:
        """Count one call of ``client`` if its rate allows it; say when to retry if not."""
        interval = WINDOW_SECONDS / self.per_minute
        burst = WINDOW_SECONDS - interval  # how far ahead of now the TAT may be

        def take(tx: Tx) -> Decision:
            now = self.clock()
            tx.lock(f"api_rate:{client}")
            row = tx.execute("SELECT tat FROM api_rate WHERE client = ?", (client,)).fetchone()
            tat = max(float(row["tat"]) if row else now, now)
            if tat - now > burst + 1e-9:
                return Decision(False, tat - now - burst, 0)
            new_tat = tat + interval
            tx.execute(
                "INSERT INTO api_rate (client, tat) VALUES (?, ?)"
                " ON CONFLICT (client) DO UPDATE SET tat = excluded.tat",
                (client, new_tat),
            )
            ahead = new_tat - now
            remaining = 0 if ahead > burst else math.floor((burst - ahead) / interval + 1e-9) + 1
            return Decision(True, 0.0, remaining)

        return self.backend.write(take)
