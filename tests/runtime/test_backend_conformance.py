"""The backend seam's conformance suite: the same behavioural checks on
every backend (builtin, asyncio, uvloop, trio, run_async() hosted by
asyncio and by trio) and on ``SelectorsBackend``, a complete backend
defined here, outside the package, through ``gochan.backend`` only: it is
the proof that a backend can be added without touching gochan
(docs/backends.md, "Adding a backend").

Each check is deterministic: hand-offs through channels and Events, the
virtual clock, and lower bounds on real time (a timeout never ends early).
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest

import gochan
from gochan import Chan, go, net
from gochan.backend import Backend, fd_wait, no_loop

# ---------------------------------------------------------------------------
# A backend of one's own: selectors + a self-pipe, no edge-triggered tricks
# ---------------------------------------------------------------------------

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class SelectorsBackend:
    """A minimal backend: waits in a ``selectors`` selector, wakes through a
    socketpair, watches each fd for the length of one wait. No event loop:
    ``await_`` raises. Every method is the Backend protocol's."""

    name = "selectors"
    poll = False  # nothing of its own to run between rounds of tasks
    dirty = False
    inflight = 0
    virtual = True  # no timers of its own: the virtual clock needs nothing
    hosted = False
    quiet_prefixes: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self.r, self.w = socket.socketpair()
        self.r.setblocking(False)
        self.w.setblocking(False)
        self.sel.register(self.r, READ, None)
        self.sleeping = False
        self.recs: dict[int, tuple[list[Any], list[Any]]] = {}  # fd -> (readers, writers)
        self.stale: deque[int] = deque()  # fds of withdrawn records (any thread)
        self.deadlines: dict[float, Any] = {}  # for fd_wait's shared timers

    # waiting: the lost-wakeup-free protocol of docs/design.md: ``sleeping``
    # is set before ``incoming`` is looked at; a waker appends to incoming
    # before it looks at ``sleeping``.
    def wait(self, timeout: float | None, incoming: deque[Any]) -> None:
        self.sleeping = True
        try:
            if incoming:
                timeout = 0
            while self.stale:
                self._sync(self.stale.popleft())
            for key, events in self.sel.select(timeout):
                if key.data is None:  # the wakeup socket
                    with contextlib.suppress(BlockingIOError):
                        while self.r.recv(4096):
                            pass
                    continue
                readers, writers = self.recs.get(key.fd, ([], []))
                for rec in (readers if events & READ else []) + (writers if events & WRITE else []):
                    rec.fire()
                self._sync(key.fd)
        finally:
            self.sleeping = False

    def wakeup(self) -> None:
        if self.sleeping:
            with contextlib.suppress(OSError):  # full: a wakeup is pending
                self.w.send(b"\0")

    def poke(self) -> None:
        pass

    def close(self) -> None:
        self.sel.close()
        self.r.close()
        self.w.close()

    # the deadlock question and the clock: nothing of its own
    def busy(self) -> bool:
        return False

    def bind_clock(self, clock: Any) -> None:
        pass

    def loop_idle(self) -> bool:
        return True

    def loop_deadline(self) -> float | None:
        return None

    # fds: one watch per wait, for wait_readable and gochan.net alike
    def watch(self, rec: Any) -> None:
        entry = self.recs.get(rec.fd)
        if entry is None or not any(not r.fired for r in entry[0] + entry[1]):
            # Nobody waits on it: the number may name a new file by now.
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.sel.unregister(rec.fd)
            entry = self.recs[rec.fd] = ([], [])
        entry[rec.write].append(rec)
        self._sync(rec.fd)

    def _sync(self, fd: int) -> None:
        """The selector's registration of fd for its live records."""
        readers, writers = self.recs.get(fd, ([], []))
        readers[:] = [r for r in readers if not r.fired]
        writers[:] = [r for r in writers if not r.fired]
        mask = (READ if readers else 0) | (WRITE if writers else 0)
        with contextlib.suppress(KeyError, ValueError, OSError):
            key = self.sel.get_map().get(fd)
            if not mask:
                self.recs.pop(fd, None)
                if key is not None:
                    self.sel.unregister(fd)
            elif key is None:
                self.sel.register(fd, mask, fd)
            elif key.events != mask:
                self.sel.modify(fd, mask, fd)

    def wait_fd(self, cur: Any, fd: int, write: bool, timeout: float | None) -> None:
        fd_wait(cur, fd, write, timeout, self.watch, self.stale, self.deadlines)

    def pd_attach(self, pd: Any) -> None:
        pd.owner, pd.watch, pd.stale = self, self.watch, self.stale

    def pd_detach(self, pd: Any) -> None:
        pass  # nothing registered beyond a wait

    def await_(self, cur: Any, aw: Any, reason: str, waiting_on: Any) -> Any:
        raise no_loop(aw)


def _check_protocol() -> Backend:
    return SelectorsBackend()  # (mypy: it is a Backend)


# ---------------------------------------------------------------------------
# The backends under test, each as "run main on it"
# ---------------------------------------------------------------------------

Runner = Callable[..., Any]
HAS_LOOP = {"asyncio", "uvloop", "trio", "hosted-asyncio", "hosted-trio"}


def _runner(kind: str) -> Runner:
    if kind == "selectors":
        return lambda main, **kw: gochan.run(main, backend=SelectorsBackend(), **kw)
    if kind == "hosted-asyncio":
        return lambda main, **kw: asyncio.run(gochan.run_async(main, **kw))
    if kind == "hosted-trio":
        trio = pytest.importorskip("trio")

        async def host(main: Callable[[], Any], kw: dict[str, Any]) -> Any:
            return await gochan.run_async(main, **kw)

        return lambda main, **kw: trio.run(host, main, kw)
    if kind in ("uvloop", "trio"):
        pytest.importorskip(kind)
    return lambda main, **kw: gochan.run(main, backend=kind, **kw)


KINDS = ["builtin", "asyncio", "uvloop", "trio", "hosted-asyncio", "hosted-trio", "selectors"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run(kind: str) -> Runner:
    return _runner(kind)


SHORT = 0.05
# A loop's own timeout may end a hair early: uvloop's clock (libuv's) counts
# whole milliseconds.
EARLY = 0.002


def test_a_wait_times_out(run: Runner) -> None:
    """The hub's wait with a timeout (the next timer) returns once it is due."""

    def main() -> float:
        start = time.monotonic()
        gochan.sleep(SHORT)
        return time.monotonic() - start

    assert run(main) >= SHORT - EARLY


def test_a_wakeup_from_another_thread(run: Runner) -> None:
    """The hub waits with no timer; another thread's send must wake it."""

    def main() -> str:
        ch: Chan[str] = Chan()
        started = threading.Event()

        def other() -> None:
            started.wait()
            ch.send("from a thread")  # the thread's own scheduler, then wakeup()

        th = threading.Thread(target=other)
        th.start()
        started.set()
        try:
            return ch.recv()
        finally:
            th.join()

    assert run(main) == "from a thread"


def test_fd_readiness(run: Runner) -> None:
    def main() -> list[Any]:
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        out: list[Any] = []
        with a, b:
            gochan.wait_writable(a)  # a fresh socket is writable at once
            gochan.wait_writable(a, timeout=10)
            start = time.monotonic()
            with pytest.raises(TimeoutError, match="not readable within"):
                gochan.wait_readable(a, timeout=SHORT)
            out.append(time.monotonic() - start >= SHORT - EARLY)
            done: Chan[None] = Chan()

            def sender() -> None:
                b.send(b"x")
                done.send(None)

            go(sender)
            gochan.wait_readable(a)  # parked until the other task sends
            out.append(a.recv(1))
            done.recv()
            go(b.send, b"y")
            gochan.wait_readable(a, timeout=10)
            out.append(a.recv(1))
        return out

    assert run(main) == [True, b"x", b"y"]


def test_several_tasks_wait_on_one_fd(run: Runner) -> None:
    def main() -> int:
        a, b = socket.socketpair()
        with a, b:
            woken: Chan[int] = Chan(3)
            for i in range(3):
                go(lambda i=i: (gochan.wait_readable(a), woken.send(i)))
            for _ in range(10):
                gochan.gosched()
            b.send(b"x")
            return sum(woken.recv() for _ in range(3))

    assert run(main) == 3


def _connected() -> tuple[net.Listener, net.Conn, net.Conn]:
    ln = net.listen("tcp", "127.0.0.1:0")
    got: Chan[net.Conn] = Chan(1)
    go(lambda: got.send(ln.accept()))
    client = net.dial("tcp", str(ln.addr))
    return ln, client, got.recv()


def test_polldesc_deadline_and_data(run: Runner) -> None:
    """A gochan.net read: a deadline ends it; data wakes it."""

    def main() -> list[Any]:
        ln, c, s = _connected()
        with ln, c, s:
            start = gochan.monotonic()
            s.set_read_deadline(start + SHORT)
            with pytest.raises(TimeoutError):
                s.read(10)
            late = gochan.monotonic() - start >= SHORT
            s.set_read_deadline(None)
            go(c.write, b"ping")
            got = s.read(10)
            s.write(got)
            return [late, c.read(10)]

    assert run(main) == [True, b"ping"]


@pytest.mark.parametrize("closer", ["task", "thread"])
def test_polldesc_eviction(run: Runner, closer: str) -> None:
    """A read blocked on a socket ends with ErrClosed when another task or
    OS thread closes the socket."""

    def main() -> str:
        ln, c, s = _connected()
        with ln, c:
            reading: Chan[None] = Chan(1)
            result: Chan[str] = Chan(1)

            def reader() -> None:
                reading.send(None)
                try:
                    s.read(10)
                    result.send("read returned")
                except net.ErrClosed:
                    result.send("closed")

            t = go(reader)
            reading.recv()
            while t.state != "IO wait":
                gochan.gosched()
            if closer == "task":
                go(s.close)
            else:
                th = threading.Thread(target=s.close)
                th.start()
                th.join()
            return result.recv()

    assert run(main) == "closed"


def test_await_or_the_documented_error(run: Runner, kind: str) -> None:
    def main() -> Any:
        if kind.endswith("trio"):
            import trio

            async def nap() -> int:
                await trio.sleep(0)
                return 42

            return gochan.await_(nap())
        return gochan.await_(asyncio.sleep(0, result=42))

    if kind in HAS_LOOP:
        assert run(main) == 42
    else:
        with pytest.raises(RuntimeError, match="needs an async backend"):
            run(main)


def test_deadlock_with_the_backend_idle(run: Runner, kind: str) -> None:
    if kind == "hosted-trio":
        pytest.skip("run_async() under trio never reports a deadlock (trio lists no tasks)")

    def main() -> None:
        Chan[int]().recv()

    with pytest.raises(gochan.Deadlock, match="all goroutines are asleep"):
        run(main)


def test_virtual_clock_jumps(run: Runner, kind: str) -> None:
    if kind.startswith("hosted"):
        with pytest.raises(ValueError, match="cannot use the virtual clock"):
            run(lambda: None, clock="virtual")
        return

    def main() -> list[float]:
        start = gochan.monotonic()
        gochan.sleep(3600)
        after = gochan.monotonic() - start
        timer = gochan.after(60)
        timer.recv()
        return [after, gochan.monotonic() - start]

    real = time.monotonic()
    assert run(main, clock="virtual") == [3600, 3660]
    assert time.monotonic() - real < 60  # no real hour


def test_a_backend_instance_is_closed_after_its_run() -> None:
    b = SelectorsBackend()
    assert gochan.run(lambda: 7, backend=b) == 7
    assert b.r.fileno() == -1  # closed with the run


def test_run_rejects_a_non_backend() -> None:
    with pytest.raises(TypeError, match=r"backend name or a gochan\.backend\.Backend"):
        gochan.run(lambda: None, backend=42)  # type: ignore[arg-type]
