"""A certificate's chain up to its root, picked out of whatever certificates are at hand.

Why it matters: the certificates a signature carries are what a validator (EU DSS, pdfsig,
endesive) builds the chain from. A token holds whatever its owner stored on it (other
keys' certificates, old CAs), a PKCS#12 file whatever its issuer bundled; embedding all of
it is wrong (unrelated certificates in a legal copy), and embedding the signer twice makes
strict validators refuse the signature outright ("multiple signer certificates with the
same serial"). So the signature carries exactly the chain: each issuer found by name and
key identifier, then checked by its signature over the certificate, up to a self-signed
root or as far as the certificates at hand go.
"""

from __future__ import annotations

from collections.abc import Iterable

from asn1crypto import x509
from cryptography import x509 as pyca_x509
from cryptography.exceptions import InvalidSignature

MAX_DEPTH = 10  # no real chain is longer; a loop or a crafted pool stops here


def unique(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """``certs`` without repeats (the same DER bytes), in their first order."""
    seen: set[bytes] = set()
    out = []
    for cert in certs:
        der = cert.dump()
        if der not in seen:
            seen.add(der)
            out.append(cert)
    return out


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer`` signed ``cert``: names and key identifiers agree, and the
    signature verifies with the issuer's public key."""
    if cert.issuer != issuer.subject:
        return False
    aki, ski = cert.authority_key_identifier, issuer.key_identifier
    if aki is not None and ski is not None and aki != ski:
        return False
    try:
        child = pyca_x509.load_der_x509_certificate(cert.dump())
        parent = pyca_x509.load_der_x509_certificate(issuer.dump())
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.self_signed in ("maybe", "yes") and issued_by(cert, cert)


def build(leaf: x509.Certificate, pool: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """The issuers of ``leaf``, nearest first, up to a self-signed root (included) or the
    last issuer found in ``pool``. ``leaf`` itself is not in the list."""
    candidates = unique(pool)
    out: list[x509.Certificate] = []
    current = leaf
    seen = {leaf.dump()}
    while len(out) < MAX_DEPTH and not is_self_signed(current):
        parent = next(
            (c for c in candidates if c.dump() not in seen and issued_by(current, c)), None
        )
        if parent is None:
            break
        out.append(parent)
        seen.add(parent.dump())
        current = parent
    return out
