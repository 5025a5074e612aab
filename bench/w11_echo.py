"""W11 echo: round trips over loopback TCP, C connections at once.

Each client connection sends a message (64 B or 4 KiB), waits until the
whole echo is back, and repeats; the server echoes whatever it reads. One
value is the number of round trips per second over all C connections (C =
1, 100, 1,000 and 10,000). A second, separate measurement weighs an idle
connection: C connections open to the echo server, each after one round
trip, and the RSS they added (after ``gc.collect()``) divided by C.

Client and server run in the same process, on the same system: every row
pays for both ends of each connection (two sockets, the server's task per
connection and the client's), on one thread (the threads row excepted: a
thread per connection on each side, under one GIL). That is the only way
to set each system against itself: a shared client in another process
would measure the client as much as the server, and one client system
would favour the servers written like it. It also means the 10,000 row
needs 20,000 file descriptors in one process (RLIMIT_NOFILE: the soft limit
is raised to the hard one; beyond it the row is n/a and says why).

Not a pyperf timing loop: setting up 10,000 connections is far costlier
than the measurement, so ``run.py`` starts this file in a fresh interpreter
for each (system, C, size, repeat), the systems interleaved in each round,

    python bench/w11_echo.py rate SYSTEM CONNS SIZE SECONDS
    python bench/w11_echo.py idle SYSTEM CONNS

and reads one JSON line: round trips, wall seconds and CPU seconds of the
timed phase (``rate``), or bytes per idle connection (``idle``). In the
timed phase every connection is already open and has made ``WARMUP`` round
trips; the clock starts as one broadcast releases all clients, and stops
when every client has seen the stop flag (set after SECONDS) and finished
the round trip it was in, which is counted.

Each system is written the way its own users write an echo server and
client:

- gochan: ``net.listen`` + ``net.serve`` (a task per connection) and
  ``net.dial``, blocking-style ``read``/``write``; the same code on every
  backend (``gochan.run(main, backend=...)``);
- gevent: ``gevent.server.StreamServer`` and ``gevent.socket.create_connection``,
  ``recv``/``sendall``;
- asyncio and uvloop streams: ``asyncio.start_server`` and
  ``asyncio.open_connection``, ``write`` + ``await drain()``, the client
  ``readexactly``;
- uvloop protocols: ``asyncio.Protocol`` on both ends (the server writes in
  ``data_received``; the client counts bytes and writes the next message
  when the echo is complete), on a uvloop loop;
- trio: ``trio.serve_tcp`` and ``trio.open_tcp_stream``, ``send_all`` /
  ``receive_some``;
- threads: ``socketserver.ThreadingTCPServer`` (a thread per connection)
  and a client thread per connection with blocking sockets (up to 1,000
  connections: 10,000 would be 20,000 OS threads in one process);
- Go (the reference): ``net.Listen`` + a goroutine per ``Accept`` and
  ``net.Dial`` + ``io.ReadFull``, GOMAXPROCS=1 (``go/echo/main.go``).

Every server listens with a backlog of ``socket.SOMAXCONN`` (gochan's and
Go's default; asyncio's, gevent's and socketserver's defaults of 100, 256
and 5 would only make the connect storm of the set-up retry SYNs for
seconds, never the timed phase). Nagle's algorithm is left as each system
sets it (gochan, Go, asyncio and trio turn it off, gevent and socketserver
do not): a message is one write, which loopback carries in one segment, so
it never waits for an ACK.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import GO, Impl, Workload, available, build_seen, python_for, split_row  # noqa: E402

_PAGE = os.sysconf("SC_PAGE_SIZE")
HOST = "127.0.0.1"
BACKLOG = socket.SOMAXCONN
BUF = 65536  # the server's read size
WARMUP = 2  # round trips per connection before the clock starts

# The rows of W11, in table order, and the suite system each belongs to
# (for --systems and for "not installed"): uvloop has two rows.
ROWS: dict[str, str] = {
    "gochan": "gochan",
    "gochan[asyncio]": "gochan[asyncio]",
    "gochan[uvloop]": "gochan[uvloop]",
    "gochan[trio]": "gochan[trio]",
    "gevent": "gevent",
    "asyncio": "asyncio",
    "uvloop": "uvloop",
    "uvloop-protocol": "uvloop",
    "trio": "trio",
    "threading": "threading",
    "go": GO,
}
LABELS: dict[str, str] = {
    "gochan": "net.listen + net.serve, net.dial; read/write (builtin backend)",
    "gochan[asyncio]": "the same gochan code, asyncio backend",
    "gochan[uvloop]": "the same gochan code, uvloop backend",
    "gochan[trio]": "the same gochan code, trio backend",
    "gevent": "StreamServer + gevent.socket.create_connection; recv/sendall",
    "asyncio": "asyncio streams: start_server + open_connection; write, drain, readexactly",
    "uvloop": "the asyncio streams code on a uvloop loop",
    "uvloop-protocol": "asyncio.Protocol server and client on a uvloop loop",
    "trio": "trio.serve_tcp + open_tcp_stream; send_all/receive_some",
    "threading": "ThreadingTCPServer + a client thread per connection; blocking sockets",
    "go": "net.Listen + go per Accept, net.Dial + io.ReadFull; GOMAXPROCS=1",
}
SIZES = (64, 4096)
CONNS = {"full": (1, 100, 1000, 10_000), "quick": (1, 100, 1000, 10_000), "smoke": (1, 8)}
SECONDS = {"full": 3.0, "quick": 1.0, "smoke": 0.05}
REPEAT = {"full": 3, "quick": 1, "smoke": 1}
IDLE_CONNS = {"full": 1000, "quick": 1000, "smoke": 20}
THREADS_MAX = 1000  # a thread per connection, on each side
FDS_PER_CONN = 2  # both ends in this process
FDS_SPARE = 64  # the listener, the event loop's own, the interpreter's


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def fd_hard_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def why_not(row: str, conns: int) -> str | None:
    """None if ``row`` can run ``conns`` connections here, else why not."""
    if row == "threading" and conns > THREADS_MAX:
        return (
            f"a thread per connection on each side: {2 * conns:,} OS threads in one process "
            f"(measured up to {THREADS_MAX:,} connections)"
        )
    need = FDS_PER_CONN * conns + FDS_SPARE
    hard = fd_hard_limit()
    if hard != resource.RLIM_INFINITY and need > hard:
        return (
            f"needs about {need:,} file descriptors (both ends in one process), more than "
            f"this machine's RLIMIT_NOFILE hard limit of {hard:,}"
        )
    return None


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Clock:
    """Wall and CPU seconds of the timed phase, and the round trips in it."""

    def start(self) -> None:
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def stop(self, count: int) -> dict[str, Any]:
        return {
            "count": count,
            "seconds": time.perf_counter() - self.t0,
            "cpu_s": time.process_time() - self.c0,
        }


def _settle() -> int:
    gc.collect()
    return rss()


def _idle_bytes(connect: Callable[[], Any], conns: int) -> tuple[float, list[Any]]:
    """RSS per idle connection, for the blocking-style systems (gochan,
    gevent, threads): one connection first (first-use allocations stay out
    of the measurement), then ``conns`` more, each after one round trip.
    Returns the bytes per connection and every connection, to be closed."""
    keep = [connect()]
    kept: list[Any] = [None] * conns
    r0 = _settle()
    for i in range(conns):
        kept[i] = connect()
    return (_settle() - r0) / conns, [*keep, *kept]


def _one_round_trip(send: Callable[[bytes], Any], recv: Callable[[int], bytes], msg: bytes) -> None:
    """Send ``msg`` and read its whole echo (blocking style)."""
    send(msg)
    got = 0
    while got < len(msg):
        got += len(recv(len(msg) - got))


# -- gochan ---------------------------------------------------------------------


def gochan_rate(conns: int, size: int, secs: float, backend: str = "builtin") -> dict[str, Any]:
    import gochan
    from gochan import net

    def echo(conn: net.Conn) -> None:
        read, write = conn.read, conn.write
        while data := read(BUF):
            write(data)

    def main() -> dict[str, Any]:
        ln = net.listen("tcp", f"{HOST}:0")
        addr = str(ln.addr)
        gochan.go(net.serve, ln, echo)
        msg = b"x" * size
        ready, done = gochan.WaitGroup(), gochan.WaitGroup()
        start = gochan.Chan[None]()
        stop = False
        counts: list[int] = []

        def client() -> None:
            with net.dial("tcp", addr) as c:
                read, write = c.read, c.write
                for i in range(-WARMUP, 1 << 62):
                    if i == 0:
                        ready.done()
                        start.recv()  # closed: every client goes at once
                    elif i > 0 and stop:
                        counts.append(i - 1)
                        return
                    write(msg)
                    got = 0
                    while got < size:
                        chunk = read(size - got)
                        if not chunk:
                            raise ConnectionError("the server hung up")
                        got += len(chunk)

        for _ in range(conns):
            ready.add(1)
            done.go(client)
        ready.wait()
        clock = Clock()
        clock.start()
        start.close()
        gochan.sleep(secs)
        stop = True
        done.wait()
        out = clock.stop(sum(counts))
        ln.close()
        return out

    return gochan.run(main, backend=backend)


def gochan_idle(conns: int, backend: str = "builtin") -> float:
    import gochan
    from gochan import net

    def echo(conn: net.Conn) -> None:
        read, write = conn.read, conn.write
        while data := read(BUF):
            write(data)

    def main() -> float:
        ln = net.listen("tcp", f"{HOST}:0")
        addr = str(ln.addr)
        gochan.go(net.serve, ln, echo)
        msg = b"x" * 64

        def connect() -> net.Conn:
            c = net.dial("tcp", addr)
            _one_round_trip(c.write, c.read, msg)
            return c

        per, opened = _idle_bytes(connect, conns)
        for c in opened:
            c.close()
        ln.close()
        return per

    return gochan.run(main, backend=backend)


# -- gevent ---------------------------------------------------------------------


def _gevent_server() -> Any:
    from gevent.server import StreamServer

    def echo(sock: Any, addr: Any) -> None:
        recv, sendall = sock.recv, sock.sendall
        while data := recv(BUF):
            sendall(data)

    server = StreamServer((HOST, 0), echo, backlog=BACKLOG)
    server.start()
    return server


def gevent_rate(conns: int, size: int, secs: float) -> dict[str, Any]:
    import gevent
    from gevent import socket as gsocket
    from gevent.event import Event

    server = _gevent_server()
    addr = (HOST, server.server_port)
    msg = b"x" * size
    all_ready, start = Event(), Event()
    ready = 0
    stop = False
    counts: list[int] = []

    def client() -> None:
        nonlocal ready
        with gsocket.create_connection(addr) as s:
            recv, sendall = s.recv, s.sendall
            for i in range(-WARMUP, 1 << 62):
                if i == 0:
                    ready += 1
                    if ready == conns:
                        all_ready.set()
                    start.wait()
                elif i > 0 and stop:
                    counts.append(i - 1)
                    return
                sendall(msg)
                got = 0
                while got < size:
                    chunk = recv(size - got)
                    if not chunk:
                        raise ConnectionError("the server hung up")
                    got += len(chunk)

    clients = [gevent.spawn(client) for _ in range(conns)]
    all_ready.wait()
    clock = Clock()
    clock.start()
    start.set()
    gevent.sleep(secs)
    stop = True
    gevent.joinall(clients, raise_error=True)
    out = clock.stop(sum(counts))
    server.stop()
    return out


def gevent_idle(conns: int) -> float:
    from gevent import socket as gsocket

    server = _gevent_server()
    addr = (HOST, server.server_port)
    msg = b"x" * 64

    def connect() -> Any:
        s = gsocket.create_connection(addr)
        _one_round_trip(s.sendall, s.recv, msg)
        return s

    per, opened = _idle_bytes(connect, conns)
    for s in opened:
        s.close()
    server.stop()
    return per


# -- asyncio and uvloop streams ---------------------------------------------------


async def _echo_stream(reader: Any, writer: Any) -> None:
    read, write, drain = reader.read, writer.write, writer.drain
    while data := await read(BUF):
        write(data)
        await drain()
    writer.close()


async def _asyncio_rate(conns: int, size: int, secs: float) -> dict[str, Any]:
    import asyncio

    server = await asyncio.start_server(_echo_stream, HOST, 0, backlog=BACKLOG)
    port = server.sockets[0].getsockname()[1]
    msg = b"x" * size
    all_ready, start = asyncio.Event(), asyncio.Event()
    ready = 0
    stop = False
    counts: list[int] = []

    async def client() -> None:
        nonlocal ready
        reader, writer = await asyncio.open_connection(HOST, port)
        readexactly, write, drain = reader.readexactly, writer.write, writer.drain
        for i in range(-WARMUP, 1 << 62):
            if i == 0:
                ready += 1
                if ready == conns:
                    all_ready.set()
                await start.wait()
            elif i > 0 and stop:
                counts.append(i - 1)
                break
            write(msg)
            await drain()
            await readexactly(size)
        writer.close()
        await writer.wait_closed()

    async with asyncio.TaskGroup() as tg:
        for _ in range(conns):
            tg.create_task(client())
        await all_ready.wait()
        clock = Clock()
        clock.start()
        start.set()
        await asyncio.sleep(secs)
        stop = True
    out = clock.stop(sum(counts))
    server.close()
    return out


async def _asyncio_idle(conns: int) -> float:
    import asyncio

    server = await asyncio.start_server(_echo_stream, HOST, 0, backlog=BACKLOG)
    port = server.sockets[0].getsockname()[1]
    msg = b"x" * 64

    async def connect() -> Any:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(msg)
        await writer.drain()
        await reader.readexactly(len(msg))
        return reader, writer

    keep = [await connect()]
    kept: list[Any] = [None] * conns
    r0 = _settle()
    for i in range(conns):
        kept[i] = await connect()
    per = (_settle() - r0) / conns
    for _, writer in [*keep, *kept]:
        writer.close()
    server.close()
    return per


def _run_asyncio(uvloop: bool, coro: Callable[..., Any], *args: Any) -> Any:
    import asyncio

    if uvloop:
        import uvloop as uv

        with asyncio.Runner(loop_factory=uv.new_event_loop) as runner:
            return runner.run(coro(*args))
    with asyncio.Runner() as runner:
        return runner.run(coro(*args))


# -- uvloop protocols -------------------------------------------------------------


def _protocols() -> tuple[type, type]:
    import asyncio

    class EchoServer(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.write = transport.write

        def data_received(self, data: bytes) -> None:
            self.write(data)

    class EchoClient(asyncio.Protocol):
        """Writes the message whenever the whole echo of the last one is in;
        reports to ``bench`` after the warm-up and after the stop flag."""

        def __init__(self, msg: bytes, bench: Any) -> None:
            self.msg, self.size, self.bench = msg, len(msg), bench
            self.got = 0
            self.n = -WARMUP  # round trips completed, counted from the start

        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            transport.write(self.msg)

        def data_received(self, data: bytes) -> None:
            self.got += len(data)
            if self.got < self.size:
                return
            self.got = 0
            self.n += 1
            if self.n == 0:
                self.bench.ready()
            elif self.n > 0 and self.bench.stop:
                self.bench.finished(self.n)
            else:
                self.transport.write(self.msg)

        def go(self) -> None:
            self.transport.write(self.msg)

    return EchoServer, EchoClient


async def _protocol_rate(conns: int, size: int, secs: float) -> dict[str, Any]:
    import asyncio

    loop = asyncio.get_running_loop()
    EchoServer, EchoClient = _protocols()
    server = await loop.create_server(EchoServer, HOST, 0, backlog=BACKLOG)
    port = server.sockets[0].getsockname()[1]
    msg = b"x" * size

    class Bench:
        stop = False
        nready = nfinished = total = 0
        all_ready = loop.create_future()
        all_finished = loop.create_future()

        def ready(self) -> None:
            self.nready += 1
            if self.nready == conns:
                self.all_ready.set_result(None)

        def finished(self, n: int) -> None:
            self.total += n
            self.nfinished += 1
            if self.nfinished == conns:
                self.all_finished.set_result(None)

    bench = Bench()
    pairs = await asyncio.gather(
        *(loop.create_connection(lambda: EchoClient(msg, bench), HOST, port) for _ in range(conns))
    )
    await bench.all_ready
    clock = Clock()
    clock.start()
    for _, proto in pairs:
        proto.go()
    await asyncio.sleep(secs)
    bench.stop = True
    await bench.all_finished
    out = clock.stop(bench.total)
    for transport, _ in pairs:
        transport.close()
    server.close()
    return out


async def _protocol_idle(conns: int) -> float:
    import asyncio

    loop = asyncio.get_running_loop()
    EchoServer, EchoClient = _protocols()
    server = await loop.create_server(EchoServer, HOST, 0, backlog=BACKLOG)
    port = server.sockets[0].getsockname()[1]
    msg = b"x" * 64

    class Once:  # one round trip (the "warm-up"), then idle
        stop = False

        def __init__(self) -> None:
            self.done = loop.create_future()

        def ready(self) -> None:
            self.done.set_result(None)

    async def connect() -> Any:
        once = Once()
        pair = await loop.create_connection(lambda: EchoClient(msg, once), HOST, port)
        await once.done
        return pair

    keep = [await connect()]
    kept: list[Any] = [None] * conns
    r0 = _settle()
    for i in range(conns):
        kept[i] = await connect()
    per = (_settle() - r0) / conns
    for transport, _ in [*keep, *kept]:
        transport.close()
    server.close()
    return per


# -- trio -------------------------------------------------------------------------


async def _echo_trio(stream: Any) -> None:
    send_all = stream.send_all
    async for data in stream:
        await send_all(data)


async def _serve_trio(task_status: Any) -> None:
    import trio

    await trio.serve_tcp(_echo_trio, 0, host=HOST, backlog=BACKLOG, task_status=task_status)


async def _trio_rate(conns: int, size: int, secs: float) -> dict[str, Any]:
    import trio

    msg = b"x" * size
    all_ready, start = trio.Event(), trio.Event()
    ready = 0
    stop = False
    counts: list[int] = []
    async with trio.open_nursery() as server:
        listeners = await server.start(_serve_trio)
        port = listeners[0].socket.getsockname()[1]

        async def client() -> None:
            nonlocal ready
            async with await trio.open_tcp_stream(HOST, port) as stream:
                send_all, receive_some = stream.send_all, stream.receive_some
                for i in range(-WARMUP, 1 << 62):
                    if i == 0:
                        ready += 1
                        if ready == conns:
                            all_ready.set()
                        await start.wait()
                    elif i > 0 and stop:
                        counts.append(i - 1)
                        return
                    await send_all(msg)
                    got = 0
                    while got < size:
                        chunk = await receive_some(size - got)
                        if not chunk:
                            raise ConnectionError("the server hung up")
                        got += len(chunk)

        async with trio.open_nursery() as clients:
            for _ in range(conns):
                clients.start_soon(client)
            await all_ready.wait()
            clock = Clock()
            clock.start()
            start.set()
            await trio.sleep(secs)
            stop = True
        out = clock.stop(sum(counts))
        server.cancel_scope.cancel()
    return out


async def _trio_idle(conns: int) -> float:
    import trio

    msg = b"x" * 64
    async with trio.open_nursery() as server:
        listeners = await server.start(_serve_trio)
        port = listeners[0].socket.getsockname()[1]

        async def connect() -> Any:
            stream = await trio.open_tcp_stream(HOST, port)
            await stream.send_all(msg)
            got = 0
            while got < len(msg):
                got += len(await stream.receive_some(len(msg) - got))
            return stream

        keep = [await connect()]
        kept: list[Any] = [None] * conns
        r0 = _settle()
        for i in range(conns):
            kept[i] = await connect()
        per = (_settle() - r0) / conns
        for stream in [*keep, *kept]:
            await stream.aclose()
        server.cancel_scope.cancel()
    return per


# -- threads ----------------------------------------------------------------------


def _threading_server() -> Any:
    import socketserver
    import threading

    class Echo(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            recv, sendall = self.request.recv, self.request.sendall
            while data := recv(BUF):
                sendall(data)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        request_queue_size = BACKLOG

    server = Server((HOST, 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def threading_rate(conns: int, size: int, secs: float) -> dict[str, Any]:
    import threading

    server = _threading_server()
    addr = server.server_address
    msg = b"x" * size
    ready = threading.Barrier(conns + 1)
    start = threading.Event()
    stop = False
    counts: list[int] = []
    errors: list[BaseException] = []

    def client() -> None:
        try:
            with socket.create_connection(addr) as s:
                recv, sendall = s.recv, s.sendall
                for i in range(-WARMUP, 1 << 62):
                    if i == 0:
                        ready.wait()
                        start.wait()
                    elif i > 0 and stop:
                        counts.append(i - 1)  # list.append is atomic
                        return
                    sendall(msg)
                    got = 0
                    while got < size:
                        chunk = recv(size - got)
                        if not chunk:
                            raise ConnectionError("the server hung up")
                        got += len(chunk)
        except BaseException as e:
            errors.append(e)
            ready.abort()
            raise

    threads = [threading.Thread(target=client) for _ in range(conns)]
    for t in threads:
        t.start()
    ready.wait()
    clock = Clock()
    clock.start()
    start.set()
    time.sleep(secs)
    stop = True
    for t in threads:
        t.join()
    out = clock.stop(sum(counts))
    if errors:
        raise errors[0]
    server.shutdown()
    server.server_close()
    return out


def threading_idle(conns: int) -> float:
    server = _threading_server()
    addr = server.server_address
    msg = b"x" * 64

    def connect() -> socket.socket:
        s = socket.create_connection(addr)
        _one_round_trip(s.sendall, s.recv, msg)
        return s

    per, opened = _idle_bytes(connect, conns)
    for s in opened:
        s.close()
    server.shutdown()
    server.server_close()
    return per


# -- the table of runners -----------------------------------------------------------

RATE: dict[str, Callable[[int, int, float], dict[str, Any]]] = {
    "gochan": gochan_rate,
    "gochan[asyncio]": lambda c, s, t: gochan_rate(c, s, t, backend="asyncio"),
    "gochan[uvloop]": lambda c, s, t: gochan_rate(c, s, t, backend="uvloop"),
    "gochan[trio]": lambda c, s, t: gochan_rate(c, s, t, backend="trio"),
    "gevent": gevent_rate,
    "asyncio": lambda c, s, t: _run_asyncio(False, _asyncio_rate, c, s, t),
    "uvloop": lambda c, s, t: _run_asyncio(True, _asyncio_rate, c, s, t),
    "uvloop-protocol": lambda c, s, t: _run_asyncio(True, _protocol_rate, c, s, t),
    "trio": lambda c, s, t: _trio_run(_trio_rate, c, s, t),
    "threading": threading_rate,
}
IDLE: dict[str, Callable[[int], float]] = {
    "gochan": gochan_idle,
    "gochan[asyncio]": lambda c: gochan_idle(c, backend="asyncio"),
    "gochan[uvloop]": lambda c: gochan_idle(c, backend="uvloop"),
    "gochan[trio]": lambda c: gochan_idle(c, backend="trio"),
    "gevent": gevent_idle,
    "asyncio": lambda c: _run_asyncio(False, _asyncio_idle, c),
    "uvloop": lambda c: _run_asyncio(True, _asyncio_idle, c),
    "uvloop-protocol": lambda c: _run_asyncio(True, _protocol_idle, c),
    "trio": lambda c: _trio_run(_trio_idle, c),
    "threading": threading_idle,
}


def _trio_run(fn: Callable[..., Any], *args: Any) -> Any:
    import trio

    return trio.run(fn, *args)


# -- the manager's side: fresh processes, the Go program ----------------------------

GO_DIR = HERE / "go"


def build_go() -> tuple[Path | None, str]:
    """Build go/echo: (binary, "") or (None, why not)."""
    why = available(GO)
    if why is not None:
        return None, why
    env = go_env()
    binary = Path(tempfile.gettempdir()) / "gochan-bench-go-echo"
    try:
        subprocess.run(
            ["go", "build", "-o", str(binary), "./echo"],
            cwd=GO_DIR,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.CalledProcessError as e:
        return None, f"go build failed: {e.stderr.strip()[-300:]}"
    except Exception as e:
        return None, f"go build failed: {e}"
    return binary, ""


def go_env() -> dict[str, str]:
    env = dict(os.environ, GOMAXPROCS="1", GOFLAGS="-mod=mod", GO111MODULE="on")
    env.setdefault("HOME", tempfile.gettempdir())
    env.setdefault("GOCACHE", str(Path(tempfile.gettempdir()) / "gochan-bench-gocache"))
    return env


def run_one(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    try:
        p = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        tail = (p.stderr.strip().splitlines() or [""])[-1]
        return {"error": f"exit {p.returncode}: {tail[-300:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def command(row: str, go_binary: Path | None, what: str, *args: str) -> list[str]:
    """The fresh process for one run: this file, or the Go program."""
    if row == GO:
        assert go_binary is not None
        flags = ["-conns", "-size", "-seconds"]
        return [
            str(go_binary),
            "-mode",
            what,
            *(x for f, a in zip(flags, args, strict=False) for x in (f, a)),
        ]
    # A row of gochan's compiled build ("gochan (compiled)") runs in that build's interpreter.
    return [python_for(row), str(Path(__file__).resolve()), what, split_row(row)[0], *args]


def measure(rows: list[str], mode: str, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Run W11 for ``rows`` (keys of ROWS): {"rate": {(row, conns, size): [run, ...]},
    "idle": {row: [run, ...]}, "na": {row or (row, conns): why}, "idle_conns": C}.

    ``repeat`` rounds; in each, every (conns, size) runs every row in a fresh
    process, the order of the rows rotated from round to round (the load on
    a shared machine drifts; interleaving spreads it)."""
    na: dict[Any, str] = {}
    go_binary = None
    if GO in rows:
        go_binary, why = build_go()
        if go_binary is None:
            na[GO] = why
    for row in rows:
        if row != GO and (why := available(ROWS.get(row, row))):  # or a gochan build's row
            na[row] = why
    live = [r for r in rows if r not in na]
    env = go_env()
    secs = SECONDS[mode]
    rate: dict[Any, list[dict[str, Any]]] = {}
    idle: dict[str, list[dict[str, Any]]] = {}
    repeat = REPEAT[mode]
    for r in range(repeat):
        order = live[r % len(live) :] + live[: r % len(live)] if live else []
        for conns in CONNS[mode]:
            for size in SIZES:
                for row in order:
                    if why := why_not(row, conns):
                        na[(row, conns)] = why
                        continue
                    cmd = command(row, go_binary, "rate", str(conns), str(size), str(secs))
                    run = run_one(cmd, timeout=120 + 20 * secs, env=env if row == GO else None)
                    rate.setdefault((row, conns, size), []).append(run)
                    what = run.get("error") or (
                        f"{run['count'] / run['seconds']:,.0f} round trips/s, "
                        f"{run['cpu_s'] / run['count'] * 1e6:.1f} CPU µs each"
                    )
                    progress(f"W11 {row} {conns:,} x {size} B ({r + 1}/{repeat}): {what}")
        n = IDLE_CONNS[mode]
        for row in order:
            if why := why_not(row, n):
                na[(row, "idle")] = why
                continue
            cmd = command(row, go_binary, "idle", str(n))
            run = run_one(cmd, timeout=300, env=env if row == GO else None)
            idle.setdefault(row, []).append(run)
            what = run.get("error") or f"{run['bytes_per_conn']:,.0f} bytes per idle connection"
            progress(f"W11 {row} idle x {n:,} ({r + 1}/{repeat}): {what}")
    return {"rate": rate, "idle": idle, "na": na, "idle_conns": IDLE_CONNS[mode]}


def rows_for(systems: list[str]) -> list[str]:
    """W11's rows for the suite systems chosen (uvloop brings both its rows)."""
    return [row for row, system in ROWS.items() if system in systems]


WORKLOAD = Workload(
    key="W11",
    name="echo",
    title="W11 echo",
    unit="round trip",
    description="echo round trips over loopback TCP: C client connections at once each send "
    "a message (64 B or 4 KiB), wait for the whole echo and repeat, against an echo server "
    "in the same process and system (each row pays both ends); each (system, C, size) in a "
    "fresh process. Then, separately, RSS per idle connection",
    external=True,
    impls={
        **{row: Impl(LABELS[row]) for row in ROWS if row != "uvloop-protocol"},
        **{s: Impl.missing("not measured in W11") for s in ("greenlet", "anyio", "aiochan")},
        **{s: Impl.missing("not measured in W11") for s in ("goless", "pygolang")},
    },
)


def main() -> None:
    what, row = sys.argv[1], sys.argv[2]
    raise_fd_limit()
    if what == "rate":
        conns, size, secs = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
        if why := why_not(row, conns):
            sys.exit(why)
        out = RATE[row](conns, size, secs)
        out.update(conns=conns, size=size)
    elif what == "idle":
        conns = int(sys.argv[3])
        if why := why_not(row, conns):
            sys.exit(why)
        out = {"conns": conns, "bytes_per_conn": IDLE[row](conns)}
    else:
        sys.exit(f"unknown mode {what!r}: rate or idle")
    if (build := build_seen()) is not None:  # for run.py's check of the row's build
        out["gochan_build"] = build
    print(json.dumps(out), flush=True)
    os._exit(0)  # no teardown of thousands of sockets and tasks in the figure or the run time


if __name__ == "__main__":
    main()
