"""The agency signer's life in a process that runs documents: in a child process of its own.

Why a child. The process that runs documents forks page workers, and forks them
again whenever the pool is rebuilt after a worker died; a PKCS#11 module must not
be inherited initialised across a fork (the standard leaves the child's module
undefined, and a USB token's middleware shares its reader connection with it). So
the key never lives there: :class:`SigningProcess` starts a child, a fresh
interpreter (``python -m workers.signing``) that itself never forks, which opens
the signer once (``open_signer``: key store, token session, TSA client), signs
every document the parent sends and closes the signer when told to stop. pyHanko's
CPU work then also stays off the interpreter lock of the threads that run documents.

What crosses the socket: two file paths in, a :class:`SignatureRecord` or one of our
exceptions out. Never the PIN or passphrase: the child reads them from the
environment (or its 0600 file) that it inherits, as the parent would have.

How failures behave, in the child:
- a wrong PIN or passphrase, a locked token, an unusable certificate: remembered and
  raised again for every later document without touching the token (tokens lock
  themselves after a few wrong PINs); fixing it needs a new process (restart);
- no token, or a token that cannot be reached: tried again at most every
  ``RETRY_OPEN_SECONDS``, so the token can be plugged in while a watcher runs;
- every signature is verified by the child before it is handed back; one that does
  not hold is deleted and reported as a failure.
A child that dies or hangs past ``timeout`` is ended and started afresh at the next
document; the document in hand gets :class:`SignerUnavailable`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from pipeline import private
from pipeline.config import SignConfig
from pipeline.errors import SignError, SignerSetupError, SignerUnavailable, SohoaError
from pipeline.sign.records import SignatureRecord

RETRY_OPEN_SECONDS = 10.0
# Codes of the child's own check that still mean "a sound signature": the chain is judged
# against this machine's trust roots, which a PKCS#12 office may not have configured.
_SELF_CHECK_OK = frozenset({"valid", "untrusted", "timestamp-untrusted"})


def quiet_pyhanko() -> None:
    """pyHanko logs a traceback for every untrusted chain: the verdict already says it."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


# ---------------------------------------------------------------------------- the child


class _Keeper:
    """The child's one signer, opened on first need, with the failure rules above."""

    def __init__(self, cfg: SignConfig) -> None:
        self.cfg = cfg
        self.signer: Any = None
        self.failure: SohoaError | None = None
        self.failed_at = 0.0

    def get(self) -> Any:
        from pipeline.sign import open_signer

        if self.signer is not None:
            return self.signer
        if self.failure is not None and (
            not isinstance(self.failure, SignerUnavailable)
            or time.monotonic() - self.failed_at < RETRY_OPEN_SECONDS
        ):
            raise self.failure
        try:
            self.signer = open_signer(self.cfg)
        except SohoaError as exc:
            self.failure, self.failed_at = exc, time.monotonic()
            raise
        except Exception as exc:
            self.failure = SignerSetupError(f"the signer could not be opened: {_short(exc)}")
            self.failed_at = time.monotonic()
            raise self.failure from None
        self.failure = None
        return self.signer

    def sign(self, src: Path, dst: Path) -> SignatureRecord:
        from pipeline.sign import sign_pdf, verify_pdf

        signer = self.get()
        record = sign_pdf(signer, src, dst)
        verdict = verify_pdf(dst, roots=signer.trust)
        if verdict.code not in _SELF_CHECK_OK:
            dst.unlink(missing_ok=True)
            raise SignError(
                f"the signature just made does not verify ({verdict.reason_en}); "
                "the signed file was discarded"
            )
        return record

    def close(self) -> None:
        if self.signer is not None:
            signer, self.signer = self.signer, None
            signer.close()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text and text[0] else type(exc).__name__


def _serve(conn: Connection, cfg: SignConfig) -> None:
    """The child's loop: open the signer at once (it overlaps the parent's OCR), then sign
    what is asked until told to stop or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    quiet_pyhanko()
    keeper = _Keeper(cfg)
    try:
        with contextlib.suppress(Exception):  # remembered; the first document gets the reason
            keeper.get()
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            if request[0] == "stop":
                return
            _, src, dst = request
            try:
                reply: tuple[str, Any] = ("ok", keeper.sign(Path(src), Path(dst)))
            except SohoaError as exc:
                reply = ("error", exc)
            except Exception as exc:
                reply = ("error", SignError(f"signing failed: {_short(exc)}"))
            try:
                conn.send(reply)
            except OSError:  # the parent is gone
                return
            except Exception:  # an exception that does not pickle: keep its words only
                conn.send(("error", SignError(str(reply[1]))))
    finally:
        keeper.close()
        conn.close()


def _main(argv: list[str]) -> int:
    """``python -m workers.signing FD``: the child, talking over the socket ``FD``; the
    signer's settings are the first message (the secrets it reads from its environment)."""
    private.restrict_umask()  # the signed copies it writes are citizens' documents
    conn = Connection(int(argv[1]))
    try:
        cfg = conn.recv()
    except (EOFError, OSError):
        return 0
    _serve(conn, cfg)
    return 0


# --------------------------------------------------------------------------- the parent


class SigningProcess:
    """A :class:`~pipeline.flow.context.DocumentSigner` whose key lives in a child process.

    The child is ``python -m workers.signing`` (a fresh interpreter: nothing of this
    process, its threads or its main module is copied into it) on one end of a socket
    pair. Thread-safe: documents running in threads share it and sign one at a time (the
    signer serialises anyway; a signature takes tens of milliseconds). A copy of this
    object inherited through a fork notices and starts a child of its own.
    """

    def __init__(self, cfg: SignConfig, *, timeout: float | None = None) -> None:
        self.cfg = cfg
        # the TSA and OCSP each get their timeout, then a token's own slowness
        self.timeout = timeout if timeout is not None else 3 * cfg.tsa_timeout + 60
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._owner: int | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> SigningProcess:
        """Start the child now, so loading the key overlaps the first pages' OCR."""
        with self._lock:
            self._ensure()
        return self

    def _ensure(self) -> Connection:
        if self._owner != os.getpid():  # a fresh object, or one inherited through a fork
            self._proc, self._conn = None, None
        if self._proc is not None and self._conn is not None and self._proc.poll() is None:
            return self._conn
        self._reset()
        ours, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen(
                # -P: the working folder is not put on the path (a stray workers/ there)
                [sys.executable, "-P", "-m", "workers.signing", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError as exc:
            ours.close()
            raise SignerUnavailable(f"the signing process cannot be started: {exc}") from None
        finally:
            theirs.close()
        conn = Connection(ours.detach())
        conn.send(self.cfg)
        self._proc, self._conn, self._owner = proc, conn, os.getpid()
        return conn

    def _reset(self) -> None:
        proc, conn, self._proc, self._conn = self._proc, self._conn, None, None
        if conn is not None:
            conn.close()
        if proc is not None and self._owner == os.getpid():
            proc.kill()
            proc.wait(timeout=10)

    def sign(self, src: Path, dst: Path) -> SignatureRecord:
        with self._lock:
            conn = self._ensure()
            try:
                conn.send(("sign", str(src), str(dst)))
                if not conn.poll(self.timeout):
                    self._reset()
                    raise SignerUnavailable(
                        f"the signer did not answer within {self.timeout:g} s (a token or "
                        "time-stamp authority that hangs?); nothing was signed"
                    )
                kind, value = conn.recv()
            except (EOFError, OSError):
                code = self._proc.poll() if self._proc is not None else None
                self._reset()
                raise SignerUnavailable(
                    f"the signing process ended unexpectedly (exit {code}); nothing was signed"
                ) from None
        if kind == "ok":
            return value
        raise value

    def close(self) -> None:
        """Ask the child to close the signer (logging out of the token) and wait for it."""
        with self._lock:
            proc, conn = self._proc, self._conn
            if proc is None or conn is None or self._owner != os.getpid():
                return
            with contextlib.suppress(OSError):
                conn.send(("stop",))
            with contextlib.suppress(subprocess.TimeoutExpired):  # else _reset ends it
                proc.wait(timeout=10)
            self._reset()


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
