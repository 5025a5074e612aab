"""What every transport shares: the client's face, its errors, and one decoder.

A transport (``transport_green``, ``transport_official``, ``transport_httpx``;
``transports.make_transport`` picks one) is a `Client`: ``list``, ``get``,
``create``, ``update``, ``patch``, ``delete``, ``watch`` and ``close``, so
the reflector, the reconciler and the lease lock run on any of them. This
module holds what must not differ between them:

* **Errors**, as in client-go: `APIStatusError` when the server answered with
  an error (its ``Status``: 404, 409, 410, 429 with ``Retry-After``...),
  `TransportError` when it did not (refused, reset, timed out, cut).
* **Decoding**: every answer goes through `decode_answer` (an error code
  becomes `APIStatusError`, a body that is not a JSON object a
  `TransportError`) and every watch body through `EventDecoder` (lines into
  events; a line that is not a JSON object is a `StreamDecodeError`).
* **Timeouts**: ``timeout`` bounds each request; ``header_timeout`` bounds a
  watch from the call until the answer's head (a server that accepted the
  watch and never answered fails there, on every transport); a watch's own
  ``read_timeout`` bounds each wait for its next bytes.

A WATCH returns once the server has answered with its head (an error answer
raises, as a failed request does); its events then arrive on the stream's
``events`` channel, each a dict, and after them one `StreamEnd`:

=====================================  ===========================================
the stream ...                         StreamEnd(error=...)
=====================================  ===========================================
ends with its last chunk               None (the server's ``timeoutSeconds``)
is cut: the connection ends inside a   `TransportError` ("torn stream")
chunk, between chunks or inside an
event, or is reset
sends no byte for ``read_timeout``     `TransportError` ("client read timeout")
sends a line that is not a JSON        `StreamDecodeError` ("corrupt event")
object, or breaks the HTTP framing
=====================================  ===========================================

``close()`` on a stream stops its reader at once from any thread, with no
`StreamEnd`; ``close()`` on a client closes its streams and aborts the
requests in flight.
"""

from __future__ import annotations

import builtins
import http
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import gochan

JSON = dict[str, Any]

TIMEOUT = 10.0  # each request, seconds
HEADER_TIMEOUT = 10.0  # a watch, from the call until the answer's head


# ---- errors -----------------------------------------------------------------------------------


class APIStatusError(Exception):
    """The server answered with an error ``Status`` (or an error code)."""

    def __init__(
        self,
        code: int,
        reason: str = "",
        message: str = "",
        *,
        retry_after: float | None = None,
        status: JSON | None = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}" if reason else f"{code}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.status = status or {}

    @classmethod
    def from_status(cls, status: JSON, retry_after: float | None = None) -> APIStatusError:
        """The error a ``Status`` object describes (a watch's ERROR event carries one)."""
        code = status.get("code")
        return cls(
            int(code) if isinstance(code, int) else 500,
            str(status.get("reason") or ""),
            str(status.get("message") or ""),
            retry_after=retry_after,
            status=status,
        )

    @property
    def expired(self) -> bool:
        """410 Gone / ``Expired``: the resourceVersion is too old; relist."""
        return self.code == 410 or self.reason in ("Expired", "Gone")

    @property
    def too_large_resource_version(self) -> bool:
        """504 "Too large resource version": the server's cache is behind; relist."""
        return self.code == 504 and "Too large resource version" in self.message


def is_not_found(e: BaseException) -> bool:
    """Whether ``e`` is a 404 answer."""
    return isinstance(e, APIStatusError) and e.code == 404


def is_conflict(e: BaseException) -> bool:
    """Whether ``e`` is a 409 answer (a stale resourceVersion)."""
    return isinstance(e, APIStatusError) and e.code == 409


class TransportError(Exception):
    """No answer from the server: refused, reset, timed out, or a stream cut short."""


class StreamDecodeError(Exception):
    """A watch stream sent bytes that are not events (bad JSON, broken framing)."""


@dataclass(frozen=True)
class StreamEnd:
    """The last item of a watch stream: ``error`` is None for a clean end."""

    error: BaseException | None = None


WatchItem = JSON | StreamEnd


# ---- resources --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """Where a resource lives in the REST tree."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The collection's path, or the object's with ``name``."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{_segment(namespace)}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{_segment(name)}"
        return base


# What a path segment may hold as is; Kubernetes names (DNS-1123) always do.
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


def _segment(s: str) -> str:
    """``s`` as one URL path segment (percent-encoded unless plainly safe)."""
    return s if _PLAIN_SEGMENT.fullmatch(s) else quote(s, safe="")


PODS = Resource("", "v1", "pods", "Pod")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")


# ---- the face ---------------------------------------------------------------------------------


class Stream(Protocol):
    """A watch in progress: ``events`` carries dicts, then one `StreamEnd`, then closes."""

    events: gochan.Chan[WatchItem]

    def close(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


class Client(Protocol):
    """The face every transport has (see the module doc)."""

    url: str
    timeout: float

    def list(self, resource: Resource, namespace: str | None = None, **params: Any) -> JSON: ...

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> JSON: ...

    def create(self, resource: Resource, obj: JSON, namespace: str | None = None) -> JSON: ...

    def update(self, resource: Resource, obj: JSON, namespace: str | None = None) -> JSON: ...

    def patch(
        self, resource: Resource, name: str, patch: JSON, namespace: str | None = None
    ) -> JSON: ...

    def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        preconditions: JSON | None = None,
    ) -> JSON: ...

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        read_timeout: float = 120.0,
        buffer: int = 1024,
        **params: Any,
    ) -> Stream: ...

    def close(self, timeout: float = 5.0) -> None: ...


# ---- decoding: one for every transport --------------------------------------------------------

# The C scanner json.loads itself runs (set by JSONDecoder.__init__; typeshed lacks it).
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads_json(raw: bytes | bytearray) -> Any:
    """``json.loads(raw)`` for bytes off the wire, at about half the cost.

    ``json.loads`` given bytes first guesses their encoding (UTF-8, -16 or
    -32) and decodes them with the ``surrogatepass`` error handler, a slow
    codec path, then strips blanks around the value with two regex
    matches: together more than the parse of a small object. The API
    server sends UTF-8 JSON with nothing around it, so this decodes UTF-8
    and runs the decoder's scanner directly. Anything else (another
    encoding, a BOM, blanks around the value, bad JSON) goes to
    ``json.loads`` itself, so the result or the error is always exactly
    ``json.loads(raw)``'s.

    >>> loads_json(b'{"kind": "Pod"}')
    {'kind': 'Pod'}
    >>> loads_json(' [1] '.encode("utf-16"))
    [1]
    """
    try:
        s = raw.decode()
        obj, end = _scan_once(s, 0)
    except (StopIteration, ValueError):  # not UTF-8, no value at 0, or bad JSON
        return json.loads(raw)
    if end != len(s):  # something after the value: let json.loads judge it
        return json.loads(raw)
    return obj


def status_error(code: int, retry_after: str | None, body: bytes) -> APIStatusError:
    """The error for an answer with ``code`` >= 400 (its ``Status`` body, if it has one)."""
    after: float | None = None
    if retry_after:
        try:
            after = max(0.0, float(retry_after))
        except ValueError:
            after = None
    try:
        status = loads_json(body) if body else None
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status":
        err = APIStatusError.from_status(status, after)
        err.code = code  # the HTTP code is authoritative
        return err
    try:
        phrase = http.HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    text = body[:200].decode("utf-8", "replace")
    return APIStatusError(code, phrase, text, retry_after=after)


def decode_answer(what: str, code: int, retry_after: str | None, body: bytes) -> JSON:
    """An answer's JSON object; `APIStatusError` for an error code, `TransportError`
    for a body that is not a JSON object. ``what`` names the request in messages."""
    if code >= 400:
        raise status_error(code, retry_after, body)
    try:
        answer = loads_json(body) if body else {}
    except ValueError as e:
        raise TransportError(f"{what}: bad JSON in the answer: {e}") from e
    if not isinstance(answer, dict):
        raise TransportError(f"{what}: the answer is not a JSON object")
    return answer


def decode_event(line: bytes) -> JSON | None:
    """One line of a watch stream as its event; None for a blank line;
    `StreamDecodeError` if it is not a JSON object."""
    if not line.strip():
        return None
    try:
        event = loads_json(line)
    except ValueError as e:
        raise StreamDecodeError(f"corrupt event {line!r:.80}: {e}") from None
    if not isinstance(event, dict):
        raise StreamDecodeError(f"corrupt event: not a JSON object: {line!r:.80}")
    return event


class EventDecoder:
    """A watch body's bytes in, its events out: lines split across reads are joined.

    >>> d = EventDecoder()
    >>> list(d.feed(b'{"type": "ADDED"}\\n{"ty')), list(d.feed(b'pe": "DELETED"}\\n'))
    ([{'type': 'ADDED'}], [{'type': 'DELETED'}])
    """

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, data: bytes) -> Iterator[JSON]:
        """The events the complete lines of ``data`` hold (a bad one raises where it is)."""
        if self.pending:
            data = self.pending + data
        if b"\n" not in data:
            self.pending = data
            return
        *lines, self.pending = data.split(b"\n")
        for line in lines:
            if (event := decode_event(line)) is not None:
                yield event

    def end(self) -> None:
        """At the body's end: a `TransportError` if it stopped inside an event."""
        if self.pending.strip():
            raise TransportError(f"torn stream: it ended inside an event {self.pending!r:.80}")


def query(params: dict[str, Any]) -> dict[str, str]:
    """Query parameters as the API spells them (``True`` is ``"true"``; None is left out)."""
    out = {}
    for k, v in params.items():
        if v is None:
            continue
        if k == "continue_":
            k = "continue"
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


# ---- what the clients share ---------------------------------------------------------------------


@dataclass
class ClientStats:
    requests: int = 0
    errors: int = 0
    retried_stale: int = 0
    watches: int = 0
    by_verb: dict[str, int] = field(default_factory=dict)

    def count(self, verb: str) -> None:
        self.requests += 1
        self.by_verb[verb] = self.by_verb.get(verb, 0) + 1


class ClientBase:
    """A client's open watch streams and its stats, the same for every transport: a
    stream is registered when its watch opens (refused once the client is closed)
    and forgotten when it ends."""

    def __init__(self, url: str, timeout: float, header_timeout: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.header_timeout = header_timeout
        self.stats = ClientStats()
        self.closed = False
        self._lock = threading.Lock()
        self._streams: set[Any] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} streams={len(self._streams)}>"

    def _register(self, stream: Any) -> None:
        with self._lock:
            if self.closed:
                raise TransportError("the client is closed")
            self._streams.add(stream)
            self.stats.watches += 1

    def _forget(self, stream: Any) -> None:
        with self._lock:
            self._streams.discard(stream)

    def streams(self) -> builtins.list[Any]:
        """The watch streams still open."""
        with self._lock:
            return list(self._streams)

    def _close_streams(self, timeout: float) -> None:
        """Mark the client closed, close every stream and wait (``timeout``) for each."""
        with self._lock:
            self.closed = True
            streams = list(self._streams)
        for s in streams:
            s.close()
        for s in streams:
            s.join(timeout)


class RestVerbs:
    """The REST verbs over one ``request(method, path, query=, body=, content_type=)``,
    which a transport implements: it returns the decoded answer or raises."""

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JSON:
        raise NotImplementedError

    def list(self, resource: Resource, namespace: str | None = None, **params: Any) -> JSON:
        """One LIST page (``limit=``, ``continue_=``, ``resourceVersion=``...)."""
        return self.request("GET", resource.path(namespace), query=params)

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> JSON:
        return self.request("GET", resource.path(namespace, name))

    def create(self, resource: Resource, obj: JSON, namespace: str | None = None) -> JSON:
        return self.request("POST", resource.path(namespace), body=obj)

    def update(self, resource: Resource, obj: JSON, namespace: str | None = None) -> JSON:
        """PUT: with ``metadata.resourceVersion`` set, a stale object gets 409 Conflict."""
        return self.request("PUT", resource.path(namespace, obj["metadata"]["name"]), body=obj)

    def patch(
        self, resource: Resource, name: str, patch: JSON, namespace: str | None = None
    ) -> JSON:
        return self.request(
            "PATCH",
            resource.path(namespace, name),
            body=patch,
            content_type="application/merge-patch+json",
        )

    def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        preconditions: JSON | None = None,
    ) -> JSON:
        body = {"preconditions": preconditions} if preconditions else None
        return self.request("DELETE", resource.path(namespace, name), body=body)


class WatchStream:
    """What a watch read by a green task or a thread shares: the ``events``
    channel, the decoder, the hand-over that `close()` interrupts, the end.

    A transport's reader calls `deliver` with each piece of the body, then
    `finish` (with the error that ended the stream, if any); it implements
    `_abort` (make a blocked read return, from any thread) and `join`.
    """

    def __init__(self, client: ClientBase, read_timeout: float, buffer: int) -> None:
        self.client = client
        self.read_timeout = read_timeout
        self.events: gochan.Chan[WatchItem] = gochan.Chan(buffer)
        self.received = 0
        self.closed = False
        self._decoder = EventDecoder()
        self._stop: gochan.Chan[None] = gochan.Chan()
        self._lock = threading.Lock()  # close() from any thread vs the reader's setup

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {state} received={self.received}>"

    def __iter__(self) -> Iterator[WatchItem]:
        yield from self.events

    def _hand_over(self, item: WatchItem) -> bool:
        if self.events.offer(item):
            return not self.closed
        i, _ = gochan.select((self.events.send, item), self._stop.recv)
        return i == 0

    def deliver(self, data: bytes) -> bool:
        """Decode ``data`` (a piece of the body) and hand over its events; False once closed."""
        for event in self._decoder.feed(data):
            self.received += 1
            if not self._hand_over(event):
                return False
        return True

    def finish(self, error: BaseException | None) -> None:
        """Hand over the `StreamEnd` (unless closed), close ``events``, leave the client."""
        try:
            if error is None:
                try:
                    self._decoder.end()
                except TransportError as e:
                    error = e
            if not self.closed:
                self._hand_over(StreamEnd(error))
        finally:
            self.events.close()
            self.client._forget(self)

    def close(self) -> None:
        """Stop the reader (from any thread, without blocking); no `StreamEnd` follows."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self._stop.close()
        self._abort()

    def _abort(self) -> None:
        raise NotImplementedError

    def join(self, timeout: float | None = None) -> None:
        raise NotImplementedError


__all__ = [
    "CONFIGMAPS",
    "HEADER_TIMEOUT",
    "LEASES",
    "PODS",
    "TIMEOUT",
    "APIStatusError",
    "Client",
    "ClientBase",
    "ClientStats",
    "EventDecoder",
    "Resource",
    "RestVerbs",
    "Stream",
    "StreamDecodeError",
    "StreamEnd",
    "TransportError",
    "WatchItem",
    "WatchStream",
    "decode_answer",
    "decode_event",
    "is_conflict",
    "is_not_found",
    "loads_json",
    "query",
    "status_error",
]
