"""Failpoints for crash tests: ``SOHOA_CRASH_AT=<point>[:<n>]`` kills the process the n-th time.

Crash safety is only believable if it is exercised at the exact moments that
matter (between a verified upload and the ledger commit, say). Production never
sets the variable; reading it here, rather than threading a flag through every
stage, keeps the stages' signatures about their real inputs.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get("SOHOA_CRASH_AT")
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(nth or 1):
        # The whole process group: the watcher and its page workers die together, as with
        # `kill -9` of a service or a power cut.
        try:
            os.killpg(os.getpgid(0), signal.SIGKILL)
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
