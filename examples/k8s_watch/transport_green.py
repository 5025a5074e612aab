"""The Kubernetes REST client on green sockets: `gochan.net` and httptools.

No thread and no event loop in the way: each request is written and read by
the green task that makes it, on a ``gochan.net`` connection (``gochan.net.tls``
for ``https``), which parks the task while the socket is not ready and bounds
every wait with a deadline, as Go's ``net.Conn`` does. The answers are parsed
by httptools (llhttp, the C parser uvicorn uses; the embedded apiserver
parses requests with it too): status line, headers, ``Content-Length``,
chunked framing. What is left here is the connection pool and the timeouts.

* **Connections**: a keep-alive pool. At most ``max_connections`` requests
  are in the air (a request waits up to ``timeout`` for a free slot) and at
  most ``max_connections`` idle connections are kept. A request on an idle
  connection that the server has closed, failing before any byte of the
  answer arrived, is retried once on a fresh connection if its method is
  idempotent (GET, PUT, DELETE), as Go's net/http does; the others (POST,
  PATCH) first check the idle connection (a zero-wait poll shows the server's
  FIN, as urllib3's ``is_connection_dropped``).
* **Timeouts**, always set, as deadlines on the connection: ``timeout``
  bounds a whole request (connect, write, answer; Go's ``Client.Timeout``);
  ``header_timeout`` a watch from the call until the answer's head; the
  watch's ``read_timeout`` each wait for its next bytes.
* **Watches**: the calling task connects, sends the WATCH and reads the
  answer's head; then a green task per stream reads the body, decodes its
  lines into events (`transport.EventDecoder`) and hands them into
  ``events``. How a stream ends is in `transport`'s table.

Use a client from the green tasks of one `gochan.run` (it is not
thread-safe); ``close()`` of a stream or of the client may be called from
any thread and wakes whoever waits on their sockets.
"""

from __future__ import annotations

import contextlib
import json
import select
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import httptools

import gochan
from gochan import context, net
from gochan.net import tls

from . import kubeconfig
from .transport import (
    HEADER_TIMEOUT,
    JSON,
    TIMEOUT,
    ClientBase,
    Resource,
    RestVerbs,
    StreamDecodeError,
    TransportError,
    WatchStream,
    decode_answer,
    status_error,
)
from .transport import query as query_string

RECV = 64 * 1024  # bytes asked of one read
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class _Stale(ConnectionError):
    """The server closed the connection before any byte of the answer."""


class _Answer:
    """httptools' callbacks: the answer being read on one connection."""

    __slots__ = (
        "body",
        "done",
        "error",
        "head",
        "headers",
        "keep_alive",
        "parser",
        "status",
        "unframed",
    )

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.headers: dict[bytes, bytes] = {}  # lower-case names
        self.body: list[bytes] = []
        self.head = self.done = self.unframed = self.keep_alive = False
        self.error: httptools.HttpParserError | None = None  # in the body, after the head

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue and friends: the real answer follows
            self.headers = {}
            return
        self.status, self.head = status, True
        self.keep_alive = self.parser.should_keep_alive()  # (llhttp forgets it at the end)
        h = self.headers
        self.unframed = (
            b"content-length" not in h
            and b"chunked" not in h.get(b"transfer-encoding", b"").lower()
            and status not in (204, 304)
        )

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        if self.head:
            self.done = True

    def retry_after(self) -> str | None:
        value = self.headers.get(b"retry-after")
        return None if value is None else value.decode("latin-1")

    def take_body(self) -> list[bytes]:
        body, self.body = self.body, []
        return body


class _Conn:
    """A connection, its parser, and whether the answer has begun."""

    __slots__ = ("answer", "got", "net")

    def __init__(self, conn: net.Conn | tls.TLSConn) -> None:
        self.net = conn
        self.answer = _Answer()
        self.got = False  # a byte of the current answer arrived

    def read(self, until_head: bool = False) -> None:
        """Read and parse until the answer's head, or its end (``until_head`` False)."""
        a = self.answer
        while not (a.head if until_head else a.done):
            try:
                data = self.net.read(RECV)
            except ConnectionError as e:
                if not self.got:
                    raise _Stale(str(e)) from e
                raise
            if not data:
                if a.unframed:  # no framing: the body ends with the connection
                    a.done = True
                    return
                if not self.got:
                    raise _Stale("the server closed the connection without an answer")
                raise ConnectionResetError("the connection ended inside the answer")
            self.got = True
            try:
                a.parser.feed_data(data)
            except httptools.HttpParserError as e:
                if not (until_head and a.head):
                    raise
                a.error = e  # past the head, in the body: the watch's reader reports it

    def dropped(self) -> bool:
        """For an idle connection: True if the server closed it (or sent something)."""
        p = select.poll()
        p.register(self.net.fileno(), select.POLLIN)
        return bool(p.poll(0))


class GreenClient(ClientBase, RestVerbs):
    """A Kubernetes REST client on ``gochan.net`` connections, for green tasks.

    ``authorization`` is the ``Authorization`` header's value, or a callable
    giving it per request (a token the loader refreshes); ``token`` is
    short for ``"Bearer <token>"``. For ``https``, ``ssl_context`` checks
    the server as ``server_hostname``. `from_config` takes all of it from a
    ``kubernetes`` Configuration (`kubeconfig.load`).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        authorization: str | Callable[[], str | None] | None = None,
        ssl_context: Any = None,
        server_hostname: str | None = None,
        timeout: float = TIMEOUT,
        header_timeout: float = HEADER_TIMEOUT,
        max_connections: int = 64,
        user_agent: str = "gochan-k8s-watch/0.2 (green)",
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        super().__init__(url, timeout, header_timeout)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.address = net.join_host_port(parts.hostname, port)
        self.tls = parts.scheme == "https"
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname or parts.hostname
        self.max_connections = max_connections
        if token and authorization is None:
            authorization = f"Bearer {token}"
        self._auth = authorization if callable(authorization) else None
        fixed = f"Host: {parts.netloc}\r\nAccept: application/json\r\nUser-Agent: {user_agent}\r\n"
        if isinstance(authorization, str):
            fixed += f"Authorization: {authorization}\r\n"
        self._fixed = fixed
        self._idle: list[_Conn] = []
        self._conns: set[_Conn] = set()  # every open one: close() closes them all
        self._slots = gochan.Semaphore(max_connections)

    @classmethod
    def from_config(cls, cfg: kubeconfig.Configuration, **options: Any) -> GreenClient:
        """A client for a ``kubernetes`` Configuration: its host, TLS and credentials."""
        host = urlsplit(cfg.host).hostname or ""
        auth: Any = kubeconfig.authorization(cfg)
        if cfg.refresh_api_key_hook is not None:
            auth = lambda: kubeconfig.authorization(cfg)  # refreshed per request
        return cls(
            cfg.host,
            authorization=auth,
            ssl_context=kubeconfig.ssl_context(cfg),
            server_hostname=kubeconfig.server_hostname(cfg, host),
            **options,
        )

    # -- connections ------------------------------------------------------------------------

    def _dial(self, deadline: float) -> _Conn:
        timeout = max(0.0, deadline - gochan.monotonic())
        if self.tls:
            c: Any = tls.dial(
                "tcp",
                self.address,
                self.ssl_context,
                timeout,
                server_hostname=self.server_hostname,
            )
        else:
            c = net.dial("tcp", self.address, timeout)
        conn = _Conn(c)
        self._conns.add(conn)
        if self.closed:  # close() came while we dialled
            self._drop(conn)
            raise TransportError("the client is closed")
        return conn

    def _drop(self, conn: _Conn) -> None:
        self._conns.discard(conn)
        conn.net.close()

    def _take(self, check: bool) -> _Conn | None:
        """An idle connection (the most recent); with ``check``, one the server
        has not closed as far as a poll can tell."""
        while self._idle:
            conn = self._idle.pop()
            if not check or not conn.dropped():
                return conn
            self._drop(conn)
        return None

    def _give(self, conn: _Conn) -> None:
        a = conn.answer
        if self.closed or len(self._idle) >= self.max_connections or not a.keep_alive:
            self._drop(conn)
            return
        self._idle.append(conn)

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for c in idle:
            self._drop(c)

    def _message(self, method: str, target: str, data: bytes | None, content_type: str) -> bytes:
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed}"
        if self._auth is not None and (auth := self._auth()):
            head += f"Authorization: {auth}\r\n"
        if data is not None:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n"
        msg = (head + "\r\n").encode("latin-1")
        return msg + data if data is not None else msg

    # -- one request ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JSON:
        """One request from this green task; the JSON answer, or an exception."""
        if self.closed:
            raise TransportError("the client is closed")
        target = path + (f"?{urlencode(query_string(query))}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        msg = self._message(method, target, data, content_type)
        self.stats.count(method)
        what = f"{method} {path}"
        self._acquire(what)
        try:
            a = self._exchange(method, what, msg)
        finally:
            self._slots.release()
        if a.status >= 400:
            self.stats.errors += 1
        return decode_answer(what, a.status, a.retry_after(), b"".join(a.body))

    def _acquire(self, what: str) -> None:
        if self._slots.try_acquire():
            return
        ctx, cancel = context.with_timeout(context.background(), self.timeout)
        try:
            self._slots.acquire(ctx=ctx)
        except TimeoutError:
            self.stats.errors += 1
            raise TransportError(
                f"{what}: no free connection after {self.timeout:g} s "
                f"(client timeout, {self.max_connections} in use)"
            ) from None
        finally:
            cancel()

    def _exchange(self, method: str, what: str, msg: bytes) -> _Answer:
        """Send ``msg`` and read the whole answer, by ``timeout``; retry a stale one."""
        deadline = gochan.monotonic() + self.timeout
        for attempt in (0, 1):
            conn = self._take(method not in IDEMPOTENT) if attempt == 0 else None
            reused = conn is not None
            try:
                if conn is None:
                    conn = self._dial(deadline)
                else:
                    conn.answer.reset()
                    conn.got = False
                conn.net.set_deadline(deadline)
                conn.net.write(msg)
                conn.read()
            except BaseException as e:
                if conn is not None:
                    self._drop(conn)
                stale = isinstance(e, ConnectionError) and reused and not self.closed
                if stale and conn is not None and not conn.got and method in IDEMPOTENT:
                    # The server closed it while it sat idle: it has probably closed
                    # the others too (a restart). Drop them all; retry once, fresh.
                    self.stats.retried_stale += 1
                    self._drop_idle()
                    continue
                if isinstance(e, Exception):
                    self.stats.errors += 1
                    raise self._failure(what, e) from e
                raise  # cancelled mid-answer: the connection was in an unknown state
            answer = conn.answer
            self._give(conn)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def _failure(self, what: str, e: Exception) -> Exception:
        if isinstance(e, TransportError):
            return e
        if isinstance(e, TimeoutError):
            return TransportError(f"{what}: timed out after {self.timeout:g} s (client timeout)")
        if self.closed:
            return TransportError(f"{what}: the client is closed")
        if isinstance(e, httptools.HttpParserError):
            return TransportError(f"{what}: bad HTTP answer: {e}")
        return TransportError(f"{what}: {type(e).__name__}: {e}")

    # -- watches -----------------------------------------------------------------------------

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        read_timeout: float = 120.0,
        buffer: int = 1024,
        **params: Any,
    ) -> GreenWatch:
        """Open a watch (``resourceVersion=``, ``timeoutSeconds=``, ``allowWatchBookmarks=``...).

        Returns once the answer's head is in (within ``header_timeout``); an
        error answer raises `APIStatusError`, no answer `TransportError`. A
        green task then reads the events into the stream's ``events``.
        """
        params["watch"] = "true"
        target = f"{resource.path(namespace)}?{urlencode(query_string(params))}"
        stream = GreenWatch(self, read_timeout, buffer)
        self._register(stream)
        try:
            stream.open(target)
        except BaseException:
            stream.close()
            self._forget(stream)
            raise
        stream.start(resource.plural)
        return stream

    def close(self, timeout: float = 5.0) -> None:
        """Close every stream and connection (requests in flight fail at once);
        wait (from a task) up to ``timeout`` for each stream's task."""
        self.closed = True
        for c in list(self._conns):
            c.net.close()
        self._idle.clear()
        self._close_streams(timeout)


class GreenWatch(WatchStream):
    """One watch, its body read by a green task into ``events`` (see `transport`)."""

    def __init__(self, client: GreenClient, read_timeout: float, buffer: int) -> None:
        super().__init__(client, read_timeout, buffer)
        self._green = client
        self._conn: _Conn | None = None
        self._task: gochan.Task | None = None

    def open(self, target: str) -> None:
        """Connect, send the WATCH and read the answer's head (``header_timeout``)."""
        client = self._green
        what = f"WATCH {target}"
        deadline = gochan.monotonic() + client.header_timeout
        try:
            conn = client._dial(deadline)
            with self._lock:  # close() either sees the connection or we see the flag
                self._conn = conn
                if self.closed:
                    raise TransportError(f"{what}: closed before the answer")
            conn.net.set_deadline(deadline)
            conn.net.write(client._message("GET", target, None, ""))
            conn.read(until_head=True)
            a = conn.answer
            if a.status != 200:
                with contextlib.suppress(OSError, httptools.HttpParserError):
                    conn.read()
                raise status_error(a.status, a.retry_after(), b"".join(a.body))
        except TimeoutError:
            client.stats.errors += 1
            raise TransportError(
                f"{what}: no answer within {client.header_timeout:g} s (header timeout)"
            ) from None
        except (OSError, httptools.HttpParserError) as e:
            client.stats.errors += 1
            if self.closed:
                raise TransportError(f"{what}: closed before the answer") from e
            raise TransportError(f"{what}: {type(e).__name__}: {e}") from e
        except Exception:
            client.stats.errors += 1
            raise

    def start(self, name: str) -> None:
        self._task = gochan.go(self._read)
        self._task.name = f"watch-{name}"

    def _read(self) -> None:
        conn = self._conn
        assert conn is not None
        try:
            error = self._body(conn)
        except BaseException:  # cancelled (or a bug): no StreamEnd
            self._release(conn)
            self.events.close()
            self.client._forget(self)
            raise
        self._release(conn)
        self.finish(error)

    def _body(self, conn: _Conn) -> BaseException | None:
        """Read the body into events; what ended it (None: its end, or closed)."""
        a = conn.answer
        try:
            if not self._deliver(a.take_body()):
                return None
            if a.error is not None:
                return StreamDecodeError(f"bad framing in the stream: {a.error}")
            while not a.done:
                conn.net.set_read_deadline(gochan.monotonic() + self.read_timeout)
                data = conn.net.read(RECV)
                if not data:
                    if a.unframed:
                        return None
                    return TransportError("torn stream: the connection ended mid-body")
                try:
                    a.parser.feed_data(data)
                except httptools.HttpParserError as e:
                    self._deliver(a.take_body())
                    return StreamDecodeError(f"bad framing in the stream: {e}")
                if not self._deliver(a.take_body()):
                    return None
        except StreamDecodeError as e:
            return e
        except TimeoutError:
            return TransportError(f"no data for {self.read_timeout:g} s (client read timeout)")
        except OSError as e:
            return None if self.closed else TransportError(f"torn stream: {type(e).__name__}: {e}")
        return None

    def _release(self, conn: _Conn) -> None:
        with self._lock:
            self._conn = None
        self._green._drop(conn)

    def _deliver(self, pieces: list[bytes]) -> bool:
        return all(self.deliver(piece) for piece in pieces)

    def _abort(self) -> None:
        with self._lock:
            conn = self._conn
        if conn is not None:
            self._green._drop(conn)  # wakes the reader (or the opener) with ErrClosed

    def join(self, timeout: float | None = None) -> None:
        """Wait for the stream's task (from a green task); gives up quietly after ``timeout``."""
        task = self._task
        if task is None or task.done() or task is gochan.current():
            return
        with contextlib.suppress(TimeoutError):
            task.join(timeout)

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()


__all__ = ["GreenClient", "GreenWatch"]
