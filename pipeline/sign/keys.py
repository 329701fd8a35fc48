"""The agency's key: a PKCS#12 file with its passphrase, or a key on a PKCS#11 token or HSM.

Both give the same thing, an :class:`AgencyKey`: a pyHanko signer plus the
certificate and its chain, opened once and reused for every document (opening a
token session and logging in costs far more than one signature). Failures are
translated into the sign error classes with messages an operator can act on;
the PIN and passphrase are read through :mod:`pipeline.sign.secrets` at the
moment they are needed and never kept.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from pipeline.config import SignConfig
from pipeline.errors import (
    CertificateNotUsable,
    ConfigError,
    SignerSetupError,
    SignerUnavailable,
)
from pipeline.sign import certs
from pipeline.sign import chain as chains
from pipeline.sign.secrets import PASSPHRASE_ENV, PIN_ENV, secret

log = logging.getLogger(__name__)


@dataclass(eq=False)
class AgencyKey:
    """A signer ready for many documents; ``describe`` names it without any secret.

    ``chain`` is the signing certificate's issuers up to the root, nothing else: what the
    signature embeds beside the signing certificate (see :mod:`pipeline.sign.chain`).
    """

    signer: Signer
    cert: x509.Certificate
    chain: list[x509.Certificate]
    describe: str
    _reopen: Any = field(default=None, repr=False)
    _session: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def on_token(self) -> bool:
        return self._session is not None

    def reopen(self) -> None:
        """Open the token again (after it was pulled out and put back); PKCS#12: nothing."""
        if self._reopen is None:
            return
        with self._lock:
            self.close()
            fresh: AgencyKey = self._reopen()
            self.signer, self._session = fresh.signer, fresh._session

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception:
                log.debug("closing the PKCS#11 session failed", exc_info=True)

    def __enter__(self) -> AgencyKey:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_key(cfg: SignConfig, env: Mapping[str, str] | None = None) -> AgencyKey:
    """Open the configured key store; raise a sign error class when it cannot be used.

    ``env`` (default ``os.environ``) is where SOHOA_SIGN_PASSPHRASE / SOHOA_SIGN_PKCS11_PIN
    are looked up, passed in so callers and tests decide what the process sees.
    """
    env = os.environ if env is None else env
    if cfg.pkcs12:
        key = _load_pkcs12(cfg, env)
    elif cfg.pkcs11_module:
        key = _load_pkcs11(cfg, env)
    else:
        raise ConfigError("no signer configured: set SOHOA_SIGN_PKCS12 or SOHOA_SIGN_PKCS11_MODULE")
    try:
        certs.check_usable(key.cert)
    except CertificateNotUsable:
        key.close()
        raise
    return key


# ---------------------------------------------------------------------- PKCS#12


def _load_pkcs12(cfg: SignConfig, env: Mapping[str, str]) -> AgencyKey:
    path = Path(cfg.pkcs12)  # type: ignore[arg-type]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SignerSetupError(f"PKCS#12 file {path} cannot be read ({exc.strerror})") from None
    passphrase = secret(env, PASSPHRASE_ENV, cfg.passphrase_file, "PKCS#12 passphrase")
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase.encode("utf-8"))
    except ValueError:
        # cryptography says the same for a wrong passphrase and a damaged file
        raise SignerSetupError(
            f"PKCS#12 file {path} could not be opened: wrong passphrase, or not a PKCS#12 file"
        ) from None
    finally:
        del passphrase
    if key is None or cert is None:
        raise SignerSetupError(f"PKCS#12 file {path} holds no private key with its certificate")
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signing_cert = x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    bundled = [x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in extra]
    chain = chains.build(signing_cert, [*bundled, *_trusted(cfg)])
    signer = _LoadedKeySigner(
        key,
        signing_cert=signing_cert,
        signing_key=asn1_keys.PrivateKeyInfo.load(der),
        # the chain only: pyHanko adds the signing certificate itself (once)
        cert_registry=SimpleCertificateStore.from_certs(chain),
    )
    return AgencyKey(signer, signing_cert, chain, f"PKCS#12 file {path}")


class _LoadedKeySigner(SimpleSigner):
    """pyHanko's in-memory signer, holding the key object it would otherwise rebuild.

    ``SimpleSigner.sign_raw`` parses the DER key again for every signature, and
    cryptography's RSA consistency check on load costs ~30 ms: a third of the
    whole signature's time budget. The key was checked once, when loaded.
    """

    def __init__(self, private_key: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._private_key = private_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        key = self._private_key
        digest = get_pyca_cryptography_hash(digest_algorithm)
        if mechanism == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), digest)
        if mechanism == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(digest))
        return super().sign_raw(data, digest_algorithm)


# ---------------------------------------------------------------------- PKCS#11


def _load_pkcs11(cfg: SignConfig, env: Mapping[str, str]) -> AgencyKey:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass
    from pkcs11 import exceptions as p11

    module, token_label = str(cfg.pkcs11_module), str(cfg.token)
    key_label = cfg.key_label or cfg.cert_label
    cert_label = cfg.cert_label or key_label
    where = f"PKCS#11 token {token_label!r} (module {module})"
    if not Path(module).is_file():
        raise SignerSetupError(f"PKCS#11 module {module} does not exist")
    try:
        lib = pkcs11.lib(module)
    except (OSError, RuntimeError) as exc:
        raise SignerSetupError(f"PKCS#11 module {module} cannot be loaded ({exc})") from None

    def find_token() -> Any:
        try:
            return lib.get_token(token_label=token_label)
        except p11.MultipleTokensReturned:
            raise SignerSetupError(f"more than one token is labelled {token_label!r}") from None

    try:
        token = find_token()
    except p11.NoSuchToken:
        # A token plugged in after the module was initialised is only seen after a re-init.
        lib.reinitialize()
        try:
            token = find_token()
        except p11.NoSuchToken:
            raise SignerUnavailable(
                f"no token labelled {token_label!r} in {module}: is the USB token plugged in?"
            ) from None
    except p11.PKCS11Error as exc:
        raise SignerUnavailable(f"{where} cannot be reached ({type(exc).__name__})") from None

    pin = secret(env, PIN_ENV, cfg.pin_file, "token PIN")
    try:
        try:
            session = token.open(user_pin=pin)
        except p11.UserAlreadyLoggedIn:
            # PKCS#11 logins are per process: another signer here already logged in
            # (the module checked this PIN first), so a plain session shares that login
            session = token.open()
    except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange):
        raise SignerSetupError(
            f"{where} rejected the PIN; check SOHOA_SIGN_PKCS11_PIN (the token locks itself "
            "after a few wrong PINs, so sohoa does not try again)"
        ) from None
    except p11.PinLocked:
        raise SignerSetupError(
            f"{where} is locked (PIN blocked); unblock it with the SO PIN"
        ) from None
    except p11.PinExpired:
        raise SignerSetupError(f"{where}: the PIN has expired; set a new one") from None
    except (p11.TokenNotPresent, p11.DeviceRemoved, p11.DeviceError) as exc:
        raise SignerUnavailable(f"{where} went away while opening ({type(exc).__name__})") from None
    except p11.PKCS11Error as exc:
        raise SignerUnavailable(f"{where} cannot be opened ({type(exc).__name__})") from None
    finally:
        del pin

    try:
        keys_found = list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: key_label}
            )
        )
        if len(keys_found) != 1:
            raise SignerSetupError(
                f"{where} holds {len(keys_found)} private keys labelled {key_label!r}; expected one"
            )
        found = list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: cert_label}
            )
        )
        if len(found) != 1:
            raise SignerSetupError(
                f"{where} holds {len(found)} certificates labelled {cert_label!r}; expected one"
            )
        signing_cert = x509.Certificate.load(bytes(found[0][Attribute.VALUE]))
        chain = chains.build(signing_cert, [*_token_certs(session), *_trusted(cfg)])
        signer = _chain_only_pkcs11_signer()(
            session,
            key_label=key_label,
            signing_cert=signing_cert,
            ca_chain=chain,
            other_certs_to_pull=(),
        )
    except SignerSetupError:
        session.close()
        raise
    except p11.PKCS11Error as exc:
        session.close()
        raise SignerUnavailable(
            f"{where} failed while reading objects ({type(exc).__name__})"
        ) from None

    describe = f"{where}, key {key_label!r}"
    return AgencyKey(
        signer,
        signing_cert,
        chain,
        describe,
        _reopen=lambda: _load_pkcs11(cfg, env),
        _session=session,
    )


def _token_certs(session: Any) -> list[x509.Certificate]:
    """Every certificate on the token: issuer CAs are often stored beside the key, and so is
    anything else its owner put there; :func:`chains.build` keeps only the chain."""
    from pkcs11 import Attribute, ObjectClass

    return [
        x509.Certificate.load(bytes(obj[Attribute.VALUE]))
        for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})
    ]


def _trusted(cfg: SignConfig) -> list[x509.Certificate]:
    """The configured trust roots, where the chain usually ends (a token rarely holds its root)."""
    return certs.trust_roots(cfg.trust) if cfg.trust is not None else []


@cache
def _chain_only_pkcs11_signer() -> type[Signer]:
    """The class below, made on first use: python-pkcs11 is loaded only where a token is."""
    from pyhanko.sign.pkcs11 import PKCS11Signer

    class ChainOnlyPkcs11Signer(PKCS11Signer):  # type: ignore[misc]
        """pyHanko's token signer, embedding the chain it was given and nothing else.

        Its own registry also holds the signing certificate, which pyHanko then adds a
        second time to the signature's certificates (a set of unhashable-by-value objects).
        """

        @property
        def cert_registry(self) -> SimpleCertificateStore:
            signing = self.signing_cert.dump() if self.signing_cert is not None else b""
            return SimpleCertificateStore.from_certs(
                [c for c in super().cert_registry if c.dump() != signing]
            )

    return ChainOnlyPkcs11Signer
