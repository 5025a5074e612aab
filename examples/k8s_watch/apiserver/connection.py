"""One client connection: a green task on ``gochan.net``, HTTP/1.1 by h11.

`serve_conn` runs in the connection's own task and reads and writes in
blocking style: read when h11 needs data, dispatch, write what h11 frames.
Requests on a connection are answered one at a time, in order; what the
client pipelines meanwhile waits in h11's buffer (or the kernel's: a client
that does not read its answers blocks the task's write, and then nothing
more is read from it).

Timeouts are read deadlines, as Go's ``http.Server`` has them (the
kube-apiserver sets ``ReadHeaderTimeout`` 32 s and ``IdleTimeout`` 90 s,
no ``ReadTimeout``): between requests a connection may stay idle
``idle_timeout`` s; once the first byte of a request has come, its whole
head must be in within ``read_header_timeout`` s (a new connection's first
head, from the accept); a body may not stall longer than
``read_header_timeout`` between two reads, however long it takes in all
while it progresses (its size is bounded by ``max_body``). Each closes the
connection without an answer, as Go does.

While a request is held (an injected fault) or a watch streams, a monitor
task reads the connection: end of stream means the client left; bytes mean
a request pipelined behind it, and the connection closes after the answer
(the client sends it again).
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

import h11

import gochan
from gochan import net

from . import status as st
from .handlers import HOLD, Later, Response, error_response, finish
from .status import APIError
from .watch import WatchPlan
from .wire import MAX_HEADER_BYTES, BadHTTP, BodyTooLarge, Request, from_h11, response

if TYPE_CHECKING:
    from .core import ServerCore

READ_SIZE = 64 * 1024


class ConnState:
    """What the server knows of a connection: idle (waiting for a request) or not,
    writing an answer or not, and its h11 state (what the client pipelined waits in it)."""

    __slots__ = ("conn", "dropped", "h", "idle", "writing")

    def __init__(self, conn: net.Conn) -> None:
        self.conn = conn
        self.h: h11.Connection | None = None
        self.idle = True
        self.writing = False  # in a write of an answer (parked in it: the client is not reading)
        self.dropped = False  # bytes sent during a hold were read and lost: close after it


def abort(conn: net.Conn) -> None:
    """Reset the connection (RST, not FIN), as a crashed server's kernel would."""
    with contextlib.suppress(OSError, ValueError):
        s = socket.socket(fileno=conn.fileno())  # the same socket: set SO_LINGER 0 on it
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            s.detach()
    with contextlib.suppress(OSError):
        conn.close()


class Monitor:
    """Reads a connection while its task waits elsewhere (a watch, a hold): end of stream
    or an error calls ``on_gone``; bytes set ``data`` (a pipelined request)."""

    def __init__(
        self, conn: net.Conn, on_gone: Callable[[], None], on_data: Callable[[], None] | None = None
    ) -> None:
        self.conn = conn
        self.data = False
        self.gone = False
        self._on_gone = on_gone
        self._on_data = on_data
        self._done: gochan.Chan[None] = gochan.Chan()
        self._stopping = False
        conn.set_read_deadline(None)  # whatever the request's read left (see _read_request)
        gochan.go(self._run)

    def _run(self) -> None:
        try:
            while True:
                try:
                    got = self.conn.read(READ_SIZE)
                except TimeoutError:
                    if self._stopping:
                        return
                    continue
                except OSError:
                    got = b""
                if not got:
                    self.gone = True
                    self._on_gone()
                    return
                if not self.data:
                    self.data = True
                    if self._on_data is not None:
                        self._on_data()
        finally:
            self._done.close()

    def stop(self) -> None:
        """End the monitor's read; the connection can be read again after this."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self.conn.set_read_deadline(gochan.monotonic() - 1)
        self._done.recv()
        with contextlib.suppress(OSError):
            self.conn.set_read_deadline(None)


class _Closed(Exception):
    """The client is gone, or went quiet past a timeout: close without an answer."""


def serve_conn(core: ServerCore, state: ConnState) -> None:
    """Serve one connection until either side is done (see the module docstring)."""
    conn = state.conn
    h = state.h = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
    dispatch = core._dispatch
    while True:
        try:
            req = _read_request(core, state, h)
        except _Closed:
            return
        except (BadHTTP, BodyTooLarge, h11.RemoteProtocolError) as e:
            _reject(core, conn, h, e)
            return
        if req is None:
            return
        if core.request_latency:
            gochan.sleep(core.request_latency)
        result = dispatch(req)
        if type(result) is Response:  # the usual case, first
            if not _answer(core, state, h, req, result):
                return
        else:
            if isinstance(result, Later):
                result = finish(core, result)
            if isinstance(result, WatchPlan):
                if not core._watch(state, h, result):
                    return
            elif result is HOLD:  # never answered: closed once released, reset if we shut down
                if not _hold(core, state) and core._closing is False:
                    abort(conn)
                return
            else:
                assert isinstance(result, Response)
                if not _answer(core, state, h, req, result):
                    return
        if h.our_state is not h11.DONE or h.their_state is not h11.DONE:
            return
        h.start_next_cycle()


def _read_request(core: ServerCore, state: ConnState, h: h11.Connection) -> Request | None:
    """The next request with its body; None at a clean end (or an idle close).

    Deadlines (see the module docstring): the idle one while nothing of a
    request is here, the header one from its first byte on (set once, not per
    read; for a connection's first request, from the accept), and that span
    again before each read of the body. The read deadline is left as it is
    afterwards: the next read sets its own, and a `Monitor` clears it first.
    """
    conn = state.conn
    state.idle = True
    buffered = h.trailing_data[0]  # what the client pipelined behind the last request
    ev = h.next_event() if buffered else h11.NEED_DATA
    if ev is h11.NEED_DATA:
        head_deadline = None
        if not buffered.strip():  # nothing of a request yet: idle
            if core._closing:
                return None  # idle, and the server shuts down
            if h.their_http_version:  # h11 has seen a request: between two, the idle timeout
                conn.set_read_deadline(gochan.monotonic() + core.idle_timeout)
            else:  # the first request: its whole head within the header timeout (Go's rule)
                head_deadline = gochan.monotonic() + core.read_header_timeout
                conn.set_read_deadline(head_deadline)
            data = _read(conn)
            if not data:
                return None  # a clean end between requests
            h.receive_data(data)
            ev = h.next_event()
        if ev is h11.NEED_DATA and head_deadline is None:
            # a head in pieces: all of it within read_header_timeout of its first byte
            conn.set_read_deadline(gochan.monotonic() + core.read_header_timeout)
        while ev is h11.NEED_DATA:
            h.receive_data(_read(conn))
            ev = h.next_event()
    if type(ev) is not h11.Request:
        if isinstance(ev, h11.ConnectionClosed):
            return None
        raise BadHTTP(f"unexpected {type(ev).__name__}")  # pragma: no cover - h11 raises first
    state.idle = False
    req = from_h11(ev)
    length = req.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > core.max_body:
        raise BodyTooLarge(core.max_body)
    if h.they_are_waiting_for_100_continue:
        conn.write(
            h.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue"))
        )
    ev = h.next_event()
    if type(ev) is h11.EndOfMessage:  # no body (or none left to read): the usual GET
        return req
    chunks: list[bytes] = []
    total = 0
    while True:
        if ev is h11.NEED_DATA:
            conn.set_read_deadline(gochan.monotonic() + core.read_header_timeout)
            h.receive_data(_read(conn))
        elif type(ev) is h11.Data:
            total += len(ev.data)
            if total > core.max_body:
                raise BodyTooLarge(core.max_body)
            chunks.append(ev.data)
        elif type(ev) is h11.EndOfMessage:
            break
        else:  # pragma: no cover - h11 raises first
            raise BadHTTP("truncated body")
        ev = h.next_event()
    req.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return req


def _read(conn: net.Conn) -> bytes:
    try:
        return conn.read(READ_SIZE)
    except TimeoutError:
        raise _Closed from None
    except OSError:
        return b""  # reset: h11 sees the end of the stream


def _reject(core: ServerCore, conn: net.Conn, h: h11.Connection, e: Exception) -> None:
    """Answer a request that cannot be read with a ``Status``, then close."""
    err: APIError
    if isinstance(e, BodyTooLarge):
        core.counters["too_large"] += 1
        err = st.too_large_body(e.limit)
    else:
        core.counters["bad_http"] += 1
        err = st.bad_request(f"malformed HTTP request: {e}")
        hint = getattr(e, "error_status_hint", None) or getattr(e, "code", 400)
        if hint == 431:
            err = APIError({**err.status, "code": 431, "reason": "RequestHeaderFieldsTooLarge"})
    if h.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    resp = error_response(err)
    if isinstance(e, BodyTooLarge) or h.their_state is h11.ERROR:
        # h11 frames nothing more once the peer broke the protocol: our answer is
        # framed by a fresh h11 connection that is told the request was a GET.
        h = _framer()
    with contextlib.suppress(OSError):
        conn.set_read_deadline(None)
        conn.write(
            h.send(response(resp.code, resp.content_type, resp.headers, len(resp.body), False))
            + h.send(h11.Data(data=resp.body))
            + h.send(h11.EndOfMessage())
        )


def _framer() -> h11.Connection:
    h = h11.Connection(h11.SERVER)
    h.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    h.next_event()
    return h


def _answer(
    core: ServerCore, state: ConnState, h: h11.Connection, req: Request, resp: Response
) -> bool:
    """Write the answer; False if the connection closes after it."""
    conn = state.conn
    extra = resp.headers
    keep = (
        not core._closing
        and req.keep_alive
        and not (
            extra and any(k.lower() == "connection" and "close" in v.lower() for k, v in extra)
        )
    )
    if extra and not keep:
        extra = [(k, v) for k, v in extra if k.lower() != "connection"]
    head = h.send(response(resp.code, resp.content_type, extra, len(resp.body), keep))
    assert head is not None
    if req.method == "HEAD":
        rest = h.send(h11.EndOfMessage())
    else:
        rest = h.send(h11.Data(data=resp.body)) + h.send(h11.EndOfMessage())  # type: ignore[operator]
    state.writing = True
    if resp.stall:  # an injected fault: the head now, the rest once released
        conn.write(head)
        state.writing = False
        if not _hold(core, state):
            return False
        state.writing = True
        conn.write(rest)
        keep = keep and not state.dropped
    else:
        conn.write(head + rest)  # type: ignore[operator]
    state.writing = False
    if resp.after is not None:  # e.g. a restart: once this answer is out
        conn.close()
        core._run_after(resp.after)
        return False
    return keep


def _hold(core: ServerCore, state: ConnState) -> bool:
    """Wait until the holds are released (True), or the client hangs up or we close.

    The client's end is noticed by reading: bytes it pipelines meanwhile are
    read and dropped (``state.dropped``), so the connection closes after this
    answer.
    """
    core.counters["held"] += 1
    release = core._release
    gone: gochan.Chan[None] = gochan.Chan()
    mon = Monitor(state.conn, gone.close)
    try:
        i, _ = gochan.select(release.recv, gone.recv)
    finally:
        if not mon.gone:
            mon.stop()
    state.dropped = mon.data
    return i == 0 and not core._closing
