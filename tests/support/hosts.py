"""Test hosts for the office scenario: network namespaces on one bridge, or loopback if not allowed.

With network namespaces (root and iproute2), every host is a namespace of its
own with one veth into a bridge that lives in the storage host's namespace, an
address from a random 10.x/24 inside those namespaces only (nothing is added to
the machine's own network), and its own hostname (``unshare --uts``), so leases
and "which host did what" are really per host. Cutting a host's link is
``ip link set eth0 down`` inside its namespace.

Where namespaces cannot be made, the same hosts are processes on loopback with
their own ``SOHOA_HOME``; a "cut link" is then the host's processes stopped
(SIGSTOP) for the same time, which the broker and database see the same way: a
peer that stops answering. :attr:`Hosts.mode` says which one ran.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def netns_possible() -> tuple[bool, str]:
    """Whether this machine lets us make namespaces (and why not)."""
    if os.geteuid() != 0:
        return False, "not root"
    if not shutil.which("ip") or not shutil.which("unshare"):
        return False, "iproute2 or unshare missing"
    probe = f"sohoa-probe-{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", probe)
        _ip("-n", probe, "link", "add", "pv0", "type", "veth", "peer", "name", "pv1")
    except subprocess.CalledProcessError as exc:
        return False, (exc.stderr or str(exc)).strip()
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return True, ""


@dataclass
class Hosts:
    names: list[str]
    storage: str = "storage"
    mode: str = "netns"
    why_not: str = ""
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    subnet: int = field(default_factory=lambda: 100 + secrets.randbelow(150))
    procs: dict[str, list[subprocess.Popen]] = field(default_factory=dict)

    def ns(self, name: str) -> str:
        return f"sohoa-{self.tag}-{name}"

    def address(self, name: str) -> str:
        if self.mode == "loopback":
            return "127.0.0.1"
        return f"10.{self.subnet}.0.{[self.storage, *self.names].index(name) + 1}"

    def setup(self) -> Hosts:
        ok, why = netns_possible()
        if not ok:
            self.mode, self.why_not = "loopback", why
            return self
        br = self.ns(self.storage)
        _ip("netns", "add", br)
        _ip("-n", br, "link", "set", "lo", "up")
        _ip("-n", br, "link", "add", "br0", "type", "bridge")
        _ip("-n", br, "addr", "add", f"{self.address(self.storage)}/24", "dev", "br0")
        _ip("-n", br, "link", "set", "br0", "up")
        for i, name in enumerate(self.names):
            ns = self.ns(name)
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            # eth0 in the host, its peer on the bridge in the storage namespace
            _ip(
                "-n",
                ns,
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                f"p{i}",
                "netns",
                br,
            )
            _ip("-n", ns, "addr", "add", f"{self.address(name)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", br, "link", "set", f"p{i}", "master", "br0")
            _ip("-n", br, "link", "set", f"p{i}", "up")
        return self

    def wrap(self, name: str) -> list[str]:
        """The prefix that runs a command "on" host ``name`` (its namespace and hostname)."""
        if self.mode == "loopback":
            return []
        return [
            "ip",
            "netns",
            "exec",
            self.ns(name),
            "unshare",
            "--uts",
            "sh",
            "-c",
            f'hostname {name} && exec "$@"',
            name,
        ]

    def popen(self, name: str, args: list[str], **kw) -> subprocess.Popen:
        proc = subprocess.Popen([*self.wrap(name), *args], start_new_session=True, **kw)
        self.procs.setdefault(name, []).append(proc)
        return proc

    def run(self, name: str, args: list[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run([*self.wrap(name), *args], **kw)

    def cut(self, name: str) -> None:
        if self.mode == "netns":
            _ip("-n", self.ns(name), "link", "set", "eth0", "down")
            return
        for proc in self.procs.get(name, []):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGSTOP)

    def mend(self, name: str) -> None:
        if self.mode == "netns":
            _ip("-n", self.ns(name), "link", "set", "eth0", "up")
            return
        for proc in self.procs.get(name, []):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGCONT)

    def close(self) -> None:
        for procs in self.procs.values():
            for proc in procs:
                if proc.poll() is None:
                    try:
                        os.killpg(proc.pid, signal.SIGCONT)
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait()
        if self.mode == "netns":
            for name in [*self.names, self.storage]:
                subprocess.run(["ip", "netns", "del", self.ns(name)], capture_output=True)
