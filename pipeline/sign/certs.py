"""Facts about certificates that signing and verifying both need, in one place.

Which name is the agency's, whether a certificate may sign now, whether it names
OCSP/CRL locations (which decides B-LT), and the trust roots to check chains
against (``SOHOA_SIGN_TRUST`` or the system's bundle).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from asn1crypto import pem, x509

from pipeline.errors import CertificateNotUsable, ConfigError
from pipeline.lang.textnorm import nfc

SYSTEM_BUNDLES = (
    Path("/etc/ssl/certs/ca-certificates.crt"),  # Debian, Ubuntu
    Path("/etc/pki/tls/certs/ca-bundle.crt"),  # Fedora, RHEL
)


def agency_name(cert: x509.Certificate, configured: str | None = None) -> str:
    """The agency shown on the page: the configured name, else the subject's O, else its CN.

    O comes first because a certificate issued to a person names the person in CN
    and the agency in O; an agency's own certificate usually carries its name in both.
    """
    if configured and configured.strip():
        return nfc(configured.strip())
    subject = cert.subject.native
    for key in ("organization_name", "common_name"):
        value = subject.get(key)
        if isinstance(value, list):
            value = value[-1] if value else None
        if value and str(value).strip():
            return nfc(str(value).strip())
    raise CertificateNotUsable("the certificate's subject names no organisation (O) or CN")


def subject_text(name: x509.Name) -> str:
    """A distinguished name as an operator reads it, e.g. ``CN=…, O=…, C=VN`` (NFC)."""
    short = {
        "common_name": "CN",
        "organization_name": "O",
        "organizational_unit_name": "OU",
        "locality_name": "L",
        "state_or_province_name": "ST",
        "country_name": "C",
        "email_address": "E",
        "serial_number": "SERIALNUMBER",
    }
    parts = []
    for rdn in reversed(list(name.chosen)):
        for attr in rdn:
            key = attr["type"].native
            parts.append(f"{short.get(key, key)}={nfc(str(attr['value'].native))}")
    return ", ".join(parts)


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "X")


def names_revocation(cert: x509.Certificate) -> bool:
    """True when the certificate says where its OCSP responder or CRL is: B-LT is possible."""
    return bool(cert.ocsp_urls or cert.crl_distribution_points)


def check_usable(cert: x509.Certificate, at: datetime | None = None) -> None:
    """Refuse a certificate that is outside its validity or may not sign documents."""
    at = at or datetime.now(UTC)
    validity = cert["tbs_certificate"]["validity"]
    not_before, not_after = validity["not_before"].native, validity["not_after"].native
    who = f"the agency certificate (serial {serial_hex(cert)}, {subject_text(cert.subject)})"
    if at > not_after:
        raise CertificateNotUsable(
            f"{who} expired on {not_after.date().isoformat()}; "
            "install the renewed certificate / Chứng thư số đã hết hạn"
        )
    if at < not_before:
        raise CertificateNotUsable(
            f"{who} is valid only from {not_before.isoformat()}; check the machine's clock"
        )
    usage = cert.key_usage_value
    if usage is not None and not ({"digital_signature", "non_repudiation"} & set(usage.native)):
        raise CertificateNotUsable(f"{who} is not allowed to sign (key usage {usage.native})")


def load_pem_certs(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM (or single DER) file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"trust file {path} cannot be read ({exc.strerror})") from None
    out = []
    if pem.detect(data):
        for kind, _headers, der in pem.unarmor(data, multiple=True):
            if kind == "CERTIFICATE":
                out.append(x509.Certificate.load(der))
    else:
        try:
            out.append(x509.Certificate.load(data))
            _ = out[-1].subject  # force parsing now, not later
        except ValueError:
            out = []
    if not out:
        raise ConfigError(f"trust file {path} holds no certificate (PEM expected)")
    return out


@cache
def _system_roots() -> tuple[x509.Certificate, ...]:
    for bundle in SYSTEM_BUNDLES:
        if bundle.is_file():
            return tuple(load_pem_certs(bundle))
    return ()


def trust_roots(path: Path | None) -> list[x509.Certificate]:
    """The roots chains must end in: the PEM file given (``SOHOA_SIGN_TRUST``) or the system's."""
    if path is not None:
        return load_pem_certs(Path(path))
    roots = list(_system_roots())
    if not roots:
        raise ConfigError("no trust roots: set SOHOA_SIGN_TRUST to a PEM file of root certificates")
    return roots
