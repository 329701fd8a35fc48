"""Dossier codes: validation, the order of sources, and QR/barcode reading."""

from pipeline.dossier.codes import (
    CODE_RE,
    DossierMatch,
    normalize_code,
    received_date,
    resolve,
)
from pipeline.dossier.qr import decode_codes

__all__ = ["CODE_RE", "DossierMatch", "decode_codes", "normalize_code", "received_date", "resolve"]
