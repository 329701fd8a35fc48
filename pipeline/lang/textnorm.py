"""Vietnamese text normalisation shared by OCR, storage, index and query.

Everything stored is NFC. Search also keeps a *folded* copy: NFD, combining
marks removed, and đ/Đ mapped to d/D explicitly because NFD leaves U+0111 whole.
"""

from __future__ import annotations

import unicodedata

_FOLD_EXTRA = str.maketrans({"đ": "d", "Đ": "D"})
# Tesseract's Vietnamese models sometimes print the Icelandic eth (U+00D0, U+00F0) for
# Đ/đ (U+0110, U+0111): they look the same, but neither search nor a reader's copy and
# paste would match the real letter, and Vietnamese never uses the eth.
_ETH_AS_D = str.maketrans({"\u00d0": "\u0110", "\u00f0": "\u0111"})


def nfc(text: str) -> str:
    """Return ``text`` in Unicode NFC (precomposed), the form sohoa stores."""
    return unicodedata.normalize("NFC", text)


def vietnamese_letters(text: str) -> str:
    """``text`` with the look-alike letters OCR puts for Vietnamese ones replaced (Ð → Đ)."""
    return text.translate(_ETH_AS_D)


def fold(text: str) -> str:
    """Strip Vietnamese diacritics: ``"Đơn xin cấp phép"`` → ``"Don xin cap phep"``."""
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped.translate(_FOLD_EXTRA))


def has_diacritics(text: str) -> bool:
    """True when folding would change ``text`` (the user typed marks or đ)."""
    return fold(text) != nfc(text)
