"""The apiserver's per-connection protocol (examples/k8s_watch/apiserver/connection.py).

Plain requests are answered straight from ``Connection.data_received``; the
rest (a watch, a ``Later`` answer, a chunked or ``Expect: 100-continue``
body) hands the connection over to asyncio streams. These tests speak raw
HTTP/1.1 over sockets (with timeouts) and prove what is specific to that
path: pipelining in one write, requests split across sends, the bytes that
follow a hand-over, half-close, shutdown and restart with an answer in
progress, flow control when the client does not read, and the connection
count in ``stats()``. Each runs on asyncio and on uvloop.

Waiting is never sleep-and-hope: a test polls a condition it can observe
(the server's own state, read on its loop) with a deadline. Where the order
of events matters (an EOF or a shutdown while an answer waits out its
latency), the latency is long and the test ends it itself (`answer_now`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import APIServer, ManualClock, serve  # noqa: E402
from examples.k8s_watch.apiserver.client import HTTPResult  # noqa: E402
from examples.k8s_watch.apiserver.connection import Connection  # noqa: E402
from examples.k8s_watch.apiserver.wire import Request  # noqa: E402

PODS = "/api/v1/namespaces/default/pods"
LOOPS = ["asyncio", "uvloop"]
TIMEOUT = 10.0


def pod(name: str, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def eventually(pred: Callable[[], bool], timeout: float = TIMEOUT, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"condition not reached: {what or pred}"
        time.sleep(0.001)


@pytest.fixture(params=LOOPS)
def loop_factory(request: pytest.FixtureRequest) -> Callable[[], asyncio.AbstractEventLoop]:
    if request.param == "uvloop":
        return uvloop.new_event_loop
    return asyncio.new_event_loop


@pytest.fixture
def start(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> Iterator[Callable[..., APIServer]]:
    """Start servers on the parametrized loop; every one is closed after the test."""
    started: list[APIServer] = []

    def make(**kw: Any) -> APIServer:
        kw.setdefault("clock", ManualClock())
        s = serve(loop_factory=loop_factory, **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        s.close()  # returns at once if a test's own thread is closing it: wait for that
        assert s._thread is not None
        s._thread.join(TIMEOUT)
        assert not s._thread.is_alive()


# ---- a raw HTTP/1.1 client ---------------------------------------------------------------


def req(
    method: str,
    path: str,
    body: Any = None,
    *,
    close: bool = False,
    headers: dict[str, str] | None = None,
) -> bytes:
    """The bytes of one request (``body``: JSON-able, or bytes sent as they are)."""
    data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", "Host: test", "Authorization: Bearer x"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


class Raw:
    """One client connection, read through a buffer (no client library in between)."""

    def __init__(self, srv: APIServer, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(("127.0.0.1", srv.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise EOFError(f"connection closed; unread: {bytes(self.buf[:200])!r}")
        self.buf += data

    def until(self, sep: bytes) -> bytes:
        while (i := self.buf.find(sep)) < 0:
            self._fill()
        out = bytes(self.buf[: i + len(sep)])
        del self.buf[: i + len(sep)]
        return out

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def head(self) -> tuple[int, dict[str, str]]:
        lines = self.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        version, code, _ = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        return int(code), headers

    def answer(self) -> HTTPResult:
        """The next whole answer with a Content-Length body."""
        code, headers = self.head()
        assert "transfer-encoding" not in headers, headers
        return HTTPResult(code, headers, self.exactly(int(headers["content-length"])))

    def chunk(self) -> bytes:
        """The next chunk of a chunked body (b"" for the last one)."""
        size = int(self.until(b"\r\n")[:-2], 16)
        data = self.exactly(size + 2)
        assert data[-2:] == b"\r\n"
        return data[:-2]

    def event(self) -> dict[str, Any]:
        data = self.chunk()
        assert data.endswith(b"\n")
        ev: dict[str, Any] = json.loads(data)
        return ev

    def at_eof(self) -> bool:
        """True once the server has closed (FIN or reset) and nothing is left unread."""
        if self.buf:
            return False
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            return True
        self.buf += data
        return not data


def name_of(a: HTTPResult) -> str:
    name: str = a.json()["metadata"]["name"]
    return name


def server_conn(srv: APIServer, raw: Raw) -> Connection | None:
    """The server's fast-path protocol for ``raw``'s connection (None if not on that path)."""
    me = raw.sock.getsockname()[:2]

    def find() -> Connection | None:
        for c in srv._fast:
            if c.transport is not None and c.transport.get_extra_info("peername")[:2] == me:
                return c
        return None

    found: Connection | None = on_loop(srv, find)
    return found


def on_loop(srv: APIServer, fn: Callable[[], Any]) -> Any:
    """``fn()`` run on the server's loop (also while ``close()`` runs, unlike ``_call``)."""
    loop = srv._loop
    assert loop is not None
    fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def run() -> None:
        try:
            fut.set_result(fn())
        except BaseException as e:  # pragma: no cover - reported to the test
            fut.set_exception(e)

    loop.call_soon_threadsafe(run)
    return fut.result(timeout=TIMEOUT)


# A request_latency no test waits out: the test answers the request itself
# (`answer_now`) once it has set the scene, so nothing depends on timing.
LONG = 60.0


def capture_taken(monkeypatch: pytest.MonkeyPatch) -> list[Request]:
    """Every request the fast path takes out of a connection's buffer, in order."""
    taken: list[Request] = []
    take = Connection._take

    def spy(self: Connection) -> Request | None:
        r = take(self)
        if r is not None:
            taken.append(r)
        return r

    monkeypatch.setattr(Connection, "_take", spy)
    return taken


def answer_now(srv: APIServer, conn: Connection, r: Request) -> None:
    """End ``r``'s latency now: what the connection's timer would do when it fires."""

    def run() -> None:
        assert conn.busy and conn._timer is not None
        conn._timer.cancel()
        conn._answer_later(r)

    on_loop(srv, run)


def settle(srv: APIServer, rounds: int = 10) -> None:
    """Let the server's loop run ``rounds`` iterations (one callback each, in turn):
    whatever was ready to run when this was called has run."""
    for _ in range(rounds):
        on_loop(srv, lambda: None)


def busy_conn(srv: APIServer, raw: Raw) -> Connection:
    """The server's protocol for ``raw``, once it is answering a request."""
    found: list[Connection] = []

    def busy() -> bool:
        c = server_conn(srv, raw)
        if c is not None and on_loop(srv, lambda: c.busy):
            found.append(c)
        return bool(found)

    eventually(busy, what="a request being answered")
    return found[0]


def record_hand_overs(srv: APIServer, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Record each hand-over to streams: the target of the request already dispatched
    (None when the streams read the request themselves: a chunked or 100-continue body)."""
    seen: list[str | None] = []
    serve_on_streams = srv._on_conn

    async def on_conn(reader: Any, writer: Any, first: Any = None) -> None:
        seen.append(None if first is None else first[0].target)
        await serve_on_streams(reader, writer, first)

    monkeypatch.setattr(srv, "_on_conn", on_conn)
    return seen


# ---- 1. pipelining on the fast path -------------------------------------------------------


@pytest.mark.parametrize("latency", [0.0, 0.01])
def test_pipelined_requests_in_one_write_are_answered_once_in_order(
    start: Callable[..., APIServer], latency: float
) -> None:
    srv = start(request_latency=latency)
    for n in ("a", "b", "c"):
        srv.create("pods", pod(n))
    pipeline = [
        req("GET", f"{PODS}/b"),
        req("GET", f"{PODS}/a"),
        req("POST", PODS, pod("d", note="x" * 300)),
        req("GET", f"{PODS}/d"),
        req("GET", f"{PODS}/zz"),
        req("HEAD", "/healthz"),
        req("GET", f"{PODS}/c"),
        req("GET", "/version", close=True),
    ]
    with Raw(srv) as raw:
        t0 = time.monotonic()
        raw.send(b"".join(pipeline))
        answers = [raw.answer() for _ in range(5)]
        code, head_headers = raw.head()  # HEAD: the head only, its Content-Length unsent
        answers += [raw.answer(), raw.answer()]
        elapsed = time.monotonic() - t0
        assert raw.at_eof()  # Connection: close on the last one, and nothing else was sent
    assert [a.status for a in answers[:5]] == [200, 200, 201, 200, 404]
    assert [name_of(a) for a in answers[:4]] == ["b", "a", "d", "d"]
    assert answers[2].json()["metadata"]["annotations"] == {"note": "x" * 300}
    assert answers[4].json()["reason"] == "NotFound"
    assert code == 200 and head_headers["content-length"] == "2"
    assert name_of(answers[5]) == "c"
    assert answers[6].json()["major"] == "1" and answers[6].headers["connection"] == "close"
    assert [p["metadata"]["name"] for p in srv.objects("pods")] == ["a", "b", "c", "d"]
    assert elapsed >= len(pipeline) * latency  # one at a time, each waited its latency
    assert srv.counters["connections"] == 1  # all on one connection...
    assert srv.counters["requests"] == len(pipeline)  # ...each dispatched once


# ---- 2. a request split across sends -------------------------------------------------------


def _buffered(srv: APIServer, raw: Raw) -> int:
    """How many unconsumed bytes the server holds for ``raw`` (-1: not adopted yet)."""
    conn = server_conn(srv, raw)
    return -1 if conn is None else int(on_loop(srv, lambda: len(conn.buf)))


def _send_in_pieces(srv: APIServer, raw: Raw, data: bytes, cuts: list[int], held: int = 0) -> None:
    """Send ``data`` cut at ``cuts``; before each next piece the server has buffered the
    previous ones (so it really saw them apart, however the kernel would have merged them).
    ``held``: bytes of the same request the server holds already."""
    sent = 0
    for cut in cuts:
        raw.send(data[sent:cut])
        sent = cut
        _wait_buffered(srv, raw, held + sent)
    raw.send(data[sent:])


def _wait_buffered(srv: APIServer, raw: Raw, want: int) -> None:
    eventually(lambda: _buffered(srv, raw) == want, what=f"server holds {want} bytes")


def test_a_request_split_at_every_byte_is_answered_once(start: Callable[..., APIServer]) -> None:
    srv = start()
    template = req("POST", PODS, pod("p0000"), close=True)
    head_end = template.index(b"\r\n\r\n") + 4
    assert 100 < head_end < len(template) - 50  # a head and a body to cut into
    for i in range(1, len(template)):
        name = f"p{i:04d}"
        data = req("POST", PODS, pod(name), close=True)
        assert len(data) == len(template)
        with Raw(srv) as raw:
            _send_in_pieces(srv, raw, data, [i])
            a = raw.answer()
            assert (a.status, name_of(a)) == (201, name), f"cut at {i}"
            assert raw.at_eof(), f"cut at {i}"
    assert len(srv.objects("pods")) == len(template) - 1
    assert srv.counters["verb_create"] == len(template) - 1  # each exactly once
    assert srv.counters["bad_http"] == 0


@pytest.mark.parametrize("latency", [0.0, 0.01])
def test_pieces_mid_header_line_and_mid_body_with_keep_alive(
    start: Callable[..., APIServer], latency: float
) -> None:
    srv = start(request_latency=latency)
    srv.create("pods", pod("a"))
    post = req("POST", PODS, pod("split", note="y" * 200))
    head_end = post.index(b"\r\n\r\n") + 4
    mid_line = post.index(b"Content-Length") + 5  # inside a header line
    with Raw(srv) as raw:
        # A whole GET, then the first piece of the POST: the GET is answered
        # while the POST is incomplete (read before the rest is sent).
        first = req("GET", f"{PODS}/a")
        raw.send(first + post[:mid_line])
        a = raw.answer()
        assert (a.status, name_of(a)) == (200, "a")
        _wait_buffered(srv, raw, mid_line)
        cuts = [head_end - 3, head_end - 1, head_end, head_end + 7, len(post) - 1]
        _send_in_pieces(srv, raw, post[mid_line:], [c - mid_line for c in cuts], mid_line)
        created = raw.answer()
        assert (created.status, name_of(created)) == (201, "split")
        assert created.json()["metadata"]["annotations"] == {"note": "y" * 200}
        raw.send(req("GET", f"{PODS}/split", close=True))  # the connection carries on
        got = raw.answer()
        assert (got.status, name_of(got)) == (200, "split")
        assert raw.at_eof()
    assert srv.counters["verb_create"] == 1 and srv.counters["bad_http"] == 0


# ---- 3. a hand-over keeps the bytes that follow ---------------------------------------------


def _held(srv: APIServer) -> int:
    """Fast-path connections held by an injected fault now."""
    return int(on_loop(srv, lambda: len(srv._held)))


def _on_streams(srv: APIServer) -> int:
    """Connections served on streams now (handed over by the fast path)."""
    return int(on_loop(srv, lambda: len(srv._conns)))


@pytest.mark.parametrize("latency", [0.0, 0.01])
@pytest.mark.parametrize("middle", ["list-at-future-rv", "fault-action"])
def test_a_hand_over_keeps_the_requests_pipelined_behind_it(
    start: Callable[..., APIServer], monkeypatch: pytest.MonkeyPatch, latency: float, middle: str
) -> None:
    srv = start(request_latency=latency, too_large_wait=TIMEOUT)
    handed = record_hand_overs(srv, monkeypatch)
    srv.create("pods", pod("a"))
    wanted = srv.resource_version + 1
    if middle == "list-at-future-rv":
        target = f"{PODS}?resourceVersion={wanted}"
        mid = req("GET", target)
    else:
        target = "/debug/faults"
        mid = req("POST", target, {"action": "clear"})
    after = req("POST", PODS, pod("after"))  # a body among the bytes handed over
    with Raw(srv) as raw:
        raw.send(req("GET", f"{PODS}/a") + mid + after + req("GET", f"{PODS}/after", close=True))
        first = raw.answer()
        assert (first.status, name_of(first)) == (200, "a")
        if middle == "list-at-future-rv":
            # The list waits on the loop, on streams (the fast path let go of it),
            # and what follows it waits too.
            eventually(lambda: _on_streams(srv) == 1, what="handed over")
            assert server_conn(srv, raw) is None
            assert [p["metadata"]["name"] for p in srv.objects("pods")] == ["a"]
            srv.create("pods", pod("b"))  # the revision the list waits for
        second = raw.answer()
        third = raw.answer()
        fourth = raw.answer()
        assert raw.at_eof()
    assert second.status == 200
    if middle == "list-at-future-rv":
        lst = second.json()
        assert lst["metadata"]["resourceVersion"] == str(wanted)
        assert [p["metadata"]["name"] for p in lst["items"]] == ["a", "b"]
    else:
        assert second.json() == {"action": "clear", "result": None}
    assert (third.status, name_of(third)) == (201, "after")
    assert (fourth.status, name_of(fourth)) == (200, "after")
    assert handed == [target]  # handed over once, with the middle request dispatched
    assert srv.counters["connections"] == 1 and srv.counters["bad_http"] == 0
    assert srv.counters["verb_create"] == 1


@pytest.mark.parametrize("pipelined", [True, False])
def test_a_stalled_list_holds_the_connection_then_serves_on(
    start: Callable[..., APIServer], monkeypatch: pytest.MonkeyPatch, pipelined: bool
) -> None:
    """stall_after_headers on a list: the head, nothing until clear_faults(), then the
    body; the next request on the connection (pipelined behind the list, or sent
    after its body) is answered. The stall is kept on the fast path (no hand-over):
    what is pipelined behind it waits in the buffer."""
    srv = start()
    handed = record_hand_overs(srv, monkeypatch)
    srv.create("pods", pod("a"))
    srv.stall_after_headers(verbs=("list",), resource="pods")
    after = req("GET", f"{PODS}/a", close=True)
    with Raw(srv) as raw:
        raw.send(req("GET", "/healthz") + req("GET", PODS) + (after if pipelined else b""))
        assert raw.answer().body == b"ok"
        code, headers = raw.head()  # the list's head, then nothing until released
        assert code == 200
        eventually(lambda: srv.counters["held"] == 1, what="stalled")
        settle(srv)
        assert _held(srv) == 1, "the stall ended before clear_faults()"
        assert not raw.buf
        srv.clear_faults()
        lst = json.loads(raw.exactly(int(headers["content-length"])))
        assert [p["metadata"]["name"] for p in lst["items"]] == ["a"]
        if not pipelined:
            raw.send(after)
        got = _answered(raw, srv, "the request after the stalled list was not answered")
        assert (got.status, name_of(got)) == (200, "a")
        assert raw.at_eof()
    assert handed == []


def test_a_held_request_ends_the_connection_with_what_was_pipelined_behind_it(
    start: Callable[..., APIServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """never_answer: the requests before it are answered, it and those behind it never
    are; clear_faults() closes the connection (the client sees it end, not hang). The
    hold is kept on the fast path (no hand-over)."""
    srv = start()
    handed = record_hand_overs(srv, monkeypatch)
    srv.create("pods", pod("a"))
    srv.never_answer(resource="pods", verbs=("list",))
    with Raw(srv) as raw:
        raw.send(req("GET", f"{PODS}/a") + req("GET", PODS) + req("GET", "/version"))
        assert name_of(raw.answer()) == "a"
        eventually(lambda: srv.counters["held"] == 1, what="held")
        settle(srv)
        assert _held(srv) == 1, "the hold ended before clear_faults()"
        assert not raw.buf
        srv.clear_faults()
        assert raw.at_eof()
    assert handed == []
    assert srv.counters["requests"] == 2  # /version was never dispatched


def test_a_malformed_request_behind_good_ones_is_answered_in_turn_then_closes(
    start: Callable[..., APIServer],
) -> None:
    srv = start(request_latency=0.01)
    srv.create("pods", pod("a"))
    with Raw(srv) as raw:
        raw.send(req("GET", f"{PODS}/a") + req("GET", "/version") + b"get / HTTP/1.1\r\n\r\n")
        assert name_of(raw.answer()) == "a"
        assert raw.answer().json()["major"] == "1"
        bad = raw.answer()
        assert bad.status == 400 and bad.headers["connection"] == "close"
        assert bad.json()["reason"] == "BadRequest"
        assert raw.at_eof()
    assert srv.counters["bad_http"] == 1 and srv.counters["requests"] == 2


# ---- 4. a watch mid-life ----------------------------------------------------------------------


def _watch_target(srv: APIServer) -> str:
    return f"{PODS}?watch=1&resourceVersion={srv.resource_version}"


def _read_watch_head(raw: Raw) -> None:
    code, headers = raw.head()
    assert code == 200 and headers["transfer-encoding"] == "chunked"


@pytest.mark.parametrize("latency", [0.0, 0.01])
def test_a_watch_after_plain_gets_streams_then_the_connection_serves_on(
    start: Callable[..., APIServer], monkeypatch: pytest.MonkeyPatch, latency: float
) -> None:
    srv = start(request_latency=latency)
    handed = record_hand_overs(srv, monkeypatch)
    for n in ("a", "b"):
        srv.create("pods", pod(n))
    with Raw(srv) as raw:
        for n in ("a", "b"):
            raw.send(req("GET", f"{PODS}/{n}"))
            assert name_of(raw.answer()) == n
        assert server_conn(srv, raw) is not None  # so far on the fast path
        target = _watch_target(srv)
        raw.send(req("GET", target))
        srv.wait_for_watchers(1)
        _read_watch_head(raw)
        srv.create("pods", pod("c"))
        srv.delete("pods", "a")
        ev1, ev2 = raw.event(), raw.event()
        assert (ev1["type"], ev1["object"]["metadata"]["name"]) == ("ADDED", "c")
        assert (ev2["type"], ev2["object"]["metadata"]["name"]) == ("DELETED", "a")
        assert srv.stats()["connections"] == 1 and server_conn(srv, raw) is None
        assert srv.end_watches() == 1
        assert raw.chunk() == b""  # the stream's clean end
        raw.send(req("GET", f"{PODS}/c", close=True))  # the same connection, on streams now
        got = _answered(raw, srv, "the connection did not carry the request after the watch")
        assert (got.status, name_of(got)) == (200, "c")
        assert raw.at_eof()
    assert handed == [target]


@pytest.mark.parametrize("when", ["same-write", "while-streaming"])
def test_a_request_pipelined_behind_a_watch_closes_the_connection_after_the_stream(
    start: Callable[..., APIServer], monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """watch.py's promise for a request pipelined behind a watch: it does not end or
    corrupt the stream, and the connection is not reused after the stream ends (it
    closes right after the last chunk, so the client knows to send it again)."""
    srv = start()
    handed = record_hand_overs(srv, monkeypatch)
    srv.create("pods", pod("a"))
    target = _watch_target(srv)
    behind = req("GET", "/version")
    with Raw(srv) as raw:
        raw.send(req("GET", f"{PODS}/a"))
        assert name_of(raw.answer()) == "a"
        if when == "same-write":
            raw.send(req("GET", target) + behind)
            srv.wait_for_watchers(1)
        else:
            raw.send(req("GET", target))
            srv.wait_for_watchers(1)
            raw.send(behind)
        eventually(
            lambda: on_loop(srv, lambda: [w.pipelined for w in srv._watchers]) == [True],
            what="the watch saw the pipelined request",
        )
        _read_watch_head(raw)
        srv.create("pods", pod("b"))  # the stream goes on regardless
        ev = raw.event()
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "b")
        assert srv.watcher_count() == 1
        assert srv.end_watches() == 1
        assert raw.chunk() == b""
        assert raw.at_eof()  # closed, the pipelined request unanswered: not reused
    assert handed == [target]
    assert srv.counters["requests"] == 2  # /version was never dispatched
    # and asked again on a new connection, it is answered
    with Raw(srv) as raw:
        raw.send(req("GET", "/version", close=True))
        assert raw.answer().status == 200
        assert raw.at_eof()


# ---- 5. Expect: 100-continue mid-life ----------------------------------------------------------


@pytest.mark.parametrize("body_with_head", [False, True])
def test_expect_100_continue_after_a_plain_get(
    start: Callable[..., APIServer], monkeypatch: pytest.MonkeyPatch, body_with_head: bool
) -> None:
    srv = start(request_latency=0.01)
    handed = record_hand_overs(srv, monkeypatch)
    post = req("POST", PODS, pod("cont"), headers={"Expect": "100-continue"})
    split = post.index(b"\r\n\r\n") + 4
    with Raw(srv) as raw:
        raw.send(req("GET", "/version"))
        assert raw.answer().status == 200
        if body_with_head:
            raw.send(post)
        else:
            raw.send(post[:split])  # the client waits for 100 Continue before the body
        assert raw.until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        if not body_with_head:
            raw.send(post[split:])
        created = raw.answer()
        assert (created.status, name_of(created)) == (201, "cont")
        raw.send(req("GET", f"{PODS}/cont", close=True))
        got = raw.answer()
        assert (got.status, name_of(got)) == (200, "cont")
        assert raw.at_eof()
    assert handed == [None]  # the streams read that request themselves
    assert srv.counters["verb_create"] == 1 and srv.counters["connections"] == 1


# ---- 6. half-close ------------------------------------------------------------------------


@pytest.mark.parametrize("latency", [0.0, 0.05])
def test_half_close_still_gets_every_answer_then_eof(
    start: Callable[..., APIServer], latency: float
) -> None:
    srv = start(request_latency=latency)
    srv.create("pods", pod("a"))
    with Raw(srv) as raw:
        raw.send(req("GET", f"{PODS}/a") + req("GET", "/version"))
        raw.sock.shutdown(socket.SHUT_WR)
        first, second = raw.answer(), raw.answer()
        assert (first.status, name_of(first)) == (200, "a")
        assert second.status == 200 and second.json()["major"] == "1"
        assert raw.at_eof()
    eventually(lambda: srv.stats()["connections"] == 0, what="the server let go")


@pytest.mark.parametrize("what", ["get", "fault-action"])
def test_half_close_while_the_answer_waits_out_its_latency(
    start: Callable[..., APIServer], monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """The EOF reaches the server while it is answering (waiting out the latency):
    the answer still goes out whole, then the server closes. A fault action is
    answered on streams (a hand-over after the EOF: the streams must see it too)."""
    srv = start(request_latency=LONG)
    handed = record_hand_overs(srv, monkeypatch)
    taken = capture_taken(monkeypatch)
    srv.create("pods", pod("a"))
    with Raw(srv) as raw:
        if what == "get":
            raw.send(req("GET", f"{PODS}/a"))
        else:
            raw.send(req("POST", "/debug/faults", {"action": "clear"}))
        conn = busy_conn(srv, raw)
        raw.sock.shutdown(socket.SHUT_WR)
        eventually(lambda: on_loop(srv, lambda: conn.eof), what="the server saw the EOF")
        assert on_loop(srv, lambda: (conn.busy, conn.done)) == (True, False)
        answer_now(srv, conn, taken[0])
        answer = raw.answer()
        assert answer.status == 200
        if what == "get":
            assert name_of(answer) == "a"
        else:
            assert answer.json() == {"action": "clear", "result": None}
        assert raw.at_eof()
    assert handed == ([] if what == "get" else ["/debug/faults"])
    eventually(lambda: srv.stats()["connections"] == 0, what="the server let go")


# ---- 7. shutdown with an answer in progress ----------------------------------------------------


def test_close_lets_a_pending_answer_out(start: Callable[..., APIServer]) -> None:
    """With real timers: close() from another thread while the answer waits out its
    latency; the client gets it whole, then the connection closes."""
    srv = start(request_latency=0.3)
    srv.create("pods", pod("a"))
    with Raw(srv) as raw:
        raw.send(req("GET", f"{PODS}/a"))
        busy_conn(srv, raw)
        closer = threading.Thread(target=srv.close)
        closer.start()
        try:
            answer = raw.answer()
            assert (answer.status, name_of(answer)) == (200, "a")
            assert raw.at_eof()
        finally:
            closer.join(TIMEOUT)
        assert not closer.is_alive()
    assert srv._thread is not None and not srv._thread.is_alive()


def _server_send_buffer(srv: APIServer, conn: Connection, size: int) -> None:
    """A small kernel send buffer for the server's end of ``conn`` (a slow link, as
    seen from the server): most of a large answer then waits in the transport."""
    assert conn.transport is not None
    sock = conn.transport.get_extra_info("socket")
    on_loop(srv, lambda: sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size))


def _answered(raw: Raw, srv: APIServer, failure: str) -> HTTPResult:
    """The next answer; a test failure (with the server's counters) if the connection ends."""
    try:
        return raw.answer()
    except (EOFError, ConnectionResetError) as e:
        pytest.fail(f"{failure} ({e!r}); server counters: {dict(srv.counters)}")


def _whole_answer(raw: Raw) -> HTTPResult:
    """The next answer; a test failure saying how much came if the connection ends first."""
    try:
        code, headers = raw.head()
    except (EOFError, ConnectionResetError) as e:
        pytest.fail(f"the connection ended with no answer: {e!r}")
    length = int(headers["content-length"])
    try:
        return HTTPResult(code, headers, raw.exactly(length))
    except (EOFError, ConnectionResetError) as e:
        pytest.fail(
            f"the connection ended inside the answer: {len(raw.buf)} of {length} body bytes "
            f"({type(e).__name__})"
        )


@pytest.mark.parametrize("what", ["get", "large-get", "fault-action"])
def test_shutdown_waits_for_the_answer_in_progress(
    start: Callable[..., APIServer], monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """close() while a request waits out its latency: the shutdown waits for that
    answer (up to its 2 s bound), the client gets it whole, then EOF; the request
    pipelined behind it is not taken. The latency ends only once the shutdown is
    waiting (the test fires it), so the order of events is fixed."""
    srv = start(request_latency=LONG)
    taken = capture_taken(monkeypatch)
    size = 1_000_000 if what == "large-get" else 10
    srv.create("pods", pod("a", big="z" * size))
    first = {
        "get": req("GET", f"{PODS}/a"),
        "large-get": req("GET", f"{PODS}/a"),
        "fault-action": req("POST", "/debug/faults", {"action": "clear"}),
    }[what]
    closer = threading.Thread(target=srv.close)
    with Raw(srv, rcvbuf=32 * 1024) as raw, Raw(srv) as idle:
        eventually(lambda: server_conn(srv, idle) is not None, what="idle adopted")
        if what == "large-get":
            eventually(lambda: server_conn(srv, raw) is not None, what="adopted")
            conn = server_conn(srv, raw)
            assert conn is not None
            _server_send_buffer(srv, conn, 16 * 1024)
        raw.send(first + req("GET", "/version"))
        conn = busy_conn(srv, raw)
        closer.start()
        try:
            eventually(lambda: conn._ended is not None, what="the shutdown waits for the answer")
            assert idle.at_eof()  # an idle connection is not waited for
            answer_now(srv, conn, taken[-1])
            answer = _whole_answer(raw)
            assert answer.status == 200
            assert answer.headers.get("connection") == "close"  # nothing more will be read
            if what == "fault-action":
                assert answer.json() == {"action": "clear", "result": None}
            else:
                assert answer.json()["metadata"]["annotations"]["big"] == "z" * size
            assert raw.at_eof()  # /version, pipelined behind it, was not taken
        finally:
            closer.join(TIMEOUT)
        assert not closer.is_alive()
    assert [r.target for r in taken] == [first.split(b" ")[1].decode()]


# ---- 8. restart over HTTP ----------------------------------------------------------------------


@pytest.mark.parametrize("latency", [0.0, 0.01])
def test_restart_answers_on_the_fast_path_resets_the_others_and_serves_again(
    start: Callable[..., APIServer], monkeypatch: pytest.MonkeyPatch, latency: float
) -> None:
    srv = start(request_latency=latency)
    handed = record_hand_overs(srv, monkeypatch)
    srv.create("pods", pod("a"))
    port = srv.port
    with Raw(srv) as idle, Raw(srv) as raw:
        idle.send(req("GET", f"{PODS}/a"))  # an idle keep-alive connection, adopted
        assert idle.answer().status == 200
        raw.send(req("GET", "/healthz"))  # the restart comes on a connection mid-life
        assert raw.answer().status == 200
        assert srv.stats()["connections"] == 2
        raw.send(req("POST", "/debug/faults", {"action": "restart"}) + req("GET", "/version"))
        answer = _whole_answer(raw)
        assert answer.status == 200 and answer.headers["connection"] == "close"
        assert answer.json() == {"action": "restart", "result": None}
        assert raw.at_eof()  # closed after its answer; /version behind it not taken
        assert idle.at_eof()  # the idle one is dropped by the restart
    eventually(lambda: srv.counters["restarts"] == 1, what="restarted")
    assert srv.stats()["connections"] == 0
    assert handed == []  # all of it on the fast path
    assert srv.port == port
    with Raw(srv) as again:
        again.send(req("GET", f"{PODS}/a", close=True))
        got = again.answer()
        assert (got.status, name_of(got)) == (200, "a")  # the state was kept
        assert again.at_eof()
    assert srv.counters["requests"] == 4  # /version was never dispatched


def test_the_restart_answer_queued_behind_a_large_one_is_not_lost(
    start: Callable[..., APIServer],
) -> None:
    """The restart's answer is still in the transport (behind a large answer the
    client reads slowly) when the restart drops every connection: it still goes out,
    after the large one, whole."""
    srv = start()
    size = 300_000
    srv.create("pods", pod("big", fill="q" * size))
    with Raw(srv, rcvbuf=16 * 1024) as raw:
        eventually(lambda: server_conn(srv, raw) is not None, what="adopted")
        conn = server_conn(srv, raw)
        assert conn is not None
        _server_send_buffer(srv, conn, 16 * 1024)
        raw.send(req("GET", f"{PODS}/big") + req("POST", "/debug/faults", {"action": "restart"}))
        big = _whole_answer(raw)  # read while the restart goes on
        assert big.json()["metadata"]["annotations"]["fill"] == "q" * size
        answer = _whole_answer(raw)
        assert answer.json() == {"action": "restart", "result": None}
        assert raw.at_eof()
    eventually(lambda: srv.counters["restarts"] == 1, what="restarted")


# ---- 9. a client that does not read --------------------------------------------------------


def _flow_state(
    srv: APIServer, conn: Connection
) -> tuple[bool, bool, int, int, tuple[int, int]]:
    """(paused, busy, requests still buffered, bytes in the transport, its
    (low, high) water marks)."""

    def read() -> tuple[bool, bool, int, int, tuple[int, int]]:
        t = conn.transport
        assert t is not None
        return (
            conn.paused,
            conn.busy,
            bytes(conn.buf).count(b"\r\n\r\n"),
            t.get_write_buffer_size(),
            t.get_write_buffer_limits(),
        )

    state: tuple[bool, bool, int, int, tuple[int, int]] = on_loop(srv, read)
    return state


@pytest.mark.parametrize("then", ["read", "half-close-then-read"])
def test_a_client_that_does_not_read_holds_back_the_next_requests(
    start: Callable[..., APIServer], then: str
) -> None:
    srv = start()
    n, size = 24, 100_000
    for i in range(n):
        srv.create("pods", pod(f"big-{i:02d}", fill=str(i % 10) * size))
    pipeline = b"".join(req("GET", f"{PODS}/big-{i:02d}") for i in range(n))
    before = srv.counters["requests"]
    with Raw(srv, rcvbuf=16 * 1024) as raw:
        eventually(lambda: server_conn(srv, raw) is not None, what="adopted")
        conn = server_conn(srv, raw)
        assert conn is not None
        # The kernel buffers between server and client hold ~50 KB at most (not the
        # megabytes loopback autotuning allows): the rest stays in the transport.
        _server_send_buffer(srv, conn, 16 * 1024)
        raw.send(pipeline + req("GET", "/version", close=True))

        def all_in_and_paused() -> bool:
            paused, busy, queued, _, _ = _flow_state(srv, conn)
            answered = srv.counters["requests"] - before
            return paused and not busy and answered + queued == n + 1

        eventually(all_in_and_paused, what="every request received, writing paused")
        paused, busy, queued, buffered, (low, high) = _flow_state(srv, conn)
        answered = srv.counters["requests"] - before
        # Everything is there to answer, and the server stopped: it answered no more
        # than it took to fill its write buffer past the high-water mark.
        assert paused and not busy and queued == n + 1 - answered
        assert 1 <= answered < n
        # Writing paused once the buffer passed the high-water mark; the loop
        # has been draining it into the kernel since, and it stays paused
        # until the buffer is down to the low-water mark.
        assert low < buffered <= high + size + 1000
        if then == "half-close-then-read":
            raw.sock.shutdown(socket.SHUT_WR)
            eventually(lambda: on_loop(srv, lambda: conn.eof), what="the server saw the EOF")
            assert _flow_state(srv, conn)[:3] == (True, False, queued)  # still held back
        answers = [raw.answer() for _ in range(n)]  # reading resumes the server
        version = raw.answer()
        assert raw.at_eof()
    for i, a in enumerate(answers):
        assert a.status == 200
        obj = a.json()
        assert obj["metadata"]["name"] == f"big-{i:02d}"
        assert obj["metadata"]["annotations"]["fill"] == str(i % 10) * size
    assert version.status == 200 and version.json()["major"] == "1"
    assert srv.counters["requests"] - before == n + 1


def test_a_client_that_does_not_read_cannot_fill_the_server_with_requests(
    start: Callable[..., APIServer],
) -> None:
    """While the answers wait for the client, the requests it keeps pipelining are
    not read without bound: past some limit the server stops reading (TCP pushes
    back on the client), as the streams path does (its reader pauses at 128 KiB)."""
    srv = start()
    srv.create("pods", pod("big", fill="x" * 100_000))
    bound = 1 << 20
    with Raw(srv, rcvbuf=16 * 1024) as raw:
        eventually(lambda: server_conn(srv, raw) is not None, what="adopted")
        conn = server_conn(srv, raw)
        assert conn is not None
        _server_send_buffer(srv, conn, 16 * 1024)
        transport = conn.transport
        assert transport is not None
        one = req("GET", f"{PODS}/big")
        block = one * (65536 // len(one))
        raw.sock.setblocking(False)

        def held() -> int:
            return int(on_loop(srv, lambda: len(conn.buf)))

        def reading() -> bool:
            return bool(on_loop(srv, transport.is_reading))

        sent = 0
        while sent < 4 * bound and reading():
            try:
                sent += raw.sock.send(block)
            except BlockingIOError:
                select.select([], [raw.sock], [], 0.01)
        eventually(lambda: not reading() or held() > bound, what="stopped reading, or past it")
        assert held() <= bound, (
            f"the server holds {held()} bytes of unanswered requests "
            f"({sent} sent, still reading: {reading()})"
        )


# ---- 10. stats -----------------------------------------------------------------------------------


def test_stats_count_fast_path_connections(
    start: Callable[..., APIServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = start()
    handed = record_hand_overs(srv, monkeypatch)
    assert srv.stats()["connections"] == 0
    raws = [Raw(srv) for _ in range(3)]
    try:
        for raw in raws:
            raw.send(req("GET", "/healthz"))
            assert raw.answer().status == 200
        assert all(server_conn(srv, raw) is not None for raw in raws)
        assert srv.stats()["connections"] == 3 and srv.counters["connections"] == 3
        raws[0].send(req("GET", "/debug/stats"))  # over HTTP too, counting itself
        over_http = raws[0].answer().json()
        assert over_http["connections"] == 3 and over_http["counters"]["connections"] == 3
        raws[1].sock.close()
        eventually(lambda: srv.stats()["connections"] == 2, what="a closed one is let go")
        raws[2].send(req("GET", f"{PODS}?watch=1"))  # handed over: still counted, once
        srv.wait_for_watchers(1)
        assert handed == [f"{PODS}?watch=1"]
        assert srv.stats()["connections"] == 2
        raws[0].send(req("GET", "/healthz", close=True))
        assert raws[0].answer().status == 200 and raws[0].at_eof()
        eventually(lambda: srv.stats()["connections"] == 1, what="closed after Connection: close")
    finally:
        for raw in raws:
            raw.sock.close()
    eventually(lambda: srv.stats()["connections"] == 0, what="every connection let go")
    assert srv.counters["connections"] == 3  # accepted in all
