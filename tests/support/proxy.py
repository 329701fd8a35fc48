"""Loopback proxies for tests.

:class:`TamperingProxy` flips one byte in the body of PUT requests on the way (to
MinIO). It understands just enough HTTP/1.1 (request line, ``Content-Length``) to find
request bodies on a keep-alive connection; everything else is piped through
untouched, so the client's signature still matches what the server sees.

:class:`SingleSignOnProxy` stands for the office's reverse proxy in front of
``sohoa serve``: it drops what a client says about itself (user, address, secret) and
adds its own, as the README's nginx example does.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass
class SingleSignOnProxy:
    """An HTTP reverse proxy on loopback that signs users in by a header.

    Every request is forwarded to ``upstream`` (its ``Host`` kept, as nginx's
    ``proxy_set_header Host $host``) with the client's own ``X-Remote-User``,
    ``X-Forwarded-*`` and secret header removed, then ``X-Forwarded-For: forwarded_for``
    (the address the proxy saw; a fixed one here, since everything runs on loopback),
    ``X-Remote-User: user`` (whom it authenticated) and the shared secret added.
    """

    upstream: tuple[str, int]
    secret: str
    user: str | None = None
    forwarded_for: str = "192.0.2.10"
    secret_header: str = "X-Sohoa-Proxy-Secret"
    user_header: str = "X-Remote-User"
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> SingleSignOnProxy:
        proxy = self
        dropped = {
            proxy.user_header.lower(),
            proxy.secret_header.lower(),
            "x-forwarded-for",
            "x-forwarded-proto",
            *_HOP_BY_HOP,
        }

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
                headers["X-Forwarded-For"] = proxy.forwarded_for
                headers[proxy.secret_header] = proxy.secret
                if proxy.user:
                    headers[proxy.user_header] = proxy.user
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_HEAD = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server = None

    def __enter__(self) -> SingleSignOnProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
