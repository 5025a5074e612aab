"""gochan.net: listen, dial, accept, read, write, deadlines, close, serve.

Every test runs under the backend that ``GOCHAN_BACKEND`` names (builtin,
asyncio, uvloop, trio): run the file once per backend. What it proves:

* Round trips on tcp4, tcp6 (skipped, with the reason, only where the host
  has no IPv6 loopback), dual-stack "tcp" on ":0", and unix sockets (a path,
  removed on close; a Linux abstract name); Go's address strings; EOF.
* write() writes everything to a slow reader (8 MiB through a reader taking
  4 KiB at a time); two concurrent writers never interleave their bytes.
* Deadlines, on the virtual clock, so every expiry is checked at its exact
  virtual time: no data -> TimeoutError at the deadline; a passed deadline
  fails even with data waiting, and every later call, until it is moved
  (then the data is still there: the conn revives); a deadline changed while
  a read is blocked re-arms it (later, earlier, past, cleared); write and
  accept deadlines; set_deadline sets both.
* Close: from another task and from another OS thread, a blocked read,
  write and accept wake with ErrClosed ("use of closed network connection");
  the socket is really closed only once the evicted call has left; a task
  queued behind the blocked reader fails too; close is idempotent; every
  call after close fails with ErrClosed.
* dial: timeout (zero, negative, expiring while the handshake hangs on a
  full accept queue), refused, unknown names (socket.gaierror naming the
  lookup), malformed addresses and unknown networks.
* Every duration and deadline parameter with NaN (ValueError), inf and huge
  (never), zero and negative (already past), and a non-number (TypeError).
* The socket face: recv, recv_into, send, sendall, makefile, shutdown.
* serve(): a handler's exception is logged with the peer's address and the
  server goes on; cancelling the context stops accepting, closes the
  listener and waits for the handlers; closing the listener ends serve.

Synchronisation is by channels, WaitGroups and task states, never sleeps;
each test checks that it leaves no file descriptor open.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import gochan
from gochan import Chan, WaitGroup, context, go, gosched, monotonic, net
from gochan.net import Conn, ErrClosed, Listener

CLOSED = "use of closed network connection"


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module")
def warm() -> None:
    """One round trip before the first fd count: a backend's first run may
    open process-wide descriptors that stay (uvloop: libuv's signal pipe)."""

    def main() -> None:
        ln, c, s = connected()
        for x in (ln, c, s):
            x.close()

    gochan.run(main)


@pytest.fixture(autouse=True)
def no_fd_leak(warm: None) -> Iterator[None]:
    before = _open_fds()
    yield
    leaked = _open_fds() - before
    assert not leaked, f"file descriptors left open: {sorted(leaked)}"


def has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def run(main: Callable[[], Any], virtual: bool = False) -> Any:
    return gochan.run(main, clock="virtual") if virtual else gochan.run(main)


def connected(network: str = "tcp", address: str = "127.0.0.1:0") -> tuple[Listener, Conn, Conn]:
    """A listener and a connection through it: (listener, client, server)."""
    ln = net.listen(network, address)
    got: Chan[Conn] = Chan(1)
    go(lambda: got.send(ln.accept()))
    client = net.dial(network, str(ln.addr))
    server = got.recv()
    return ln, client, server


def wait_parked(t: gochan.Task, state: str = "IO wait") -> None:
    """Yield until task ``t`` is parked in ``state`` (it parks on its first run)."""
    for _ in range(1000):
        if t.state == state:
            return
        gosched()
    raise AssertionError(f"{t!r} never reached [{state}]")


# ---------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------


def _echo_once(network: str, address: str) -> tuple[str, str, str, bytes, bytes]:
    def main() -> tuple[str, str, str, bytes, bytes]:
        ln, c, s = connected(network, address)
        with ln, c, s:
            c.write(b"ping")
            got = s.read(4)
            s.write(got.upper())
            back = c.read(4)
            c.close_write()
            eof = s.read(10)
            assert s.remote_addr == c.local_addr and c.remote_addr == s.local_addr
            assert c.remote_addr == ln.addr
            return str(ln.addr), str(c.local_addr), repr(c), got + back, eof

    result: tuple[str, str, str, bytes, bytes] = run(main)
    return result


def test_tcp4_round_trip_and_eof() -> None:
    addr, local, rep, data, eof = _echo_once("tcp4", "127.0.0.1:0")
    assert addr.startswith("127.0.0.1:") and local.startswith("127.0.0.1:")
    assert rep == f"<gochan.net.Conn tcp {local}->{addr}>"
    assert data == b"pingPING"
    assert eof == b""


@pytest.mark.skipif(not has_ipv6_loopback(), reason="this host has no IPv6 loopback (::1)")
def test_tcp6_round_trip() -> None:
    addr, local, _, data, eof = _echo_once("tcp6", "[::1]:0")
    assert addr.startswith("[::1]:") and local.startswith("[::1]:")
    assert data == b"pingPING" and eof == b""


def test_unix_round_trip_removes_its_socket_file(tmp_path: Path) -> None:
    path = str(tmp_path / "echo.sock")
    addr, _, _, data, eof = _echo_once("unix", path)
    assert addr == path and data == b"pingPING" and eof == b""
    assert not os.path.exists(path)


def test_unix_abstract_name() -> None:
    name = f"@gochan-test-{os.getpid()}"
    addr, _, _, data, _ = _echo_once("unix", name)
    assert addr == name and data == b"pingPING"


def test_tcp_on_all_interfaces_takes_ipv4() -> None:
    def main() -> bytes:
        with net.listen("tcp", ":0") as ln:
            port = ln.addr.port
            got: Chan[Conn] = Chan(1)
            go(lambda: got.send(ln.accept()))
            with net.dial("tcp4", f"127.0.0.1:{port}") as c, got.recv() as s:
                c.write(b"v4")
                return s.read(2)

    assert run(main) == b"v4"


def test_read_zero_bytes_and_negative() -> None:
    def main() -> None:
        ln, c, s = connected()
        with ln, c, s:
            c.write(b"x")
            assert s.read(0) == b""
            with pytest.raises(ValueError, match="positive number of bytes"):
                s.read(-1)
            assert s.read(1) == b"x"

    run(main)


def test_write_all_to_a_slow_reader() -> None:
    payload = os.urandom(1 << 23)  # 8 MiB: far beyond the socket buffers

    def reader(conn: Conn, out: Chan[bytes]) -> None:
        chunks = []
        while chunk := conn.read(4096):
            chunks.append(chunk)
            gosched()  # slow: let the writer find the buffer full again
        out.send(b"".join(chunks))

    def main() -> tuple[int, bytes]:
        ln, c, s = connected()
        with ln, c, s:
            out: Chan[bytes] = Chan(1)
            go(reader, s, out)
            n = c.write(memoryview(payload))
            c.close_write()
            return n, out.recv()

    n, got = run(main)
    assert n == len(payload)
    assert got == payload


def test_concurrent_writers_do_not_interleave() -> None:
    block = 1 << 20

    def main() -> bytes:
        ln, c, s = connected()
        with ln, c, s:
            wg = WaitGroup()
            for b in (b"a", b"b", b"c"):
                wg.go(c.write, b * block)
            data = bytearray()
            while len(data) < 3 * block:
                data += s.read(65536)
            wg.wait()
            return bytes(data)

    data = run(main)
    runs = [data[i : i + block] for i in range(0, len(data), block)]
    assert sorted(r[:1] for r in runs) == [b"a", b"b", b"c"]
    assert all(r == r[:1] * block for r in runs)


# ---------------------------------------------------------------------------
# Deadlines (virtual clock: each expiry at its exact time)
# ---------------------------------------------------------------------------


def test_read_deadline_expires_at_its_time() -> None:
    def main() -> tuple[float, str]:
        ln, c, s = connected()
        with ln, c, s:
            s.set_read_deadline(monotonic() + 1.5)
            with pytest.raises(TimeoutError) as e:
                s.read(10)
            return monotonic(), str(e.value)

    t, msg = run(main, virtual=True)
    assert t == 1.5
    assert msg.startswith("read tcp 127.0.0.1:") and msg.endswith(": i/o timeout")


def test_virtual_time_stands_still_while_a_watched_socket_is_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before the virtual clock jumps to the next timer (a sleeper's, 5 s
    # ahead), the hub gives the backend one turn to deliver ready sockets.
    # A loop's turn can end before it polled its fds at all (uvloop runs the
    # hub's wake callback before its poll phase; seen after a wake from a
    # name-lookup thread): the hub then asks the kernel itself, and waits
    # for the backend's next turn rather than jump. Here the first such
    # turn polls nothing, as uvloop's did.
    from gochan._runtime.threads import peek_scheduler

    def main() -> list[float]:
        s = peek_scheduler()
        assert s is not None
        kind = type(s.backend)
        real, skipped = kind.wait, []

        def early_turn(self: Any, timeout: float | None, incoming: Any) -> None:
            if timeout == 0 and s.polling and len(skipped) < 3 and not incoming:
                skipped.append(timeout)  # a turn that ended before polling
                return
            real(self, timeout, incoming)

        ln = net.listen("tcp", "127.0.0.1:0")
        talker = go(net.serve, ln, lambda c: c.write(b"hi"))
        sleeper = go(gochan.sleep, 5)
        monkeypatch.setattr(kind, "wait", early_turn)
        t0 = monotonic()
        with net.dial("tcp", str(ln.addr)) as c:
            assert c.read(2) == b"hi"
        took = monotonic() - t0
        monkeypatch.undo()
        assert skipped, "the hub never asked the backend for a turn before a jump"
        ln.close()
        talker.join()
        sleeper.join()
        return [took, monotonic()]

    assert run(main, virtual=True) == [0.0, 5.0]


def test_any_fd_ready_asks_the_kernel_without_waiting() -> None:
    from types import SimpleNamespace

    from gochan._runtime.fdwait import any_fd_ready

    a, b = socket.socketpair()
    try:
        rd = SimpleNamespace(fd=a.fileno(), write=False)
        wr = SimpleNamespace(fd=a.fileno(), write=True)
        assert not any_fd_ready([]) and not any_fd_ready([rd])
        assert any_fd_ready([wr]) and any_fd_ready([rd, wr])  # one fd, both ways
        b.send(b"x")
        assert any_fd_ready([rd])
        closed = socket.socket()
        gone = SimpleNamespace(fd=closed.fileno(), write=False)
        closed.close()
        assert not any_fd_ready([gone])  # closed under its waiter: not "ready"
    finally:
        a.close()
        b.close()


def test_passed_deadline_fails_even_with_data_ready_then_revives() -> None:
    def main() -> None:
        ln, c, s = connected()
        with ln, c, s:
            c.write(b"waiting")
            s.set_read_deadline(monotonic() - 1)
            for _ in range(3):  # sticky: every call fails at once
                with pytest.raises(TimeoutError):
                    s.read(10)
            assert monotonic() == 0.0
            s.set_read_deadline(monotonic() + 10)  # moved later: the conn revives
            assert s.read(10) == b"waiting"
            s.set_read_deadline(None)
            c.write(b"more")
            assert s.read(10) == b"more"

    run(main, virtual=True)


def test_timeout_is_sticky_until_moved() -> None:
    def main() -> list[float]:
        ln, c, s = connected()
        times = []
        with ln, c, s:
            s.set_read_deadline(monotonic() + 2)
            for _ in range(3):
                with pytest.raises(TimeoutError):
                    s.read(1)
                times.append(monotonic())
            s.set_read_deadline(monotonic() + 1)
            with pytest.raises(TimeoutError):
                s.read(1)
            times.append(monotonic())
        return times

    assert run(main, virtual=True) == [2.0, 2.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("new", "expect"),
    [(5.0, 5.0), (2.0, 2.0), (-1.0, 1.0), (None, None)],
    ids=["later", "earlier", "past", "cleared"],
)
def test_deadline_changed_while_blocked_rearms_the_read(
    new: float | None, expect: float | None
) -> None:
    """A read blocks with a deadline at 3; at 1 the deadline becomes ``new``."""

    def main() -> tuple[object, float]:
        ln, c, s = connected()
        with ln, c, s:
            s.set_read_deadline(3.0)
            out: Chan[object] = Chan(1)

            def reader() -> None:
                try:
                    out.send(s.read(10))
                except TimeoutError as e:
                    out.send(e)

            go(reader)
            gochan.sleep(1)
            s.set_read_deadline(new)
            if new is None:
                gochan.sleep(100)  # far past the old deadline: still blocked
                c.write(b"late")
            got = out.recv()
            return got, monotonic()

    got, t = run(main, virtual=True)
    if expect is None:
        assert got == b"late" and t == 101.0
    else:
        assert isinstance(got, TimeoutError) and t == expect


def test_write_deadline_with_a_peer_that_does_not_read() -> None:
    def main() -> tuple[float, list[str]]:
        ln, c, s = connected()
        with ln, c, s:
            c.set_write_deadline(monotonic() + 4)
            with pytest.raises(TimeoutError, match=r"write tcp .*: i/o timeout") as e:
                c.write(b"x" * (1 << 26))  # 64 MiB: the buffers fill up
            return monotonic(), e.value.__notes__

    t, notes = run(main, virtual=True)
    assert t == 4.0
    assert len(notes) == 1 and notes[0].endswith(f"of {1 << 26} bytes were written")


def test_set_deadline_sets_both_directions() -> None:
    def main() -> None:
        ln, c, s = connected()
        with ln, c, s:
            s.set_deadline(monotonic() - 1)
            with pytest.raises(TimeoutError):
                s.read(1)
            with pytest.raises(TimeoutError):
                s.write(b"x")
            s.set_write_deadline(None)
            s.write(b"x")
            with pytest.raises(TimeoutError):
                s.read(1)
            s.set_read_deadline(None)
            assert c.read(1) == b"x"

    run(main, virtual=True)


def test_accept_deadline() -> None:
    def main() -> tuple[float, str]:
        with net.listen("tcp", "127.0.0.1:0") as ln:
            ln.set_deadline(monotonic() + 7)
            with pytest.raises(TimeoutError) as e:
                ln.accept()
            return monotonic(), str(e.value)

    t, msg = run(main, virtual=True)
    assert t == 7.0 and msg.startswith("accept tcp 127.0.0.1:")


def test_idle_timeout_extended_after_each_read() -> None:
    """Go's idiom: push the deadline out after every successful call."""

    def main() -> tuple[list[bytes], float]:
        ln, c, s = connected()
        got = []
        with ln, c, s:

            def writer() -> None:
                for i in range(3):
                    gochan.sleep(1)
                    c.write(b"%d" % i)

            go(writer)
            while True:
                s.set_read_deadline(monotonic() + 1.5)
                try:
                    got.append(s.read(1))
                except TimeoutError:
                    return got, monotonic()

    assert run(main, virtual=True) == ([b"0", b"1", b"2"], 4.5)


# ---------------------------------------------------------------------------
# Close
# ---------------------------------------------------------------------------


def test_close_from_another_task_wakes_a_blocked_read() -> None:
    def main() -> tuple[str, bool]:
        ln, c, s = connected()
        with ln, c:
            reader = go(s.read, 10)
            wait_parked(reader)
            s.close()
            with pytest.raises(ErrClosed) as e:
                reader.join()
            return str(e.value), isinstance(e.value, OSError)

    assert run(main) == (CLOSED, True)


def test_close_from_another_thread_wakes_read_and_closes_the_fd_after() -> None:
    def main() -> None:
        ln, c, s = connected()
        with ln, c:
            sock = s._fd.sock
            reader = go(s.read, 10)
            wait_parked(reader)
            th = threading.Thread(target=s.close)
            th.start()
            th.join()
            assert s.closed and s.fileno() == -1
            assert sock.fileno() != -1  # the evicted read has not left yet
            with pytest.raises(ErrClosed, match=CLOSED):
                reader.join()
            assert sock.fileno() == -1  # it left: now the socket is closed

    run(main)


def test_close_from_another_thread_wakes_accept() -> None:
    def main() -> None:
        ln = net.listen("tcp", "127.0.0.1:0")
        acceptor = go(ln.accept)
        wait_parked(acceptor)
        th = threading.Thread(target=ln.close)
        th.start()
        th.join()
        with pytest.raises(ErrClosed, match=CLOSED):
            acceptor.join()

    run(main)


def test_close_wakes_a_blocked_write() -> None:
    def main() -> None:
        ln, c, s = connected()
        with ln, s:
            writer = go(c.write, b"x" * (1 << 26))
            wait_parked(writer)
            c.close()
            with pytest.raises(ErrClosed) as e:
                writer.join()
            assert any("bytes were written" in n for n in e.value.__notes__)

    run(main)


def test_close_wakes_the_tasks_queued_behind_a_blocked_reader() -> None:
    def main() -> None:
        ln, c, s = connected()
        with ln, c:
            readers = [go(s.read, 10) for _ in range(3)]
            wait_parked(readers[0])
            wait_parked(readers[2], "sync.Mutex.Lock")
            s.close()
            for r in readers:
                with pytest.raises(ErrClosed):
                    r.join()

    run(main)


def test_write_after_the_peer_reset_is_a_clear_error() -> None:
    def main() -> tuple[str | None, str | None, list[str]]:
        ln, c, s = connected()
        with ln, c:
            s._fd.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # an abortive close: the peer gets a reset
            with pytest.raises((ConnectionResetError, BrokenPipeError)) as e:
                c.write(b"x")
            with pytest.raises(BrokenPipeError) as again:
                c.write(b"x")
            assert c.read(1) == b""  # and reading sees the end of the stream
            return e.value.strerror, again.value.strerror, [str(c.local_addr), str(c.remote_addr)]

    first, again, (local, remote) = run(main)
    prefix = f"write tcp {local}->{remote}: write: "
    assert first in (prefix + "connection reset by peer", prefix + "broken pipe")
    assert again == prefix + "broken pipe"


def test_read_after_the_peer_reset_is_a_clear_error() -> None:
    def main() -> tuple[str | None, list[str]]:
        ln, c, s = connected()
        with ln, c:
            s._fd.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # an abortive close: the peer gets a reset
            with pytest.raises(ConnectionResetError) as e:
                c.read(1)
            assert c.read(1) == b""  # the error is reported once, then end of stream
            return e.value.strerror, [str(c.local_addr), str(c.remote_addr)]

    err, (local, remote) = run(main)
    assert err == f"read tcp {local}->{remote}: read: connection reset by peer"


def test_read_of_nothing_returns_at_once_until_closed() -> None:
    def main() -> None:
        ln, c, s = connected()
        with ln, s:
            assert c.read(0) == b""  # nothing sent: Go's Read of an empty buffer
            c.set_read_deadline(gochan.monotonic() - 1)
            assert c.read(0) == b""  # (Go checks neither readiness nor the deadline)
            c.close()
            with pytest.raises(ErrClosed):
                c.read(0)

    run(main)


def test_close_is_idempotent_and_later_calls_fail() -> None:
    def main() -> None:
        ln, c, s = connected()
        with ln, s:
            c.close()
            c.close()
            assert c.closed and repr(c).endswith(" closed>")
            for call in (
                lambda: c.read(1),
                lambda: c.write(b"x"),
                lambda: c.recv(1),
                lambda: c.send(b"x"),
                lambda: c.close_write(),
                lambda: c.set_deadline(None),
                lambda: c.set_read_deadline(1.0),
            ):
                with pytest.raises(ErrClosed, match=CLOSED):
                    call()
            ln.close()
            ln.close()
            with pytest.raises(ErrClosed):
                ln.accept()

    run(main)


def test_listen_close_listen_on_the_same_address() -> None:
    def main() -> bool:
        ln = net.listen("tcp", "127.0.0.1:0")
        addr = str(ln.addr)
        ln.close()
        with net.listen("tcp", addr) as again:
            return str(again.addr) == addr

    assert run(main)


# ---------------------------------------------------------------------------
# dial
# ---------------------------------------------------------------------------


def test_dial_timeout_while_the_handshake_hangs() -> None:
    """A listener with a full accept queue drops SYNs: the dial hangs."""

    def main() -> float:
        with socket.socket() as raw:
            raw.bind(("127.0.0.1", 0))
            raw.listen(0)
            addr = f"127.0.0.1:{raw.getsockname()[1]}"
            queued = []
            try:
                for _ in range(8):  # fill the queue (Linux: backlog 0 holds one)
                    start = monotonic()
                    try:
                        queued.append(net.dial("tcp", addr, timeout=1))
                    except TimeoutError:
                        break
                else:
                    raise AssertionError("the accept queue never filled")
                assert queued
                start = monotonic()
                with pytest.raises(TimeoutError, match=f"dial tcp {addr}: i/o timeout"):
                    net.dial("tcp", addr, timeout=2.5)
                return monotonic() - start
            finally:
                for q in queued:
                    q.close()

    assert run(main, virtual=True) == 2.5


class SlowResolver:
    """``socket.getaddrinfo`` stuck until ``release`` is set (by the test,
    after its assertions), then answering for 127.0.0.1; ``calls`` counts
    the lookups started, ``finished`` is set when a stuck one returns."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release = threading.Event()
        self.finished = threading.Event()
        self.calls = 0
        real = socket.getaddrinfo

        def getaddrinfo(host: str, port: Any, *args: Any) -> Any:
            self.calls += 1
            self.release.wait()
            try:
                return real("127.0.0.1", port, *args)
            finally:
                self.finished.set()

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_dial_timeout_covers_a_slow_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    # On the real clock: a lookup in flight is pending work (a thread is
    # busy for us), so a virtual clock rightly stands still over it.
    slow = SlowResolver(monkeypatch)

    def main() -> tuple[int, str, list[str], float, bytes]:
        with net.listen("tcp", "127.0.0.1:0") as ln:
            port = ln.addr.port
            start = monotonic()
            try:
                with pytest.raises(TimeoutError) as e:
                    net.dial("tcp", f"slow.test:{port}", timeout=0.05)
                took = monotonic() - start
            finally:
                slow.release.set()  # the stuck thread ends; its answer is dropped
            gochan.blocking(slow.finished.wait)
            got: Chan[Conn] = Chan(1)
            go(lambda: got.send(ln.accept()))
            with net.dial("tcp", f"slow.test:{port}", timeout=30) as c, got.recv() as s:
                c.write(b"ok")  # a later lookup works
                return port, str(e.value), e.value.__notes__, took, s.read(2)

    port, msg, notes, took, data = run(main)
    assert msg == f"dial tcp slow.test:{port}: i/o timeout"
    assert notes == ["while looking up 'slow.test'"]
    assert took >= 0.05 and data == b"ok" and slow.calls == 2


def test_tls_dial_timeout_covers_a_slow_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    from gochan.net import tls

    slow = SlowResolver(monkeypatch)

    def main() -> str:
        try:
            with pytest.raises(TimeoutError) as e:
                tls.dial("tcp", "slow.test:443", timeout=0.05)
        finally:
            slow.release.set()
        return str(e.value)

    assert run(main) == "dial tcp slow.test:443: i/o timeout"


def test_cancelling_a_dial_abandons_its_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = SlowResolver(monkeypatch)

    def main() -> float:
        dialer = go(net.dial, "tcp", "slow.test:80", 30)
        try:
            wait_parked(dialer, "syscall")  # in the lookup, its thread stuck
            dialer.cancel()
            for _ in range(100):  # it is readied at once, not when the thread returns
                if dialer.done():
                    break
                gosched()
            assert dialer.done(), "the cancelled dial still waits for its lookup"
            with pytest.raises(gochan.Cancelled):
                dialer.join()
            return monotonic()
        finally:
            slow.release.set()

    assert run(main, virtual=True) == 0.0  # no time passed: the lookup was let go


def test_dial_refused() -> None:
    def main() -> None:
        ln = net.listen("tcp", "127.0.0.1:0")
        addr = str(ln.addr)
        ln.close()
        with pytest.raises(
            ConnectionRefusedError, match=f"dial tcp {addr}: connect: connection refused"
        ):
            net.dial("tcp", addr)

    run(main)


def test_dial_unix_missing_path(tmp_path: Path) -> None:
    def main() -> None:
        with pytest.raises(FileNotFoundError, match=r"dial unix .*: connect: no such file"):
            net.dial("unix", str(tmp_path / "nobody.sock"))

    run(main)


def test_unknown_name_is_a_clear_lookup_error() -> None:
    def main() -> None:
        with pytest.raises(
            socket.gaierror, match=r"dial tcp nosuchhost\.invalid:80: lookup nosuchhost\.invalid: "
        ):
            net.dial("tcp", "nosuchhost.invalid:80")

    run(main)


def test_localhost_is_resolved() -> None:
    def main() -> bytes:
        with net.listen("tcp4", "localhost:0") as ln:
            got: Chan[Conn] = Chan(1)
            go(lambda: got.send(ln.accept()))
            with net.dial("tcp4", f"localhost:{ln.addr.port}") as c, got.recv() as s:
                s.write(b"ok")
                return c.read(2)

    assert run(main) == b"ok"


@pytest.mark.parametrize(
    ("network", "address", "error", "match"),
    [
        ("tcp", "localhost", ValueError, "missing port in address"),
        ("tcp", "::1:80", ValueError, "too many colons"),
        ("tcp", "[::1:80", ValueError, r"missing '\]'"),
        ("tcp", "127.0.0.1:70000", ValueError, "invalid port"),
        ("tcp", "127.0.0.1:", ValueError, "missing port"),
        ("udp", "127.0.0.1:80", ValueError, "unknown network 'udp'"),
        ("tcp4", "[::1]:80", OSError, "no suitable address"),
        ("tcp6", "127.0.0.1:80", OSError, "no suitable address"),
    ],
)
def test_bad_addresses(network: str, address: str, error: type[Exception], match: str) -> None:
    def main() -> None:
        for call in (net.dial, net.listen):
            with pytest.raises(error, match=match):
                call(network, address)

    run(main)


def test_listen_address_in_use() -> None:
    def main() -> None:
        with net.listen("tcp", "127.0.0.1:0") as ln:
            in_use = f"listen tcp {ln.addr}: bind: address already in use"
            with pytest.raises(OSError, match=in_use):
                net.listen("tcp", str(ln.addr))

    run(main)


# ---------------------------------------------------------------------------
# Durations and deadlines: NaN, inf, huge, zero, negative, not a number
# ---------------------------------------------------------------------------

SETTERS = ["set_deadline", "set_read_deadline", "set_write_deadline", "listener.set_deadline"]


def _setter(name: str, ln: Listener, conn: Conn) -> Callable[[Any], None]:
    if name.startswith("listener."):
        return ln.set_deadline  # type: ignore[no-any-return]
    return getattr(conn, name)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", SETTERS)
def test_deadline_nan_and_non_numbers_are_refused(name: str) -> None:
    def main() -> None:
        ln, c, s = connected()
        with ln, c, s:
            setter = _setter(name, ln, s)
            with pytest.raises(ValueError, match="got NaN as a deadline"):
                setter(math.nan)
            with pytest.raises(TypeError, match=r"takes a time on gochan\.monotonic\(\)"):
                setter("soon")
            with pytest.raises(TypeError):
                setter(True)

    run(main)


@pytest.mark.parametrize("name", SETTERS)
@pytest.mark.parametrize("t", [math.inf, 1e300, 10**400], ids=["inf", "huge", "huge-int"])
def test_deadline_inf_and_huge_never_expire(name: str, t: float) -> None:
    def main() -> float:
        ln, c, s = connected()
        with ln, c, s:
            _setter(name, ln, s)(t)
            gochan.go(lambda: (gochan.sleep(3600), c.write(b"x")))
            if name.startswith("listener."):
                got: Chan[Conn] = Chan(1)
                go(lambda: got.send(ln.accept()))
                with net.dial("tcp", str(ln.addr)), got.recv():
                    pass
            else:
                assert s.read(1) == b"x"  # waited an hour of virtual time
                s.write(b"y")
            return monotonic()

    assert run(main, virtual=True) >= 0


@pytest.mark.parametrize("name", SETTERS)
@pytest.mark.parametrize(
    "t", [0, -1, -math.inf, -(10**400)], ids=["zero", "negative", "-inf", "-huge"]
)
def test_deadline_zero_and_negative_are_already_past(name: str, t: float) -> None:
    def main() -> None:
        ln, c, s = connected()
        with ln, c, s:
            gochan.sleep(1)  # so that 0 lies in the past
            _setter(name, ln, s)(t)
            if name.startswith("listener."):
                with pytest.raises(TimeoutError):
                    ln.accept()
                return
            if name != "set_write_deadline":
                with pytest.raises(TimeoutError):
                    s.read(1)
            if name != "set_read_deadline":
                with pytest.raises(TimeoutError):
                    s.write(b"x")

    run(main, virtual=True)


@pytest.mark.parametrize(
    ("timeout", "outcome"),
    [
        (math.nan, ValueError),
        ("5", TypeError),
        (0, TimeoutError),
        (-1, TimeoutError),
        (-math.inf, TimeoutError),
        (math.inf, None),
        (1e300, None),
        (10**400, None),
        (None, None),
    ],
)
def test_dial_timeout_values(timeout: Any, outcome: type[Exception] | None) -> None:
    def main() -> None:
        with net.listen("tcp", "127.0.0.1:0") as ln:
            if outcome is None:
                got: Chan[Conn] = Chan(1)
                go(lambda: got.send(ln.accept()))
                with net.dial("tcp", str(ln.addr), timeout=timeout), got.recv():
                    pass
            else:
                with pytest.raises(outcome):
                    net.dial("tcp", str(ln.addr), timeout=timeout)

    run(main)


def test_dial_nan_message_names_dial() -> None:
    def main() -> None:
        with pytest.raises(ValueError, match=r"dial\(\) got NaN seconds"):
            net.dial("tcp", "127.0.0.1:1", timeout=math.nan)

    run(main)


# ---------------------------------------------------------------------------
# The socket face
# ---------------------------------------------------------------------------


def test_socket_face() -> None:
    def main() -> None:
        ln, c, s = connected()
        with ln, c, s:
            assert c.fileno() >= 0
            assert c.send(b"abc") == 3
            c.sendall(b"def")
            buf = bytearray(6)
            n = 0
            while n < 6:
                n += s.recv_into(memoryview(buf)[n:])
            assert bytes(buf) == b"abcdef"
            c.sendall(b"peek")
            assert s.recv(4, socket.MSG_PEEK) == b"peek"
            assert s.recv(4) == b"peek"
            c.shutdown(socket.SHUT_WR)
            assert s.recv(1) == b""

    run(main)


def test_makefile_lines() -> None:
    def main() -> list[str]:
        ln, c, s = connected()
        with ln, c, s:
            w = c.makefile("w")
            r = s.makefile("rb")
            w.write("first line\nsecond line\n")
            w.flush()
            lines = [r.readline().decode(), r.readline().decode()]
            w.close()
            r.close()
            rw = s.makefile("rw", encoding="utf-8")
            rw.write("héllo\n")
            rw.flush()
            lines.append(c.makefile("r", encoding="utf-8").readline())
            rw.close()
            assert not s.closed  # closing a file leaves the conn open
            with pytest.raises(ValueError, match="invalid mode"):
                c.makefile("x")
            return lines

    assert run(main) == ["first line\n", "second line\n", "héllo\n"]


# ---------------------------------------------------------------------------
# serve()
# ---------------------------------------------------------------------------


def test_serve_logs_a_handler_panic_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    def handler(conn: Conn) -> None:
        msg = conn.read(100)
        if msg == b"boom":
            raise RuntimeError("handler exploded")
        conn.write(msg.upper())

    def main() -> tuple[list[bytes], str]:
        ln = net.listen("tcp", "127.0.0.1:0")
        server = go(net.serve, ln, handler)
        replies = []
        with net.dial("tcp", str(ln.addr)) as bad:
            bad_addr = str(bad.local_addr)
            bad.write(b"boom")
            replies.append(bad.read(100))  # EOF: the handler's conn was closed
        for word in (b"one", b"two"):
            with net.dial("tcp", str(ln.addr)) as c:
                c.write(word)
                replies.append(c.read(100))
        ln.close()
        server.join()
        return replies, bad_addr

    with caplog.at_level(logging.ERROR, logger="gochan.net"):
        replies, bad_addr = run(main)
    assert replies == [b"", b"ONE", b"TWO"]
    [rec] = [r for r in caplog.records if r.name == "gochan.net"]
    assert rec.getMessage() == f"handler for connection from {bad_addr} raised"
    assert rec.exc_info is not None and str(rec.exc_info[1]) == "handler exploded"


def test_serve_graceful_shutdown_on_cancel() -> None:
    started: Chan[None] = Chan()
    finish: Chan[None] = Chan()

    def handler(conn: Conn) -> None:
        msg = conn.read(100)
        started.send(None)
        finish.recv()
        conn.write(msg[::-1])

    def main() -> tuple[bytes, bool]:
        ctx, cancel = context.with_cancel(context.background())
        ln = net.listen("tcp", "127.0.0.1:0")
        addr = str(ln.addr)
        server = go(net.serve, ln, handler, ctx)
        with net.dial("tcp", addr) as c:
            c.write(b"abc")
            started.recv()  # the handler is mid-conversation
            cancel()
            wait_parked(server, "sync.WaitGroup.Wait")  # stopped accepting, waits
            assert ln.closed
            with pytest.raises(ConnectionRefusedError):
                net.dial("tcp", addr)
            finish.send(None)
            reply = c.read(100)
        server.join()
        return reply, server.done()

    assert run(main) == (b"cba", True)


def test_serve_ends_when_the_listener_is_closed() -> None:
    def main() -> bool:
        ln = net.listen("tcp", "127.0.0.1:0")
        server = go(net.serve, ln, lambda conn: None)
        wait_parked(server)
        ln.close()
        server.join()
        return server.done()

    assert run(main)


# ---------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------


def test_addr_strings() -> None:
    assert str(net.Addr("tcp", "127.0.0.1", 8080)) == "127.0.0.1:8080"
    assert str(net.Addr("tcp", "::1", 80)) == "[::1]:80"
    assert str(net.Addr("unix", path="/tmp/s")) == "/tmp/s"
    assert repr(net.Addr("tcp", "::1", 80)) == "Addr('tcp', '::1', 80)"
    assert net.split_host_port("[fe80::1%eth0]:443") == ("fe80::1%eth0", "443")
    assert net.join_host_port("example.com", 80) == "example.com:80"


def test_exports() -> None:
    assert gochan.net is net
    for name in net.__all__:
        assert getattr(net, name).__module__ == "gochan.net", name
    assert issubclass(ErrClosed, OSError)
