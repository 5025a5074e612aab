"""The request as the handlers see it, and the response heads, over h11.

HTTP/1.1 itself (parsing request heads, bodies by ``Content-Length`` or
chunked, keep-alive, ``Expect: 100-continue``, framing responses and chunked
streams) is h11's (connection.py drives it); nothing here parses or frames
HTTP. What is left: splitting the request target into path and query, and
the headers every answer carries.
"""

from __future__ import annotations

import email.utils
import http
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import h11

MAX_HEADER_BYTES = 64 * 1024
# A request target that is just a path: nothing to split off or decode.
_plain_target = re.compile(r"/(?:[^/?#%\t][^?#%\t]*)?").fullmatch
PHRASES = {s.value: s.phrase.encode() for s in http.HTTPStatus}


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

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def from_h11(ev: h11.Request) -> Request:
    """The handlers' `Request` for h11's request event (the body is added later)."""
    v = ev.http_version
    if v == b"1.1":
        version = "HTTP/1.1"
    elif v == b"1.0":
        version = "HTTP/1.0"
    else:
        raise BadHTTP(f"unsupported version HTTP/{v.decode()[:10]}")
    headers: dict[str, str] = {}
    for name, value in ev.headers:  # h11 gives lower-case names
        key = name.decode("latin-1")
        if key in headers:
            headers[key] = f"{headers[key]}, {value.decode('latin-1')}"
        else:
            headers[key] = value.decode("latin-1")
    target = ev.target.decode("latin-1")
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
    conn = headers.get("connection")
    if conn is None:
        keep_alive = version == "HTTP/1.1"
    else:
        conn = conn.lower()
        keep_alive = "close" not in conn if version == "HTTP/1.1" else "keep-alive" in conn
    method = ev.method.decode("latin-1")
    if not method.isalpha() or not method.isupper():
        raise BadHTTP(f"malformed method {method[:20]!r}")
    return Request(method, target, path, query, version, headers, keep_alive=keep_alive)


_date_cache: tuple[int, bytes] = (0, b"")


def http_date() -> bytes:
    """The ``Date`` header's value for now, formatted once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True).encode())
    return _date_cache[1]


# Validated response heads, by everything they hold: an h11 event is immutable, so one
# built for the same code, type, headers, length and second is used again instead of
# having h11 validate every header of every answer anew. Emptied as the Date moves on.
_heads: dict[tuple[object, ...], h11.Response] = {}
_heads_date = b""
_MAX_HEADS = 256


def response(
    code: int, content_type: str, extra: list[tuple[str, str]], length: int | None, keep: bool
) -> h11.Response:
    """h11's response event: ``Date``, ``Cache-Control``, ``Content-Type``, ``extra``,
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
    headers: list[tuple[bytes | str, bytes | str]] = [
        (b"Date", date),
        (b"Cache-Control", b"no-cache, private"),
        (b"Content-Type", content_type),
        *extra,
    ]
    if length is not None:
        headers.append((b"Content-Length", str(length)))
    else:
        headers.append((b"Transfer-Encoding", b"chunked"))
    if not keep:
        headers.append((b"Connection", b"close"))
    head = h11.Response(status_code=code, headers=headers, reason=PHRASES.get(code, b"Unknown"))
    if len(_heads) >= _MAX_HEADS:
        _heads.clear()
    _heads[key] = head
    return head
