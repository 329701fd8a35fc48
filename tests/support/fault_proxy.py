"""A loopback HTTP proxy in front of a real MinIO that answers a share of requests itself,
with the errors an overloaded S3 gives: 503 ``SlowDown``/``ServiceUnavailable``, 500
``InternalError``, 429 throttling, a bare 503 and a proxy's 502 HTML page.

It reads each request's head and ``Content-Length`` body (enough for minio-py, which
sends no chunked bodies), then either forwards it untouched (the signature still
matches) or answers with an error and closes the connection. Faults are spread evenly
over each kind of request (every third or fourth write, every tenth read) and cycle
through the error kinds, so a run is repeatable and every kind is met whatever the
threads' order.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

WRITES = (b"PUT", b"POST", b"DELETE")
_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
    "<Message>{message}</Message><Resource>/</Resource><RequestId>fault</RequestId>"
    "<HostId>fault</HostId></Error>"
)
FAULTS = (
    (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    (500, "Internal Server Error", "InternalError", "We encountered an internal error."),
    (503, "Service Unavailable", "ServiceUnavailable", "Please retry."),
    (429, "Too Many Requests", "TooManyRequests", "Throttled."),
    (503, "Service Unavailable", None, None),  # no body at all
    (502, "Bad Gateway", "", "<html><body>502 Bad Gateway</body></html>"),  # not XML
)


def _response(method: bytes, fault: tuple) -> bytes:
    status, reason, code, message = fault
    if code is None or method == b"HEAD":
        body, kind = b"", None
    elif code == "":
        body, kind = message.encode(), "text/html"
    else:
        body, kind = _XML.format(code=code, message=message).encode(), "application/xml"
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Connection: close"]
    if kind:
        head.append(f"Content-Type: {kind}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (b"" if method == b"HEAD" else body)


@dataclass
class FaultyProxy:
    upstream: tuple[str, int]
    write_share: float = 0.3  # of PUT/POST/DELETE requests answered with an error
    read_share: float = 0.1  # of GET/HEAD requests
    faulted: int = 0
    forwarded: int = 0
    _seen: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})
    _sock: socket.socket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        assert self._sock is not None
        return f"127.0.0.1:{self._sock.getsockname()[1]}"

    def start(self) -> FaultyProxy:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._sock:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None

    def __enter__(self) -> FaultyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while self._sock is not None:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()

    def _fault_for(self, method: bytes) -> tuple | None:
        write = method in WRITES
        share = self.write_share if write else self.read_share
        with self._lock:
            n = self._seen[write] = self._seen[write] + 1
            if int(n * share) == int((n - 1) * share):
                self.forwarded += 1
                return None
            self.faulted += 1
            return FAULTS[(self.faulted - 1) % len(FAULTS)]

    @staticmethod
    def _close(*socks: socket.socket) -> None:
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            self._close(src, dst)

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                method = lines[0].split(b" ", 1)[0]
                length, chunked = 0, False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value.strip())
                    elif name == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked = True
                if chunked:  # not parsed: pass the rest of this connection through untouched
                    upstream.sendall(head + b"\r\n\r\n" + buf)
                    self._pipe(client, upstream)
                    return
                while len(buf) < length:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:length], buf[length:]
                fault = self._fault_for(method)
                if fault is not None:
                    client.sendall(_response(method, fault))
                    return
                upstream.sendall(head + b"\r\n\r\n" + body)
        except OSError:
            pass
        finally:
            self._close(client, upstream)
