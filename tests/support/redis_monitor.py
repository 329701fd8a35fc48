"""Everything Redis is told while a test runs (its ``MONITOR`` stream), to prove what never
passes through the broker: a result kept and then forgotten still went through it."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class RedisMonitor:
    host: str
    port: int
    password: str
    _chunks: list[bytes] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RedisMonitor:
        sock = socket.create_connection((self.host, self.port), timeout=5)
        for parts in (("AUTH", self.password), ("MONITOR",)):
            msg = f"*{len(parts)}\r\n" + "".join(f"${len(p.encode())}\r\n{p}\r\n" for p in parts)
            sock.sendall(msg.encode())
        sock.settimeout(0.5)
        self._thread = threading.Thread(target=self._read, args=(sock,), daemon=True)
        self._thread.start()
        return self

    def _read(self, sock: socket.socket) -> None:
        with sock:
            while not self._stop.is_set():
                try:
                    chunk = sock.recv(1 << 16)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                self._chunks.append(chunk)

    def stop(self) -> str:
        """Stop listening; everything seen, as text (non-ASCII bytes as Redis escapes them)."""
        self._stop.set()
        if self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._thread.join(timeout=5)
        return b"".join(self._chunks).decode("utf-8", "replace")
