"""Shared fixtures: a real MinIO server per test session, isolated configs per test.

With pytest-xdist (``scripts/test.sh`` runs ``-n 3 --dist loadgroup``) each worker process
is a session of its own: it starts its own MinIO, PostgreSQL, Redis, test PKI, SoftHSM2
token and DSS JVM on free ports under its own temporary folders, so no server, port or
token directory is shared between workers. Two kinds of test are kept on one worker
each (:func:`pytest_collection_modifyitems`): the signing tests, which share one PKI,
token and DSS JVM (set up once instead of on every worker), and the office tests, each
of which runs a whole office of processes with leases and timeouts of seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from tests.support import postgres as pg
from tests.support import redis as rd
from tests.support.minio import MinioServer, new_server

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
for _above in Path(__file__).resolve().parents[2:]:  # a nested worktree: the first one above
    if (_above / "shared" / "data").is_dir():
        SHARED_DATA = _above / "shared" / "data"
        break
if not SHARED_DATA.exists():  # CI clones next to shared/ too; allow an override
    import os

    SHARED_DATA = Path(os.environ.get("SOHOA_SHARED_DATA", "../shared/data")).resolve()


@pytest.fixture(autouse=True)
def _pillow_pixel_limit() -> Iterator[None]:
    """Pillow's pixel limit as each test found it: reading a page sets it from the ingest
    settings (process-wide), and a test with a small limit must not leave it to the next
    test on the same pytest-xdist worker."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    yield
    Image.MAX_IMAGE_PIXELS = limit


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    server = new_server(tmp_path_factory.mktemp("minio"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg.PostgresServer]:
    """A real PostgreSQL 15 for the session (scripts/test.sh installs it); never skipped."""
    if not pg.available():
        pytest.fail("PostgreSQL 15 is not installed: run SOHOA_SETUP_TEST=1 scripts/setup.sh")
    server = pg.new_server()
    server.start()
    yield server
    server.remove()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[rd.RedisServer]:
    """A real Redis for the session (Debian redis-server); never skipped."""
    if not rd.available():
        pytest.fail("redis-server is not installed: run SOHOA_SETUP_TEST=1 scripts/setup.sh")
    server = rd.new_server()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def sohoa_env(tmp_path: Path, minio_server: MinioServer) -> dict[str, str]:
    """Environment for one test: its own home, inbox and buckets on the shared server."""
    suffix = tmp_path.name.lower().replace("_", "-")[-20:].strip("-")
    env = dict(minio_server.env())
    env.update(
        SOHOA_HOME=str(tmp_path / "home"),
        SOHOA_INBOX=str(tmp_path / "inbox"),
        SOHOA_BUCKET_RAW=f"raw-{suffix}",
        SOHOA_BUCKET_ARCHIVE=f"archive-{suffix}",
        SOHOA_BUCKET_WORK=f"work-{suffix}",
    )
    return env


@pytest.fixture
def cfg(sohoa_env: dict[str, str]) -> Config:
    """A configuration pointing at the test MinIO, with a short stability window."""
    return load_config(
        env=sohoa_env, overrides={"watch": {"stable_seconds": 1, "rescan_seconds": 1}}
    )


# Signing tests (tests/test_sign*.py): one PKI, SoftHSM2 token and archived PDF/A per session,
# shared by every module (libsofthsm2 reads its token directory once per process).
from tests.support.signing import (  # noqa: E402, F401
    archived,
    dss,
    hsm,
    p11_signer,
    p12_lt_signer,
    p12_lta_signer,
    p12_signer,
    p12_tsa_signer,
    pki,
    trust,
)

# Tests kept together on one xdist worker (see the module docstring), by what they use.
SIGNING_FIXTURES = frozenset(
    {"pki", "trust", "hsm", "dss", "archived"}
    | {"p11_signer", "p12_signer", "p12_lt_signer", "p12_lta_signer", "p12_tsa_signer"}
)
OFFICE_MODULES = frozenset(
    {"test_office", "test_office_hosts", "test_office_compose", "test_broker_restart"}
)


def _group(item: pytest.Item) -> str | None:
    if item.module is not None and item.module.__name__.rpartition(".")[2] in OFFICE_MODULES:
        return "office"
    if SIGNING_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return "signing"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group the office and signing tests, and hand those long chains out first."""
    order = {"office": 0, "signing": 1, None: 2}
    for item in items:
        group = _group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: order[_group(item)])  # stable: file order within a group
