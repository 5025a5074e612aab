"""The apiserver's read timeouts (connection.py), on gochan's virtual clock.

``read_header_timeout`` and ``idle_timeout`` are read deadlines, as in Go's
``http.Server`` (the kube-apiserver's ``ReadHeaderTimeout`` 32 s and
``IdleTimeout`` 90 s): between two requests a connection may stay idle
``idle_timeout``; a request's head must be whole within
``read_header_timeout`` of its first byte (a new connection's first head,
of the accept); a body may not stall longer than ``read_header_timeout``
between two reads, however long it takes while it progresses. Each closes
the connection without an answer.

The server's connection tasks and the clients run in one scheduler on the
virtual clock (`run_virtual`): time moves only when every task waits, so
each close happens at an exact instant, with no real waiting.
"""

from __future__ import annotations

import json
import math
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httptools

import gochan
from gochan import net

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import APIServer, ManualClock  # noqa: E402
from examples.k8s_watch.apiserver.listener import listen_all  # noqa: E402

T = TypeVar("T")
HEADER = 5.0  # read_header_timeout
IDLE = 20.0  # idle_timeout
PODS = "/api/v1/namespaces/default/pods"


def run_virtual(main: Callable[[APIServer, str], T], **options: Any) -> T:
    """``main(srv, addr)`` in one scheduler on the virtual clock with an apiserver's
    accept loop and connection tasks (its engine without its thread)."""
    srv = APIServer(clock=ManualClock(), read_header_timeout=HEADER, idle_timeout=IDLE, **options)

    def wrapper() -> T:
        lns = listen_all("127.0.0.1", 0)
        srv._listeners, srv.port = lns, lns[0].addr.port
        srv._thread = threading.current_thread()  # the server's thread is this one
        srv._running = True
        for ln in lns:
            gochan.go(srv._accept, ln)
        try:
            return main(srv, str(lns[0].addr))
        finally:
            srv._closing = True
            srv._stop_listening()
            srv._drop_connections("close", wait=2.0)
            srv._running = False

    try:
        return gochan.run(wrapper, clock="virtual")
    finally:
        srv._thread = None
        srv.close()


def request(path: str = "/version", body: bytes | None = None, method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: x"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def read_all(c: net.Conn) -> tuple[bytes, float]:
    """Everything until the server closes, and the instant it did."""
    out = b""
    while data := c.read(65536):
        out += data
    return out, gochan.monotonic()


def read_answer(c: net.Conn) -> bytes:
    """One whole answer, framed by httptools: the bytes of its head and body."""
    done: list[bool] = []

    class Answer:
        def on_message_complete(self) -> None:
            done.append(True)

    parser = httptools.HttpResponseParser(Answer())
    buf = b""
    while not done:
        data = c.read(65536)
        assert data, f"closed before an answer: {buf!r}"
        buf += data
        parser.feed_data(data)
    return buf


def closed_when(c: net.Conn) -> gochan.Chan[tuple[bytes, float]]:
    """A task reading ``c`` to its end: what came, and the instant the server closed."""
    out: gochan.Chan[tuple[bytes, float]] = gochan.Chan(1)

    def run() -> None:
        try:
            got = read_all(c)
        except ConnectionResetError:  # a write of ours met the server's close first
            got = (b"RESET", gochan.monotonic())
        out.send(got)

    gochan.go(run)
    return out


def pod_body(name: str) -> bytes:
    return json.dumps(
        {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    ).encode()


def test_half_sent_heads_are_closed_at_read_header_timeout_without_an_answer() -> None:
    """Many connections, each with part of a head: on a new connection the head's
    deadline runs from the accept; on a kept-alive one from the head's first byte."""
    n = 40

    def main(srv: APIServer, addr: str) -> list[tuple[str, float, float, bytes]]:
        results: list[tuple[str, float, float, bytes]] = []
        done = gochan.WaitGroup()

        def fresh(i: int) -> None:
            with net.dial("tcp", addr) as c:
                start = gochan.monotonic()
                gochan.sleep(i * 0.1)  # a first byte late, still within the timeout
                c.write(b"GET /version HTTP/1.1\r\nHo")
                got, when = read_all(c)
                results.append(("fresh", when - start, i * 0.1, got))
            done.done()

        def kept(i: int) -> None:
            with net.dial("tcp", addr) as c:
                c.write(request())
                read_answer(c)
                gochan.sleep(1 + i * 0.1)  # idle a while (below IDLE), then half a head
                first = gochan.monotonic()
                c.write(b"GET /vers")
                gochan.sleep(HEADER / 2)
                c.write(b"ion HTTP/1.1\r\n")  # progress, but the head is never whole
                got, when = read_all(c)
                results.append(("kept", when - first, i * 0.1, got))
            done.done()

        for i in range(n):
            done.add(2)
            gochan.go(fresh, i)
            gochan.go(kept, i)
        done.wait()
        assert not srv._conns  # every one let go
        return results

    results = run_virtual(main)
    assert len(results) == 2 * 40
    for kind, took, _, got in results:
        assert got == b"", (kind, got)  # closed without an answer, as Go's server does
        # to the instant: from the accept / from the first byte
        assert math.isclose(took, HEADER, abs_tol=1e-9), (kind, took)


def test_an_idle_keep_alive_connection_closes_at_idle_timeout() -> None:
    def main(srv: APIServer, addr: str) -> tuple[float, float, bytes, bytes]:
        with net.dial("tcp", addr) as c, net.dial("tcp", addr) as silent:
            # A connection that never sends a byte: its first head's deadline.
            silent_end = closed_when(silent)
            c.write(request())
            answer = read_answer(c)
            assert gochan.monotonic() == 0.0 and answer.startswith(b"HTTP/1.1 200 ")
            gochan.sleep(IDLE - 1)
            c.write(request())  # still open just before: and its idle time starts again
            read_answer(c)
            again_at = gochan.monotonic()
            got, closed_at = read_all(c)
            nothing, silent_closed = silent_end.recv()
        return closed_at - again_at, silent_closed, got, nothing

    idle_for, silent_closed, got, nothing = run_virtual(main)
    assert math.isclose(idle_for, IDLE, abs_tol=1e-9) and got == b""
    assert math.isclose(silent_closed, HEADER, abs_tol=1e-9) and nothing == b""


def test_a_slow_but_progressing_body_is_read_and_a_stalled_one_closes() -> None:
    """The body is bounded per stall (``read_header_timeout`` between two reads), not
    in all: one sent a byte at a time, each 0.8 of the timeout apart, is answered
    although it takes many times the timeout; one that stalls past it is closed at
    the instant, nothing created."""
    body = pod_body("slow")
    stalled_body = pod_body("stalled")
    step = HEADER * 0.8

    def main(srv: APIServer, addr: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with net.dial("tcp", addr) as c:
            head = request(PODS, body, "POST")
            c.write(head[: len(head) - len(body)])
            for i in range(0, len(body), 4):
                gochan.sleep(step)
                c.write(body[i : i + 4])
            out["slow_answer"] = read_answer(c)
            out["slow_took"] = gochan.monotonic()
        with net.dial("tcp", addr) as c:
            head = request(PODS, stalled_body, "POST")
            c.write(head[: len(head) - len(stalled_body)] + stalled_body[:10])
            gochan.sleep(step)
            c.write(stalled_body[10:20])
            last = gochan.monotonic()
            got, when = read_all(c)  # the rest never comes
            out["stalled"] = (got, when - last)
        out["pods"] = [p["metadata"]["name"] for p in srv.objects("pods")]
        return out

    out = run_virtual(main)
    assert out["slow_answer"].startswith(b"HTTP/1.1 201 ")
    assert out["slow_took"] > 10 * HEADER  # far longer than the timeout in all
    got, took = out["stalled"]
    assert got == b"" and math.isclose(took, HEADER, abs_tol=1e-9)
    assert out["pods"] == ["slow"]


def test_a_head_that_progresses_is_still_bounded_in_all() -> None:
    """Unlike a body, a head in pieces has one deadline for all of it: pieces each
    well within the timeout do not keep it open past ``read_header_timeout``."""

    def main(srv: APIServer, addr: str) -> tuple[bytes, float]:
        with net.dial("tcp", addr) as c:
            c.write(request())
            read_answer(c)
            first = gochan.monotonic()
            c.write(b"G")
            end = closed_when(c)
            try:
                for b in b"ET /version HTTP/1.1\r\nHost: x\r\n":
                    gochan.sleep(HEADER / 6.5)  # (no write at the very instant of the close)
                    c.write(bytes([b]))
            except OSError:
                pass  # closed by the server meanwhile: a late write fails
            got, when = end.recv()
            return got, when - first

    got, took = run_virtual(main)
    assert got == b"" and math.isclose(took, HEADER, abs_tol=1e-9)


def test_a_watch_outlives_both_timeouts() -> None:
    """A watch stream (and the monitor reading behind it) has no read deadline: it stays
    open far past ``idle_timeout`` and still delivers."""

    class Stream:  # httptools' callbacks: the head came, the body so far
        head = False
        body = b""

        def on_headers_complete(self) -> None:
            self.head = True

        def on_body(self, data: bytes) -> None:
            self.body += data

    def main(srv: APIServer, addr: str) -> tuple[int, bytes, float]:
        got = Stream()
        parser = httptools.HttpResponseParser(got)
        with net.dial("tcp", addr) as c:

            def more() -> None:
                data = c.read(65536)
                assert data, "the watch was closed"
                parser.feed_data(data)

            rv = srv.resource_version
            c.write(request(f"{PODS}?watch=1&resourceVersion={rv}"))
            while not got.head:
                more()
            gochan.sleep(5 * IDLE)
            srv.create("pods", json.loads(pod_body("late")))
            while b"late" not in got.body:
                more()
            return parser.get_status_code(), got.body, gochan.monotonic()

    status, body, when = run_virtual(main)
    assert status == 200 and json.loads(body)["type"] == "ADDED" and when == 5 * IDLE
