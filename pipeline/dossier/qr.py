"""QR codes and Code 128 barcodes on a page image, read with zxing-cpp.

Why zxing-cpp (bench/qr/README.md): on generated receipts and cover sheets it read
every code under every damage measured (photocopy, skew, quarter and half turns,
JPEG q=40, 150 dpi, down to about 60 dpi) in 7-23 ms a page, where OpenCV's QR
detector read 50-100 % in about 100 ms and ``cv2.barcode`` cannot read a dossier
code at all; it made no false decode on pages without a code. It is cheap enough to
run on every page of a stack, which is what finding separator sheets needs.

The page is read as the scanner delivered it (gray, before any cleanup: no turn,
deskew or binarisation is needed, and none must be the price of finding a
separator), at scan resolution, or on a 200-dpi copy when the scan is finer (the
same codes, half the time). Only QR Code and Code 128 are asked for: a dossier code
uses nothing else, and every extra 1-D format is one more chance of a false read on
text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

READ_DPI = 200.0


@dataclass(frozen=True)
class Decoded:
    """One symbol on the page: its text and format (``QRCode``, ``Code128``)."""

    text: str
    format: str


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    if image.ndim == 2:
        return image if image.dtype == np.uint8 else image.astype(np.uint8)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def read_symbols(image: np.ndarray, dpi: float | None = None) -> list[Decoded]:
    """Every QR code and Code 128 on the page, in zxing-cpp's order (no validation here).

    ``dpi`` is the scan resolution; above :data:`READ_DPI` the page is read on a
    copy at that resolution. Texts are returned as decoded (callers decide what a
    valid dossier code is; a QR on a citizen's ID card holds personal data and must
    not be logged).
    """
    import cv2
    import zxingcpp

    gray = _gray(image)
    if dpi and dpi > READ_DPI * 1.25:
        factor = READ_DPI / dpi
        gray = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    formats = (zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.Code128)
    try:
        found = zxingcpp.read_barcodes(gray, formats=formats)
    except (RuntimeError, ValueError):
        return []
    out: list[Decoded] = []
    for result in found:
        text = result.text or ""
        if text and result.valid:
            out.append(Decoded(text, str(result.format.name)))
    return out


def decode_codes(image: np.ndarray, dpi: float | None = None) -> list[str]:
    """The texts of every QR code and Code 128 on the page (see :func:`read_symbols`)."""
    return [d.text for d in read_symbols(image, dpi)]
