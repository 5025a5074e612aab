"""The races of gochan.net's fast path (``Conn.read``/``write`` try the
system call before any wait bookkeeping; readiness is remembered between
waits, see io.PollDesc).

Each race is staged with explicit hand-offs: the socket under a connection
is swapped for a wrapper whose ``recv`` runs a hook while the call is "in
the system call" (it holds the read token, as the real call would), and the
hook does what another task or OS thread would do at that moment.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import gochan
from gochan import Chan, go, gosched, monotonic, net
from gochan._runtime.io import POLL_OK, PollDesc
from gochan.net import Conn, ErrClosed, Listener

CLOSED = "use of closed network connection"


def connected() -> tuple[Listener, Conn, Conn]:
    """A listener and a connection through it: (listener, client, server)."""
    ln = net.listen("tcp", "127.0.0.1:0")
    got: Chan[Conn] = Chan(1)
    go(lambda: got.send(ln.accept()))
    client = net.dial("tcp", str(ln.addr))
    return ln, client, got.recv()


def wait_parked(t: gochan.Task, state: str = "IO wait") -> None:
    """Yield until task ``t`` is parked in ``state``."""
    for _ in range(1000):
        if t.state == state:
            return
        gosched()
    raise AssertionError(f"{t!r} never reached [{state}]")


def _open_fds() -> set[str]:
    import os

    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_fd_leak() -> Iterator[None]:
    def main() -> None:  # first-use descriptors (a backend's own) stay out of the count
        ln, c, s = connected()
        for x in (ln, c, s):
            x.close()

    gochan.run(main)
    before = _open_fds()
    yield
    leaked = _open_fds() - before
    assert not leaked, f"file descriptors left open: {sorted(leaked)}"


class _Hooked:
    """A socket whose ``recv`` first runs ``hook`` (once), as if the hook ran
    while the real call was in the kernel."""

    def __init__(self, sock: socket.socket, hook: Callable[[], None]) -> None:
        self._sock = sock
        self._hook: Callable[[], None] | None = hook
        self.calls = 0

    def recv(self, n: int, *flags: int) -> bytes:
        self.calls += 1
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()
        return self._sock.recv(n, *flags)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _hook(conn: Conn, hook: Callable[[], None]) -> tuple[_Hooked, socket.socket]:
    real = conn._fd.sock
    hooked = _Hooked(real, hook)
    conn._fd.sock = hooked  # type: ignore[assignment]
    return hooked, real


def test_close_from_another_thread_during_a_fast_path_read_waits_for_it() -> None:
    """A close while a fast-path recv is in the kernel marks the connection
    closed at once but leaves the socket (and its fd number) alone until the
    read leaves; the read returns what it got, the next call fails."""

    def main() -> None:
        ln, c, s = connected()
        with ln, c:
            c.write(b"ping")
            seen: list[Any] = []

            def close_meanwhile() -> None:
                th = threading.Thread(target=s.close)
                th.start()
                th.join()
                seen.append(s.closed)
                seen.append(real.fileno() != -1)  # still open: the read is in it
                with socket.socket() as fresh:  # so its number is not reused yet
                    seen.append(fresh.fileno() != real.fileno())

            hooked, real = _hook(s, close_meanwhile)
            assert s.read(10) == b"ping"
            assert hooked.calls == 1  # the fast path: straight to recv
            assert seen == [True, True, True]
            assert real.fileno() == -1  # the read left: now it is closed
            with pytest.raises(ErrClosed, match=CLOSED):
                s.read(10)

    gochan.run(main)


def test_close_from_another_task_during_a_fast_path_read() -> None:
    """The same with a close from another green task of this thread (it runs
    when the hook yields): the read that was in the kernel completes."""

    def main() -> None:
        ln, c, s = connected()
        with ln, c:
            c.write(b"ping")

            def close_meanwhile() -> None:
                go(s.close).join()
                assert real.fileno() != -1

            _, real = _hook(s, close_meanwhile)
            assert s.read(10) == b"ping"
            assert real.fileno() == -1

    gochan.run(main)


def test_close_during_a_fast_path_read_that_finds_nothing_fails_it() -> None:
    """If the recv in progress when the close came would block, the read
    does not wait: it fails with ErrClosed."""

    def main() -> None:
        ln, c, s = connected()
        with ln, c:
            _, real = _hook(s, lambda: threading.Thread(target=s.close).start())
            with pytest.raises(ErrClosed, match=CLOSED):
                while True:  # (the thread may take a moment to close)
                    s.read(10)
            assert real.fileno() == -1

    gochan.run(main)


def test_deadline_set_while_a_fast_path_read_is_in_the_kernel() -> None:
    """A deadline set (already past) while a read is in the kernel: that
    read returns its data, the next one fails although data is waiting,
    and moving the deadline later revives the connection."""

    def main() -> None:
        ln, c, s = connected()
        with ln, c, s:
            c.write(b"one")
            past = monotonic() - 1
            _hook(s, lambda: threading.Thread(target=s.set_read_deadline, args=(past,)).run())
            assert s.read(3) == b"one"
            c.write(b"two")
            with pytest.raises(TimeoutError):
                s.read(3)
            s.set_read_deadline(None)
            got = b""
            while len(got) < 3:
                got += s.read(3 - len(got))
            assert got == b"two"

    gochan.run(main)


def test_deadline_set_while_a_fast_path_read_finds_nothing() -> None:
    """The recv in progress would block and a passed deadline was set
    meanwhile: the read fails with TimeoutError instead of parking."""

    def main() -> None:
        ln, c, s = connected()
        with ln, c, s:
            _hook(s, lambda: s.set_read_deadline(monotonic() - 1))
            t0 = monotonic()
            with pytest.raises(TimeoutError):
                s.read(3)
            assert monotonic() - t0 < 5

    gochan.run(main)


def test_fd_number_reused_after_close_gets_a_working_connection() -> None:
    """A closed connection's fd number, handed to a new socket, serves a
    new connection: blocked reads on it are woken (its registration with
    the poller is new; the old one went with the close)."""

    def main() -> None:
        ln, c, s = connected()
        with ln, c:
            reader = go(s.read, 1)  # a blocked read: s is registered with the poller
            wait_parked(reader)
            c.write(b"x")
            assert reader.join() == b"x"
            old = s.fileno()
            s.close()
            c2 = net.dial("tcp", str(ln.addr))
            s2 = ln.accept()
            with c2, s2:
                assert old in (c2.fileno(), s2.fileno())  # the lowest free number
                for _ in range(3):
                    r2 = go(s2.read, 1)
                    wait_parked(r2)
                    c2.write(b"y")
                    assert r2.join() == b"y"
                    r3 = go(c2.read, 1)
                    wait_parked(r3)
                    s2.write(b"z")
                    assert r3.join() == b"z"

    gochan.run(main, backend="builtin")


def test_short_read_then_end_of_stream_is_not_missed() -> None:
    """The peer writes and shuts down before the reader wakes: one report
    for both. The reader's short read must not mark the socket empty (the
    end of stream is still to read, and no report will come for it)."""

    def main() -> list[bytes]:
        ln, c, s = connected()
        with ln, c, s:
            reader = go(s.read, 100)
            wait_parked(reader)
            c.write(b"abc")
            c.close_write()
            return [reader.join(), s.read(100), s.read(100)]

    assert gochan.run(main) == [b"abc", b"", b""]


def test_short_reads_on_a_unix_socket_never_mark_it_empty(tmp_path: Any) -> None:
    def main() -> bytes:
        path = str(tmp_path / "s")
        ln = net.listen("unix", path)
        with ln, net.dial("unix", path) as c, ln.accept() as s:
            got = b""
            for part in (b"a", b"bc", b"def"):
                c.write(part)
                got += s.read(100)
            return got

    assert gochan.run(main) == b"abcdef"


def test_a_report_while_the_call_is_in_the_kernel_is_not_missed() -> None:
    """The readiness numbers: a wait given the number read before a call
    that would block returns at once if the poller reported the fd ready
    since (as another thread's poller can while the call is in the kernel),
    and parks otherwise."""
    readers = select.EPOLLIN if hasattr(select, "EPOLLIN") else 1
    writers = select.EPOLLOUT if hasattr(select, "EPOLLOUT") else 4

    def main() -> list[Any]:
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            pd = PollDesc(a.fileno())
            seq = pd.rseq
            pd.notify(readers, ~writers, ~readers)  # reported meanwhile
            out: list[Any] = [pd.wait(False, seq) == POLL_OK]
            seq = pd.rseq
            waiter = go(pd.wait, False, seq)
            wait_parked(waiter)
            out.append(pd.rwait is not None)
            pd.notify(readers, ~writers, ~readers)
            out.append(waiter.join() == POLL_OK)
            pd.unlink()
            return out

    assert gochan.run(main, backend="builtin") == [True, True, True]


def test_queued_readers_and_writers_get_the_token_in_turn() -> None:
    """Calls of one direction queue behind the one in it (Go's fdMutex):
    each queued task gets the token when the one before leaves; the other
    direction is never held up by them."""

    def main() -> list[bytes]:
        ln, c, s = connected()
        with ln, c, s:
            readers = [go(s.read, 1) for _ in range(3)]
            wait_parked(readers[0])
            for r in readers[1:]:
                wait_parked(r, "sync.Mutex.Lock")
            s.write(b"w")  # the write direction is free meanwhile
            assert c.read(1) == b"w"
            got = []
            for r, b in zip(readers, (b"1", b"2", b"3"), strict=True):
                c.write(b)
                got.append(r.join())
            assert s._fd.rq is not None and not s._fd.rq
            return got

    assert gochan.run(main) == [b"1", b"2", b"3"]


def test_a_cancelled_queued_reader_leaves_the_queue() -> None:
    def main() -> bytes:
        ln, c, s = connected()
        with ln, c, s:
            first = go(s.read, 1)
            wait_parked(first)
            second = go(s.read, 1)
            wait_parked(second, "sync.Mutex.Lock")
            second.cancel()
            with pytest.raises(gochan.Cancelled):
                second.join()
            c.write(b"1")
            out = first.join()
            c.write(b"2")
            return out + s.read(1)

    assert gochan.run(main) == b"12"


def test_a_read_parks_while_another_thread_holds_the_channel_lock() -> None:
    """PollDesc's arm, disarm and notify take the runtime's LOCK, which any OS
    thread's channel operation holds for a moment: finding it taken, they wait
    for it (they raised IndexError, "pop from an empty deque", and the
    scheduler died with it)."""
    from gochan._runtime.waiter import LOCK

    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        LOCK.acquire()
        held.set()
        release.wait()
        LOCK.release()

    def main() -> bytes:
        ln, c, s = connected()
        t = threading.Thread(target=holder)
        t.start()
        held.wait()
        threading.Timer(0.05, release.set).start()  # (when does not matter: it must wait)
        go(lambda: s.write(b"x"))
        got = c.read(1)  # arm, park, notify, disarm: each takes LOCK
        t.join()
        for x in (ln, c, s):
            x.close()
        return got

    assert gochan.run(main) == b"x"
