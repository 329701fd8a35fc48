"""File names as the system has them (bytes) and as people may safely see them (text).

On Linux a name is any bytes but ``/`` and NUL. Python hands bytes that are not
UTF-8 over as lone surrogates, which SQLite, JSON and HTTP headers refuse, and a
name may hold a newline, a terminal escape or a right-to-left override that would
break or forge a log line or a table row. So a name has two forms: :func:`raw`,
the exact bytes (kept in the ledger and the raw object's metadata, so nothing is
lost), and :func:`display`, for everything people read: valid UTF-8 on one line,
NFC, with whatever is odd written out (``\\xff`` for a byte that is not UTF-8,
``\\n``, ``\\x1b``, ``\\u202e``) instead of acting on the terminal.
"""

from __future__ import annotations

import os
import unicodedata

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Categories that move the cursor, end a line (str.splitlines splits at Zl, Zp and
# several Cc) or change how the text around them is drawn (Cf: bidi overrides,
# zero-width characters).
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"})

Name = str | bytes | os.PathLike[str] | os.PathLike[bytes]


def raw(name: Name) -> bytes:
    """The exact bytes of a name or path as the filesystem holds them."""
    try:
        return os.fsencode(name)
    except UnicodeEncodeError:  # a str that did not come from the OS (lone surrogate)
        return os.fspath(name).encode("utf-8", "surrogatepass")  # type: ignore[union-attr]


def display(name: Name) -> str:
    """The name as people should see it: one line of valid UTF-8, NFC, oddities escaped.

    Deterministic, so it can also serve as a lookup key; not reversible in every
    case (a name may really contain ``\\xff`` as four characters), which is why
    :func:`raw` is kept beside it.
    """
    text = unicodedata.normalize("NFC", raw(name).decode("utf-8", "backslashreplace"))
    out: list[str] = []
    for ch in text:
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif unicodedata.category(ch) in _ESCAPED_CATEGORIES:
            code = ord(ch)
            if code < 0x100:
                out.append(f"\\x{code:02x}")
            else:
                out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)
