"""compose.yaml brought up for real with podman-compose, and torn down.

Images are built here from the repository (Dockerfile, configs/containers/*.Containerfile)
on a Debian 12 base made by ``scripts/base-image.sh``: no registry is reached. Each test
gets its own project name, role-file folder, inbox and web port, so nothing of an
office someone else runs is touched.

This machine's podman (Debian 12's 4.3, a VM whose cgroups are hybrid v1/v2 and whose
root lacks CAP_SYS_RESOURCE) cannot run a container with its defaults: crun refuses
hybrid cgroups ("cgroups in hybrid mode not supported, drop all controllers from
cgroupv2") and every runtime fails to raise RLIMIT_NOFILE / RLIMIT_NPROC to podman's
defaults ("setrlimit `RLIMIT_NOFILE`: Operation not permitted"). :func:`containers_conf`
writes the fix, used through ``CONTAINERS_CONF`` for these runs only: runc (which handles
hybrid cgroups) and ulimits no higher than the machine's own. Healthchecks are not
scheduled without systemd, and podman-compose ignores ``service_healthy`` before podman
4.6, so services start without waiting; they retry (restart policy) until the servers
answer.
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.minio import REPO, free_port

IMAGE_USER = 10001  # the image's sohoa account (Dockerfile)


def podman_compose() -> list[str]:
    """The podman-compose command: ``SOHOA_PODMAN_COMPOSE`` or the test venv's (PyPI 1.6+)."""
    chosen = os.environ.get("SOHOA_PODMAN_COMPOSE")
    return [chosen] if chosen else [sys.executable, "-m", "podman_compose"]


def available() -> str | None:
    """Why the office cannot be brought up here (None: it can)."""
    for tool in ("podman", "buildah", "debootstrap", "runc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed: run SOHOA_SETUP_TEST=1 scripts/setup.sh"
    probe = subprocess.run([*podman_compose(), "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"podman-compose does not run: {probe.stderr.strip()[-200:]}"
    return None


def containers_conf(path: Path) -> Path:
    """containers.conf for this machine's podman: runc, and ulimits within the machine's."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 65536 if nofile == resource.RLIM_INFINITY else nofile
    nproc = 32768 if nproc == resource.RLIM_INFINITY else nproc
    with contextlib.suppress(OSError, ValueError):  # no RLIMIT_NPROC above pid_max here
        nproc = min(nproc, int(Path("/proc/sys/kernel/pid_max").read_text()))
    path.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
    )
    return path


def base_image() -> str:
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "base-image.sh")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Office:
    """One compose project: its folders, port and the environment podman-compose runs with."""

    root: Path
    project: str = field(default_factory=lambda: f"sohoa-test-{secrets.token_hex(4)}")
    web_port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def office_dir(self) -> Path:
        return self.root / "office"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def prepare(self) -> None:
        """The folders the README has the administrator make, and the environment."""
        self.office_dir.mkdir(mode=0o700, parents=True)
        self.inbox.mkdir(mode=0o700)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
        env.update(
            CONTAINERS_CONF=str(containers_conf(self.root / "containers.conf")),
            BUILDAH_ISOLATION="chroot",
            SOHOA_BASE_IMAGE=base_image(),
            SOHOA_OFFICE_DIR=str(self.office_dir),
            SOHOA_INBOX_DIR=str(self.inbox),
            SOHOA_WEB_PORT=str(self.web_port),
        )
        local_cas = Path("/usr/local/share/ca-certificates")
        if local_cas.is_dir() and any(local_cas.glob("*.crt")):  # pip through this proxy
            env["SOHOA_PIP_CERT"] = "/etc/ssl/certs/ca-certificates.crt"
        if os.environ.get("SOHOA_PODMAN_COMPOSE"):
            env["SOHOA_PODMAN_COMPOSE"] = os.environ["SOHOA_PODMAN_COMPOSE"]
        self.env = env

    def run(
        self, *args: str, timeout: float = 600, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``podman-compose -p PROJECT -f compose.yaml ARGS`` (output kept in the test's log)."""
        argv = [*podman_compose(), "-p", self.project, "-f", str(REPO / "compose.yaml"), *args]
        done = subprocess.run(
            argv,
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        with open(self.root / "compose.log", "a", encoding="utf-8") as log:
            log.write(f"$ {' '.join(args)}\n{done.stdout}{done.stderr}\n")
        return done

    def sohoa(self, service: str, *args: str, timeout: float = 300):
        """A sohoa command in a one-off container of ``service`` (its role's file)."""
        return self.run("run", "--rm", "-T", service, *args, timeout=timeout)

    def log_tail(self, lines: int = 80) -> str:
        text = (self.root / "compose.log").read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def containers(self) -> list[str]:
        done = subprocess.run(
            [
                "podman",
                "ps",
                "-a",
                "--filter",
                f"label=io.podman.compose.project={self.project}",
                "--format",
                "{{.Names}}",
            ],
            capture_output=True,
            text=True,
            env=self.env,
        )
        return [x for x in done.stdout.split() if x]

    def volumes(self) -> list[str]:
        done = subprocess.run(
            ["podman", "volume", "ls", "-q"], capture_output=True, text=True, env=self.env
        )
        return [x for x in done.stdout.split() if x.startswith(f"{self.project}_")]

    def down(self) -> None:
        """Tear the project down: containers, its network and its named volumes."""
        self.run("down", "-v", timeout=300)
        for name in self.containers():  # anything down missed
            subprocess.run(["podman", "rm", "-f", name], capture_output=True, env=self.env)
        for name in self.volumes():
            subprocess.run(["podman", "volume", "rm", "-f", name], capture_output=True)
