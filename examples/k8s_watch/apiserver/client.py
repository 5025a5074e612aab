"""Raw HTTP against the apiserver, for tests and fault demos: no client library between.

`request` sends one request and returns status, headers and body. `RawWatch`
reads a watch stream straight off the socket, chunk by chunk, so a test can
see what a client library would hide: chunk boundaries (trickle), a torn
chunk (``torn``), a clean last chunk (``ended``), a stall after the headers.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class HTTPResult:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> HTTPResult:
    """One request on a fresh connection; ``body`` may be bytes, str or JSON-able."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        hdrs = {"Authorization": "Bearer anything", **(headers or {})}
        data: bytes | None
        if body is None or isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return HTTPResult(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


class TornStream(Exception):
    """The connection ended inside a chunk or without the last chunk."""


class RawWatch:
    """A watch (or any chunked response) read by hand.

    >>> # w = RawWatch(srv.url, "/api/v1/pods?watch=1"); w.next_event()
    """

    def __init__(
        self,
        url: str,
        path: str,
        *,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        rcvbuf: int | None = None,
    ) -> None:
        parts = urlsplit(url)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
        hdrs = {"Host": parts.netloc, "Authorization": "Bearer x", "Accept": "application/json"}
        hdrs.update(headers or {})
        head = "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        self.sock.sendall(f"GET {path} HTTP/1.1\r\n{head}\r\n".encode())
        self.file = self.sock.makefile("rb")
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []  # every chunk payload received, in order
        self.partial = b""  # the bytes of a torn chunk
        self.ended = False  # the last chunk arrived
        self.torn = False
        self._buffer = b""
        self.body = b""  # for a non-chunked answer (an error Status)

    def read_head(self) -> int:
        """Read the status line and headers (once); returns the status."""
        if self.status:
            return self.status
        line = self.file.readline()
        if not line:
            raise TornStream("connection closed before any response")
        self.status = int(line.split()[1])
        while True:
            line = self.file.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if self.headers.get("transfer-encoding") != "chunked":
            self.body = self.file.read(int(self.headers.get("content-length", "0")))
            self.ended = True
        return self.status

    def next_chunk(self) -> bytes | None:
        """The next chunk's payload; None after the last chunk; TornStream if cut."""
        self.read_head()
        if self.ended:
            return None
        line = self.file.readline()
        if not line.endswith(b"\r\n"):
            self.torn = True
            raise TornStream(f"connection ended at a chunk boundary: {line!r}")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            self.file.readline()
            self.ended = True
            return None
        data = self.file.read(size)
        if len(data) < size:
            self.torn = True
            self.partial = data
            raise TornStream(f"connection ended inside a chunk: {len(data)} of {size} bytes")
        if self.file.read(2) != b"\r\n":
            self.torn = True
            raise TornStream("chunk not terminated")
        self.chunks.append(data)
        return data

    def next_event(self) -> dict[str, Any] | None:
        """The next ``{"type","object"}`` event; None at a clean end of stream."""
        while b"\n" not in self._buffer:
            data = self.next_chunk()
            if data is None:
                if self._buffer.strip():
                    raise TornStream(f"stream ended inside an event: {self._buffer[:80]!r}")
                return None
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        event: dict[str, Any] = json.loads(line)
        return event

    def events(self, n: int | None = None) -> list[dict[str, Any]]:
        """Up to ``n`` events (all until the end when None)."""
        out: list[dict[str, Any]] = []
        while n is None or len(out) < n:
            ev = self.next_event()
            if ev is None:
                break
            out.append(ev)
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while (ev := self.next_event()) is not None:
            yield ev

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def __enter__(self) -> RawWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
