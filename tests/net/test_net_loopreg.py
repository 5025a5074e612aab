"""gochan.net's sockets on the asyncio and uvloop backends (and run_async()
hosted by either): the loop's ``add_reader``/``add_writer`` registration
kept from one wait to the next (backends/aio_poll.py).

What this proves, on each loop:

* A keep-alive read loop registers its socket once, not once per wait.
* Level-triggered readiness with nobody reading costs one callback, then
  the registration is dropped: no busy loop (callbacks counted over a
  fixed number of loop turns), in either direction.
* Data that arrives between a read's failed ``recv`` and its wait wakes it.
* A report older than the wait (asyncio's loop runs an fd's callback in
  the turn whose ``select`` found it; green tasks may run in between) does
  not wake it; the next select does.
* Deadlines and cancellation while registered; close while registered
  lets go of the loop, and the fd's number, reused, is watched anew; a
  close from another OS thread leaves the closing to the loop's thread (at
  the latest when the loop closes).

Every hand-off is explicit (a task's state, a loop turn); a read deadline
far away turns a lost wake-up into a failure instead of a hang.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvloop
from test_net import _open_fds, connected, wait_parked

import gochan
from gochan import Cancelled, go, monotonic
from gochan._runtime.backends.aio_poll import LoopReg
from gochan._runtime.io import POLL_OK, PollDesc
from gochan._runtime.threads import current_task
from gochan.net import Conn

KINDS = ["asyncio", "uvloop", "run_async-asyncio", "run_async-uvloop"]
FAR = 30.0  # seconds: a read deadline that only a lost wake-up reaches


def run_on(kind: str, main: Callable[[], Any]) -> Any:
    if not kind.startswith("run_async"):
        return gochan.run(main, backend=kind)

    async def amain() -> Any:
        return await gochan.run_async(main)

    if kind.endswith("uvloop"):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(amain())
    return asyncio.run(amain())


_warm: set[str] = set()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Iterator[str]:
    name: str = request.param
    if name not in _warm:  # a loop's first run may open process-wide fds (uvloop)
        _warm.add(name)
        run_on(name, lambda: [x.close() for x in connected()])
    before = _open_fds()
    yield name
    leaked = _open_fds() - before
    assert not leaked, f"file descriptors left open: {sorted(leaked)}"


def loop() -> Any:
    return current_task().sched.backend.loop


def turns(n: int) -> None:
    """Let the loop run ``n`` turns (at least)."""
    for _ in range(n):
        gochan.await_(asyncio.sleep(0))


def reg(conn: Conn) -> LoopReg:
    loops = conn._fd.pd.loops
    assert loops is not None and len(loops) == 1
    r: LoopReg = loops[0]
    return r


class _Calls:
    """Counts a loop's add_/remove_reader/writer calls on one fd."""

    def __init__(self, lp: Any, fd: int) -> None:
        self.counts = dict.fromkeys(["add_reader", "remove_reader", "add_writer"], 0)
        for name in self.counts:
            inner = getattr(lp, name)

            def counted(f: int, *args: Any, _inner: Any = inner, _name: str = name) -> Any:
                if f == fd:
                    self.counts[_name] += 1
                return _inner(f, *args)

            setattr(lp, name, counted)


def test_a_read_loop_registers_its_socket_once(kind: str) -> None:
    def main() -> dict[str, int]:
        ln, c, s = connected()
        with ln, c, s:
            calls = _Calls(loop(), s.fileno())
            s.set_read_deadline(monotonic() + FAR)
            for i in range(20):
                reader = go(s.read, 10)
                wait_parked(reader)  # it waits, every round
                c.write(b"%d" % i)
                assert reader.join() == b"%d" % i
            return dict(calls.counts)  # (before the close lets go)

    assert run_on(kind, main) == {"add_reader": 1, "remove_reader": 0, "add_writer": 0}


def test_readable_with_nobody_reading_costs_one_callback(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fired: list[int] = []
    inner = LoopReg.on_readable

    def counted(self: LoopReg) -> None:
        fired.append(self.fd)
        inner(self)

    monkeypatch.setattr(LoopReg, "on_readable", counted)

    def main() -> None:
        ln, c, s = connected()
        with ln, c, s:
            reader = go(s.read, 10)
            wait_parked(reader)
            c.write(b"a")
            assert reader.join() == b"a"
            assert reg(s).reading  # kept after the wait
            fired.clear()
            c.write(b"more")  # readable now, and nobody reads
            turns(50)
            assert fired == [s.fileno()]  # once: then no longer registered
            assert not reg(s).reading
            if isinstance(loop(), asyncio.BaseEventLoop):
                assert s.fileno() not in loop()._selector.get_map()
            s.set_read_deadline(monotonic() + FAR)
            assert s.read(10) == b"more"  # the report is remembered: no wait
            reader = go(s.read, 10)
            wait_parked(reader)  # registered anew
            c.write(b"b")
            assert reader.join() == b"b"

    run_on(kind, main)


def test_writable_with_nobody_writing_costs_one_callback(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fired: list[int] = []
    inner = LoopReg.on_writable

    def counted(self: LoopReg) -> None:
        fired.append(self.fd)
        inner(self)

    monkeypatch.setattr(LoopReg, "on_writable", counted)

    def main() -> None:
        ln, c, s = connected()
        with ln, c, s:
            c.set_write_deadline(monotonic() + FAR)
            writer = go(c.write, b"x" * (1 << 23))
            wait_parked(writer)  # the socket buffers are full
            got = 0
            while got < 1 << 23:
                got += len(s.read(1 << 20))
            assert writer.join() == 1 << 23
            fired.clear()
            turns(50)  # writable all along, and nobody writes
            assert len(fired) <= 1
            assert not reg(c).writing

    run_on(kind, main)


def test_data_between_the_failed_recv_and_the_wait_wakes_the_read(kind: str) -> None:
    """The hooked recv fails (nothing there), then the peer writes, before
    the read waits: the registration (kept from an earlier wait) or the
    loop's next look must report it."""

    class Late:
        def __init__(self, sock: socket.socket, peer: Conn) -> None:
            self.sock, self.peer, self.armed = sock, peer, True

        def recv(self, n: int, *flags: int) -> bytes:
            try:
                return self.sock.recv(n, *flags)
            except BlockingIOError:
                if self.armed:
                    self.armed = False
                    self.peer.write(b"late")  # after the kernel said "empty"
                raise

        def __getattr__(self, name: str) -> Any:
            return getattr(self.sock, name)

    def main() -> bytes:
        ln, c, s = connected()
        with ln, c, s:
            s.set_read_deadline(monotonic() + FAR)
            reader = go(s.read, 10)
            wait_parked(reader)
            c.write(b"a")
            assert reader.join() == b"a"
            real = s._fd.sock
            s._fd.sock = Late(real, c)  # type: ignore[assignment]
            try:
                return s.read(10)
            finally:
                s._fd.sock = real

    assert run_on(kind, main) == b"late"


@pytest.mark.parametrize("kind_", ["asyncio", "run_async-asyncio"])
def test_a_report_older_than_the_wait_does_not_wake_it(kind_: str) -> None:
    """On asyncio's own loop: a callback run for a select made before the
    read parked (the loop's selects are counted) is skipped; the loop's
    next select reports the fd and wakes the read."""

    def main() -> bytes:
        ln, c, s = connected()
        with ln, c, s:
            s.set_read_deadline(monotonic() + FAR)
            reader = go(s.read, 10)
            wait_parked(reader)
            c.write(b"a")
            assert reader.join() == b"a"
            reader = go(s.read, 10)
            wait_parked(reader)  # parked, no select since
            c.write(b"b")
            seq = s._fd.pd.rseq
            reg(s).on_readable()  # as for a select made before the wait
            assert reader.state == "IO wait" and s._fd.pd.rseq == seq
            data: bytes = reader.join()  # the next select wakes it
            return data

    assert run_on(kind_, main) == b"b"


def test_deadline_and_cancel_while_registered(kind: str) -> None:
    def main() -> None:
        ln, c, s = connected()
        with ln, c, s:
            s.set_read_deadline(monotonic() + 0.02)
            with pytest.raises(TimeoutError):
                s.read(10)
            assert reg(s).reading
            s.set_read_deadline(monotonic() + FAR)
            reader = go(s.read, 10)
            wait_parked(reader)
            reader.cancel()
            with pytest.raises(Cancelled):
                reader.join()
            c.write(b"x")
            assert s.read(10) == b"x"

    run_on(kind, main)


def test_close_while_registered_lets_go_and_the_fd_is_reused(kind: str) -> None:
    def main() -> list[bool]:
        ln, c, s = connected()
        with ln, c:
            reader = go(s.read, 10)
            wait_parked(reader)
            c.write(b"a")
            assert reader.join() == b"a"
            r, fd = reg(s), s.fileno()
            assert r.reading
            s.close()
            out = [not r.reading, s._fd.pd.loops is None]
            if isinstance(loop(), asyncio.BaseEventLoop):
                out.append(fd not in loop()._selector.get_map())
            # The number comes back for a new socket: watched anew.
            a, b = socket.socketpair()
            if a.fileno() != fd:
                os.dup2(a.fileno(), fd)
                a.close()
                a = socket.socket(fileno=fd)
            with a, b:
                a.setblocking(False)
                pd = PollDesc(fd)
                pd.set_deadline(monotonic() + FAR)
                waiter = go(pd.wait, False, pd.rseq)
                wait_parked(waiter)
                b.send(b"z")
                out.append(waiter.join() == POLL_OK and a.recv(1) == b"z")
                pd.unlink()
            return out

    assert all(run_on(kind, main))


def test_close_from_another_thread_closes_on_the_loops_thread(kind: str) -> None:
    """No call in flight, the socket registered: the closing thread leaves
    the close to the loop's thread (the number must not be reused while the
    loop watches it), which does it at its next turn."""

    def main() -> None:
        ln, c, s = connected()
        with ln, c:
            reader = go(s.read, 10)
            wait_parked(reader)
            c.write(b"a")
            assert reader.join() == b"a"
            sock = s._fd.sock
            th = threading.Thread(target=s.close)
            th.start()
            th.join()  # (this thread, the loop's, is blocked meanwhile)
            assert s.closed and sock.fileno() != -1
            turns(2)
            assert sock.fileno() == -1

    run_on(kind, main)


@pytest.mark.parametrize("kind_", ["asyncio", "uvloop"])
def test_a_close_left_to_the_loop_happens_when_it_closes(kind_: str) -> None:
    """The run ends before the loop takes another turn: the close queued to
    it runs as the loop closes (the fixture counts open fds)."""
    socks: list[socket.socket] = []

    def main() -> None:
        ln, c, s = connected()
        with ln, c:
            reader = go(s.read, 10)
            wait_parked(reader)
            c.write(b"a")
            assert reader.join() == b"a"
            socks.append(s._fd.sock)
            th = threading.Thread(target=s.close)
            th.start()
            th.join()

    before = _open_fds()
    run_on(kind_, main)
    assert socks[0].fileno() == -1
    assert _open_fds() <= before


def test_wait_readable_on_a_registered_socket_takes_it_over(kind: str) -> None:
    """A one-shot wait on the fd replaces the kept registration (one reader
    per fd on a loop); the next read registers anew."""

    def main() -> bytes:
        ln, c, s = connected()
        with ln, c, s:
            s.set_read_deadline(monotonic() + FAR)
            reader = go(s.read, 10)
            wait_parked(reader)
            c.write(b"a")
            assert reader.join() == b"a"
            waiter = go(gochan.wait_readable, s)
            wait_parked(waiter)
            c.write(b"b")
            waiter.join()
            assert not reg(s).reading
            assert s.read(10) == b"b"
            reader = go(s.read, 10)
            wait_parked(reader)
            c.write(b"c")
            data: bytes = reader.join()
            return data

    assert run_on(kind, main) == b"c"


def test_a_socket_moves_to_the_next_run_and_to_another_thread(kind: str) -> None:
    """Registered with one run's loop, read in the next run (a new loop),
    then in a run on another thread, and closed there while the first
    thread's loop still watches it: that loop lets go and closes it."""

    def first() -> tuple[Any, ...]:
        ln, c, s = connected()
        reader = go(s.read, 10)
        wait_parked(reader)
        c.write(b"1")
        assert reader.join() == b"1"
        return ln, c, s

    ln, c, s = run_on(kind, first)
    handed: gochan.Chan[None] = gochan.Chan()
    done: gochan.Chan[None] = gochan.Chan()

    def second() -> None:
        reader = go(s.read, 10)
        wait_parked(reader)
        c.write(b"2")
        assert reader.join() == b"2"
        assert len(s._fd.pd.loops) == 1  # (the first run's loop is closed)
        th = threading.Thread(target=run_on, args=(kind, third))
        th.start()
        handed.recv()  # the other thread's run has read, and closed s
        turns(2)  # (this loop watched it too: it closes it)
        assert s._fd.sock.fileno() == -1
        done.close()
        th.join()

    def third() -> None:
        s.set_read_deadline(monotonic() + FAR)
        reader = go(s.read, 10)
        wait_parked(reader)
        c.write(b"3")
        assert reader.join() == b"3"
        s.close()
        handed.send(None)
        done.recv()

    try:
        run_on(kind, second)
    finally:
        ln.close()
        c.close()
