"""How a webhook's POST is signed, and how a receiver checks it.

The body is the event (the feed's JSON) with ``timestamp`` added: the Unix time of this
attempt, also sent as ``X-Sohoa-Timestamp``. The signature covers the body, timestamp
included: ``X-Sohoa-Signature: sha256=<hex HMAC-SHA256 of the body's bytes, keyed with the
webhook's secret>``. So a receiver that checks the HMAC knows the body came from sohoa
and was not changed; one that also refuses a timestamp older than a few minutes refuses
a replayed request (an attacker cannot move the timestamp without the secret); and one
that remembers the event ids it took (``X-Sohoa-Event-Id`` = the body's ``id``) takes a
redelivery once. :func:`verify` is that check, in a few lines a receiver can copy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

EVENT_HEADER = "X-Sohoa-Event-Id"
TIMESTAMP_HEADER = "X-Sohoa-Timestamp"
SIGNATURE_HEADER = "X-Sohoa-Signature"
TOLERANCE_SECONDS = 300


def body(event: dict[str, Any], timestamp: int) -> bytes:
    """The bytes POSTed: the event and this attempt's time, compact UTF-8 JSON."""
    data = {**event, "timestamp": timestamp}
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, payload: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def headers(secret: str, event: dict[str, Any], timestamp: int) -> tuple[bytes, dict[str, str]]:
    """The body and the headers of one attempt."""
    payload = body(event, timestamp)
    return payload, {
        "Content-Type": "application/json; charset=utf-8",
        EVENT_HEADER: str(event["id"]),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, payload),
        "User-Agent": "sohoa-webhooks",
    }


def verify(
    secret: str,
    payload: bytes,
    signature_header: str,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> dict[str, Any]:
    """The event a signed POST carries; ``ValueError`` when it is forged or too old."""
    if not hmac.compare_digest(signature(secret, payload), signature_header or ""):
        raise ValueError("bad signature")
    event = json.loads(payload)
    if abs((now if now is not None else time.time()) - int(event["timestamp"])) > tolerance:
        raise ValueError("too old: a replay?")
    return event
