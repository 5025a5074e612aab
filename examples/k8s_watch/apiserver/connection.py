"""One client connection: a green task on ``gochan.net``, requests parsed by httptools.

`serve_conn` runs in the connection's own task and reads and writes in
blocking style: read and feed the parser until a request is whole, dispatch,
write the answer.
Requests on a connection are answered one at a time, in order; what the
client pipelines meanwhile waits parsed in the parser's queue (or the kernel's: a client
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

The deadline is kept as a time (`ConnState.read_by`, set per request) and
enforced by one timer per connection (`_read_by`, `_expire`), not by a
``gochan.net`` read deadline per read: such a deadline arms and cancels a
timer at every park of the read, and takes the read off its fast path,
about a third of a keep-alive ``GET``'s instructions. The timer is re-armed
only when the deadline moves earlier (a head in pieces, a body); when it
fires early (the deadline moved on meanwhile) it re-arms for the new one;
when the deadline has passed it becomes the connection's read deadline, so
the read in progress fails at that instant exactly as with a deadline set
beforehand.

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

import gochan
from gochan import net

from . import status as st
from .handlers import HOLD, Later, Response, error_response, finish
from .status import APIError
from .watch import WatchPlan
from .wire import BadHTTP, BodyTooLarge, Parser, Request, response

if TYPE_CHECKING:
    from .core import ServerCore

READ_SIZE = 64 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class ConnState:
    """What the server knows of a connection: idle (waiting for a request) or not,
    writing an answer or not, and its request parser (what the client pipelined waits in it)."""

    __slots__ = (
        "conn",
        "dropped",
        "idle",
        "kicked",
        "parser",
        "read_by",
        "timer",
        "timer_at",
        "writing",
    )

    def __init__(self, conn: net.Conn) -> None:
        self.conn = conn
        self.parser: Parser | None = None
        self.idle = True
        self.writing = False  # in a write of an answer (parked in it: the client is not reading)
        self.dropped = False  # bytes sent during a hold were read and lost: close after it
        # The read deadline of the request being read (None: no read is bounded), and the
        # one timer that enforces it (see `_read_by`): when it is armed for (None: not armed).
        self.read_by: float | None = None
        self.timer: gochan.Timer | None = None
        self.timer_at: float | None = None
        self.kicked = False  # the timer made read_by the conn's read deadline: it had passed


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
        conn.set_read_deadline(None)  # (a passed one the request's timer left, if any)
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
    try:
        _serve(core, state)
    finally:
        state.read_by = None  # (an expiry already under way does nothing)
        if state.timer is not None:
            state.timer.stop()


def _serve(core: ServerCore, state: ConnState) -> None:
    conn = state.conn
    p = state.parser = Parser(core.max_body)
    dispatch = core._dispatch
    while True:
        try:
            req = _read_request(core, state, p)
        except _Closed:
            return
        except (BadHTTP, BodyTooLarge) as e:
            _reject(core, conn, e)
            return
        if req is None:
            return
        if core.request_latency:
            gochan.sleep(core.request_latency)
        result = dispatch(req)
        if type(result) is Response:  # the usual case, first
            if not _answer(core, state, req, result):
                return
        else:
            if isinstance(result, Later):
                result = finish(core, result)
            if isinstance(result, WatchPlan):
                if not core._watch(state, p, result):
                    return
            elif result is HOLD:  # never answered: closed once released, reset if we shut down
                if not _hold(core, state) and core._closing is False:
                    abort(conn)
                return
            else:
                assert isinstance(result, Response)
                if not _answer(core, state, req, result):
                    return


def _read_request(core: ServerCore, state: ConnState, p: Parser) -> Request | None:
    """The next request with its body; None at a clean end (or an idle close).

    Deadlines (see the module docstring): the idle one while nothing of a
    request is here, the header one from its first byte on (set once, not per
    read; for a connection's first request, from the accept), and that span
    again before each read of the body. None once the request is whole.
    """
    conn = state.conn
    state.idle = True
    if p.ready:  # what the client pipelined behind the last request, parsed with it
        return _take(state, p)
    p.check()
    while not p.in_message:  # nothing of a request yet: idle
        if core._closing:
            return None  # idle, and the server shuts down
        first = not p.seen
        if first:  # the first request: its whole head within the header timeout (Go's rule)
            _read_by(state, gochan.monotonic() + core.read_header_timeout)
        else:  # a request has been here: between two, the idle timeout
            _read_by(state, gochan.monotonic() + core.idle_timeout)
        data = _read(conn)
        if not data:
            return None  # a clean end between requests
        p.feed(data)
        if p.ready:
            return _take(state, p)
        if p.in_head and not first:
            # a head in pieces: all of it within read_header_timeout of its first byte
            _read_by(state, gochan.monotonic() + core.read_header_timeout)
    while p.in_head:
        data = _read(conn)
        if not data:
            p.eof()
            return None  # bytes that were no request (blank lines)
        p.feed(data)
    state.idle = False
    while not p.ready:
        cur = p.current
        if cur is not None and cur.expect_continue:
            cur.expect_continue = False
            conn.write(CONTINUE)
        _read_by(state, gochan.monotonic() + core.read_header_timeout)
        data = _read(conn)
        if not data:
            p.eof()
            return None  # pragma: no cover - eof raises mid-message
        p.feed(data)
    return _take(state, p)


def _take(state: ConnState, p: Parser) -> Request:
    """The next whole request, with its ``100 Continue`` if it is still owed one."""
    state.idle = False
    state.read_by = None
    req = p.pop()
    if req.expect_continue:
        req.expect_continue = False
        state.conn.write(CONTINUE)
    return req


def _read_by(state: ConnState, when: float) -> None:
    """Bound the reads that follow by ``when`` (Go's ``SetReadDeadline``; see the
    module docstring): a timer is armed (or re-armed) only if none is armed for
    ``when`` or earlier."""
    state.read_by = when
    if state.kicked:  # the last deadline passed outside a read: this one replaces it
        state.kicked = False
        state.conn.set_read_deadline(None)
    at = state.timer_at
    if at is None or when < at:
        state.timer_at = when
        if state.timer is None:
            state.timer = gochan.after_func(when - gochan.monotonic(), lambda: _expire(state))
        else:
            state.timer.reset(when - gochan.monotonic())


def _expire(state: ConnState) -> None:
    """The connection's timer fired (in a task of its own): re-arm it for the read
    deadline if that moved on; if it has passed, make it the connection's read
    deadline, which fails the read in progress (or the next) with ``TimeoutError``."""
    when = state.read_by
    if when is None or state.conn.closed:
        state.timer_at = None
        return
    now = gochan.monotonic()
    if when > now:
        state.timer_at = when
        assert state.timer is not None
        state.timer.reset(when - now)
        return
    state.timer_at = None
    state.kicked = True
    with contextlib.suppress(OSError):
        state.conn.set_read_deadline(when)


def _read(conn: net.Conn) -> bytes:
    try:
        return conn.read(READ_SIZE)
    except TimeoutError:
        raise _Closed from None
    except OSError:
        return b""  # reset: the end of the stream


def _reject(core: ServerCore, conn: net.Conn, e: Exception) -> None:
    """Answer a request that cannot be read with a ``Status``, then close."""
    err: APIError
    if isinstance(e, BodyTooLarge):
        core.counters["too_large"] += 1
        err = st.too_large_body(e.limit)
    else:
        core.counters["bad_http"] += 1
        err = st.bad_request(f"malformed HTTP request: {e}")
        if getattr(e, "code", 400) == 431:
            err = APIError({**err.status, "code": 431, "reason": "RequestHeaderFieldsTooLarge"})
    resp = error_response(err)
    with contextlib.suppress(OSError):
        conn.set_read_deadline(None)
        conn.write(
            response(resp.code, resp.content_type, resp.headers, len(resp.body), False) + resp.body
        )


def _answer(core: ServerCore, state: ConnState, req: Request, resp: Response) -> bool:
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
    head = response(resp.code, resp.content_type, extra, len(resp.body), keep)
    rest = b"" if req.method == "HEAD" else resp.body
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
        conn.write(head + rest)
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
