"""The dispatcher: the outbox's events POSTed to every configured webhook, signed.

One pass (:meth:`Dispatcher.pass_once`): new events become deliveries (one per webhook),
operators' replay requests are carried out, then for each webhook the due deliveries are
claimed under a lease and POSTed one by one. A 2xx answer is delivered; any other
answer, a time-out (``webhooks.timeout_seconds`` for the whole request) or a refused
connection is tried again after an exponential backoff with jitter, until
``webhooks.max_attempts``, then the delivery is ``dead`` and waits for an operator.

Guarantees (with :mod:`pipeline.storage.ledger.outbox`): at least once (a dispatcher
killed mid-POST leaves its lease to run out, and the delivery is attempted again: the
receiver may get it twice and dedupes by event id); in order per dossier, per webhook;
never two dispatchers on one delivery at once (a POST is cut at its time-out, well
inside the lease, and a lease about to run out is renewed before the next POST).

``sohoa events deliver`` runs it (``--once``: one round, for cron and tests) and
``sohoa worker`` runs it as a thread beside its intake.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pipeline.config import Config, WebhookEndpoint, webhook_endpoints
from pipeline.errors import ConfigError
from pipeline.events import signing
from pipeline.storage.ledger import Ledger
from pipeline.storage.ledger.outbox import Delivery

_MAX_ANSWER = 64 * 1024  # what is read of a receiver's answer (it is not used)
ROUNDS = 50  # claims a webhook per pass, at most (then the next pass goes on)


@dataclass(frozen=True)
class Attempt:
    """One POST's outcome: delivered (2xx), or the status or error that says why not."""

    delivered: bool
    status: int | None = None
    error: str | None = None


def post(url: str, payload: bytes, headers: dict[str, str], timeout: float) -> Attempt:
    """POST ``payload``, the whole request cut at ``timeout`` seconds (a receiver that
    answers one byte at a time is cut too). No redirects are followed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request("POST", path, body=payload, headers=headers)
        answer = conn.getresponse()
        answer.read(_MAX_ANSWER)
        if 200 <= answer.status < 300:
            return Attempt(True, answer.status)
        return Attempt(False, answer.status, f"HTTP {answer.status} {answer.reason}".strip())
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set() or isinstance(exc, TimeoutError | socket.timeout):
            return Attempt(False, None, f"no answer within {timeout:g} s")
        return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:300])
    finally:
        watchdog.cancel()
        conn.close()


def backoff(attempts: int, base: float, ceiling: float, rand: random.Random) -> float:
    """The wait before the next try after ``attempts`` failed ones: doubling from ``base``
    up to ``ceiling``, drawn from the upper half (jitter: receivers coming back up are not
    hit by every dispatcher at the same instant)."""
    delay = min(ceiling, base * 2 ** max(0, attempts - 1))
    return rand.uniform(delay / 2, delay)


def public_url(cfg: Config) -> str | None:
    """``api.public_url``: where the one-stop system reaches sohoa (links become absolute)."""
    api = getattr(cfg, "api", None)
    return getattr(api, "public_url", None) or None


@dataclass
class PassReport:
    fanned_out: int = 0
    replayed: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.failed + self.dead


class Dispatcher:
    """Delivers one ledger's outbox to ``endpoints`` (default: every configured webhook)."""

    def __init__(
        self,
        cfg: Config,
        ledger: Ledger,
        *,
        endpoints: Sequence[WebhookEndpoint] | None = None,
        log: Callable[[str], None] = lambda _: None,
        post_fn: Callable[[str, bytes, dict[str, str], float], Attempt] = post,
    ) -> None:
        self.cfg, self.ledger, self.log, self.post = cfg, ledger, log, post_fn
        self.endpoints = list(endpoints if endpoints is not None else webhook_endpoints(cfg))
        if not self.endpoints:
            raise ConfigError(
                "no webhook is configured: set SOHOA_WEBHOOK_URL and SOHOA_WEBHOOK_SECRET (or"
                " webhooks.endpoints in the configuration file)"
            )
        hooks = cfg.webhooks
        self.timeout = hooks.timeout_seconds
        # A POST is cut at its time-out; the lease outlasts it with room to spare.
        self.lease_seconds = 3 * hooks.timeout_seconds + 5
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.public_url = public_url(cfg)
        self._rand = random.Random()

    def pass_once(self) -> PassReport:
        """One round: fan-out, replays, then each webhook's due deliveries. Only the first
        undelivered event of a dossier is due, so after a delivery the next one is: the
        round claims again for as long as its last claim delivered something (at most
        :data:`ROUNDS` claims a webhook), and a dossier's events all go in one round."""
        outbox = self.ledger.outbox
        report = PassReport()
        for hook in self.endpoints:
            report.fanned_out += outbox.fan_out(hook.name)
        report.replayed = outbox.apply_replays()
        for hook in self.endpoints:
            for _ in range(ROUNDS):
                before = report.delivered
                claimed = outbox.claim(
                    hook.name, self.holder, self.lease_seconds, self.cfg.webhooks.batch
                )
                self._deliver(hook, claimed, report)
                if not claimed or report.delivered == before:
                    break
        return report

    def _deliver(self, hook: WebhookEndpoint, claimed: list[Delivery], report: PassReport) -> None:
        outbox, hooks = self.ledger.outbox, self.cfg.webhooks
        held_until = time.monotonic() + self.lease_seconds
        queue = list(claimed)
        while queue:
            if held_until - time.monotonic() < self.timeout + 5:  # renew before the next POST
                queue = outbox.renew(queue, self.holder, self.lease_seconds)
                held_until = time.monotonic() + self.lease_seconds
                if not queue:
                    return
            delivery = queue.pop(0)
            attempt = self.attempt(hook, delivery)
            if attempt.delivered:
                retry_in: float | None = None
                report.delivered += 1
            elif delivery.attempts >= hooks.max_attempts:
                retry_in = None
                report.dead += 1
                self.log(
                    f"event {delivery.event.id} to {hook.name} is dead after"
                    f" {delivery.attempts} attempts: {attempt.error}"
                )
            else:
                retry_in = backoff(
                    delivery.attempts, hooks.backoff_seconds, hooks.backoff_max_seconds, self._rand
                )
                report.failed += 1
            outbox.settle(
                delivery,
                self.holder,
                delivered=attempt.delivered,
                status=attempt.status,
                error=attempt.error,
                retry_in=retry_in,
            )

    def attempt(self, hook: WebhookEndpoint, delivery: Delivery) -> Attempt:
        """One signed POST of one event to one webhook."""
        event: dict[str, Any] = delivery.event.as_json(self.public_url)
        payload, headers = signing.headers(str(hook.secret), event, int(time.time()))
        return self.post(hook.url, payload, headers, self.timeout)

    def run(self, stop: threading.Event) -> None:
        """Passes until ``stop`` is set: at once again after a pass that did something,
        else after ``webhooks.poll_seconds``. A pass that fails (the database unreachable)
        is said once and tried again."""
        told: str | None = None
        while not stop.is_set():
            try:
                report = self.pass_once()
                told = None
            except Exception as exc:  # the next pass tries again; say so once
                text = f"events: {exc}"
                if text != told:
                    told = text
                    self.log(text)
                report = PassReport()
            if report.attempted == 0 and report.fanned_out == 0:
                stop.wait(self.cfg.webhooks.poll_seconds)
