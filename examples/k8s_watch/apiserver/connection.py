"""One client connection, answered straight from the socket's callbacks.

Most requests (a GET, a write whose body has arrived) are answered from
`Connection.data_received`: parse the head, wait out the server's
``request_latency`` with a timer, dispatch, write. A callback per request:
no task, no stream buffers, no coroutine per read. That is most of what the
apiserver does, so it is worth the separate path. Injected holds and stalls
are kept here too: the connection answers nothing more until the server
releases them (or the client leaves), and what the client pipelines
meanwhile waits in the buffer.

A request that needs more turns the connection over to asyncio streams for
the rest of its life: a watch, an answer that waits on the loop (`Later`), a
chunked or ``Expect: 100-continue`` body. The transport gets a
``StreamReaderProtocol``, the bytes not consumed yet are fed to its reader,
and `ServerCore._on_conn` serves on, starting with the request already
dispatched if there is one (its side effects, a taken fault say, happen
once).

Requests on one connection are answered one at a time, in order: while one
waits out its latency or is held, or while the client is not reading (the
transport paused writing), later bytes are only buffered, and past
`READ_HIGH` of them the connection stops reading until they are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from . import status as st
from .handlers import HOLD, Response, Result, error_response
from .status import APIError
from .wire import MAX_HEADER_BYTES, BadHTTP, BodyTooLarge, Request, parse_head, response_bytes

if TYPE_CHECKING:
    from .core import ServerCore

READ_HIGH = 2 * MAX_HEADER_BYTES  # buffered bytes no request can use yet: stop reading


def rejection(core: ServerCore, e: BadHTTP | BodyTooLarge) -> bytes:
    """The answer to a request that cannot be read (a ``Status``, then the connection
    closes), counted in the server's counters."""
    err: APIError
    if isinstance(e, BodyTooLarge):
        core.counters["too_large"] += 1
        err = st.too_large_body(e.limit)
    else:
        core.counters["bad_http"] += 1
        err = st.bad_request(f"malformed HTTP request: {e}")
    resp = error_response(err)
    return response_bytes(resp.code, resp.body, resp.content_type, resp.headers, False)


def answer_bytes(req: Request, resp: Response, closing: bool) -> tuple[bytes, int, bool]:
    """(the answer's bytes, how many of them are the head, keep the connection?).

    ``closing``: the server shuts down after this answer, which then says
    ``Connection: close`` (a client does not send another request into it).
    """
    extra = resp.headers
    keep = (
        not closing
        and req.keep_alive
        and not (
            extra and any(k.lower() == "connection" and "close" in v.lower() for k, v in extra)
        )
    )
    data = response_bytes(resp.code, resp.body, resp.content_type, extra, keep)
    head_len = len(data) - len(resp.body)
    if req.method == "HEAD":
        data = data[:head_len]
    return data, head_len, keep


class Connection(asyncio.Protocol):
    """The protocol of one accepted connection (see the module docstring)."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.busy = False  # a request is being answered (its latency, or held)
        self.paused = False  # the client is not reading: take no further request
        self.eof = False
        self.done = False  # closed, closing or handed over: no further request here
        self.closing = False  # the server shuts down: close after the answer in progress
        self._reading = True
        self._timer: asyncio.TimerHandle | None = None
        self._on_release: Callable[[], None] | None = None  # while held or stalled
        self._stalled = False  # (not held): the answer's head is out, the body waits
        self._ended: asyncio.Future[None] | None = None

    # ---- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)
        core = self.core
        if core._closing:  # accepted just as the server shuts down
            self.done = True
            transport.abort()
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        core.counters["connections"] += 1
        core._fast.add(self)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.busy:
            self._flow()
        else:
            self._next()

    def eof_received(self) -> bool:
        self.eof = True
        if self._on_release is not None:  # the client left a held request: end it
            self._unhold()
            if self._stalled:
                self._close()
            else:
                self.abort()
        elif not self.busy:
            self._next()
        return True  # keep the transport: an answer may still be on its way

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if not self.busy:
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.busy = False
        self._finish()
        self._end()

    # ---- for the server ----------------------------------------------------------------

    def abort(self) -> None:
        """Reset the connection now, answered or not."""
        if self.transport is not None:
            self.transport.abort()
        self._finish()

    def quiet(self) -> bool:
        """Nothing being answered, nothing left to send."""
        t = self.transport
        return not self.busy and (t is None or t.get_write_buffer_size() == 0)

    def close_when_answered(self) -> asyncio.Future[None]:
        """Close once the answer in progress (if any) is out; done when the
        connection has ended (closed, or handed over and served)."""
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
        self.closing = True
        if not self.busy:
            self._close()  # what is written still goes out first
        return self._ended

    def release(self) -> None:
        """The server released its holds: a stalled answer goes on, a held one ends."""
        hold = self._on_release
        if hold is not None:
            self._unhold()
            hold()

    # ---- one request at a time ---------------------------------------------------------

    def _next(self) -> None:
        """Answer the buffered requests in order, as far as nothing holds them back."""
        core = self.core
        while not (self.busy or self.paused or self.done):
            req = self._take()
            if req is None:
                break
            self.busy = True
            if core.request_latency:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(core.request_latency, self._answer_later, req)
                break
            self._answer(req)
        self._flow()

    def _flow(self) -> None:
        """Read on while the bytes buffered can be used; stop past `READ_HIGH` otherwise."""
        t = self.transport
        if t is None or self.done:
            return
        want = not (self.busy or self.paused) or len(self.buf) <= READ_HIGH
        if want != self._reading:
            self._reading = want
            if want:
                t.resume_reading()
            else:
                t.pause_reading()

    def _take(self) -> Request | None:
        """The next whole request out of the buffer; None if there is none (yet)."""
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEADER_BYTES:
                self._reject(BadHTTP("request head too large"))
            elif self.eof:
                if buf.strip():
                    self._reject(BadHTTP("truncated request head"))
                else:
                    self._close()
            return None
        try:
            req = parse_head(bytes(buf[: end + 4]), self.core.max_body)
        except (BadHTTP, BodyTooLarge) as e:
            self._reject(e)
            return None
        if req is None:  # nothing but blank lines: the client is done
            self._close()
            return None
        start = end + 4
        if req.meta:
            if set(req.meta) != {"length"}:  # chunked, or 100-continue: streams read it
                self._hand_over(bytes(buf), None)
                return None
            stop = start + int(req.meta["length"])
            if len(buf) < stop:
                if self.eof:
                    self._reject(BadHTTP("truncated body"))
                return None  # wait for the rest of the body
            req.body = bytes(buf[start:stop])
            start = stop
        del buf[:start]
        return req

    def _answer_later(self, req: Request) -> None:
        self._timer = None
        self._answer(req)
        self._next()

    def _answer(self, req: Request) -> None:
        core = self.core
        result = core._dispatch(req)
        if result is HOLD:  # an injected fault: read, never answered until released
            self._hold(self.abort, stalled=False)
            return
        if not isinstance(result, Response):
            self._hand_over(bytes(self.buf), (req, result))
            return
        transport = self.transport
        assert transport is not None
        data, head_len, keep = answer_bytes(req, result, self.closing or core._closing)
        if result.stall:  # an injected fault: the head now, the rest once released
            transport.write(data[:head_len])

            def resume() -> None:
                self._sent(data[head_len:], keep)
                self._next()

            self._hold(resume, stalled=True)
            return
        transport.write(data)
        if result.after is not None:  # e.g. a restart: once this answer is out
            self.busy = False
            self._close()
            core._run_after(result.after)
            return
        self._sent(b"", keep)

    def _sent(self, rest: bytes, keep: bool) -> None:
        """The answer is written (with ``rest``); close unless the next request may come
        (the caller takes it)."""
        if rest and self.transport is not None:
            self.transport.write(rest)
        self.busy = False
        if not keep or self.closing or self.core._closing:
            self._close()

    def _hold(self, on_release: Callable[[], None], *, stalled: bool) -> None:
        self.core.counters["held"] += 1
        self._on_release = on_release
        self._stalled = stalled
        self.core._held.add(self)
        self._flow()

    def _unhold(self) -> None:
        self._on_release = None
        self.core._held.discard(self)

    # ---- endings -----------------------------------------------------------------------

    def _reject(self, e: BadHTTP | BodyTooLarge) -> None:
        assert self.transport is not None
        self.transport.write(rejection(self.core, e))
        self._close()

    def _close(self) -> None:
        """Close once what was written is sent."""
        if self.transport is not None:
            self.transport.close()
        self._finish()

    def _hand_over(self, rest: bytes, first: tuple[Request, Result] | None) -> None:
        """Serve the rest of this connection on streams (see the module docstring)."""
        transport = self.transport
        assert transport is not None
        self._finish()
        core = self.core
        reader = asyncio.StreamReader(limit=MAX_HEADER_BYTES)

        async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                await core._on_conn(r, w, first)
            finally:
                self._end()

        proto = asyncio.StreamReaderProtocol(reader, serve)
        transport.set_protocol(proto)
        proto.connection_made(transport)
        if not self._reading:
            transport.resume_reading()  # the stream reader has its own limit
        if rest:
            reader.feed_data(rest)
        if self.eof:
            reader.feed_eof()
        if self.paused:
            proto.pause_writing()

    def _finish(self) -> None:
        """No further request here: out of the server's lists, the timer stopped."""
        self.done = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._unhold()
        self.core._fast.discard(self)

    def _end(self) -> None:
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)
