"""HTTP/1.1 in and out: requests parsed by httptools, response heads and chunks.

Parsing requests (heads, bodies by ``Content-Length`` or chunked, keep-alive,
pipelining) is httptools' (llhttp, the parser in C that uvicorn uses):
`Parser` feeds it what the connection reads and collects its callbacks into
`Request`s, queued in order. What is left here is output formatting, as
uvicorn's httptools protocol has it: a response head (status line and
headers, cached per second) and the chunked framing of a watch stream
(``%x\\r\\n`` + data + ``\\r\\n``, and the last chunk). Plus splitting the
request target into path and query.
"""

from __future__ import annotations

import email.utils
import http
import re
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import httptools

MAX_HEADER_BYTES = 64 * 1024
# A request target that is just a path: nothing to split off or decode.
_plain_target = re.compile(r"/(?:[^/?#%\t][^?#%\t]*)?").fullmatch
PHRASES = {s.value: s.phrase.encode() for s in http.HTTPStatus}
LAST_CHUNK = b"0\r\n\r\n"


class BadHTTP(Exception):
    """A request that cannot be read; the connection is closed after the answer."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"body larger than {limit} bytes")
        self.limit = limit


@dataclass
class Request:
    method: str
    target: str
    path: str
    query: dict[str, list[str]]
    version: str
    headers: dict[str, str]
    body: bytes = b""
    keep_alive: bool = True
    expect_continue: bool = False  # owed a ``100 Continue`` (sent when it is read on)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class Parser:
    """httptools' request parser and what its callbacks collected: whole requests
    (``ready``, in order) and the one in progress (``current``, from its head on).

    ``held`` counts the bytes read and not yet answered: what was fed since the
    parser was last between requests with none waiting (httptools does not say
    where in a piece of input a request ended, so this is by reads).
    """

    __slots__ = (
        "_body",
        "_body_size",
        "_headers",
        "_url",
        "current",
        "error",
        "head_bytes",
        "held",
        "in_head",
        "in_message",
        "max_body",
        "p",
        "ready",
        "seen",
    )

    def __init__(self, max_body: int) -> None:
        self.p = httptools.HttpRequestParser(self)
        self.max_body = max_body
        self.ready: deque[Request] = deque()
        self.current: Request | None = None  # head in, body not yet complete
        self.error: BaseException | None = None  # found in a callback: raised after the feed
        self.in_message = False
        self.in_head = False
        self.head_bytes = 0
        self.held = 0
        self.seen = False  # a request has begun on this connection
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0

    # ---- feeding -------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Parse ``data``; raises `BadHTTP` or `BodyTooLarge` for what cannot be served."""
        try:
            self.p.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.error = self.error or BadHTTP("protocol upgrades are not supported")
        except httptools.HttpParserCallbackError as e:
            self.error = self.error or e.__context__ or BadHTTP(str(e))
        except httptools.HttpParserError as e:
            self.error = self.error or BadHTTP(str(e))
        if self.error is not None:
            if not self.ready:
                raise self.error
            return  # the requests before it are answered first (`pop`, `check`)
        if self.in_message or self.ready:
            self.held += len(data)
        else:
            self.held = 0
        if self.in_head:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEADER_BYTES:
                raise BadHTTP("request head too large", 431)

    def eof(self) -> None:
        """The client's end of the stream: a request cut short is malformed."""
        if self.in_message:
            raise BadHTTP("incomplete request at end of stream")

    def check(self) -> None:
        """Raise what made the input unreadable, once the requests before it are done."""
        if self.error is not None:
            raise self.error

    def pop(self) -> Request:
        req = self.ready.popleft()
        if not self.ready and not self.in_message:
            self.held = 0
        return req

    # ---- httptools' callbacks ------------------------------------------------------

    def on_message_begin(self) -> None:
        self.in_message = self.in_head = self.seen = True
        self.head_bytes = 0
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        headers = self._headers
        if key in headers:
            headers[key] = f"{headers[key]}, {value.decode('latin-1')}"
        else:
            headers[key] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.in_head = False
        p = self.p
        v = p.get_http_version()
        if v == "1.1":
            version = "HTTP/1.1"
            if "host" not in self._headers:
                raise BadHTTP("missing Host header")
        elif v == "1.0":
            version = "HTTP/1.0"
        else:
            raise BadHTTP(f"unsupported version HTTP/{v[:10]}")
        length = self._headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise BodyTooLarge(self.max_body)
        self.current = _request(p.get_method().decode("latin-1"), self._url, version, self._headers)
        self.current.keep_alive = p.should_keep_alive()
        if version == "HTTP/1.1" and self._headers.get("expect", "").lower() == "100-continue":
            self.current.expect_continue = True

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self.max_body:
            raise BodyTooLarge(self.max_body)
        self._body.append(body)

    def on_message_complete(self) -> None:
        req = self.current
        assert req is not None
        body = self._body
        if body:
            req.body = body[0] if len(body) == 1 else b"".join(body)
        self.ready.append(req)
        self.current = None
        self.in_message = False


def _request(method: str, raw_target: bytes, version: str, headers: dict[str, str]) -> Request:
    target = raw_target.decode("latin-1")
    if _plain_target(target):
        path, query = target, {}  # the usual case: a plain path, nothing to split or decode
    else:
        split = urlsplit(target)
        if not split.path.startswith("/"):
            raise BadHTTP(f"unsupported request target {target[:100]!r}")
        try:
            query = parse_qs(split.query, keep_blank_values=True, strict_parsing=False)
        except ValueError:
            raise BadHTTP("malformed query string") from None
        path = unquote(split.path)
    return Request(method, target, path, query, version, headers)


_date_cache: tuple[int, bytes] = (0, b"")


def http_date() -> bytes:
    """The ``Date`` header's value for now, formatted once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True).encode())
    return _date_cache[1]


# Response heads, by everything they hold, made once per second (the Date moves on).
_heads: dict[tuple[object, ...], bytes] = {}
_heads_date = b""
_MAX_HEADS = 256


def _enc(v: str | bytes) -> bytes:
    return v if isinstance(v, bytes) else v.encode("latin-1")


def response(
    code: int, content_type: str, extra: list[tuple[str, str]], length: int | None, keep: bool
) -> bytes:
    """A response head: ``Date``, ``Cache-Control``, ``Content-Type``, ``extra``,
    ``Content-Length`` (None: a chunked stream) and ``Connection: close`` unless ``keep``."""
    global _heads_date
    date = http_date()
    if date is not _heads_date:
        _heads.clear()
        _heads_date = date
    key = (code, content_type, length, keep, *extra)
    head = _heads.get(key)
    if head is not None:
        return head
    lines = [
        b"HTTP/1.1 %d %s" % (code, PHRASES.get(code, b"Unknown")),
        b"Date: " + date,
        b"Cache-Control: no-cache, private",
        b"Content-Type: " + _enc(content_type),
    ]
    for name, value in extra:
        k, v = _enc(name), _enc(value)
        if b"\r" in k + v or b"\n" in k + v or b":" in k:
            raise ValueError(f"bad header {k!r}: {v!r}")
        lines.append(k + b": " + v)
    if length is not None:
        lines.append(b"Content-Length: %d" % length)
    else:
        lines.append(b"Transfer-Encoding: chunked")
    if not keep:
        lines.append(b"Connection: close")
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    if len(_heads) >= _MAX_HEADS:
        _heads.clear()
    _heads[key] = head
    return head


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked stream (nothing for no data)."""
    if not data:
        return b""
    return b"%x\r\n%s\r\n" % (len(data), data)
