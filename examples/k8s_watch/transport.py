"""A small Kubernetes REST client on the standard library, for green tasks.

Requests (LIST, GET, CREATE, UPDATE, PATCH, DELETE) are plain
``http.client`` calls run with `gochan.blocking`, so a green task waits
while a pool thread does the I/O, and keep-alive connections are reused
through a small pool. A WATCH is one long response read line by line by a
thread of its own, which sends each decoded event into a gochan channel
(`WatchStream.events`): the scheduler's thread never blocks on the socket.

Every socket has a client-side read timeout: a half-open TCP connection
(the peer vanished without a FIN) otherwise hangs a reader for ever.

Errors come in two kinds, as in client-go: `APIStatusError` when the server
answered with a ``Status`` (404, 409, 410, 429 with ``Retry-After``, 500...)
and `TransportError` when it did not answer (refused, reset, timed out).
A stream that ends badly (torn chunk, corrupt JSON, read timeout) ends with
a `StreamEnd` whose ``error`` says why.

Written for the embedded apiserver and for a real cluster (``from_kubeconfig``
and ``in_cluster`` build a client with its TLS settings and token).
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import http.client
import json
import os
import re
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import gochan

JSON = dict[str, Any]


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
    return isinstance(e, APIStatusError) and e.code == 404


def is_conflict(e: BaseException) -> bool:
    return isinstance(e, APIStatusError) and e.code == 409


class TransportError(Exception):
    """No answer from the server: connection refused or reset, read timeout."""


class StreamDecodeError(Exception):
    """A watch stream sent a line that is not a JSON event."""


@dataclass(frozen=True)
class StreamEnd:
    """The last item of a watch stream: ``error`` is None for a clean end."""

    error: BaseException | None = None


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


# ---- the client -------------------------------------------------------------------------------

# A reused keep-alive connection that the server had closed fails like this
# before any answer arrives: the request never reached the server, so it is
# retried once on a fresh connection (what urllib3 and Go's net/http do).
_STALE = (
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)


@dataclass
class ClientStats:
    requests: int = 0
    errors: int = 0
    retried_stale: int = 0
    watches: int = 0
    by_verb: dict[str, int] = field(default_factory=dict)


S = TypeVar("S")


class StreamRegistry(Generic[S]):
    """A client's open watch streams, the same for every transport: a stream
    is registered when its watch opens (refused once the client is closed)
    and forgotten when it ends. Uses the client's ``_lock`` (the one its
    ``close()`` holds while it marks itself closed), ``_closed``,
    ``_streams`` and ``stats``."""

    _lock: threading.Lock
    _closed: bool
    _streams: set[S]
    stats: ClientStats

    def _register(self, stream: S) -> S:
        with self._lock:
            if self._closed:
                raise TransportError("the client is closed")
            self._streams.add(stream)
            self.stats.watches += 1
        return stream

    def _forget(self, stream: S) -> None:
        with self._lock:
            self._streams.discard(stream)

    def streams(self) -> builtins.list[S]:
        with self._lock:
            return list(self._streams)


class RestVerbs:
    """The REST verbs, the same for every transport: each is one ``request``
    (``method``, ``path``, ``query=``, ``body=``, ``content_type=``), which
    the transport implements and which returns the decoded answer or raises
    `APIStatusError` / `TransportError`."""

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
        if "continue_" in params:
            params["continue"] = params.pop("continue_")
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


class Client(RestVerbs, StreamRegistry["WatchStream"]):
    """A Kubernetes REST client: requests through `gochan.blocking`, watches in a thread.

    ``timeout`` is the client-side read timeout of every request (and the
    connect timeout of watches); a watch has its own ``read_timeout``.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = 64,
        user_agent: str = "gochan-k8s-watch/0.1",
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url.rstrip("/")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.token = token
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.max_idle = max_idle
        self.user_agent = user_agent
        self.stats = ClientStats()
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._streams: set[WatchStream] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"<Client {self.url} idle={len(self._idle)} streams={len(self._streams)}>"

    # -- connections ------------------------------------------------------------------------

    def _new_conn(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=self.ssl_context
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._new_conn(self.timeout), False

    def _give(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": self.user_agent}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if extra:
            h.update(extra)
        return h

    # -- one request (runs on a pool thread) ---------------------------------------------------

    def request_sync(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JSON:
        """One request on this thread; the JSON answer, or an exception."""
        target = path + (f"?{urlencode(_query(query))}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        headers = self.headers({"Content-Type": content_type} if data is not None else None)
        with self._lock:
            self.stats.requests += 1
            self.stats.by_verb[method] = self.stats.by_verb.get(method, 0) + 1
        for attempt in (0, 1):
            conn, reused = self._take() if attempt == 0 else (self._new_conn(self.timeout), False)
            try:
                conn.request(method, target, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except _STALE as e:
                conn.close()
                if reused and attempt == 0:
                    # The server closed it while it sat idle: it has probably closed
                    # the others too (a restart). Drop them all; retry once, fresh.
                    with self._lock:
                        self.stats.retried_stale += 1
                        idle, self._idle = self._idle, []
                    for c in idle:
                        c.close()
                    continue
                self._count_error()
                raise TransportError(f"{method} {path}: {type(e).__name__}: {e}") from e
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self._count_error()
                raise TransportError(f"{method} {path}: {type(e).__name__}: {e}") from e
            if resp.will_close:
                conn.close()
            else:
                self._give(conn)
            if resp.status >= 400:
                self._count_error()
                raise _status_error(resp.status, resp.getheader("Retry-After"), raw)
            try:
                answer = loads_json(raw) if raw else {}
            except ValueError as e:
                raise TransportError(f"{method} {path}: bad JSON in the answer: {e}") from e
            if not isinstance(answer, dict):
                raise TransportError(f"{method} {path}: the answer is not an object")
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def _count_error(self) -> None:
        with self._lock:
            self.stats.errors += 1

    # -- the green face ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JSON:
        """`request_sync` on a pool thread; only the calling task waits."""
        result: JSON = gochan.blocking(
            self.request_sync,
            method,
            path,
            query=query,
            body=body,
            content_type=content_type,
        )
        return result

    # -- watches -----------------------------------------------------------------------------

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        read_timeout: float = 120.0,
        buffer: int = 1024,
        **params: Any,
    ) -> WatchStream:
        """Open a watch (``resourceVersion=``, ``timeoutSeconds=``, ``allowWatchBookmarks=``...).

        Returns at once: the stream's own thread connects, reads the answer
        (an error answer ends the stream with ``StreamEnd(APIStatusError)``)
        and then the events, with ``read_timeout`` on every read. It does not
        use the `gochan.blocking` pool, so a busy worker pool cannot delay a
        watch.
        """
        params["watch"] = "true"
        target = f"{resource.path(namespace)}?{urlencode(_query(params))}"
        stream = self._register(WatchStream(self, target, read_timeout, buffer, resource.plural))
        stream.start()
        return stream

    def _open_watch(
        self, conn: http.client.HTTPConnection, target: str
    ) -> http.client.HTTPResponse:
        try:
            conn.request("GET", target, headers=self.headers())
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            self._count_error()
            raise TransportError(f"WATCH {target}: {type(e).__name__}: {e}") from e
        if resp.status != 200:
            try:
                raw = resp.read()
            except (OSError, http.client.HTTPException):
                raw = b""
            self._count_error()
            raise _status_error(resp.status, resp.getheader("Retry-After"), raw)
        return resp

    def close(self, timeout: float = 5.0) -> None:
        """Close every stream and idle connection; wait for the stream threads.

        Call it from a task (it waits with `gochan.blocking`) or from a plain
        thread; it is also safe after `run()` has ended.
        """
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            streams = list(self._streams)
        for conn in idle:
            conn.close()
        for s in streams:
            s.close()
        for s in streams:
            s.join(timeout)


def _query(params: dict[str, Any]) -> dict[str, str]:
    out = {}
    for k, v in params.items():
        if v is None:
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


def _status_error(code: int, retry_after: str | None, raw: bytes) -> APIStatusError:
    after: float | None = None
    if retry_after:
        try:
            after = max(0.0, float(retry_after))
        except ValueError:
            after = None
    try:
        status = loads_json(raw) if raw else None
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status":
        err = APIStatusError.from_status(status, after)
        err.code = code  # the HTTP code is authoritative
        return err
    text = raw[:200].decode("utf-8", "replace")
    return APIStatusError(code, http.client.responses.get(code, ""), text, retry_after=after)


# ---- the watch stream -------------------------------------------------------------------------

WatchItem = JSON | StreamEnd


_scan_once = json.JSONDecoder().scan_once  # the C scanner json.loads itself runs


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


def decode_event(line: bytes) -> JSON | None:
    """One line of a watch stream as its event; None for a blank line.
    `StreamDecodeError` if it is not a JSON object (every transport's rule)."""
    if not line.strip():
        return None
    try:
        event = loads_json(line)
    except ValueError as e:
        raise StreamDecodeError(f"corrupt event {line!r:.80}: {e}") from None
    if not isinstance(event, dict):
        raise StreamDecodeError(f"event is not an object: {line!r:.80}")
    return event


class ThreadStream:
    """What every thread-read watch shares: its ``events`` channel, the
    hand-over that a `close()` interrupts, the reader thread and how to
    wait for it. A subclass reads in ``_read`` and stops it in ``close``."""

    def __init__(self, client: Any, read_timeout: float, buffer: int, name: str) -> None:
        self._client = client
        self.read_timeout = read_timeout
        self.events: gochan.Chan[WatchItem] = gochan.Chan(buffer)
        self._stop: gochan.Chan[None] = gochan.Chan()
        self._closed = False
        self._lock = threading.Lock()
        self.received = 0
        self._thread = threading.Thread(
            target=self._read, name=f"watch-{name}-{id(self):x}", daemon=True
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {state} received={self.received}>"

    def start(self) -> None:
        self._thread.start()

    def __iter__(self) -> Iterator[WatchItem]:
        yield from self.events

    def _read(self) -> None:
        raise NotImplementedError

    def _hand_over(self, item: WatchItem) -> bool:
        i, _ = gochan.select((self.events.send, item), self._stop.recv)
        return i == 0

    def join(self, timeout: float | None = None) -> None:
        """Wait for the reader thread (from a task: through `gochan.blocking`)."""
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            gochan.blocking(self._thread.join, timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


class WatchStream(ThreadStream):
    """One watch response, read by its own thread into ``events``.

    ``events`` carries each event as a dict (``{"type", "object"}``) and then
    one `StreamEnd`, after which the thread closes the channel and ends.
    `close()` may be called from any thread at any time: it stops the
    thread whether it is reading the socket or waiting to hand over an
    event, and does not block.
    """

    def __init__(
        self, client: Client, target: str, read_timeout: float, buffer: int, name: str
    ) -> None:
        super().__init__(client, read_timeout, buffer, name)
        self.target = target
        self._conn = client._new_conn(client.timeout)
        self._resp: http.client.HTTPResponse | None = None

    def _lines(self) -> Iterator[bytes]:
        """The stream's lines; raises at a torn end, returns at the last chunk.

        The chunked framing is decoded here rather than by ``http.client``,
        whose ``readline`` reports a connection cut at a chunk boundary as a
        clean end: a reflector must tell the two apart (a clean end is a
        server timeout, a cut is a fault to back off from).
        """
        resp = self._resp
        assert resp is not None
        if not resp.chunked:  # HTTP/1.0 or Content-Length: lines until EOF
            while line := resp.readline():
                if not line.endswith(b"\n"):
                    raise StreamDecodeError(f"stream ended inside an event: {line!r:.80}")
                yield line
            return
        fp = resp.fp
        assert fp is not None
        pending = b""
        while True:
            size_line = fp.readline(1024)
            if not size_line.endswith(b"\r\n"):
                raise StreamDecodeError(f"torn stream: connection ended at {size_line!r:.40}")
            try:
                size = int(size_line.split(b";", 1)[0], 16)
            except ValueError:
                raise StreamDecodeError(f"bad chunk header {size_line!r:.40}") from None
            if size == 0:
                while fp.readline(1024) not in (b"\r\n", b""):  # trailers
                    pass
                if pending.strip():
                    raise StreamDecodeError(f"stream ended inside an event: {pending!r:.80}")
                return
            data = fp.read(size)
            if len(data) < size or fp.read(2) != b"\r\n":
                raise StreamDecodeError(
                    f"torn stream: a chunk cut after {len(data)} of {size} bytes"
                )
            pending += data
            while (nl := pending.find(b"\n")) >= 0:
                yield pending[: nl + 1]
                pending = pending[nl + 1 :]

    def _read(self) -> None:
        end = StreamEnd()
        try:
            try:
                try:
                    self._conn.connect()
                except OSError as e:
                    raise TransportError(f"WATCH {self.target}: {type(e).__name__}: {e}") from e
                with self._lock:  # close() either sees the socket or we see the flag
                    if self._closed:
                        return
                self._resp = self._client._open_watch(self._conn, self.target)
                sock = self._conn.sock
                if sock is not None:
                    sock.settimeout(self.read_timeout)
                for line in self._lines():
                    if (event := decode_event(line)) is None:
                        continue
                    self.received += 1
                    if not self._hand_over(event):
                        return
            except (StreamDecodeError, APIStatusError, TransportError) as e:
                end = StreamEnd(e)
            except (OSError, http.client.HTTPException, ValueError) as e:
                end = StreamEnd(_read_error(e, self.read_timeout))
            if not self._closed:
                self._hand_over(end)
        finally:
            self._conn.close()
            self.events.close()
            self._client._forget(self)

    def close(self) -> None:
        """Stop reading (from any thread, without blocking)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sock = self._conn.sock
        self._stop.close()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _read_error(e: BaseException, read_timeout: float) -> BaseException:
    if isinstance(e, TimeoutError):
        return TransportError(f"no data for {read_timeout:g} s (client read timeout)")
    return TransportError(f"{type(e).__name__}: {e}")


# ---- configuration ----------------------------------------------------------------------------


def from_kubeconfig(
    path: str | os.PathLike[str] | None = None, context: str | None = None
) -> Client:
    """A client for a kubeconfig's context (default: ``$KUBECONFIG`` or ``~/.kube/config``).

    Supports what a plain kubeconfig holds: the server, its CA (file or
    data), ``insecure-skip-tls-verify``, a bearer token (or token file) and
    client certificates. Exec and auth-provider plugins are not supported.
    """
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError as e:  # pragma: no cover - PyYAML ships with the kubernetes client
        raise RuntimeError("reading a kubeconfig needs PyYAML: pip install pyyaml") from e
    p = Path(path or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config")
    p = p.expanduser()
    cfg = yaml.safe_load(p.read_text())
    ctx_name = context or cfg.get("current-context")
    ctx = _named(cfg.get("contexts"), ctx_name, "context")
    cluster = _named(cfg.get("clusters"), ctx["cluster"], "cluster")
    user = _named(cfg.get("users"), ctx.get("user", ""), "user") if ctx.get("user") else {}
    server = cluster["server"]
    ssl_ctx = None
    if server.startswith("https"):
        ssl_ctx = ssl.create_default_context()
        if cluster.get("insecure-skip-tls-verify"):
            ssl_ctx.check_hostname = False
            ssl_ctx.verify_mode = ssl.CERT_NONE
        elif cluster.get("certificate-authority-data"):
            ssl_ctx.load_verify_locations(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
            )
        elif cluster.get("certificate-authority"):
            ssl_ctx.load_verify_locations(_rel(p, cluster["certificate-authority"]))
        cert = _material(p, user, "client-certificate")
        key = _material(p, user, "client-key")
        if cert and key:
            ssl_ctx.load_cert_chain(cert, key)
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(_rel(p, user["tokenFile"])).read_text().strip()
    return Client(server, token=token, ssl_context=ssl_ctx)


def in_cluster() -> Client:
    """A client from the pod's service account (``KUBERNETES_SERVICE_HOST``)."""
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    sa = Path("/var/run/secrets/kubernetes.io/serviceaccount")
    ssl_ctx = ssl.create_default_context(cafile=str(sa / "ca.crt"))
    if ":" in host:
        host = f"[{host}]"
    return Client(
        f"https://{host}:{port}", token=(sa / "token").read_text().strip(), ssl_context=ssl_ctx
    )


def _named(entries: Any, name: str | None, what: str) -> JSON:
    for e in entries or []:
        if e.get("name") == name:
            inner = e.get(what) or {}
            return dict(inner)
    raise ValueError(f"kubeconfig has no {what} named {name!r}")


def _rel(config: Path, file: str) -> str:
    f = Path(file).expanduser()
    return str(f if f.is_absolute() else config.parent / f)


def _material(config: Path, user: JSON, key: str) -> str | None:
    if user.get(f"{key}-data"):
        fd, name = tempfile.mkstemp(prefix="kubeconfig-", suffix=".pem")
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(user[f"{key}-data"]))
        return name
    if user.get(key):
        return _rel(config, user[key])
    return None


__all__ = [
    "CONFIGMAPS",
    "LEASES",
    "PODS",
    "APIStatusError",
    "Client",
    "Resource",
    "StreamDecodeError",
    "StreamEnd",
    "TransportError",
    "WatchStream",
    "from_kubeconfig",
    "in_cluster",
    "is_conflict",
    "is_not_found",
    "loads_json",
]
