"""One exception tree for the whole system; each class carries its CLI exit code.

A caller that catches :class:`SohoaError` knows the failure was foreseen and
has a message meant for a person; anything else is a bug. The CLI maps an
exception to an exit code in one place (``exit_code``), so a stage that raises
``RejectedInput`` never needs to know about processes or shells (OCRmyPDF's
``exceptions.py`` is the model). The codes are DESIGN §3's.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    REJECTED = 3
    UNAVAILABLE = 4
    NOT_ALLOWED = 5
    NOT_SIGNED = 6  # `sohoa verify`: the file carries no signature, and none is recorded


class SohoaError(Exception):
    """A foreseen failure; ``str(exc)`` is one line an operator can act on."""

    exit_code: ExitCode = ExitCode.FAILED


# ----------------------------------------------------------------- 2: bad arguments


class UsageError(SohoaError, ValueError):
    """Bad arguments on the command line or in a request."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """The configuration (file or environment) is unusable."""


class NotFound(UsageError, LookupError):
    """No batch, document or object with that id, prefix or key."""


class QueryError(UsageError):
    """A search query or filter that cannot be run; the message is for the person who typed it."""


# ------------------------------------------------------------------ 3: input rejected


class RejectedInput(SohoaError, ValueError):
    """The file cannot be read as a document; the message says why, for the operator."""

    exit_code = ExitCode.REJECTED


# ------------------------------------------------------------ 4: a backend unreachable


class Unavailable(SohoaError):
    """Storage, database or broker cannot be reached (or refuses our keys); nothing changed."""

    exit_code = ExitCode.UNAVAILABLE


class StorageUnavailable(Unavailable):
    """MinIO cannot be reached, or rejects the configured keys."""


class DatabaseUnavailable(Unavailable):
    """The ledger or index database cannot be reached."""


class BrokerUnavailable(Unavailable):
    """The task broker cannot be reached."""


# -------------------------------------------------------------------- 5: not allowed


class NotAllowed(SohoaError):
    """The caller's role does not permit this, or a signature does not hold."""

    exit_code = ExitCode.NOT_ALLOWED


class StorageDenied(NotAllowed, StorageUnavailable):
    """MinIO refused this process's key an action (``AccessDenied``): exit 5, named by role.

    It is also a :class:`StorageUnavailable` on purpose: the fault is the key or the
    policy, never the document, so the pipeline handles it like an outage (documents
    go back to wait, none is marked failed, files stay in the inbox) and the same work
    succeeds once the process runs with the right key.
    """


class TaskRefused(NotAllowed):
    """A task message that is not sohoa's own (unsigned, forged, altered), or a job whose
    names would reach outside the spool, the source cache or the work store. Refused before
    anything runs and never retried; the message says which check failed, never the payload.
    """


# ----------------------------------------------------------- 1: failures in the work


class PipelineError(SohoaError):
    """A document could not be processed; it is recorded as failed and can be retried."""

    stage: str | None = None


class OcrError(PipelineError):
    """Tesseract failed or timed out on a page."""

    stage = "ocr"


class StorageIntegrityError(PipelineError):
    """An object read back does not match what was written."""

    stage = "storage"


class PageWorkerLost(PipelineError):
    """A page's worker process died again and again (out of memory, killed)."""

    stage = "worker-died"


class TimeBudgetExceeded(PipelineError):
    """A document used up its time budget; finished pages are kept for the retry."""

    stage = "pages"


# ------------------------------------------------ signing (DESIGN §9), by exit code
# Every class here carries ``stage = "sign"`` so the runner records where a document
# stopped. None of their messages ever holds a PIN or passphrase (tests check it).


class SignError(SohoaError):
    """The agency signature could not be made or does not hold; nothing is marked signed."""

    stage: str | None = "sign"


class SignerUnavailable(SignError, Unavailable):
    """Exit 4: the token is absent, or the TSA / OCSP / CRL service cannot be reached.

    Transient by nature: the document can be signed once the token is back or the
    service answers again (``sohoa retry`` / ``sohoa sign --pending``).
    """


class SignerSetupError(SignError, ConfigError):
    """Exit 2: the signer cannot be opened as configured: wrong PIN or passphrase, locked
    token, missing PKCS#11 module, key or certificate, unreadable or unsafe secret file.

    Not retried automatically: another wrong PIN could lock the token.
    """


class CertificateNotUsable(SignError, NotAllowed):
    """Exit 5: the agency certificate is expired, not yet valid, revoked or not trusted."""


class SignatureInvalid(SignError, NotAllowed):
    """Exit 5: a signed file's signature does not hold (changed bytes, untrusted chain…)."""


class Interrupted(SohoaError):
    """The process was asked to stop; the document goes back to be resumed."""


class TransitionError(SohoaError, RuntimeError):
    """A state change the state machine does not allow (a bug or a race, never user input)."""


class DuplicateContent(SohoaError):
    """The same bytes are already held by another live document (``prior``)."""

    def __init__(self, prior: Any) -> None:
        super().__init__(f"same content already held by document {getattr(prior, 'id', prior)}")
        self.prior = prior


def exit_code(exc: BaseException) -> int:
    """The process exit code for ``exc`` (1 for anything unforeseen)."""
    if isinstance(exc, SohoaError):
        return int(exc.exit_code)
    return int(ExitCode.FAILED)
