"""Running a reader (poppler's tools, the PDF inspection) with a ceiling on memory and time.

A PDF can make a reader do unbounded work from a few KB of input: a page tree that
names one page a million times, a single array of ten million numbers in an object
stream, a content stream of five million operators. Rather than trust every reader
to bound itself, each one runs as a child process under an address-space limit
(``RLIMIT_AS``) and a timeout, so the worst a file can do is be refused with a
reason; the process that runs the batch never grows.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

MiB = 2**20
OOM_MARKERS = ("Out of memory", "MemoryError", "bad_alloc", "Cannot allocate memory")


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: bytes
    stderr: str
    timed_out: bool = False
    too_much_output: bool = False

    @property
    def out_of_memory(self) -> bool:
        """The child hit its address-space limit (poppler prints this and may still exit 0)."""
        return self.returncode in (-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGKILL) or any(
            m in self.stderr for m in OOM_MARKERS
        )


def limit_memory(limit_bytes: int) -> None:
    """Cap this process's address space; allocations beyond it fail instead of growing RSS."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, hard))


def run_limited(
    cmd: Sequence[str],
    *,
    memory_mb: int,
    timeout: float,
    max_output: int | None = None,
    self_limiting: bool = False,
) -> Outcome:
    """Run ``cmd`` under ``memory_mb`` of address space and ``timeout`` seconds.

    ``max_output`` stops the child once it has written that many bytes to stdout
    (an extractor asked for a page's words that produces gigabytes of them).
    ``self_limiting`` is for our own Python children, which set the limit as their
    first act; anything else runs under ``prlimit`` (util-linux).
    """
    # prlimit sets the limit in the child without running Python between fork and exec,
    # which could deadlock in a process whose other threads hold locks (document threads).
    argv = list(cmd) if self_limiting else ["prlimit", f"--as={memory_mb * MiB}", "--", *cmd]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    if max_output is None:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            out, err = proc.communicate()
            return Outcome(proc.returncode, out, _text(err), timed_out=True)
        return Outcome(proc.returncode, out, _text(err))
    return _read_capped(proc, timeout, max_output)


def _read_capped(proc: subprocess.Popen, timeout: float, max_output: int) -> Outcome:
    """Read stdout until EOF, the deadline or ``max_output`` bytes, whichever comes first."""
    import selectors
    import time

    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    err_chunks: list[bytes] = []
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    open_streams = 2
    timed_out = too_much = False
    while open_streams:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        for key, _ in sel.select(timeout=left):
            data = os.read(key.fileobj.fileno(), 1 << 16)  # type: ignore[union-attr]
            if not data:
                sel.unregister(key.fileobj)
                open_streams -= 1
            elif key.fileobj is proc.stdout:
                chunks.append(data)
                size += len(data)
            elif sum(map(len, err_chunks)) < 1 << 16:
                err_chunks.append(data)
        if size > max_output:
            too_much = True
            break
    sel.close()
    if timed_out or too_much:
        _kill(proc)
    proc.stdout.close()
    proc.stderr.close()
    proc.wait()
    return Outcome(
        proc.returncode,
        b"".join(chunks),
        _text(b"".join(err_chunks)),
        timed_out=timed_out,
        too_much_output=too_much,
    )


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")[-4000:]
