"""The office as README "Office deployment" brings it up: compose.yaml with podman-compose.

Everything the README's steps do, with nothing filled in by hand: the images built here,
``run --rm setup`` (every key made by the command that owns it, each role's file, the
first administrator), ``up -d``; a page dropped at the station's inbox is archived by the
workers and found from the desk (the web page, logged in as that administrator); an
operator's ``cli`` (the operator key) assigns a code to a document that had none, which a
worker archives; setup run again keeps every key; ``down -v`` leaves nothing behind.

Before: podman-compose could not read compose.yaml at all (``${…:?}`` in a folded
``command: >`` string), and every ``${…:?set in .env}`` had to be filled before any
service started, role keys included, which only ``storage setup`` (a service of the same
file) could make.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.support import compose
from tests.support.files import small_page
from tests.support.web import login

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CODE = "000.00.13.H38-261207-0001"
ASSIGNED = "000.00.13.H38-261207-0002"


@pytest.fixture
def office(tmp_path: Path, shared_data: Path):
    why = compose.available()
    if why:
        pytest.fail(why)
    office = compose.Office(tmp_path)
    office.prepare()
    try:
        yield office
    finally:
        office.down()
    assert office.containers() == [] and office.volumes() == [], office.log_tail()


def _drop(office: compose.Office, relative: str, seed: int) -> Path:
    """A scanned page put into the inbox the way a file share owned by the image's
    account writes it (the watcher moves files out as that account)."""
    target = office.inbox / relative
    page = small_page(seed, office.root / "scans" / target.name)
    for folder in reversed([target.parent, *target.parent.relative_to(office.inbox).parents]):
        path = office.inbox / folder
        path.mkdir(exist_ok=True)
        os.chown(path, compose.IMAGE_USER, compose.IMAGE_USER)
    os.chown(page, compose.IMAGE_USER, compose.IMAGE_USER)
    page.rename(target)
    return target


def _json(done) -> list[dict]:
    return [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]


def _wait(what: str, probe, timeout: float = 600, every: float = 5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def test_the_office_from_the_readme(office: compose.Office):
    built = office.run("build", timeout=1800)
    assert built.returncode == 0, office.log_tail()

    setup = office.sohoa("setup", timeout=900)
    assert setup.returncode == 0, office.log_tail()
    assert "office ready" in setup.stdout + setup.stderr
    for role in ("station", "worker", "web", "operator", "admin"):
        role_file = office.office_dir / role / "sohoa.env"
        assert role_file.stat().st_mode & 0o777 == 0o600, role
        assert role_file.stat().st_uid == compose.IMAGE_USER, role
    station = (office.office_dir / "station" / "sohoa.env").read_text()
    assert "SOHOA_MINIO_ROLE=station" in station
    assert "DATABASE_URL" not in station and "BROKER_URL" not in station
    assert "SOHOA_BROKER_URL" not in (office.office_dir / "web" / "sohoa.env").read_text()
    password = (office.office_dir / "admin" / "first-password").read_text().strip()
    assert password not in setup.stdout + setup.stderr  # never printed

    up = office.run("up", "-d", timeout=900)
    assert up.returncode == 0, office.log_tail()

    # a station's scan, with its dossier folder, archived and found from the desk
    _drop(office, f"motcua-01/{CODE}/trang-1.png", 7)
    client = httpx.Client(base_url=office.web, follow_redirects=False, timeout=30)

    def logged_in() -> bool:
        try:
            return login(client, "admin", password).status_code == 303
        except httpx.HTTPError:
            return False

    _wait("the web page", logged_in, timeout=300)

    def found(code: str):
        hits = client.get("/api/search", params={"dossier": code})
        if hits.status_code != 200:
            return None
        return [h for h in hits.json().get("hits", []) if h.get("dossier_code") == code]

    hits = _wait(f"{CODE} found from the desk", lambda: found(CODE))
    pdf = client.get(f"/pdf/{hits[0]['pdf_key']}")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.status_code

    # an operator at the cli service (the operator key) gives a code to a page without one
    _drop(office, "motcua-01/khong-ma.png", 901)

    def waiting() -> list[dict]:
        rows = _json(office.sohoa("cli", "--json", "batches", "--status", "needs_dossier"))
        return [r for r in rows if r.get("documents")]

    (batch,) = _wait("a document without a code", waiting)
    shown = _json(office.sohoa("cli", "--json", "show", batch["batch_id"]))
    doc_id = shown[0]["documents"][0]["document_id"]
    assigned = office.sohoa("cli", "--json", "assign", doc_id, "--dossier", ASSIGNED)
    assert assigned.returncode == 0, office.log_tail()
    assert _json(assigned)[0]["queued"] is True
    _wait(f"{ASSIGNED} archived by a worker", lambda: found(ASSIGNED))
    retried = office.sohoa("cli", "--json", "retry", "--failed")
    assert retried.returncode == 0, office.log_tail()

    # setup again (as at every `up`, and after an upgrade): every key and account kept
    before = {r: (office.office_dir / r / "sohoa.env").read_text() for r in ("worker", "web")}
    again = office.sohoa("setup", timeout=600)
    assert again.returncode == 0, office.log_tail()
    assert "administrator admin kept" in again.stdout + again.stderr
    after = {r: (office.office_dir / r / "sohoa.env").read_text() for r in ("worker", "web")}
    assert before == after
    assert found(CODE), "the office still answers with the keys it had"
