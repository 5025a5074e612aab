"""serve(): a green task per connection, Go's ``for { conn := ln.Accept(); go handle(conn) }``."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from .._runtime.chan import Chan
from .._runtime.run import go
from .._runtime.select import select
from .._runtime.timers import sleep
from ..context import Context
from ..sync import WaitGroup
from ._addr import Addr
from ._conn import ErrClosed

log = logging.getLogger("gochan.net")

# accept() errors that say "not now" rather than "never": out of file
# descriptors or memory. The loop backs off and tries again, as Go's
# http.Server does, instead of ending the server.
_TEMPORARY = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_BACKOFF_MIN, _BACKOFF_MAX = 0.005, 1.0


class Closer(Protocol):
    """What serve() needs of a connection: ``net.Conn``, ``tls.TLSConn``."""

    @property
    def remote_addr(self) -> Addr: ...
    def close(self) -> None: ...


C = TypeVar("C", bound=Closer)
C_co = TypeVar("C_co", bound=Closer, covariant=True)


class Acceptor(Protocol[C_co]):
    """What serve() needs of a listener: ``net.Listener``, ``tls.TLSListener``."""

    @property
    def addr(self) -> Addr: ...
    def accept(self) -> C_co: ...
    def close(self) -> None: ...


def serve(listener: Acceptor[C], handler: Callable[[C], Any], ctx: Context | None = None) -> None:
    """Accept connections on ``listener`` and run ``handler(conn)`` in a new
    green task for each; the connection is closed when the handler returns.

    An exception in a handler is logged (logger ``"gochan.net"``, with the
    peer's address) and ends that connection only: the server goes on.
    ``serve`` returns when the listener is closed, or when ``ctx`` is
    cancelled: it then stops accepting, closes the listener and waits for
    the running handlers to finish (a graceful shutdown; handlers that
    should stop early can watch ``ctx`` themselves).

    >>> import gochan
    >>> from gochan import context, net
    >>> def main():
    ...     ctx, cancel = context.with_cancel(context.background())
    ...     ln = net.listen("tcp", "127.0.0.1:0")
    ...     server = gochan.go(net.serve, ln, lambda c: c.write(c.read(5).upper()), ctx)
    ...     with net.dial("tcp", str(ln.addr)) as c:
    ...         c.write(b"hello")
    ...         reply = c.read(5)
    ...     cancel()
    ...     server.join()
    ...     return reply, ln.closed
    >>> gochan.run(main)
    (b'HELLO', True)
    """
    wg = WaitGroup()
    quit: Chan[None] = Chan()
    if ctx is not None:
        done = ctx.done()

        def watch() -> None:
            select(done.recv, quit.recv)
            listener.close()

        go(watch)
    backoff = 0.0
    try:
        while True:
            try:
                conn = listener.accept()
            except ErrClosed:
                return
            except OSError as e:
                if e.errno not in _TEMPORARY:
                    raise
                backoff = min(max(backoff * 2, _BACKOFF_MIN), _BACKOFF_MAX)
                log.error("accept on %s: %s; retrying in %g s", listener.addr, e, backoff)
                sleep(backoff)
                continue
            backoff = 0.0
            wg.add(1)
            go(_handle, handler, conn, wg)
    finally:
        quit.close()
        listener.close()
        wg.wait()


def _handle(handler: Callable[[C], Any], conn: C, wg: WaitGroup) -> None:
    try:
        try:
            handler(conn)
        finally:
            conn.close()
    except Exception:
        log.exception("handler for connection from %s raised", conn.remote_addr)
    finally:
        wg.done()
