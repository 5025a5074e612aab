"""HTTP/1.1 on asyncio streams: read a request, write a response or a chunked stream.

Small on purpose: request line, headers, a body by ``Content-Length`` or
chunked, keep-alive, ``Expect: 100-continue``. Anything malformed raises
`BadHTTP`, which the server answers with a 400 ``Status`` and a closed
connection, never a hang. Sizes are capped (headers 64 KiB; the body by the
server's limit, 413 past it).
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import re
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

MAX_HEADER_BYTES = 64 * 1024
# A request target that is just a path: nothing to split off or decode.
_plain_target = re.compile(r"/(?:[^/?#%\t][^?#%\t]*)?").fullmatch


class BadHTTP(Exception):
    """A request that cannot be parsed; the connection is closed after the answer."""


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
    meta: dict[str, str] = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


async def read_request(reader: asyncio.StreamReader, max_body: int) -> Request | None:
    """The next request on a connection, or None at a clean end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial.strip():
            return None
        raise BadHTTP("truncated request head") from None
    except asyncio.LimitOverrunError:
        raise BadHTTP("request head too large") from None
    return parse_head(head, max_body)


def parse_head(head: bytes, max_body: int) -> Request | None:
    """The request whose head (through the blank line) is ``head``; None if it is all blank.

    The body, if one is announced, is left to the caller: ``req.meta`` says how
    (``length``, ``chunked``, ``expect-continue``).
    """
    if len(head) > MAX_HEADER_BYTES:
        raise BadHTTP("request head too large")
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise BadHTTP("undecodable request head") from None
    lines = text.split("\r\n")
    while lines and not lines[0]:  # tolerate blank lines before a request (RFC 9112 2.2)
        lines.pop(0)
    if not lines:
        return None
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadHTTP(f"malformed request line {lines[0][:100]!r}")
    method, target, version = parts
    if not method.isalpha() or not method.isupper():
        raise BadHTTP(f"malformed method {method[:20]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadHTTP(f"malformed header line {line[:100]!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
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
    conn = headers.get("connection", "").lower()
    keep_alive = "close" not in conn if version == "HTTP/1.1" else "keep-alive" in conn
    req = Request(method, target, path, query, version, headers, keep_alive=keep_alive)
    te = headers.get("transfer-encoding", "").lower()
    if te and te != "chunked":
        raise BadHTTP(f"unsupported transfer-encoding {te!r}")
    if headers.get("expect", "").lower() == "100-continue":
        req.meta["expect-continue"] = "1"
    if te == "chunked":
        req.meta["chunked"] = "1"
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise BadHTTP("malformed content-length") from None
        if length < 0:
            raise BadHTTP("negative content-length")
        if length > max_body:
            raise BodyTooLarge(max_body)
        req.meta["length"] = str(length)
    return req


async def read_body(
    req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_body: int
) -> None:
    """Read the body announced by the request head into ``req.body``."""
    if req.meta.pop("expect-continue", None):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    try:
        if "length" in req.meta:
            req.body = await reader.readexactly(int(req.meta["length"]))
        elif req.meta.get("chunked"):
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = await reader.readuntil(b"\r\n")
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise BadHTTP("malformed chunk size") from None
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    break
                total += size
                if total > max_body:
                    raise BodyTooLarge(max_body)
                chunks.append(await reader.readexactly(size))
                if await reader.readexactly(2) != b"\r\n":
                    raise BadHTTP("malformed chunk")
            req.body = b"".join(chunks)
    except asyncio.IncompleteReadError:
        raise BadHTTP("truncated body") from None
    except asyncio.LimitOverrunError:
        raise BadHTTP("malformed chunk") from None


_PHRASES = {s.value: s.phrase for s in http.HTTPStatus}
_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The ``Date`` header's value for now, formatted once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


def _head(code: int, fields: str) -> bytes:
    """Status line, ``Date``, then ``fields`` (CRLF-ended header lines) and the blank line."""
    phrase = _PHRASES.get(code, "Unknown")
    return f"HTTP/1.1 {code} {phrase}\r\nDate: {http_date()}\r\n{fields}\r\n".encode("latin-1")


def _fields(headers: list[tuple[str, str]]) -> str:
    return "".join([f"{k}: {v}\r\n" for k, v in headers])


def head_bytes(code: int, headers: list[tuple[str, str]]) -> bytes:
    return _head(code, _fields(headers))


def response_bytes(
    code: int, body: bytes, content_type: str, extra: list[tuple[str, str]], keep_alive: bool
) -> bytes:
    fields = (
        f"Cache-Control: no-cache, private\r\nContent-Type: {content_type}\r\n"
        f"{_fields(extra)}Content-Length: {len(body)}\r\n"
    )
    if not keep_alive:
        fields += "Connection: close\r\n"
    return _head(code, fields) + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
