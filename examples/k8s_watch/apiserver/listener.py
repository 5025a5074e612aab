"""The listening sockets: accept, hand over, and close without losing a connection.

`asyncio.start_server` loses a connection accepted just before
``Server.close()``: the accept callback schedules a task that builds the
transport a loop round later, and by then the closed server refuses it
(``Server._attach`` asserts it is still open). Outside debug mode the error
is swallowed, and the half-built transport and its socket are left for the
garbage collector, which warns ``unclosed transport``. Under CPU pressure the
window is wide enough to hit in tests.

`Listener` accepts with a reader callback of its own and adopts each socket
with ``loop.connect_accepted_socket``. ``close()`` stops accepting, closes
the listening sockets, then waits until every socket accepted before that
has its transport and protocol: the caller owns all of them and can close
them, so none is lost. Each connection gets a protocol from the factory
given; `streams` makes one that runs an ``asyncio.start_server``-style
handler.

>>> import asyncio, socket
>>> async def main() -> bytes:
...     async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
...         w.write(await r.readline()); await w.drain(); w.close()
...     lis = await Listener.open("127.0.0.1", 0, streams(echo))
...     r, w = await asyncio.open_connection("127.0.0.1", lis.port)
...     w.write(b"hi\\n")
...     line = await r.readline()
...     w.close(); await lis.close()
...     return line
>>> asyncio.run(main())
b'hi\\n'
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

ConnHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
ProtocolFactory = Callable[[], asyncio.Protocol]


def streams(on_conn: ConnHandler, limit: int = 2**16) -> ProtocolFactory:
    """A protocol factory that serves each connection with ``on_conn(reader, writer)``."""

    def factory() -> asyncio.Protocol:
        return asyncio.StreamReaderProtocol(asyncio.StreamReader(limit=limit), on_conn)

    return factory


def _bind(host: str, port: int, backlog: int) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to, on one port.

    With ``port=0`` the first socket picks a free port and the others (say
    ``::1`` beside ``127.0.0.1`` for ``localhost``) take the same one.
    """
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )
    socks: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _, addr in infos:
            if (family, addr[0]) in seen:
                continue
            seen.add((family, addr[0]))
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if socks[0] is not sock:
                addr = (addr[0], socks[0].getsockname()[1], *addr[2:])
            sock.bind(addr)
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for s in socks:
            s.close()
        raise
    if not socks:  # pragma: no cover - getaddrinfo raises instead
        raise OSError(f"no address to listen on for {host!r}")
    return socks


class Listener:
    """Accepts TCP connections, each served by a protocol from ``factory``.

    `on_transport` is told of every connection's transport as soon as it
    exists, so a shutdown can close connections whatever their protocol did.
    """

    def __init__(self, socks: list[socket.socket], factory: ProtocolFactory) -> None:
        self._loop = asyncio.get_running_loop()
        self._socks = socks
        self._factory = factory
        self._adopting: set[asyncio.Task[None]] = set()
        self.port: int = socks[0].getsockname()[1]
        """The port listened on."""
        self.on_transport: Callable[[asyncio.Transport], None] = lambda t: None
        for s in socks:
            self._loop.add_reader(s.fileno(), self._accept, s)

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        factory: ProtocolFactory,
        backlog: int = 1024,
    ) -> Listener:
        """Listen on `host`:`port` (``0``: any free port) and start accepting."""
        return cls(_bind(host, port, backlog), factory)

    def _accept(self, sock: socket.socket) -> None:
        # Reader callback: take every pending connection now (the backlog
        # may hold many), adopt each in a task of its own.
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:  # none left (EAGAIN), or EMFILE and kin: the rest wait for next round
                return
            conn.setblocking(False)
            task = self._loop.create_task(self._adopt(conn))
            self._adopting.add(task)
            task.add_done_callback(self._adopting.discard)

    async def _adopt(self, conn: socket.socket) -> None:
        try:
            transport, _ = await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError:
            conn.close()  # reset by the peer before it was adopted
            return
        self.on_transport(transport)

    async def close(self) -> None:
        """Stop accepting; return once every accepted connection is adopted.

        Connections still queued in the kernel are refused (reset) when the
        listening sockets close, as when a real server goes away.
        """
        socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(s.fileno())
            s.close()
        while self._adopting:
            await asyncio.gather(*self._adopting, return_exceptions=True)
