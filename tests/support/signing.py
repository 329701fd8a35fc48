"""Fixtures of the signing tests: one PKI, one SoftHSM2 token directory and one archived
PDF/A per test session, plus helpers to open signers on them.

tests/conftest.py imports the fixtures, so every module shares one instance of each.
libsofthsm2 reads SOFTHSM2_CONF once, when python-pkcs11 first loads it, so the
token directory is fixed for the whole process and every token lives there.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.config import SignConfig
from pipeline.sign import AgencySigner, open_signer
from tests.support.archived import make_archived_pdf
from tests.support.dss import DssValidator
from tests.support.pki import (
    PASSPHRASE,
    PIN,
    SOFTHSM_MODULE,
    SoftHsm,
    TestPki,
    running_pki,
    softhsm,
)

REPO = Path(__file__).resolve().parents[2]
TOKEN = "sohoa-agency"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPki]:
    with running_pki(tmp_path_factory.mktemp("pki")) as made:
        yield made


@pytest.fixture(scope="session")
def trust(pki: TestPki) -> Path:
    return pki.write_trust()


@pytest.fixture(scope="session")
def archived(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-page archived PDF/A-2b as the pipeline writes it (~1.3 MB)."""
    return make_archived_pdf(
        tmp_path_factory.mktemp("archived") / "000.00.13.H38-250314-0001.1.pdf"
    )


@pytest.fixture(scope="session")
def hsm(tmp_path_factory: pytest.TempPathFactory, pki: TestPki) -> SoftHsm:
    """A SoftHSM2 token holding the ``plain`` and ``agency`` keys (and one expired), and, as
    tokens in the field do, a certificate of another PKI that has nothing to do with them."""
    if not SOFTHSM_MODULE.is_file() or not shutil.which("softhsm2-util"):
        pytest.fail("SoftHSM2 missing: run scripts/setup.sh with SOHOA_SETUP_TEST=1")
    made = softhsm(tmp_path_factory.mktemp("softhsm"))
    os.environ.update(made.env)
    made.init_token(TOKEN)
    for label in ("plain", "agency", "expired"):
        made.import_key(TOKEN, pki.certs[label], label)
    stranger = TestPki(folder=tmp_path_factory.mktemp("other-pki"), url="http://127.0.0.1:9")
    made.import_cert(TOKEN, stranger.root, "unrelated-root")
    made.import_cert(TOKEN, stranger.issue("unrelated", "Sở Tài chính tỉnh khác"), "unrelated")
    return made


def p12_config(pki: TestPki, label: str = "plain", **extra: object) -> SignConfig:
    return SignConfig(pkcs12=pki.write_pkcs12(label), trust=pki.folder / "trust.pem", **extra)


def p11_config(label: str = "plain", token: str = TOKEN, **extra: object) -> SignConfig:
    return SignConfig(pkcs11_module=str(SOFTHSM_MODULE), token=token, key_label=label, **extra)


P12_ENV = {"SOHOA_SIGN_PASSPHRASE": PASSPHRASE}
P11_ENV = {"SOHOA_SIGN_PKCS11_PIN": PIN}


@pytest.fixture(scope="session")
def p12_signer(pki: TestPki, trust: Path) -> Iterator[AgencySigner]:
    with open_signer(p12_config(pki), P12_ENV) as signer:
        yield signer


@pytest.fixture(scope="session")
def p12_tsa_signer(pki: TestPki, trust: Path) -> Iterator[AgencySigner]:
    with open_signer(p12_config(pki, tsa_url=f"{pki.url}/tsa"), P12_ENV) as signer:
        yield signer


@pytest.fixture(scope="session")
def p12_lt_signer(pki: TestPki, trust: Path) -> Iterator[AgencySigner]:
    """Revocation data but no document time-stamp: PAdES B-LT."""
    cfg = p12_config(pki, "agency", tsa_url=f"{pki.url}/tsa", archive_timestamp=False)
    with open_signer(cfg, P12_ENV) as signer:
        yield signer


@pytest.fixture(scope="session")
def p12_lta_signer(pki: TestPki, trust: Path) -> Iterator[AgencySigner]:
    """What an agency with a TSA gets by default: PAdES B-LTA."""
    with open_signer(p12_config(pki, "agency", tsa_url=f"{pki.url}/tsa"), P12_ENV) as signer:
        yield signer


@pytest.fixture(scope="session")
def p11_signer(hsm: SoftHsm, pki: TestPki, trust: Path) -> Iterator[AgencySigner]:
    with open_signer(p11_config(tsa_url=f"{pki.url}/tsa", trust=trust), P11_ENV) as signer:
        yield signer


def run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True)


def verapdf_command() -> list[str] | None:
    """As tests/test_pdf.py finds it: $SOHOA_VERAPDF, the cached jar, or PATH."""
    if cmd := os.environ.get("SOHOA_VERAPDF"):
        return shlex.split(cmd)
    jars = sorted((REPO / ".cache" / "verapdf").glob("verapdf-cli-*.jar"))
    if jars and shutil.which("java"):
        return ["java", "-jar", str(jars[-1])]
    if exe := shutil.which("verapdf"):
        return [exe]
    return None


@pytest.fixture(scope="session")
def dss(trust: Path) -> Iterator[DssValidators]:
    """The EU DSS validator (scripts/get-dss.sh), started once for the whole session."""
    try:
        validators = DssValidators(DssValidator(trust), DssValidator(trust, online=True))
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"EU DSS validator unavailable ({exc}): run scripts/get-dss.sh")
    try:
        yield validators
    finally:
        validators.offline.close()
        validators.online.close()


@dataclass(frozen=True)
class DssValidators:
    """``offline`` judges a file by what it carries; ``online`` may ask the test PKI."""

    offline: DssValidator
    online: DssValidator
