"""A loopback TCP proxy that can flip one byte in the body of PUT requests on the way.

It understands just enough HTTP/1.1 (request line, ``Content-Length``) to find
request bodies on a keep-alive connection; everything else is piped through
untouched, so the client's signature still matches what the server sees.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class TamperingProxy:
    upstream: tuple[str, int]
    tamper: bool = True
    flip_offset: int = 100
    flipped: int = 0
    _sock: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        assert self._sock is not None
        return f"127.0.0.1:{self._sock.getsockname()[1]}"

    def start(self) -> TamperingProxy:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        return self

    def stop(self) -> None:
        if self._sock:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None

    def __enter__(self) -> TamperingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while self._sock is not None:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            for target in (self._client_to_server, self._server_to_client):
                t = threading.Thread(target=target, args=(client, upstream), daemon=True)
                t.start()

    @staticmethod
    def _close(*socks: socket.socket) -> None:
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def _server_to_client(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while chunk := upstream.recv(65536):
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            self._close(client, upstream)

    def _client_to_server(self, client: socket.socket, upstream: socket.socket) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                upstream.sendall(head + b"\r\n\r\n")
                lines = head.split(b"\r\n")
                method = lines[0].split(b" ", 1)[0]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = bytearray()
                while len(body) + len(buf) < length:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = bytearray(buf[:length]), buf[length:]
                if self.tamper and method == b"PUT" and body:
                    at = min(self.flip_offset, len(body) - 1)
                    body[at] ^= 0x01
                    with self._lock:
                        self.flipped += 1
                upstream.sendall(bytes(body))
        except OSError:
            pass
        finally:
            self._close(client, upstream)
