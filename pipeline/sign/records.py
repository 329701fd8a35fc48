"""What signing and verifying report: small, plain, JSON-ready records with no secrets.

``SignatureRecord.as_metadata()`` is the ``signature`` object of the archive
metadata JSON (DESIGN §3); ``Verdict`` is what ``sohoa verify`` and the web page
show, in Vietnamese and English.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SignatureRecord:
    """One signature made by :func:`pipeline.sign.sign_pdf`."""

    signer: str  # subject DN of the signing certificate
    agency: str  # the name shown in the box
    serial: str  # certificate serial number, hex
    issuer: str  # issuer DN
    signed_at: str  # ISO 8601, +07:00: the time shown on the page and in /M
    level: str  # PAdES baseline level the file reaches: "B-B", "B-T", "B-LT" or "B-LTA"
    tsa: str | None  # time-stamp authority URL, when a time-stamp was added
    timestamp: str | None  # the time-stamp's time (genTime), ISO 8601 +07:00
    revocation: bool  # OCSP/CRL data embedded in the document security store
    sha256: str  # of the signed file
    size: int  # bytes of the signed file
    key_store: str  # "pkcs12" or "pkcs11"
    archive_timestamp: str | None = None  # the last document time-stamp's time (B-LTA)
    renew_before: str | None = None  # the last time-stamp's certificate expiry: renew before
    value_sha256: str | None = None  # SHA-256 of the signature (CMS) itself: which signature
    # where the mark went on page 1: {"placement": "free-space" | "room-added", "box": [x1, y1,
    # x2, y2] in points, "room_added": points the page was extended upwards by}
    mark: dict[str, Any] | None = None

    def as_metadata(self) -> dict[str, Any]:
        """The metadata JSON's ``signature`` object."""
        return {
            "signer": self.signer,
            "agency": self.agency,
            "serial": self.serial,
            "issuer": self.issuer,
            "time": self.signed_at,
            "time_stamp_authority": self.tsa,
            "time_stamp": self.timestamp,
            "level": f"PAdES-{self.level}",
            "revocation_info": self.revocation,
            "archive_time_stamp": self.archive_timestamp,
            "renew_before": self.renew_before,
            "value_sha256": self.value_sha256,
            "mark": self.mark,
            "sha256": self.sha256,
            "key_store": self.key_store,
        }


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`pipeline.sign.verify_pdf` for one file."""

    valid: bool
    code: str  # stable word for programs: valid, unsigned, modified, damaged, untrusted, ...
    reason_vi: str
    reason_en: str
    signer: str | None = None
    agency: str | None = None
    serial: str | None = None
    issuer: str | None = None
    signed_at: str | None = None
    timestamp: str | None = None
    level: str | None = None
    revocation_checked: bool = False
    signatures: int = 0
    value_sha256: str | None = None  # SHA-256 of the first signature's CMS: which signature

    @property
    def unsigned(self) -> bool:
        """No signature, and none recorded: "not signed", which is not "invalid"."""
        return self.code == "unsigned"

    @property
    def label_vi(self) -> str:
        if self.valid:
            return "Đã ký số, hợp lệ"
        return "Chưa ký số" if self.unsigned else "Chữ ký số không hợp lệ"

    def text(self) -> str:
        """One line for a terminal or a web page: verdict, then why, in both languages."""
        if self.valid:
            word = "Hợp lệ / Valid"
        elif self.unsigned:
            word = "Chưa ký số / Not signed"
        else:
            word = "Không hợp lệ / Invalid"
        return f"{word}: {self.reason_vi} / {self.reason_en}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
