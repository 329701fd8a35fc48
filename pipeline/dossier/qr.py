"""QR codes and barcodes on a page image (receipts carry the dossier code at the top left)."""

from __future__ import annotations

import numpy as np


def _decode_qr(qr: object, region: np.ndarray) -> list[str]:
    import cv2

    try:
        ok, texts, _points, _ = qr.detectAndDecodeMulti(region)  # type: ignore[attr-defined]
        if ok and any(texts):
            return [t for t in texts if t]
        text, _pts, _ = qr.detectAndDecode(region)  # type: ignore[attr-defined]
    except cv2.error:
        return []
    return [text] if text else []


def decode_codes(image: np.ndarray) -> list[str]:
    """Decode QR codes and barcodes with OpenCV; receipts carry the code in a QR at top-left.

    The top-left of the page is tried first at full resolution (small QR codes on a
    300-dpi A4 page), then the whole page; each also after a median filter, which
    removes the speckle of photocopies and noisy scans that breaks the QR finder.
    """
    import cv2

    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape[:2]
    qr = cv2.QRCodeDetector()
    for region in (gray[: max(1, h // 3), : max(1, w // 2)], gray):
        for candidate in (region, cv2.medianBlur(region, 3)):
            found = _decode_qr(qr, candidate)
            if found:
                return found
    try:
        bar = cv2.barcode.BarcodeDetector()
        ok, texts, _types, _pts = bar.detectAndDecodeWithType(gray)
        if ok:
            return [t for t in texts if t]
    except (cv2.error, AttributeError):
        pass
    return []
