"""The Kubernetes REST client on green sockets: HTTP/1.1 with `gochan.wait_readable`.

The same face as `transport.Client` (list, get, create, update, patch,
delete, watch, close), the same errors and the same `ClientStats`, with no
thread and no event loop in the way: each request is written and read by the
green task that makes it, on a non-blocking socket, and when the socket is
not ready the task parks in `gochan.wait_readable` / `gochan.wait_writable`
(Go's netpoller) while the thread's other tasks run. It works on every
backend; on ``builtin`` the scheduler's own selector does the waiting.

* **Connections**: a keep-alive pool. At most ``max_connections`` requests
  are in the air (a request waits up to ``timeout`` for a free slot) and at
  most ``max_connections`` idle connections are kept. A request on an idle
  connection the server has closed, that fails before any byte of the answer
  arrived, is retried once on a fresh connection if its method is
  idempotent (GET, HEAD, PUT, DELETE, OPTIONS), as Go's net/http does. The
  others (POST, PATCH) cannot be retried, so they first check the idle
  connection they take (a peek shows the server's FIN); the idempotent ones
  skip that system call, the retry covers them.
* **Bodies**: ``Content-Length``, chunked, or read until the close.
* **Timeouts**, always set: ``timeout`` bounds the connect, every wait to
  write and every wait to read of a request (a per-read timeout, as a socket
  timeout is); a watch's ``read_timeout`` bounds each read of its stream.
  A wait that would park passes its timeout to `gochan.wait_readable` /
  `gochan.wait_writable` (Go's read and write deadlines), which raise
  ``TimeoutError``; the connection is then dropped. A read that finds its
  data already there does not wait at all.
* **Watches**: a green task per stream (not a thread) connects, reads the
  answer and then the chunked body, splits it into lines, decodes each into
  an event and hands it into `GreenWatchStream.events`, ending with one
  `StreamEnd` whose ``error`` is what the stdlib stream reports:

  =====================================  ===========================================
  the bytes say                          StreamEnd(error=...)
  =====================================  ===========================================
  the last chunk (``0\\r\\n\\r\\n``)        None (a server ``timeoutSeconds``)
  the connection ends inside a chunk     `StreamDecodeError` ("torn stream")
  or between chunks
  a line that is not JSON / an object    `StreamDecodeError` ("corrupt event")
  the last bytes are half an event       `StreamDecodeError` ("inside an event")
  no byte for ``read_timeout``           `TransportError` ("client read timeout")
  refused, reset                         `TransportError`
  an error answer to the WATCH itself    `APIStatusError` (with ``Retry-After``)
  =====================================  ===========================================

Plain ``http://`` only (the embedded apiserver, ``kubectl proxy``): for an
``https://`` server use the ``stdlib`` or ``official`` transport.

Use a client from the green tasks of one `gochan.run` (it is not thread-safe);
`GreenWatchStream.close` may be called from any thread.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import gochan
from gochan import context

from .transport import (
    JSON,
    APIStatusError,
    ClientStats,
    Resource,
    RestVerbs,
    StreamDecodeError,
    StreamEnd,
    StreamRegistry,
    TransportError,
    WatchItem,
    _query,
    _status_error,
    decode_event,
    loads_json,
)

MAX_HEAD = 64 * 1024  # the status line and headers
RECV = 64 * 1024  # bytes asked of one recv()
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_IN_PROGRESS = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY)


class ProtocolError(Exception):
    """The server's bytes are not HTTP/1.1 as we know it."""


class _Closed(ConnectionError):
    """The server closed the connection before the answer began."""


# ---- one connection ---------------------------------------------------------------------------


class _Conn:
    """A non-blocking socket with a read buffer and deadline-bound waits."""

    __slots__ = ("buf", "closed", "expired", "got", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.expired = False  # a wait timed out: the connection is spent
        self.got = False  # any byte of the current answer received
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()

    def shutdown(self) -> None:
        """Wake whoever waits on the socket (from any thread): it reads EOF."""
        if not self.closed:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def wait(self, write: bool, timeout: float) -> None:
        """Park until the socket is ready; ``TimeoutError`` after ``timeout``
        seconds (the wait's deadline), after which the connection is spent."""
        if self.expired:
            raise TimeoutError("timed out")
        try:
            if write:
                gochan.wait_writable(self.sock, timeout)
            else:
                gochan.wait_readable(self.sock, timeout)
        except TimeoutError:
            self.expired = True
            raise TimeoutError("timed out") from None

    def recv(self, timeout: float) -> bytes:
        """The next bytes (b"" at EOF), waiting at most ``timeout`` for them."""
        while True:
            try:
                data = self.sock.recv(RECV)
            except (BlockingIOError, InterruptedError):
                self.wait(False, timeout)
                continue
            return data

    def fill(self, timeout: float) -> bool:
        """Append the next bytes to ``buf``; False at EOF."""
        data = self.recv(timeout)
        if not data:
            return False
        self.got = True
        self.buf += data
        return True

    def sendall(self, data: bytes, timeout: float) -> None:
        view = memoryview(data)
        while view:
            try:
                n = self.sock.send(view)
            except (BlockingIOError, InterruptedError):
                self.wait(True, timeout)
                continue
            view = view[n:]

    def alive(self) -> bool:
        """For an idle connection: False if the server has closed it (or sent junk)."""
        try:
            self.sock.recv(1, socket.MSG_PEEK)  # readable while idle: EOF (b"") or junk
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        return False

    # -- reading an answer ----------------------------------------------------------------

    def read_head(self, timeout: float) -> tuple[int, str, dict[str, str], bool]:
        """(status, reason, lower-case headers, keep-alive) of the next answer (1xx skipped)."""
        while True:
            buf = self.buf
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                if len(buf) > MAX_HEAD:
                    raise ProtocolError("answer head too large")
                if not self.fill(timeout):
                    if not buf:
                        raise _Closed("the server closed the connection without an answer")
                    raise ProtocolError(
                        f"connection closed inside the answer head {bytes(buf)!r:.60}"
                    )
                end = buf.find(b"\r\n\r\n", max(0, len(buf) - RECV - 3))
            head = bytes(buf[:end]).decode("latin-1")
            del buf[: end + 4]
            lines = head.split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise ProtocolError(f"bad status line {lines[0][:80]!r}")
            status = int(parts[1])
            if 100 <= status < 200 and status != 101:
                continue  # 100 Continue and friends: the real answer follows
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    raise ProtocolError(f"bad header line {line[:80]!r}")
                headers[name.strip().lower()] = value.strip()
            conn_hdr = headers.get("connection", "").lower()
            # HTTP/1.1 keeps the connection unless told otherwise; 1.0 closes it.
            keep = "keep-alive" in conn_hdr if parts[0] == "HTTP/1.0" else "close" not in conn_hdr
            return status, parts[2] if len(parts) > 2 else "", headers, keep

    def read_exact(self, n: int, timeout: float) -> bytes:
        buf = self.buf
        while len(buf) < n:
            if not self.fill(timeout):
                raise ProtocolError(f"connection closed after {len(buf)} of {n} body bytes")
        data = bytes(buf[:n])
        del buf[:n]
        return data

    def read_line(self, timeout: float, limit: int = 8192) -> bytes:
        """One CRLF-ended line without its CRLF; ProtocolError at EOF."""
        buf = self.buf
        nl = buf.find(b"\r\n")
        while nl < 0:
            if len(buf) > limit:
                raise ProtocolError("line too long")
            if not self.fill(timeout):
                raise ProtocolError("connection closed inside a chunk header")
            nl = buf.find(b"\r\n")
        line = bytes(buf[:nl])
        del buf[: nl + 2]
        return line

    def read_body(
        self, method: str, status: int, headers: dict[str, str], timeout: float
    ) -> tuple[bytes, bool]:
        """(the body, whether the connection can be reused after it)."""
        if method == "HEAD" or status in (204, 304):
            return b"", True
        if "chunked" in headers.get("transfer-encoding", "").lower():
            out = bytearray()
            while True:
                line = self.read_line(timeout)
                try:
                    size = int(line.split(b";", 1)[0], 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk header {line!r:.40}") from None
                if size == 0:
                    while self.read_line(timeout):  # trailers, up to the empty line
                        pass
                    return bytes(out), True
                out += self.read_exact(size, timeout)
                if self.read_exact(2, timeout) != b"\r\n":
                    raise ProtocolError("a chunk without its CRLF")
        length = headers.get("content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                raise ProtocolError(f"bad Content-Length {length!r:.40}") from None
            return self.read_exact(n, timeout), True
        while self.fill(timeout):  # no framing: the body ends with the connection
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data, False


# ---- the client -------------------------------------------------------------------------------


class GreenClient(RestVerbs, StreamRegistry["GreenWatchStream"]):
    """A Kubernetes REST client on non-blocking sockets, for green tasks.

    ``timeout`` is the client-side timeout of every request's connect, pool
    wait and each read and write (and the connect and answer head of a
    watch); a watch has its own ``read_timeout``. ``max_connections`` bounds
    the requests in the air and the idle connections kept.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        max_connections: int = 64,
        user_agent: str = "gochan-k8s-watch/0.1 (green)",
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme == "https":
            raise ValueError(
                f"the green transport speaks plain http only, not {url!r}: "
                "use the stdlib or official transport for an https server"
            )
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not an http URL: {url!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        self.url = url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.token = token
        self.timeout = timeout
        self.max_connections = max_connections
        self.stats = ClientStats()
        host = f"[{self.host}]" if ":" in self.host else self.host
        hostport = host if self.port == 80 else f"{host}:{self.port}"
        fixed = f"Host: {hostport}\r\nAccept: application/json\r\nUser-Agent: {user_agent}\r\n"
        if token:
            fixed += f"Authorization: Bearer {token}\r\n"
        self._fixed = fixed
        self._idle: list[_Conn] = []
        self._slots = gochan.Semaphore(max_connections)
        self._streams: set[GreenWatchStream] = set()
        self._closed = False
        self._lock = threading.Lock()  # the streams (StreamRegistry)

    def __repr__(self) -> str:
        return f"<GreenClient {self.url} idle={len(self._idle)} streams={len(self._streams)}>"

    # -- connections ------------------------------------------------------------------------

    def connect(self, timeout: float) -> _Conn:
        """A new connection to the server; ``OSError`` (``TimeoutError``) if it fails."""
        try:
            infos = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
        except socket.gaierror:  # a name, not an address: resolve it off the scheduler
            infos = gochan.blocking(
                socket.getaddrinfo, self.host, self.port, type=socket.SOCK_STREAM
            )
        last: OSError | None = None
        for family, kind, proto, _, addr in infos:
            sock = socket.socket(family, kind, proto)
            conn = _Conn(sock)
            try:
                sock.setblocking(False)
                if family in (socket.AF_INET, socket.AF_INET6):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                err = sock.connect_ex(addr)
                if err in _IN_PROGRESS:
                    conn.wait(True, timeout)
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, os.strerror(err))
                return conn
            except OSError as e:
                conn.close()
                last = e
            except BaseException:
                conn.close()
                raise
        raise last or OSError(f"no address for {self.host!r}")

    def _take(self, check: bool) -> _Conn | None:
        """An idle connection (the most recent); with ``check``, one the server has
        not closed as far as a peek can tell."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not check or conn.alive():
                return conn
            conn.close()
        return None

    def _give(self, conn: _Conn) -> None:
        if not self._closed and len(self._idle) < self.max_connections and not conn.buf:
            conn.got = False
            self._idle.append(conn)
        else:
            conn.close()

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for c in idle:
            c.close()

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The headers every request carries (for show: requests use a prebuilt block)."""
        h = {}
        for line in self._fixed.split("\r\n"):
            if line:
                name, _, value = line.partition(": ")
                h[name] = value
        h.pop("Host", None)
        if extra:
            h.update(extra)
        return h

    def _message(self, method: str, target: str, data: bytes | None, content_type: str) -> bytes:
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed}"
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
        if self._closed:
            raise TransportError("the client is closed")
        target = path + (f"?{urlencode(_query(query))}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        msg = self._message(method, target, data, content_type)
        stats = self.stats
        stats.requests += 1
        stats.by_verb[method] = stats.by_verb.get(method, 0) + 1
        timeout = self.timeout
        self._acquire(method, path)
        try:
            status, headers, raw = self._exchange(method, path, msg, timeout)
        finally:
            self._slots.release()
        if status >= 400:
            stats.errors += 1
            raise _status_error(status, headers.get("retry-after"), raw)
        try:
            answer = loads_json(raw) if raw else {}
        except ValueError as e:
            raise TransportError(f"{method} {path}: bad JSON in the answer: {e}") from e
        if not isinstance(answer, dict):
            raise TransportError(f"{method} {path}: the answer is not an object")
        return answer

    def _acquire(self, method: str, path: str) -> None:
        if self._slots.try_acquire():
            return
        ctx, cancel = context.with_timeout(context.background(), self.timeout)
        try:
            self._slots.acquire(ctx=ctx)
        except TimeoutError:
            self.stats.errors += 1
            raise TransportError(
                f"{method} {path}: no free connection after {self.timeout:g} s "
                f"(client timeout, {self.max_connections} in use)"
            ) from None
        finally:
            cancel()

    def _exchange(
        self, method: str, path: str, msg: bytes, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in (0, 1):
            conn = self._take(method not in IDEMPOTENT) if attempt == 0 else None
            reused = conn is not None
            try:
                if conn is None:
                    conn = self.connect(timeout)
                conn.sendall(msg, timeout)
                if not conn.buf:  # the answer cannot be there yet: park before the first recv
                    conn.wait(False, timeout)
                status, _, headers, keep = conn.read_head(timeout)
                raw, reusable = conn.read_body(method, status, headers, timeout)
            except ConnectionError as e:
                if conn is not None:
                    conn.close()
                if reused and conn is not None and not conn.got and method in IDEMPOTENT:
                    # The server closed it while it sat idle: it has probably closed
                    # the others too (a restart). Drop them all; retry once, fresh.
                    self.stats.retried_stale += 1
                    self._drop_idle()
                    continue
                self.stats.errors += 1
                raise TransportError(f"{method} {path}: {type(e).__name__}: {e}") from e
            except TimeoutError as e:
                if conn is not None:
                    conn.close()
                self.stats.errors += 1
                raise TransportError(
                    f"{method} {path}: timed out after {timeout:g} s (client read timeout)"
                ) from e
            except (OSError, ProtocolError) as e:
                if conn is not None:
                    conn.close()
                self.stats.errors += 1
                raise TransportError(f"{method} {path}: {type(e).__name__}: {e}") from e
            except BaseException:  # cancelled mid-answer: the connection is in an unknown state
                if conn is not None:
                    conn.close()
                raise
            if keep and reusable:
                self._give(conn)
            else:
                conn.close()
            return status, headers, raw
        raise AssertionError("unreachable")  # pragma: no cover

    # -- watches -----------------------------------------------------------------------------

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        read_timeout: float = 120.0,
        buffer: int = 1024,
        **params: Any,
    ) -> GreenWatchStream:
        """Open a watch (``resourceVersion=``, ``timeoutSeconds=``, ``allowWatchBookmarks=``...).

        Returns at once: the stream's green task connects, reads the answer
        (an error answer ends the stream with ``StreamEnd(APIStatusError)``)
        and then the events, with ``read_timeout`` on every read.
        """
        params["watch"] = "true"
        target = f"{resource.path(namespace)}?{urlencode(_query(params))}"
        stream = self._register(
            GreenWatchStream(self, target, read_timeout, buffer, resource.plural)
        )
        stream.start()
        return stream

    def close(self, timeout: float = 5.0) -> None:
        """Close every stream and idle connection; wait (from a task) for the stream tasks."""
        self._closed = True
        self._drop_idle()
        streams = list(self._streams)
        for s in streams:
            s.close()
        for s in streams:
            s.join(timeout)


# ---- the watch stream -------------------------------------------------------------------------


class GreenWatchStream:
    """One watch response, read by a green task into ``events``.

    ``events`` carries each event as a dict (``{"type", "object"}``) and then
    one `StreamEnd`, after which the task closes the channel and ends.
    `close()` may be called from any thread at any time: it stops the task
    whether it is reading the socket or waiting to hand over an event, and
    does not block.
    """

    def __init__(
        self, client: GreenClient, target: str, read_timeout: float, buffer: int, name: str
    ) -> None:
        self._client = client
        self.target = target
        self.name = name
        self.read_timeout = read_timeout
        self.events: gochan.Chan[WatchItem] = gochan.Chan(buffer)
        self._stop: gochan.Chan[None] = gochan.Chan()
        self._conn: _Conn | None = None
        self._task: gochan.Task | None = None
        self._closed = False
        self._lock = threading.Lock()  # close() from another thread vs the task's connect
        self._chunked = True
        self._length: int | None = None
        self.received = 0

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<GreenWatchStream {state} received={self.received}>"

    def start(self) -> None:
        self._task = gochan.go(self._read)
        self._task.name = f"watch-{self.name}"

    def __iter__(self) -> Iterator[WatchItem]:
        yield from self.events

    def _hand_over(self, item: WatchItem) -> bool:
        if self.events.offer(item):
            return not self._closed
        i, _ = gochan.select((self.events.send, item), self._stop.recv)
        return i == 0

    def _read(self) -> None:
        client = self._client
        end = StreamEnd()
        try:
            try:
                self._open()
                if self._closed:
                    return
                self._events()
            except (StreamDecodeError, APIStatusError, TransportError) as e:
                end = StreamEnd(e)
            except TimeoutError:
                end = StreamEnd(
                    TransportError(f"no data for {self.read_timeout:g} s (client read timeout)")
                )
            except (OSError, ProtocolError) as e:
                end = StreamEnd(TransportError(f"{type(e).__name__}: {e}"))
            if not self._closed:
                self._hand_over(end)
        finally:
            with self._lock:
                conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
            self.events.close()
            client._forget(self)

    def _open(self) -> None:
        """Connect, send the WATCH and read the answer's head (``client.timeout`` each)."""
        client = self._client
        timeout = client.timeout
        try:
            conn = client.connect(timeout)
        except OSError as e:
            client.stats.errors += 1
            raise TransportError(f"WATCH {self.target}: {type(e).__name__}: {e}") from e
        with self._lock:  # close() either sees the socket or we see the flag
            if self._closed:
                conn.close()
                return
            self._conn = conn
        try:
            conn.sendall(client._message("GET", self.target, None, ""), timeout)
            status, _, headers, _ = conn.read_head(timeout)
            if status != 200:
                try:
                    raw, _ = conn.read_body("GET", status, headers, timeout)
                except (OSError, ProtocolError):
                    raw = b""
                client.stats.errors += 1
                raise _status_error(status, headers.get("retry-after"), raw)
        except (OSError, ProtocolError) as e:
            if self._closed:
                return
            client.stats.errors += 1
            raise TransportError(f"WATCH {self.target}: {type(e).__name__}: {e}") from e
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._length = int(length) if length and length.isdigit() else None

    def _events(self) -> None:
        """Read the body into events until its clean end (or an error)."""
        conn = self._conn
        assert conn is not None
        if self._chunked:
            self._chunks(conn)
        else:  # HTTP/1.0 or Content-Length: lines until EOF (or the length)
            self._plain(conn)

    def _lines(self, pending: bytes, data: bytes) -> bytes:
        """Decode and hand over the complete lines of ``pending + data``; the rest."""
        pending = pending + data if pending else data
        if b"\n" not in pending:
            return pending
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if (event := decode_event(line)) is None:
                continue
            self.received += 1
            if not self._hand_over(event):
                raise _Stopped
        return pending

    def _chunks(self, conn: _Conn) -> None:
        """The chunked framing, decoded here so a cut is told from a clean end."""
        buf = conn.buf
        rt = self.read_timeout
        pending = b""
        try:
            while True:
                nl = buf.find(b"\r\n")
                while nl < 0:
                    if len(buf) > 1024 or not conn.fill(rt):
                        raise StreamDecodeError(
                            f"torn stream: connection ended at {bytes(buf)!r:.40}"
                        )
                    nl = buf.find(b"\r\n")
                size_line = bytes(buf[:nl])
                del buf[: nl + 2]
                try:
                    size = int(size_line.split(b";", 1)[0], 16)
                except ValueError:
                    raise StreamDecodeError(f"bad chunk header {size_line!r:.40}") from None
                if size == 0:
                    while True:  # trailers, up to the empty line (or the end)
                        nl = buf.find(b"\r\n")
                        if nl == 0:
                            del buf[:2]
                            break
                        if nl > 0:
                            del buf[: nl + 2]
                            continue
                        if not conn.fill(rt):
                            break
                    if pending.strip():
                        raise StreamDecodeError(f"stream ended inside an event: {pending!r:.80}")
                    return
                while len(buf) < size + 2:
                    if not conn.fill(rt):
                        raise StreamDecodeError(
                            f"torn stream: a chunk cut after {min(len(buf), size)} of {size} bytes"
                        )
                if buf[size : size + 2] != b"\r\n":
                    raise StreamDecodeError(f"torn stream: a {size}-byte chunk without its CRLF")
                data = bytes(buf[:size])
                del buf[: size + 2]
                pending = self._lines(pending, data)
        except _Stopped:
            return

    def _plain(self, conn: _Conn) -> None:
        buf = conn.buf
        left = self._length
        pending = b""
        try:
            while True:
                if buf:
                    take = len(buf) if left is None else min(left, len(buf))
                    data = bytes(buf[:take])
                    del buf[:take]
                    if left is not None:
                        left -= take
                    pending = self._lines(pending, data)
                if left == 0 or not conn.fill(self.read_timeout):
                    break
        except _Stopped:
            return
        if pending:
            raise StreamDecodeError(f"stream ended inside an event: {pending!r:.80}")

    def close(self) -> None:
        """Stop reading (from any thread, without blocking)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conn = self._conn
        self._stop.close()
        if conn is not None:
            conn.shutdown()

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


class _Stopped(Exception):
    """The stream was closed while handing over an event."""


__all__ = ["GreenClient", "GreenWatchStream", "ProtocolError"]
