"""A throw-away PKI for the signing tests and bench: root CA, agency certificates, a TSA,
and OCSP / CRL / time-stamp services on a loopback HTTP server.

Certificates are made with ``cryptography`` so every field the tests depend on
(validity, OCSP and CRL locations, key usages) is set here in plain sight. The
responses themselves are built by certomancer's service classes (its OCSP
responder, CRL builder and RFC 3161 time stamper) used as a library; the HTTP
server in front of them is ours, so a test can count requests or switch the TSA
off. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from asn1crypto import algos, core, keys, ocsp, tsp
from asn1crypto import x509 as asn1_x509
from certomancer.services import (
    CRLBuilder,
    RevocationInfoInterface,
    SimpleOCSPResponder,
    TimeStamper,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.tls import CA_KEY_USAGE

AGENCY = "Ủy ban nhân dân tỉnh Lào Cai"
PASSPHRASE = "mật-khẩu P12 thử 7f3a"  # non-ASCII on purpose: the loader must encode it right
PIN = "483920"
SO_PIN = "11223344"
SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
SHA256_ECDSA = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})


def _key(kind: str = "rsa") -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """RSA 2048 for signers (what agencies' tokens hold); P-256 for the CA and TSA.

    The services re-load their key for every response, and loading an RSA key
    costs ~30 ms of consistency checks: with an RSA TSA the bench would time
    our test TSA rather than our signing.
    """
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1_key(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> keys.PrivateKeyInfo:
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return keys.PrivateKeyInfo.load(der)


@dataclass
class Issued:
    """One certificate with its key, in both libraries' types."""

    label: str
    cert: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @property
    def asn1(self) -> asn1_x509.Certificate:
        return _asn1_cert(self.cert)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


class _Revocations(RevocationInfoInterface):
    def __init__(self, pki: TestPki) -> None:
        self.pki = pki

    def get_issuer_cert(self) -> asn1_x509.Certificate:
        return self.pki.root.asn1

    def check_revocation_status(
        self, cid: ocsp.CertId, at_time: datetime
    ) -> tuple[ocsp.CertStatus, list]:
        serial = cid["serial_number"].native
        revoked = self.pki.revoked.get(serial)
        if revoked is None:
            return ocsp.CertStatus(name="good", value=None), []
        info = ocsp.RevokedInfo({"revocation_time": revoked, "revocation_reason": "key_compromise"})
        return ocsp.CertStatus(name="revoked", value=info), []


@dataclass
class TestPki:
    """Root, certificates and the services; ``url`` is the loopback server's base URL."""

    __test__ = False  # not a pytest class

    folder: Path
    url: str
    root: Issued = field(init=False)
    certs: dict[str, Issued] = field(default_factory=dict)
    revoked: dict[int, datetime] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    tsa_enabled: bool = True
    tsa_label: str = "tsa"  # the certificate the time-stamp service signs with (a TSA rotates)

    def __post_init__(self) -> None:
        now = datetime.now(UTC)
        root_key = _key("ec")
        name = _name("sohoa Test Root CA", "sohoa test PKI")
        ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=30))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                CA_KEY_USAGE,
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(root_key, hashes.SHA256())
        )
        self.root = Issued("root", cert, root_key)

    # ------------------------------------------------------------------ issuing

    def issue(
        self,
        label: str,
        cn: str,
        org: str | None = None,
        *,
        days: tuple[int, int] = (-1, 365),
        until: datetime | None = None,
        revocation_urls: bool = True,
        tsa: bool = False,
    ) -> Issued:
        """A leaf signed by the root: a signing certificate, or the TSA's with ``tsa=True``.

        ``days`` is its validity around now; ``until`` sets the end exactly (short lives).
        """
        now = datetime.now(UTC)
        key = _key("ec" if tsa else "rsa")
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, org))
            .issuer_name(self.root.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + timedelta(days=days[0]))
            .not_valid_after(until or now + timedelta(days=days[1]))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=not tsa,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root.key.public_key()),
                critical=False,
            )
        )
        if tsa:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
        if revocation_urls:
            builder = builder.add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            x509.oid.AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(f"{self.url}/ocsp"),
                        )
                    ]
                ),
                critical=False,
            ).add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(f"{self.url}/crl")], None, None, None
                        )
                    ]
                ),
                critical=False,
            )
        issued = Issued(label, builder.sign(self.root.key, hashes.SHA256()), key)
        self.certs[label] = issued
        return issued

    def revoke(self, label: str) -> None:
        when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        self.revoked[self.certs[label].cert.serial_number] = when

    # ------------------------------------------------------------------ files

    def write_trust(self) -> Path:
        path = self.folder / "trust.pem"
        path.write_bytes(self.root.pem)
        return path

    def write_pkcs12(self, label: str, passphrase: str = PASSPHRASE) -> Path:
        issued = self.certs[label]
        data = pkcs12.serialize_key_and_certificates(
            name=label.encode(),
            key=issued.key,
            cert=issued.cert,
            cas=[self.root.cert],
            encryption_algorithm=serialization.BestAvailableEncryption(passphrase.encode()),
        )
        path = self.folder / f"{label}.p12"
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    # ------------------------------------------------------------------ services

    def ocsp_response(self, body: bytes) -> bytes:
        responder = SimpleOCSPResponder(
            responder_cert=self.root.asn1,
            responder_key=_asn1_key(self.root.key),
            signature_algo=SHA256_ECDSA,
            # whole seconds: RFC 5280 forbids fractions, and NSS (pdfsig) rejects them
            at_time=datetime.now(UTC).replace(microsecond=0),
            revinfo_interface=_Revocations(self),
        )
        return responder.build_ocsp_response(ocsp.OCSPRequest.load(body)).dump()

    def crl(self) -> bytes:
        now = datetime.now(UTC).replace(microsecond=0)
        ski = self.root.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        builder = CRLBuilder(
            issuer_name=self.root.asn1.subject,
            issuer_key=_asn1_key(self.root.key),
            signature_algo=SHA256_ECDSA,
            authority_key_identifier=core.OctetString(ski.value.digest),
        )
        revoked = [
            builder.format_revoked_cert(serial, "key_compromise", when)
            for serial, when in self.revoked.items()
        ]
        return builder.build_crl(
            crl_number=len(self.requests) + 1,
            this_update=now - timedelta(minutes=1),
            next_update=now + timedelta(days=1),
            revoked_certs=revoked,
        ).dump()

    def tsa_response(self, body: bytes) -> bytes:
        tsa = self.certs[self.tsa_label]
        stamper = TimeStamper(
            tsa_cert=tsa.asn1, tsa_key=_asn1_key(tsa.key), certs_to_embed=[self.root.asn1]
        )
        return stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()


def _handler(pki: TestPki) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real TSA or OCSP responder offers
        # headers and body go out in two writes; with Nagle on, a keep-alive client's
        # delayed ACK then holds each answer ~40 ms, which is this server's fault, not ours
        disable_nagle_algorithm = True

        def _reply(self, data: bytes, ctype: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            pki.requests[self.path.split("/")[1]] += 1
            if self.path == "/crl":
                self._reply(pki.crl(), "application/pkix-crl")
            elif self.path.startswith("/ocsp/"):  # RFC 6960 A.1 GET, as NSS (pdfsig) asks
                body = base64.b64decode(unquote(self.path[len("/ocsp/") :]))
                self._reply(pki.ocsp_response(body), "application/ocsp-response")
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            pki.requests[self.path.split("/")[1]] += 1
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/ocsp":
                self._reply(pki.ocsp_response(body), "application/ocsp-response")
            elif self.path == "/tsa" and pki.tsa_enabled:
                self._reply(pki.tsa_response(body), "application/timestamp-reply")
            else:
                self.send_error(503 if self.path == "/tsa" else 404)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def running_pki(folder: Path) -> Iterator[TestPki]:
    """Root CA, the usual certificates and the loopback services, until the block ends.

    Labels: ``agency`` (OCSP + CRL locations), ``plain`` (none: B-B/B-T only),
    ``expired``, ``revoked`` (listed as revoked by both OCSP and CRL), ``tsa``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    pki = TestPki(folder=folder, url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(pki)
    pki.issue("agency", "Văn phòng Ủy ban nhân dân tỉnh Lào Cai", AGENCY)
    pki.issue("plain", AGENCY, None, revocation_urls=False)
    pki.issue("expired", "Sở Tư pháp tỉnh Lào Cai", AGENCY, days=(-400, -35))
    pki.issue("revoked", "Sở Xây dựng tỉnh Lào Cai", AGENCY)
    pki.revoke("revoked")
    pki.issue("tsa", "sohoa Test TSA", "sohoa test PKI", tsa=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield pki
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connection refused, immediately."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsa"


# ---------------------------------------------------------------------- SoftHSM2


@dataclass
class SoftHsm:
    """A SoftHSM2 token directory; ``env`` selects it for libsofthsm2 (read at C_Initialize)."""

    folder: Path
    conf: Path

    @property
    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.conf)}

    def init_token(self, label: str, pin: str = PIN) -> None:
        subprocess.run(
            [
                "softhsm2-util",
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                SO_PIN,
                "--pin",
                pin,
            ],
            check=True,
            capture_output=True,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            timeout=60,
        )

    def import_key(self, token: str, issued: Issued, label: str, pin: str = PIN) -> None:
        """Put the private key and its certificate on the token under one label and id."""
        pem = self.folder / f"{label}.key.pem"
        pem.write_bytes(
            issued.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        pem.chmod(0o600)
        key_id = format(abs(hash(label)) % 2**32, "08x")
        subprocess.run(
            [
                "softhsm2-util",
                "--import",
                str(pem),
                "--token",
                token,
                "--label",
                label,
                "--id",
                key_id,
                "--pin",
                pin,
            ],
            check=True,
            capture_output=True,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        pem.unlink()
        self.import_cert(token, issued, label, pin, key_id=key_id)

    def import_cert(
        self, token: str, issued: Issued, label: str, pin: str = PIN, *, key_id: str | None = None
    ) -> None:
        """Put a certificate on the token (beside its key when ``key_id`` names it)."""
        key_id = key_id or format(abs(hash(label)) % 2**32, "08x")
        der = self.folder / f"{label}.crt.der"
        der.write_bytes(issued.cert.public_bytes(serialization.Encoding.DER))
        subprocess.run(
            [
                "pkcs11-tool",
                "--module",
                str(SOFTHSM_MODULE),
                "--token-label",
                token,
                "--login",
                "--pin",
                pin,
                "--write-object",
                str(der),
                "--type",
                "cert",
                "--label",
                label,
                "--id",
                key_id,
            ],
            check=True,
            capture_output=True,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            timeout=60,
        )


def softhsm(folder: Path) -> SoftHsm:
    tokens = folder / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    return SoftHsm(folder, conf)
