"""The office on five hosts: storage (MinIO, PostgreSQL, Redis), two stations, two workers.

Hosts are network namespaces with their own addresses and hostnames when the
machine allows it (CI runs as root: it does); otherwise the same scenario runs
on loopback with a separate ``SOHOA_HOME`` per host, and the test says so in a
warning (never a silent skip). Files are dropped at both stations into the same
dossier; one worker is SIGKILLed mid-document and brought back, the other's
link is cut for a while; every file must be archived exactly once, numbered
1..N, and a search from a worker must find what both stations scanned. Every host
holds its own role's key: ``storage setup`` runs once with the root key, the
stations get the station key and no database or broker URL at all.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pytest

from tests.support import office
from tests.support.files import small_page, small_pdf
from tests.support.hosts import Hosts
from tests.support.minio import free_port, minio_binary
from tests.support.postgres import PostgresServer
from tests.support.redis import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CODE = "000.00.13.H38-261201-0099"
REPO = Path(__file__).resolve().parents[1]


def _wait(hosts: Hosts, host: str, args: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hosts.run(host, args, capture_output=True).returncode == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"{' '.join(args)} did not succeed on {host}")


def _probe(hosts: Hosts, host: str, env: dict[str, str], *args: str):
    out = hosts.run(
        host,
        [sys.executable, "-m", "tests.support.office_probe", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def hosts():
    h = Hosts(["station-1", "station-2", "worker-1", "worker-2"]).setup()
    if h.mode == "loopback":
        warnings.warn(
            f"network namespaces not available ({h.why_not}): the multi-host scenario ran on"
            " loopback with one SOHOA_HOME per host",
            stacklevel=1,
        )
    yield h
    h.close()


def test_office_on_five_hosts(hosts, tmp_path):
    import os

    root = Path(tempfile.mkdtemp(prefix="sohoa-office-"))
    os.chmod(root, 0o755)
    storage = hosts.address("storage")
    # --- the storage host: MinIO, PostgreSQL, Redis, listening on its own address only
    minio_port, access, secret = free_port(), "office" + os.urandom(3).hex(), os.urandom(16).hex()
    (root / "minio").mkdir()
    hosts.popen(
        "storage",
        [minio_binary(), "server", str(root / "minio"), "--address", f"{storage}:{minio_port}"],
        env={
            **os.environ,
            "MINIO_ROOT_USER": access,
            "MINIO_ROOT_PASSWORD": secret,
            "MINIO_BROWSER": "off",
        },
        stdout=subprocess_devnull(),
        stderr=subprocess_devnull(),
    )
    pg = PostgresServer(
        root=root / "pg", port=free_port(), host=storage, wrap=hosts.wrap("storage")
    )
    # Redis reads its users from the file `sohoa broker setup` writes: the default user off,
    # the workers' user the only one; the stations and the desk get no broker login at all.
    redis_port = free_port()
    login = office.broker_login(root / "redis-users.acl", f"redis://{storage}:{redis_port}/0")
    rd = RedisServer(
        root=root / "redis",
        port=redis_port,
        host=storage,
        wrap=hosts.wrap("storage"),
        aclfile=root / "redis-users.acl",
        user=login["user"],
        password=login["password"],
    )
    try:
        pg.start()
        rd.start()
        _wait(
            hosts,
            "station-1",
            ["curl", "-sf", f"http://{storage}:{minio_port}/minio/health/live"],
            60,
        )
        root_env = {
            "SOHOA_MINIO_ENDPOINT": f"{storage}:{minio_port}",
            "SOHOA_MINIO_ACCESS_KEY": access,
            "SOHOA_MINIO_SECRET_KEY": secret,
            "PYTHONPATH": str(REPO),
        }
        # The root key once, by the administrator (from a host: MinIO is reachable there only).
        keys = office.setup_keys(
            root_env, tmp_path, run=lambda argv, **kw: hosts.run("worker-1", argv, cwd=REPO, **kw)
        )
        # The database owner once, by the administrator: a role per machine.
        owner = pg.new_owned_database("office")
        roles = office.database_roles(
            owner, tmp_path, run=lambda argv, **kw: hosts.run("worker-1", argv, cwd=REPO, **kw)
        )
        env = office.office_env(
            root_env,
            tmp_path,
            database_url=roles["worker"],
            broker_url=login["url"],
            lease=15,
            visibility=10,
            minio_retry=60,
            keys=keys,
        )
        homes = {
            n: (office.station if n.startswith("station") else office.host)(env, root, n)
            for n in hosts.names
        }
        for h in homes.values():  # no machine holds the root key or the database owner
            assert access not in str(h) and secret not in str(h) and owner not in str(h)
        # --- files at both stations, into the same dossier; one is a 6-page document
        shas: set[str] = set()
        for station, seeds in (("station-1", [701, 702, 703]), ("station-2", [704, 705])):
            folder = Path(homes[station]["SOHOA_INBOX"]) / station / CODE
            staging = root / "staging" / station
            for seed in seeds:
                shas.add(
                    hashlib.sha256(
                        small_page(seed, staging / f"t{seed}.png").read_bytes()
                    ).hexdigest()
                )
            if station == "station-2":
                pdf = small_pdf([706, 707, 708, 709, 710, 711], staging / "sau-trang.pdf")
                shas.add(hashlib.sha256(pdf.read_bytes()).hexdigest())
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(folder)
        cli = [sys.executable, "-m", "workers.cli"]
        logs = root / "logs"
        logs.mkdir()

        def start(host: str, *args: str, log: str):
            return hosts.popen(
                host,
                [*cli, *args],
                env={**os.environ, **homes[host], "SOHOA_WORKER_LOGLEVEL": "INFO"},
                cwd=REPO,
                stdout=open(logs / log, "ab"),
                stderr=subprocess_stdout(),
            )

        watchers = [
            start(s, "--json", "watch", "--once", log=f"{s}.log")
            for s in ("station-1", "station-2")
        ]
        w1 = start("worker-1", "worker", "--concurrency", "1", "--documents", "2", log="w1.log")
        start("worker-2", "worker", "--concurrency", "1", "--documents", "2", log="w2.log")
        # --- SIGKILL worker-1 once pages are being finished, bring it back
        office.wait_for(
            lambda: _probe(hosts, "worker-1", homes["worker-1"], "pages") >= 2, 300, "pages"
        )
        office.kill(w1)
        time.sleep(2)
        start("worker-1", "worker", "--concurrency", "1", "--documents", "2", log="w1b.log")
        # --- cut worker-2's link for a while
        hosts.cut("worker-2")
        time.sleep(12)
        hosts.mend("worker-2")
        for proc in watchers:
            assert proc.wait(timeout=900) == 0, "\n".join(
                p.read_text(errors="replace")[-3000:] for p in sorted(logs.iterdir())
            )
        office.wait_for(
            lambda: (
                _probe(hosts, "worker-1", homes["worker-1"], "states").get("indexed", 0)
                >= len(shas)
            ),
            900,
            "every document indexed",
        )
        # Archived once each, nothing lost, and the work bucket empty: a page a cut-off run
        # stored after the taker cleared the folder goes at the workers' next sweep.
        deadline = time.monotonic() + 60
        while True:
            report = _probe(
                hosts, "worker-1", homes["worker-1"], "report", CODE, ",".join(sorted(shas))
            )
            if report["ok"] == 1 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert report["ok"] == 1, report.get("why")
        # --- a search from the desk (the web's MinIO key and database role) finds what
        # station-2 scanned
        desk = {
            **office.host(env, root, "desk"),
            **keys["web"],
            "SOHOA_MINIO_ROLE": "web",
            "SOHOA_DATABASE_URL": roles["web"],
        }
        desk.pop("SOHOA_BROKER_URL")
        found = hosts.run(
            "worker-1",
            [*cli, "--json", "search", "--station", "station-2", "--dossier", CODE, "giay"],
            env={**os.environ, **desk},
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert found.returncode == 0, found.stderr
        hits = [json.loads(x) for x in found.stdout.splitlines() if x.startswith("{")]
        assert hits and {h["dossier_code"] for h in hits} == {CODE}
        batches = hosts.run(
            "worker-2",
            [*cli, "--json", "batches"],
            env={**os.environ, **homes["worker-2"]},
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        rows = [json.loads(x) for x in batches.stdout.splitlines() if x.startswith("{")]
        assert {r["station"] for r in rows} == {"station-1", "station-2"}
        workers = {w for r in rows for w in r["workers"]}
        if hosts.mode == "netns":  # each host has its own name there
            assert workers <= {"worker-1", "worker-2"} and workers, workers
        print(f"\nmulti-host mode: {hosts.mode}; report {report}; workers {sorted(workers)}")
    finally:
        hosts.close()  # the hosts' processes first, then the servers they used
        rd.remove()
        pg.remove()


def subprocess_devnull():
    import subprocess

    return subprocess.DEVNULL


def subprocess_stdout():
    import subprocess

    return subprocess.STDOUT
