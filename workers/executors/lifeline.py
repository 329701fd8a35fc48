"""Page worker processes end with the process that started them.

A SIGKILLed ``sohoa process`` or watcher gets no chance to stop its pool, and a
pool process blocked on its task queue would wait (holding its models, hundreds of
MB) forever. At start each worker asks Linux to SIGKILL it when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), then checks that its parent is still the process
that started it: one that died before the ``prctl`` (the fork race) is caught by the
check instead.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def kill_me_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent ends; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def parent_of(pid: int) -> int | None:
    """The parent of ``pid`` as /proc says (None once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return int(text.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def started_by(owner: int) -> bool:
    """Whether ``owner`` is still this process's parent, or its grandparent through a
    fork server (multiprocessing's ``forkserver``, which itself ends with ``owner``)."""
    parent = os.getppid()
    return parent == owner or parent_of(parent) == owner


def bind_to(owner: int) -> None:
    """Die with ``owner``: set the death signal, then leave at once if it is already gone."""
    kill_me_with_parent()
    if not started_by(owner):
        os._exit(1)
