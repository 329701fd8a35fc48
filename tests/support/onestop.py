"""A reference one-stop system's webhook receiver: a real HTTP server on loopback.

It does what the README tells a receiver to do, written here from that description
and not with sohoa's own code (a fault in sohoa's signing must not hide behind the
same fault in the check): the HMAC-SHA256 of the body with the shared secret must match
``X-Sohoa-Signature``; the body's ``timestamp`` (the same as ``X-Sohoa-Timestamp``)
must be recent; an event id already taken is acknowledged and not taken again.

Tests drive its faults: answer ``500``, hold the request past the dispatcher's time-out,
refuse connections (the port closed), fail one dossier only, or hold each request until
the test lets it go (a dispatcher killed mid-delivery). It records every request, what
it accepted in order, the duplicates, and any two requests for one event at the same
moment (which must never happen).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.minio import free_port

OK = "ok"
ERROR = "error"  # 500 to everything
SLOW = "slow"  # answer only after ``slow_seconds`` (past the dispatcher's time-out)
HOLD = "hold"  # keep each request until release() (a dispatcher killed meanwhile)


@dataclass
class Received:
    """One request as it arrived."""

    event_id: int | None
    body: bytes
    headers: dict[str, str]
    verdict: str  # accepted, duplicate, forged, stale, refused (a fault was asked for)
    at: float


@dataclass
class Receiver:
    secret: str
    tolerance: float = 300.0
    slow_seconds: float = 5.0
    pause_seconds: float = 0.0  # every accepted request takes this long (overlap windows)
    port: int = field(default_factory=free_port)
    mode: str = OK
    fail_dossiers: set[str] = field(default_factory=set)  # these get 500 whatever the mode
    clock_offset: float = 0.0  # the receiver's clock ahead by this much (replays by age)
    requests: list[Received] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    overlaps: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _in_flight: dict[int, int] = field(default_factory=dict)
    _released: threading.Event = field(default_factory=threading.Event)
    _arrived: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sohoa/events"

    # -- running -------------------------------------------------------------------------
    def up(self) -> Receiver:
        """Listen (again, on the same port)."""
        if self._server is not None:
            return self
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver.handle(body, {k: v for k, v in self.headers.items()})
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the dispatcher gave up waiting

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="onestop", daemon=True).start()
        self._server = server
        return self

    def down(self) -> None:
        """Close the port: connections are refused until ``up()``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def release(self) -> None:
        """Let held requests (``HOLD``) go, answered 200."""
        self._released.set()

    def wait_for(self, count: int, timeout: float = 60.0) -> bool:
        """Until ``count`` requests have arrived (any verdict)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._arrived.wait(left)
        return True

    # -- one request ---------------------------------------------------------------------
    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        now = time.time() + self.clock_offset
        try:
            event = json.loads(body)
            event_id = int(event["id"])
        except (ValueError, KeyError, TypeError):
            event, event_id = None, None
        verdict, status = self._judge(body, headers, event, now)
        record = Received(event_id, body, headers, verdict, now)
        with self._arrived:
            self.requests.append(record)
            self._arrived.notify_all()
        if verdict != "accepted" and verdict != "duplicate":
            return status
        with self._lock:
            if self._in_flight.get(event_id):
                self.overlaps.append(event_id)
            self._in_flight[event_id] = self._in_flight.get(event_id, 0) + 1
        try:
            if self.mode == HOLD:
                self._released.wait(120)
            if self.pause_seconds:
                time.sleep(self.pause_seconds)
            with self._lock:
                if verdict == "accepted" and not any(e["id"] == event_id for e in self.accepted):
                    self.accepted.append(event)
                elif verdict == "accepted":
                    record.verdict = "duplicate"
            return 200
        finally:
            with self._lock:
                self._in_flight[event_id] -= 1

    def _judge(
        self, body: bytes, headers: dict[str, str], event: dict | None, now: float
    ) -> tuple[str, int]:
        if self.mode == ERROR or (event and event.get("dossier_code") in self.fail_dossiers):
            return "refused", 500
        if self.mode == SLOW:
            time.sleep(self.slow_seconds)
            return "refused", 503
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        given = headers.get("X-Sohoa-Signature", "")
        if event is None or not hmac.compare_digest(expected, given):
            return "forged", 401
        stamp = event.get("timestamp")
        if not isinstance(stamp, int) or abs(now - stamp) > self.tolerance:
            return "stale", 401
        if headers.get("X-Sohoa-Timestamp") != str(stamp):
            return "forged", 401
        if headers.get("X-Sohoa-Event-Id") != str(event["id"]):
            return "forged", 401
        with self._lock:
            seen = any(e["id"] == event["id"] for e in self.accepted)
        return ("duplicate" if seen else "accepted"), 200

    # -- what it got ---------------------------------------------------------------------
    def ids(self) -> list[int]:
        return [e["id"] for e in self.accepted]

    def by_dossier(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for e in self.accepted:
            out.setdefault(e["dossier_code"] or f"document:{e['document_id']}", []).append(e["id"])
        return out

    def verdicts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.requests:
            out[r.verdict] = out.get(r.verdict, 0) + 1
        return out
