"""README "Office deployment": the PostgreSQL steps run as written.

The block that makes the office's database by hand (the owner with ``createuser
--createrole --pwprompt``, the database with ``createdb --owner``, then ``sohoa database
setup`` with the owner's URL) is read out of the README and run line by line against a
fresh PostgreSQL 15 cluster whose superuser is ``postgres``, as Debian's is. Only what a
reader replaces is replaced: ``sudo -u postgres`` (tests run as root: ``runuser``), the
server's address and the owner's password. Before, the README had no such step (the flags
had to be found in tests/support/postgres.py).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.support import postgres as pg
from tests.support.minio import REPO, free_port

pytestmark = pytest.mark.integration


def readme_block(marker: str) -> list[str]:
    """The command lines of the README's ``sh`` block that holds ``marker``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        if marker in block:
            return [x for x in block.splitlines() if x.strip() and not x.lstrip().startswith("#")]
    raise AssertionError(f"no sh block with {marker!r} in README.md")


@pytest.fixture
def debian_cluster():
    if not pg.available():
        pytest.fail("PostgreSQL 15 is not installed: run SOHOA_SETUP_TEST=1 scripts/setup.sh")
    server = pg.PostgresServer(
        root=Path(tempfile.mkdtemp(prefix="sohoa-pg-")), port=free_port(), superuser="postgres"
    )
    server.start()
    yield server
    server.remove()


def test_the_readme_makes_the_office_database_step_by_step(debian_cluster, tmp_path):
    lines = readme_block("createuser --createrole")
    assert len(lines) == 3, lines
    password = "Mat-khau-chu-so-huu-42"
    server = f"127.0.0.1:{debian_cluster.port}"
    socket_env = {
        **os.environ,
        "PGHOST": str(debian_cluster.sock_dir),
        "PGPORT": str(debian_cluster.port),
    }
    printed = ""
    for line in lines:
        words = shlex.split(line, comments=True)
        if words[:3] == ["sudo", "-u", "postgres"]:
            argv = (
                ["runuser", "-u", "postgres", "--", *words[3:]] if os.geteuid() == 0 else words[3:]
            )
            done = subprocess.run(
                argv,
                input=f"{password}\n{password}\n",  # --pwprompt: the password, twice
                env=socket_env,
                capture_output=True,
                text=True,
                timeout=60,
                start_new_session=True,  # no terminal: --pwprompt reads stdin
            )
        else:
            assignments = {}
            while "=" in words[0] and not words[0].startswith("-"):
                name, _, value = words.pop(0).partition("=")
                assignments[name] = value.replace("OWNER-PASSWORD", password).replace(
                    "db.office:5432", server
                )
            assert words[0] == "sohoa", line
            env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
            env.update(assignments, SOHOA_HOME=str(tmp_path / "admin"))
            done = subprocess.run(
                [sys.executable, "-m", "workers.cli", *words[1:]],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            printed = done.stdout
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    found = re.findall(r"^SOHOA_DATABASE_URL=(postgresql://(sohoa_\w+):\S+)$", printed, re.M)
    urls = {user: url for url, user in found}
    assert set(urls) == {"sohoa_worker", "sohoa_web", "sohoa_operator"}, printed
    with psycopg.connect(urls["sohoa_worker"]) as conn:
        assert conn.execute("SELECT count(*) FROM documents").fetchone() == (0,)
    with psycopg.connect(urls["sohoa_web"]) as conn, pytest.raises(psycopg.Error):
        conn.execute("CREATE TABLE t (x int)")
    owner = f"postgresql://sohoa:{password}@{server}/sohoa"
    with psycopg.connect(owner) as conn:
        row = conn.execute(
            "SELECT pg_encoding_to_char(encoding), pg_get_userbyid(datdba) FROM pg_database"
            " WHERE datname = 'sohoa'"
        ).fetchone()
        assert row == ("UTF8", "sohoa")
        assert conn.execute(
            "SELECT rolcreaterole, rolsuper FROM pg_roles WHERE rolname = 'sohoa'"
        ).fetchone() == (True, False)
