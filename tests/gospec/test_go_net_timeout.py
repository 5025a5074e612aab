"""Port of Go's src/net/timeout_test.go (TCP parts), on gochan.net.

Deadline tests run on the virtual clock, so where Go allows for scheduling
slop ("took at least d, at most 1.5 d"), these check the exact virtual
instant the call failed at. The tests that need data to keep flowing while
time passes (various deadlines against a writer that never stops, deadline
races) run on the real clock and assert only outcomes, never durations.

Ported: TestReadTimeout, TestReadTimeoutMustNotReturn, TestWriteTimeout,
TestWriteTimeoutMustNotReturn, TestReadTimeoutFluctuation,
TestWriteTimeoutFluctuation, TestAcceptTimeout, TestAcceptTimeoutMustReturn,
TestAcceptTimeoutMustNotReturn, TestVariousDeadlines,
TestReadWriteProlongedTimeout, TestReadWriteDeadlineRace,
TestConcurrentSetDeadline. Not ported: the UDP (ReadFrom/WriteTo) variants
(gochan.net has no UDP yet), TestDialTimeout's mocked slow dialers (the
timeout itself is in tests/net/test_net.py, against a hung handshake).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

import pytest

import gochan
from gochan import Chan, WaitGroup, go, monotonic, net
from gochan.net import Conn, ErrClosed, Listener

BIG = b"x" * (1 << 26)  # more than any socket buffer holds


@pytest.fixture(autouse=True)
def no_fd_leak() -> Any:
    before = set(os.listdir("/proc/self/fd"))
    yield
    assert set(os.listdir("/proc/self/fd")) <= before | _process_wide


_process_wide: set[str] = set()


@pytest.fixture(scope="module", autouse=True)
def warm() -> None:
    """A first run may open process-wide fds that stay (uvloop's signal pipe)."""
    before = set(os.listdir("/proc/self/fd"))
    gochan.run(lambda: [x.close() for x in pair()])
    _process_wide.update(set(os.listdir("/proc/self/fd")) - before)


def pair() -> tuple[Listener, Conn, Conn]:
    ln = net.listen("tcp", "127.0.0.1:0")
    got: Chan[Conn] = Chan(1)
    go(lambda: got.send(ln.accept()))
    c = net.dial("tcp", str(ln.addr))
    return ln, c, got.recv()


def virtual(main: Callable[[], Any]) -> Any:
    return gochan.run(main, clock="virtual")


@pytest.mark.parametrize(
    ("offset", "calls"),
    [(-5.0, 2), (0.0, 2), (0.05, 2)],
    ids=["past", "now", "soon"],
)
def test_read_timeout(offset: float, calls: int) -> None:
    """Every read after the deadline fails, however often it is tried."""

    def main() -> list[float]:
        ln, c, s = pair()
        times = []
        with ln, c, s:
            gochan.sleep(10)
            c.set_read_deadline(monotonic() + offset)
            for _ in range(calls):
                with pytest.raises(TimeoutError, match="i/o timeout"):
                    c.read(256)
                times.append(monotonic())
        return times

    assert virtual(main) == [10 + max(offset, 0)] * calls


def test_read_timeout_must_not_return() -> None:
    """Deadlines set and then cleared leave the read blocked: only close ends it."""

    def main() -> float:
        ln, c, s = pair()
        with ln, s:
            c.set_deadline(monotonic() + 0.01)
            c.set_write_deadline(monotonic() + 0.01)
            c.set_read_deadline(monotonic() + 0.01)
            c.set_deadline(None)
            reader = go(c.read, 1)
            gochan.sleep(3600)
            assert not reader.done()
            c.close()
            with pytest.raises(ErrClosed):
                reader.join()
            return monotonic()

    assert virtual(main) == 3600.0


@pytest.mark.parametrize("offset", [-5.0, 0.0, 0.1], ids=["past", "now", "soon"])
def test_write_timeout(offset: float) -> None:
    def main() -> list[float]:
        ln, c, s = pair()
        times = []
        with ln, c, s:
            gochan.sleep(10)
            c.set_write_deadline(monotonic() + offset)
            for _ in range(2):
                with pytest.raises(TimeoutError, match=r"write tcp .*: i/o timeout"):
                    c.write(BIG)
                times.append(monotonic())
        return times

    assert virtual(main) == [10 + max(offset, 0)] * 2


def test_write_timeout_must_not_return() -> None:
    def main() -> None:
        ln, c, s = pair()
        with ln, s:
            c.set_deadline(monotonic() + 0.01)
            c.set_deadline(None)
            writer = go(c.write, BIG)
            gochan.sleep(3600)
            assert not writer.done()
            c.close()
            with pytest.raises(ErrClosed):
                writer.join()

    virtual(main)


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_timeout_fluctuation(write: bool) -> None:
    """Deadlines from 1 ms to 10 s: each call fails exactly at its deadline."""

    def main() -> list[float]:
        ln, c, s = pair()
        late = []
        with ln, c, s:
            for d in (0.001, 0.01, 0.1, 1.0, 10.0):
                start = monotonic()
                (c.set_write_deadline if write else c.set_read_deadline)(start + d)
                with pytest.raises(TimeoutError):
                    c.write(BIG) if write else c.read(256)
                late.append(monotonic() - (start + d))
        return late

    assert virtual(main) == [0.0] * 5


def test_accept_timeout() -> None:
    def main() -> list[float]:
        times = []
        with net.listen("tcp", "127.0.0.1:0") as ln:
            for offset in (-5.0, 0.0, 0.05, 1.0):
                ln.set_deadline(monotonic() + offset)
                for _ in range(2):
                    with pytest.raises(TimeoutError, match=r"accept tcp .*: i/o timeout"):
                        ln.accept()
                    times.append(monotonic())
        return times

    assert virtual(main) == [0.0, 0.0, 0.0, 0.0, 0.05, 0.05, 1.05, 1.05]


def test_accept_timeout_must_return() -> None:
    """Setting a deadline while accept blocks makes it return."""

    def main() -> float:
        with net.listen("tcp", "127.0.0.1:0") as ln:
            acceptor = go(ln.accept)
            gochan.sleep(1)
            ln.set_deadline(None)
            ln.set_deadline(monotonic() - 1)
            with pytest.raises(TimeoutError):
                acceptor.join()
            return monotonic()

    assert virtual(main) == 1.0


def test_accept_timeout_must_not_return() -> None:
    def main() -> None:
        with net.listen("tcp", "127.0.0.1:0") as ln:
            ln.set_deadline(monotonic() + 0.01)
            ln.set_deadline(None)
            acceptor = go(ln.accept)
            gochan.sleep(3600)
            assert not acceptor.done()
            ln.close()
            with pytest.raises(ErrClosed):
                acceptor.join()

    virtual(main)


def _blast(conn: Conn) -> None:
    """Write until the peer goes away (Go's io.Copy from a never-ending reader)."""
    try:
        while True:
            conn.write(b"x" * 65536)
    except OSError:
        pass
    finally:
        conn.close()


@pytest.mark.parametrize("d", [1e-9, 1e-6, 1e-4, 1e-3, 0.01, 0.05])
def test_various_deadlines(d: float) -> None:
    """A reader draining a writer that never stops still times out (real clock)."""

    def main() -> tuple[int, bool]:
        ln, c, s = pair()
        with ln, c:
            writer = go(_blast, s)
            c.set_deadline(monotonic() + d)
            n = 0
            try:
                while True:
                    n += len(c.read(65536))
            except TimeoutError:
                timed_out = True
            c.close()
            writer.join()
        return n, timed_out

    n, timed_out = gochan.run(main)
    assert timed_out and n >= 0


def test_read_write_prolonged_timeout() -> None:
    """A handler that extends its deadlines before every call (real clock)."""

    def main() -> bytes:
        ln, c, s = pair()
        with ln, c, s:
            wg = WaitGroup()

            def reader() -> None:
                while True:
                    s.set_read_deadline(monotonic() + 1)
                    if not s.read(1):
                        return

            def writer() -> None:
                for _ in range(100):
                    s.set_write_deadline(monotonic() + 1)
                    s.write(b"y")

            wg.go(reader)
            wg.go(writer)
            got = b""
            while len(got) < 100:
                got += c.read(100)
            c.close_write()
            wg.wait()
            return got

    assert gochan.run(main) == b"y" * 100


def test_read_write_deadline_race() -> None:
    """Deadlines set in a tight loop while a reader and a writer keep going."""
    n = 200

    def main() -> None:
        ln, c, s = pair()
        with ln, c, s:
            wg = WaitGroup()

            def setter() -> None:
                for _ in range(n):
                    c.set_read_deadline(monotonic() + 0.001)
                    c.set_write_deadline(monotonic() + 0.001)

            def reader() -> None:
                for _ in range(n):
                    with contextlib.suppress(TimeoutError):
                        c.read(1)

            def writer() -> None:
                for _ in range(n):
                    with contextlib.suppress(TimeoutError):
                        c.write(b"z")

            for fn in (setter, reader, writer):
                wg.go(fn)
            wg.wait()

    gochan.run(main)


def test_concurrent_set_deadline() -> None:
    """Many tasks setting deadlines on one conn at once: no error, no hang."""

    def main() -> None:
        ln, c, s = pair()
        with ln, c, s:
            wg = WaitGroup()
            for _ in range(20):
                wg.go(lambda: [c.set_deadline(monotonic() + 100) for _ in range(50)])
            wg.wait()

    gochan.run(main)
