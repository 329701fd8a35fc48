"""The agency's PAdES signature on archived PDF/A copies (DESIGN §9), checked on the way out.

The API a ``sign`` step (and ``sohoa sign`` / ``sohoa verify``) calls:

- :func:`open_signer` — load the key store once per process (PKCS#12 or PKCS#11);
- :func:`sign_pdf` — sign one file into a new file, returning a :class:`SignatureRecord`;
- :func:`verify_pdf` — the :class:`Verdict` on a signed file; :func:`require_valid`
  raises :class:`~pipeline.errors.SignatureInvalid` (exit 5) when it is invalid.

Modules, one job each: ``secrets`` (PIN/passphrase), ``keys`` (key stores),
``certs`` (certificate facts, trust roots), ``appearance`` (the text box),
``pades`` (signing), ``verify`` (checking), ``records`` (what they return).
Names are loaded on first use (PEP 562): a process that only reads records
(``pipeline.sign.records``: the parent of a signing process, the web page's badge)
does not load pyHanko for them.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from cryptography.utils import CryptographyDeprecationWarning

# pyHanko imports cryptography's DSA key type (for type hints), and cryptography warns on
# that import that DSA is deprecated: a line on stderr of every `sohoa verify` that says
# nothing about the file. sohoa never signs with DSA; other warnings stay.
warnings.filterwarnings(
    "ignore", message="DSA is deprecated", category=CryptographyDeprecationWarning
)

if TYPE_CHECKING:
    from pipeline.sign.pades import FIELD_NAME, AgencySigner, open_signer, sign_pdf
    from pipeline.sign.records import SignatureRecord, Verdict
    from pipeline.sign.verify import require_valid, verify_pdf

_WHERE = {
    "FIELD_NAME": "pades",
    "AgencySigner": "pades",
    "open_signer": "pades",
    "sign_pdf": "pades",
    "SignatureRecord": "records",
    "Verdict": "records",
    "require_valid": "verify",
    "verify_pdf": "verify",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "FIELD_NAME",
    "AgencySigner",
    "SignatureRecord",
    "Verdict",
    "open_signer",
    "require_valid",
    "sign_pdf",
    "verify_pdf",
]
