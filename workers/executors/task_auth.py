"""Task messages sealed with HMAC-SHA256, so a worker runs only what sohoa itself sent.

Anyone who can reach Redis can put a message on a queue; the broker's password
(or ACL user) says who may talk to Redis, not who may hand a worker a job. Every
task argument is therefore a sealed envelope: the task's name and its JSON body,
and an HMAC-SHA256 over both with the task key, which only the workers and the
processes that enqueue for them hold. The worker opens the envelope before it
parses anything; an unsigned, forged or altered message, or a body replayed under
another task's name, is refused (:class:`TaskRefused`).

The key is ``SOHOA_TASK_KEY`` when set. Otherwise it is derived from this process's
MinIO secret, but only for the worker key (or an unrestricted development key): a
station's, the web's or an operator's key derives nothing, so those machines can
never seal a task. See the README (Security) for why this and not Celery's X.509
``auth`` serializer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from pipeline.config import Config, require_credentials, storage_role
from pipeline.errors import ConfigError, TaskRefused

VERSION = 1
_DERIVATION_LABEL = b"sohoa task messages v1"
_ENQUEUING_ROLES = (None, "worker")  # keys from which a task key may be derived

log = logging.getLogger("sohoa.tasks")


def task_key(cfg: Config) -> bytes:
    """The key that seals and opens this office's task messages (never logged)."""
    if cfg.broker.task_key:
        return cfg.broker.task_key.encode("utf-8")
    role = storage_role(cfg)
    if role not in _ENQUEUING_ROLES:
        raise ConfigError(
            f"the {role} key cannot sign tasks: set SOHOA_TASK_KEY on the workers and on"
            " whatever enqueues for them (never on a station or the web)"
        )
    _, secret = require_credentials(cfg)
    return hmac.new(secret.encode("utf-8"), _DERIVATION_LABEL, hashlib.sha256).digest()


def _mac(key: bytes, task: str, body: str) -> str:
    message = b"\0".join((str(VERSION).encode(), task.encode("utf-8"), body.encode("utf-8")))
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seal(key: bytes, task: str, body: str) -> str:
    """The task argument that carries ``body`` for ``task``."""
    return json.dumps(
        {"v": VERSION, "task": task, "body": body, "mac": _mac(key, task, body)},
        ensure_ascii=False,
        sort_keys=True,
    )


def unseal(key: bytes, task: str, message: object) -> str:
    """The body of a sealed ``message`` for ``task``, or :class:`TaskRefused`.

    The reason names the check that failed and never echoes the message.
    """
    if not isinstance(message, str):
        raise TaskRefused("task refused: not a sealed message")
    try:
        envelope = json.loads(message)
    except ValueError:
        raise TaskRefused("task refused: not a sealed message") from None
    if not isinstance(envelope, dict) or envelope.get("v") != VERSION:
        raise TaskRefused("task refused: not a sealed message")
    body, mac, named = envelope.get("body"), envelope.get("mac"), envelope.get("task")
    if not isinstance(body, str) or not isinstance(mac, str) or not isinstance(named, str):
        raise TaskRefused("task refused: unsigned")
    if not hmac.compare_digest(mac, _mac(key, named, body)):
        raise TaskRefused("task refused: the signature does not match (forged or altered)")
    if named != task:
        raise TaskRefused(f"task refused: signed for {named[:40]!r}, delivered as {task!r}")
    return body


def log_refusal(task: str, task_id: object, exc: TaskRefused) -> None:
    """One line per refused task: which task, its id, and why; never its payload."""
    log.warning("refused %s task %s: %s", task, str(task_id)[:64], exc)
