"""gochan.net under ``run_async()``: green tasks on sockets inside a running
trio (and asyncio, uvloop) program.

Hosted by trio, gochan cannot share trio's epoll: a socket wait is a trio
task in ``trio.lowlevel.wait_readable``/``wait_writable`` (io.py
``_TrioWatch``), and whatever else ends the wait (deadline, close from any
task or thread, cancellation) cancels that trio task and waits for it to
leave. What this proves, for every host:

* The real-clock tests of tests/net/test_net.py and tests/net/test_net_tls.py that
  cover the ground (round trips and EOF, slow readers, concurrent writers,
  close waking read, write, accept and the tasks queued behind, dial
  errors, serve, the TLS handshake, close during a handshake), each run
  unchanged inside ``run_async``.
* Deadlines (scheduler timers on the host's real clock): a read deadline
  fails the read; a deadline moved while a read waits re-arms it (past:
  fails now; cleared: waits on and gets the data); accept and dial
  timeouts.
* Cancelling a green task parked on a socket raises ``Cancelled`` in it.
* No trio task and no trio fd registration outlives a wait, however it
  ended (the run_async nursery's children, io.py's shared waits).

The hosted run has only the real clock, so the deadlines here are short
(tens of milliseconds) and the tests assert outcomes and lower bounds,
never exact instants; every hand-off is a channel or a task state.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import test_net
import test_net_tls
import trio
import uvloop

import gochan
from gochan import Cancelled, Chan, go, monotonic, net
from gochan.net import ErrClosed, tls

HOSTS = ["trio", "asyncio", "uvloop"]
SHORT = 0.05  # seconds: a deadline that will pass


def host_run(host: str, amain: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    if host == "trio":
        return trio.run(amain)
    if host == "uvloop":
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(amain())
    return asyncio.run(amain())


def hosted(host: str) -> Callable[..., Any]:
    """A ``run(main, virtual=False)`` for the test modules: main inside run_async."""

    def run(main: Callable[[], Any], virtual: bool = False) -> Any:
        assert not virtual, "run_async() has the host's real clock only"

        async def amain() -> Any:
            return await gochan.run_async(main)

        return host_run(host, amain)

    return run


_warm: set[str] = set()


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name: str = request.param
    monkeypatch.setattr(test_net, "run", hosted(name))
    monkeypatch.setattr(test_net_tls, "run", hosted(name))
    if name not in _warm:  # a host's first run may open process-wide fds (uvloop)
        _warm.add(name)
        hosted(name)(lambda: [x.close() for x in test_net.connected()])
    before = test_net._open_fds()
    yield name
    leaked = test_net._open_fds() - before
    assert not leaked, f"file descriptors left open: {sorted(leaked)}"


# ---------------------------------------------------------------------------
# The net suites, hosted
# ---------------------------------------------------------------------------

NET_TESTS: list[Callable[[], None]] = [
    test_net.test_tcp4_round_trip_and_eof,
    test_net.test_unix_abstract_name,
    test_net.test_read_zero_bytes_and_negative,
    test_net.test_write_all_to_a_slow_reader,
    test_net.test_concurrent_writers_do_not_interleave,
    test_net.test_close_from_another_task_wakes_a_blocked_read,
    test_net.test_close_from_another_thread_wakes_read_and_closes_the_fd_after,
    test_net.test_close_from_another_thread_wakes_accept,
    test_net.test_close_wakes_a_blocked_write,
    test_net.test_close_wakes_the_tasks_queued_behind_a_blocked_reader,
    test_net.test_close_is_idempotent_and_later_calls_fail,
    test_net.test_listen_close_listen_on_the_same_address,
    test_net.test_dial_refused,
    test_net.test_localhost_is_resolved,
    test_net.test_socket_face,
    test_net.test_makefile_lines,
    test_net.test_serve_graceful_shutdown_on_cancel,
    test_net.test_serve_ends_when_the_listener_is_closed,
    test_net_tls.test_dial_listen_round_trip_and_what_was_negotiated,
    test_net_tls.test_one_handshake_for_a_reader_and_a_writer_starting_together,
    test_net_tls.test_a_wrong_host_name_is_refused,
    test_net_tls.test_the_socket_face,
    test_net_tls.test_calls_after_close_fail_with_err_closed,
    test_net_tls.test_large_payloads_both_ways_at_once,
    test_net_tls.test_close_write_is_a_half_close_both_ways,
]


@pytest.mark.parametrize("test", NET_TESTS, ids=[t.__name__ for t in NET_TESTS])
def test_net_suite_hosted(host: str, test: Callable[[], None]) -> None:
    test()


def test_unix_round_trip_hosted(host: str, tmp_path: Path) -> None:
    test_net.test_unix_round_trip_removes_its_socket_file(tmp_path)


@pytest.mark.parametrize("how", ["task", "thread"])
def test_close_wakes_a_blocked_tls_handshake_hosted(host: str, how: str) -> None:
    test_net_tls.test_close_wakes_a_blocked_handshake(how)


# ---------------------------------------------------------------------------
# Deadlines and cancellation, hosted; nothing left behind in trio
# ---------------------------------------------------------------------------


def _trio_waits() -> tuple[int, int]:
    """(trio tasks under run_async's nursery, fds with a shared trio wait).

    trio registers an fd only while a task waits on it, and every wait of
    gochan's is such a task (a ``_TrioWatch``): none left, none registered."""
    from gochan._runtime.backends import trio_waits
    from gochan._runtime.threads import current_task

    b = current_task().sched.backend
    return len(b.nursery.child_tasks), len(trio_waits._shared)


def _left_behind(host: str, baseline: tuple[int, int] | None) -> None:
    if host == "trio":
        assert baseline is not None
        assert _trio_waits() == baseline


def test_a_read_deadline_fails_the_read(host: str) -> None:
    def main() -> None:
        ln, c, s = test_net.connected()
        with ln, c, s:
            base = _trio_waits() if host == "trio" else None
            start = monotonic()
            s.set_read_deadline(start + SHORT)
            with pytest.raises(TimeoutError, match=r"read tcp .*: i/o timeout"):
                s.read(10)
            assert monotonic() - start >= SHORT
            _left_behind(host, base)
            c.write(b"x")
            with pytest.raises(TimeoutError):  # sticky, even with data waiting
                s.read(1)
            s.set_read_deadline(None)
            assert s.read(1) == b"x"

    hosted(host)(main)


def test_a_deadline_moved_while_a_read_waits(host: str) -> None:
    def main() -> None:
        ln, c, s = test_net.connected()
        with ln, c, s:
            base = _trio_waits() if host == "trio" else None
            s.set_read_deadline(monotonic() + 3600)
            reader = go(s.read, 10)
            test_net.wait_parked(reader)
            s.set_read_deadline(monotonic() - 1)  # past: the read fails now
            with pytest.raises(TimeoutError):
                reader.join()
            _left_behind(host, base)

            s.set_read_deadline(monotonic() + SHORT)
            reader = go(s.read, 10)
            test_net.wait_parked(reader)
            s.set_read_deadline(None)  # cleared: it waits on, for the data
            test_net.wait_parked(reader)
            c.write(b"late")
            assert reader.join() == b"late"
            _left_behind(host, base)

    hosted(host)(main)


def test_accept_and_dial_deadlines(host: str) -> None:
    def main() -> None:
        with net.listen("tcp", "127.0.0.1:0") as ln:
            base = _trio_waits() if host == "trio" else None
            ln.set_deadline(monotonic() + SHORT)
            with pytest.raises(TimeoutError, match=r"accept tcp .*: i/o timeout"):
                ln.accept()
            held = go(ln.accept)
            ln.set_deadline(None)
            with net.dial("tcp", str(ln.addr), timeout=30) as c, held.join() as s:
                c.write(b"hi")
                assert s.read(2) == b"hi"
            # A TLS dial to a server that never answers: the timeout covers the handshake.
            quiet = go(ln.accept)
            with pytest.raises(TimeoutError, match=r"read tcp .*: i/o timeout"):
                tls.dial("tcp", str(ln.addr), test_net_tls.CLIENT_CTX, timeout=SHORT)
            quiet.join().close()
            _left_behind(host, base)

    hosted(host)(main)


def test_cancelling_a_task_parked_on_a_socket(host: str) -> None:
    def main() -> None:
        ln, c, s = test_net.connected()
        with ln, c, s:
            base = _trio_waits() if host == "trio" else None
            reader = go(c.read, 10)  # nobody writes to c
            test_net.wait_parked(reader)
            reader.cancel()
            with pytest.raises(Cancelled):
                reader.join()
            _left_behind(host, base)
            writer = go(c.write, b"\0" * (1 << 26))  # s never reads: the buffers fill
            test_net.wait_parked(writer)
            writer.cancel()
            with pytest.raises(Cancelled):
                writer.join()
            _left_behind(host, base)

    hosted(host)(main)


def test_close_from_another_thread_leaves_nothing_in_trio(host: str) -> None:
    def main() -> None:
        ln, c, s = test_net.connected()
        with ln, c:
            base = _trio_waits() if host == "trio" else None
            reader = go(s.read, 10)
            test_net.wait_parked(reader)
            th = threading.Thread(target=s.close)
            th.start()
            th.join()
            with pytest.raises(ErrClosed):
                reader.join()
            _left_behind(host, base)

    hosted(host)(main)


def test_a_trio_host_task_and_a_green_task_on_one_conn() -> None:
    """A trio coroutine of the host and a green task talk over one TCP
    connection: the green side's waits are trio waits, the two interleave."""

    async def amain() -> bytes:
        got: Chan[bytes] = Chan(1)
        addr: Chan[str] = Chan(1)

        def green() -> None:
            with net.listen("tcp", "127.0.0.1:0") as ln:
                addr.send(str(ln.addr))
                with ln.accept() as conn:
                    conn.write(conn.read(5).upper())
                    got.send(conn.read(10))

        async def host_side() -> None:
            a = await addr.arecv()
            assert a is not None
            host_name, port = net.split_host_port(a)
            stream = await trio.open_tcp_stream(host_name, int(port))
            async with stream:
                await stream.send_all(b"hello")
                reply = await stream.receive_some(5)
                await stream.send_all(reply + b"!")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(host_side)
            await gochan.run_async(green)
        return await got.arecv() or b""

    assert trio.run(amain) == b"HELLO!"
