"""Raw HTTP against the apiserver, for tests and fault demos: no client library between.

`request` sends one request and returns status, headers and body. `RawWatch`
reads a watch stream straight off the socket, parsed by httptools chunk by
chunk, so a test can see what a client library would hide: chunk boundaries
(trickle), a torn chunk (``torn``), a clean last chunk (``ended``), a stall
after the headers.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httptools


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
    """A watch (or any chunked response) read off the socket, parsed by httptools: its
    chunk events keep each chunk's payload apart.

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
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []  # every chunk payload received, in order
        self.partial = b""  # the bytes of a torn chunk
        self.ended = False  # the last chunk arrived
        self.torn = False
        self._buffer = b""
        self.body = b""  # for a non-chunked answer (an error Status)
        self._parser = httptools.HttpResponseParser(self)
        self._chunk: bytearray | None = None  # the chunk the parser is in
        self._ready: deque[bytes] = deque()  # chunks parsed, not handed out yet
        self._complete = False  # the parser reached the end of the answer

    # httptools' callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()

    def on_chunk_header(self) -> None:
        self._chunk = bytearray()

    def on_body(self, data: bytes) -> None:
        if self._chunk is None:
            self.body += data
        else:
            self._chunk += data

    def on_chunk_complete(self) -> None:
        if self._chunk:  # the last chunk has no payload
            self._ready.append(bytes(self._chunk))
        self._chunk = None

    def on_message_complete(self) -> None:
        self._complete = True

    def _fill(self) -> bool:
        """Feed the parser what comes next; False at the end of the connection."""
        data = self.sock.recv(1 << 16)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:  # e.g. a chunk longer than its size line
            self.torn = True
            raise TornStream(f"malformed stream: {e}") from e
        return bool(data)

    def read_head(self) -> int:
        """Read the status line and headers (once); returns the status."""
        while not self.status:
            if not self._fill():
                raise TornStream("connection closed before any response")
        if self.headers.get("transfer-encoding") != "chunked":
            while not self._complete:
                if not self._fill():
                    self.torn = True
                    raise TornStream(f"connection ended inside the body: {len(self.body)} bytes")
            self.ended = True
        return self.status

    def next_chunk(self) -> bytes | None:
        """The next chunk's payload; None after the last chunk; TornStream if cut."""
        self.read_head()
        while not self._ready:
            if self._complete:
                self.ended = True
                return None
            if not self._fill():
                self.torn = True
                if self._chunk is None:
                    raise TornStream("connection ended at a chunk boundary")
                self.partial = bytes(self._chunk)
                raise TornStream(f"connection ended inside a chunk: {len(self.partial)} bytes")
        data = self._ready.popleft()
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
        self.sock.close()

    def __enter__(self) -> RawWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
