"""The apiserver's per-connection protocol (examples/k8s_watch/apiserver/connection.py).

Each connection is a green task on ``gochan.net`` that reads a request
(parsed by httptools), dispatches it and writes the answer, one at a time, in
order; a watch or a held request gets a monitor task that reads behind it.
These tests speak raw HTTP/1.1 over sockets (with timeouts; the answers parsed by
httptools, as the server parses the requests) and prove what
the layer promises: pipelining in one write, requests split across sends,
what is pipelined behind an answer that has to wait (a list at a future
revision, a fault action, a stall, a hold, a watch), ``Expect:
100-continue``, half-close, shutdown and restart with an answer in
progress, a client that does not read (it blocks the connection's write and
then nothing more is read: TCP pushes back), and the connection count in
``stats()``. Each runs on gochan's default backend and on uvloop.

Waiting is never sleep-and-hope: a test polls a condition it can observe
(the server's own state, read on its thread) with a deadline. Where the
order of events matters (an EOF or a shutdown while an answer is being
made), the request is held at dispatch by a gate the test opens itself
(`Gate`), so nothing depends on timing. The timeouts (``read_header_timeout``,
``idle_timeout``) run on gochan's virtual clock, server and clients in one
scheduler: every instant is exact.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httptools
import pytest

import gochan
from gochan import net

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import (  # noqa: E402
    APIServer,
    ManualClock,
    connection,
    serve,
)
from examples.k8s_watch.apiserver.client import HTTPResult  # noqa: E402
from examples.k8s_watch.apiserver.connection import ConnState  # noqa: E402
from examples.k8s_watch.apiserver.wire import Request  # noqa: E402

PODS = "/api/v1/namespaces/default/pods"
BACKENDS = [None, "uvloop"]  # gochan's default backend, and uvloop (as bench/w9_k8s.py runs it)
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


@pytest.fixture(params=BACKENDS, ids=["default", "uvloop"])
def backend(request: pytest.FixtureRequest) -> str | None:
    name: str | None = request.param
    return name


@pytest.fixture
def start(backend: str | None) -> Iterator[Callable[..., APIServer]]:
    """Start servers on the parametrized backend; every one is closed after the test."""
    started: list[APIServer] = []

    def make(**kw: Any) -> APIServer:
        kw.setdefault("clock", ManualClock())
        s = serve(backend=backend, **kw)
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


class _Answer:
    """One answer as the response parser delivers it."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.taken = 0  # body bytes the test has read (a watch stream's events)
        self.headers_done = False
        self.complete = False
        self.seen_complete = False  # the test has seen it end (nothing_yet)

    def result(self) -> HTTPResult:
        return HTTPResult(self.status, self.headers, bytes(self.body))


class Raw:
    """One client connection: the server's answers are parsed by httptools' response
    parser, fed everything that comes (no client library, no parser of our own).

    httptools cannot be told an answer is to a ``HEAD`` (its Content-Length then has no
    body), so while a ``HEAD`` sent here is unanswered the bytes are fed one at a time:
    its answer ends with its head, and a fresh parser takes the bytes after it."""

    def __init__(self, srv: APIServer, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(("127.0.0.1", srv.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.received = bytearray()  # every byte that came, in order (a log, not parsed)
        self.answers: deque[_Answer] = deque()  # begun by the parser, not handed out yet
        self.current: _Answer | None = None  # the answer whose head `head()` gave
        self.methods: deque[str] = deque()  # of the requests sent, not answered yet
        self._requests: _Sent | None = _Sent(self.methods)
        self._new_parser()

    def _new_parser(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._head_done = False  # a HEAD's answer ended at its head: the parser is spent
        self._parsing = _Answer()  # the answer the parser is in

    # httptools' callbacks
    def on_message_begin(self) -> None:
        self._parsing = _Answer()  # handed out by `head` maybe before it is complete
        self.answers.append(self._parsing)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsing.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        a = self._parsing
        assert self._parser.get_http_version() == "1.1"
        a.status = self._parser.get_status_code()
        a.headers_done = True
        if a.status >= 200 and (self.methods.popleft() if self.methods else "") == "HEAD":
            a.complete = True  # a HEAD's answer has no body, whatever its Content-Length
            self._head_done = True

    def on_body(self, data: bytes) -> None:
        self._parsing.body += data

    def on_message_complete(self) -> None:
        self._parsing.complete = True

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        if self._requests is not None:
            try:
                self._requests.parser.feed_data(data)  # what we ask: a HEAD's answer has no body
            except httptools.HttpParserError:
                self._requests = None  # a malformed request on purpose: no HEAD after it
        self.sock.sendall(data)

    def _feed(self, data: bytes) -> None:
        self.received += data
        for i in range(len(data)):
            if "HEAD" not in self.methods:
                self._parser.feed_data(data[i:])
                return
            self._parser.feed_data(data[i : i + 1])
            if self._head_done:
                self._new_parser()

    def _fill(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise EOFError(f"connection closed; unread: {bytes(self.received[-200:])!r}")
        self._feed(data)

    def _next(self, done: Callable[[_Answer], bool]) -> _Answer:
        while not self.answers or not done(self.answers[0]):
            self._fill()
        return self.answers.popleft()

    def head(self) -> tuple[int, dict[str, str]]:
        """The next answer's status and headers (names lower-cased); its body is read by
        `body`, `event` and `end`."""
        self.current = a = self._next(lambda a: a.headers_done)
        a.seen_complete = a.complete
        return a.status, a.headers

    def answer(self) -> HTTPResult:
        """The next whole answer with a Content-Length body."""
        a = self._next(lambda a: a.complete)
        assert a.status >= 200, f"an interim answer: {a.status}"
        assert "transfer-encoding" not in a.headers, a.headers
        assert len(a.body) == int(a.headers["content-length"])
        return a.result()

    def interim(self) -> tuple[int, dict[str, str]]:
        """The next answer, a 1xx one: its status and headers."""
        a = self._next(lambda a: a.complete)
        assert 100 <= a.status < 200, a.status
        return a.status, a.headers

    def end(self) -> bytes:
        """The rest of `head`'s answer's body, once the answer is complete (for a chunked
        one: the last chunk came)."""
        a = self.current
        assert a is not None
        while not a.complete:
            self._fill()
        a.seen_complete = True
        rest = bytes(a.body[a.taken :])
        a.taken = len(a.body)
        return rest

    def event(self) -> dict[str, Any]:
        """The next watch event of `head`'s answer: a line of its body, as the parser
        delivers it (a piece may hold several)."""
        a = self.current
        assert a is not None
        while (i := a.body.find(b"\n", a.taken)) < 0:
            assert not a.complete, "the stream ended"
            self._fill()
        line = bytes(a.body[a.taken : i])
        a.taken = i + 1
        ev: dict[str, Any] = json.loads(line)
        return ev

    def _unread(self) -> bool:
        """Something came that the test has not read: an answer begun (a byte of it is
        enough), or more of `head`'s answer."""
        a = self.current
        return bool(self.answers) or (
            a is not None and (a.taken < len(a.body) or a.complete != a.seen_complete)
        )

    def at_eof(self) -> bool:
        """True once the server has closed (FIN or reset) and nothing is left unread."""
        if self._unread():
            return False
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            return True
        self._feed(data)
        return not data

    def nothing_yet(self) -> bool:
        """True if no byte has come from the server (and it has not closed) by now."""
        if self._unread():
            return False
        return not select.select([self.sock], [], [], 0)[0]


class _Sent:
    """httptools' callbacks for the requests a `Raw` sends: their methods, in order."""

    def __init__(self, methods: deque[str]) -> None:
        self.methods = methods
        self.parser = httptools.HttpRequestParser(self)

    def on_headers_complete(self) -> None:
        self.methods.append(self.parser.get_method().decode())


def name_of(a: HTTPResult) -> str:
    name: str = a.json()["metadata"]["name"]
    return name


# ---- the server's side of a connection ---------------------------------------------------------


def on_thread(srv: APIServer, fn: Callable[[], Any]) -> Any:
    """``fn()`` on the server's thread, between its tasks."""
    return srv._call(fn)


def state_of(srv: APIServer, raw: Raw) -> ConnState | None:
    """The server's state for ``raw``'s connection (None until it is accepted, or gone)."""
    port = raw.sock.getsockname()[1]

    def find() -> ConnState | None:
        for conn, state in srv._conns.items():
            if conn.remote_addr.port == port:
                return state
        return None

    found: ConnState | None = on_thread(srv, find)
    return found


def accepted(srv: APIServer, raw: Raw) -> ConnState:
    found: list[ConnState] = []

    def look() -> bool:
        s = state_of(srv, raw)
        if s is not None:
            found.append(s)
        return bool(found)

    eventually(look, what="the connection accepted")
    return found[0]


class Reads:
    """Bytes the server's connections have read, per connection (a spy on
    connection.py's ``_read``, the one read of a request's head and body)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.total: dict[object, int] = {}
        read = connection._read

        def spy(conn: net.Conn) -> bytes:
            data = read(conn)
            self.total[conn] = self.total.get(conn, 0) + len(data)
            return data

        monkeypatch.setattr(connection, "_read", spy)

    def wait(self, state: ConnState, want: int) -> None:
        eventually(
            lambda: self.total.get(state.conn, 0) == want, what=f"the server read {want} bytes"
        )


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    return Reads(monkeypatch)


def held_bytes(srv: APIServer, state: ConnState) -> int:
    """Bytes the server has read from the connection and not answered (by reads: see
    `Parser.held`)."""
    return int(on_thread(srv, lambda: state.parser.held if state.parser else 0))


def settle(srv: APIServer, rounds: int = 10) -> None:
    """Let the server's thread go round ``rounds`` times: whatever was ready has run."""
    for _ in range(rounds):
        on_thread(srv, lambda: None)


def server_send_buffer(state: ConnState, size: int) -> None:
    """A small kernel send buffer for the server's end (a slow link, as the server sees
    it): a large answer then waits in the write, not in the kernel."""
    s = socket.socket(fileno=state.conn.fileno())
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    finally:
        s.detach()


class Gate:
    """Holds every request at dispatch (in its connection's task) until opened: what the
    old layer's long ``request_latency`` did, without a timer. ``taken`` lists the
    targets dispatched, in order; ``waiting`` is set while one is held."""

    def __init__(self, srv: APIServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.taken: list[str] = []
        self.waiting = threading.Event()
        self._open: gochan.Chan[None] = gochan.Chan()
        dispatch = srv._dispatch

        def gated(r: Request) -> Any:
            self.taken.append(r.target)
            if not self._opened:
                self.waiting.set()
                self._open.recv()  # parks this connection's task only
            return dispatch(r)

        self._opened = False
        monkeypatch.setattr(srv, "_dispatch", gated)

    def open(self) -> None:
        self._opened = True
        self._open.close()  # from the test's thread: channels cross OS threads

    def wait(self) -> None:
        assert self.waiting.wait(TIMEOUT), "no request reached dispatch"


def fin_arrived(srv: APIServer, state: ConnState) -> bool:
    """The client's FIN is in the server socket's queue (it reads as end of stream)."""
    return bool(on_thread(srv, lambda: select.select([state.conn.fileno()], [], [], 0)[0] != []))


def answered(raw: Raw, srv: APIServer, failure: str) -> HTTPResult:
    """The next answer; a test failure (with the server's counters) if the connection ends."""
    try:
        return raw.answer()
    except (EOFError, ConnectionResetError) as e:
        pytest.fail(f"{failure} ({e!r}); server counters: {dict(srv.counters)}")


def whole_answer(raw: Raw) -> HTTPResult:
    """The next answer; a test failure saying how much came if the connection ends first."""
    try:
        return raw.answer()
    except (EOFError, ConnectionResetError) as e:
        part = raw.answers[0] if raw.answers else None
        if part is None or not part.headers_done:
            pytest.fail(f"the connection ended with no answer: {e!r}")
        pytest.fail(
            f"the connection ended inside the answer: {len(part.body)} of "
            f"{part.headers['content-length']} body bytes ({type(e).__name__})"
        )


# ---- 1. pipelining ------------------------------------------------------------------------------


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


def _send_in_pieces(
    reads: Reads, raw: Raw, state: ConnState, data: bytes, cuts: list[int], before: int = 0
) -> None:
    """Send ``data`` cut at ``cuts``; before each next piece the server has read the
    previous ones (so it really saw them apart, however the kernel would have merged
    them). ``before``: bytes the server had read from the connection already."""
    sent = 0
    for cut in cuts:
        raw.send(data[sent:cut])
        sent = cut
        reads.wait(state, before + sent)
    raw.send(data[sent:])


def test_a_request_split_at_every_byte_is_answered_once(
    start: Callable[..., APIServer], reads: Reads
) -> None:
    srv = start()
    template = req("POST", PODS, pod("p0000"), close=True)
    head_end = template.index(b"\r\n\r\n") + 4
    assert 100 < head_end < len(template) - 50  # a head and a body to cut into
    for i in range(1, len(template)):
        name = f"p{i:04d}"
        data = req("POST", PODS, pod(name), close=True)
        assert len(data) == len(template)
        with Raw(srv) as raw:
            _send_in_pieces(reads, raw, accepted(srv, raw), data, [i])
            a = raw.answer()
            assert (a.status, name_of(a)) == (201, name), f"cut at {i}"
            assert raw.at_eof(), f"cut at {i}"
    assert len(srv.objects("pods")) == len(template) - 1
    assert srv.counters["verb_create"] == len(template) - 1  # each exactly once
    assert srv.counters["bad_http"] == 0


@pytest.mark.parametrize("latency", [0.0, 0.01])
def test_pieces_mid_header_line_and_mid_body_with_keep_alive(
    start: Callable[..., APIServer], reads: Reads, latency: float
) -> None:
    srv = start(request_latency=latency)
    srv.create("pods", pod("a"))
    post = req("POST", PODS, pod("split", note="y" * 200))
    head_end = post.index(b"\r\n\r\n") + 4
    mid_line = post.index(b"Content-Length") + 5  # inside a header line
    with Raw(srv) as raw:
        state = accepted(srv, raw)
        # A whole GET, then the first piece of the POST: the GET is answered
        # while the POST is incomplete (read before the rest is sent).
        first = req("GET", f"{PODS}/a")
        raw.send(first + post[:mid_line])
        a = raw.answer()
        assert (a.status, name_of(a)) == (200, "a")
        reads.wait(state, len(first) + mid_line)
        # the POST's first piece is held (counted by reads: with the GET it came in)
        assert mid_line <= held_bytes(srv, state) <= len(first) + mid_line
        cuts = [head_end - 3, head_end - 1, head_end, head_end + 7, len(post) - 1]
        _send_in_pieces(
            reads, raw, state, post[mid_line:], [c - mid_line for c in cuts], len(first) + mid_line
        )
        created = raw.answer()
        assert (created.status, name_of(created)) == (201, "split")
        assert created.json()["metadata"]["annotations"] == {"note": "y" * 200}
        raw.send(req("GET", f"{PODS}/split", close=True))  # the connection carries on
        got = raw.answer()
        assert (got.status, name_of(got)) == (200, "split")
        assert raw.at_eof()
    assert srv.counters["verb_create"] == 1 and srv.counters["bad_http"] == 0


# ---- 3. an answer that waits keeps the requests behind it --------------------------------------


@pytest.mark.parametrize("latency", [0.0, 0.01])
@pytest.mark.parametrize("middle", ["list-at-future-rv", "fault-action"])
def test_an_answer_that_waits_keeps_the_requests_pipelined_behind_it(
    start: Callable[..., APIServer], latency: float, middle: str
) -> None:
    """A ``Later`` answer (a list at a revision not reached yet, a fault action) waits in
    the connection's task; what is pipelined behind it (a body among it) waits in the
    parser's queue and is answered after it, in order, on the same connection."""
    srv = start(request_latency=latency, too_large_wait=TIMEOUT)
    srv.create("pods", pod("a"))
    wanted = srv.resource_version + 1
    if middle == "list-at-future-rv":
        mid = req("GET", f"{PODS}?resourceVersion={wanted}")
    else:
        mid = req("POST", "/debug/faults", {"action": "clear"})
    after = req("POST", PODS, pod("after"))  # a body among the bytes behind it
    with Raw(srv) as raw:
        raw.send(req("GET", f"{PODS}/a") + mid + after + req("GET", f"{PODS}/after", close=True))
        first = raw.answer()
        assert (first.status, name_of(first)) == (200, "a")
        if middle == "list-at-future-rv":
            # The list waits for the revision, and what follows it waits too.
            eventually(lambda: srv.counters["requests"] == 2, what="the list dispatched")
            settle(srv)
            assert raw.nothing_yet()
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
    assert srv.counters["connections"] == 1 and srv.counters["bad_http"] == 0
    assert srv.counters["verb_create"] == 1


@pytest.mark.parametrize("pipelined", [True, False])
def test_a_stalled_list_holds_the_connection_then_serves_on(
    start: Callable[..., APIServer], pipelined: bool
) -> None:
    """stall_after_headers on a list: the head, nothing until clear_faults(), then the
    body; the next request on the connection (pipelined behind the list, or sent
    after its body) is answered: bytes read with the list wait in the parser's queue."""
    srv = start()
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
        assert raw.nothing_yet(), "the stall ended before clear_faults()"
        srv.clear_faults()
        body = raw.end()
        assert len(body) == int(headers["content-length"])
        lst = json.loads(body)
        assert [p["metadata"]["name"] for p in lst["items"]] == ["a"]
        if not pipelined:
            raw.send(after)
        got = answered(raw, srv, "the request after the stalled list was not answered")
        assert (got.status, name_of(got)) == (200, "a")
        assert raw.at_eof()


def test_a_held_request_ends_the_connection_with_what_was_pipelined_behind_it(
    start: Callable[..., APIServer],
) -> None:
    """never_answer: the requests before it are answered, it and those behind it never
    are; clear_faults() closes the connection (the client sees it end, not hang)."""
    srv = start()
    srv.create("pods", pod("a"))
    srv.never_answer(resource="pods", verbs=("list",))
    with Raw(srv) as raw:
        raw.send(req("GET", f"{PODS}/a") + req("GET", PODS) + req("GET", "/version"))
        assert name_of(raw.answer()) == "a"
        eventually(lambda: srv.counters["held"] == 1, what="held")
        settle(srv)
        assert raw.nothing_yet(), "the hold ended before clear_faults()"
        srv.clear_faults()
        assert raw.at_eof()
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
    start: Callable[..., APIServer], latency: float
) -> None:
    srv = start(request_latency=latency)
    for n in ("a", "b"):
        srv.create("pods", pod(n))
    with Raw(srv) as raw:
        for n in ("a", "b"):
            raw.send(req("GET", f"{PODS}/{n}"))
            assert name_of(raw.answer()) == n
        raw.send(req("GET", _watch_target(srv)))
        srv.wait_for_watchers(1)
        _read_watch_head(raw)
        srv.create("pods", pod("c"))
        srv.delete("pods", "a")
        ev1, ev2 = raw.event(), raw.event()
        assert (ev1["type"], ev1["object"]["metadata"]["name"]) == ("ADDED", "c")
        assert (ev2["type"], ev2["object"]["metadata"]["name"]) == ("DELETED", "a")
        assert srv.stats()["connections"] == 1
        assert srv.end_watches() == 1
        assert raw.end() == b""  # the stream's clean end: its last chunk, nothing after
        raw.send(req("GET", f"{PODS}/c", close=True))  # the same connection
        got = answered(raw, srv, "the connection did not carry the request after the watch")
        assert (got.status, name_of(got)) == (200, "c")
        assert raw.at_eof()
    assert srv.counters["connections"] == 1


@pytest.mark.parametrize("when", ["same-write", "while-streaming"])
def test_a_request_pipelined_behind_a_watch_closes_the_connection_after_the_stream(
    start: Callable[..., APIServer], when: str
) -> None:
    """watch.py's promise for a request pipelined behind a watch: it does not end or
    corrupt the stream, and the connection is not reused after the stream ends (it
    closes right after the last chunk, so the client knows to send it again)."""
    srv = start()
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
            lambda: on_thread(srv, lambda: [w.pipelined for w in srv._watchers]) == [True],
            what="the watch saw the pipelined request",
        )
        _read_watch_head(raw)
        srv.create("pods", pod("b"))  # the stream goes on regardless
        ev = raw.event()
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "b")
        assert srv.watcher_count() == 1
        assert srv.end_watches() == 1
        assert raw.end() == b""
        assert raw.at_eof()  # closed, the pipelined request unanswered: not reused
    assert srv.counters["requests"] == 2  # /version was never dispatched
    # and asked again on a new connection, it is answered
    with Raw(srv) as raw:
        raw.send(req("GET", "/version", close=True))
        assert raw.answer().status == 200
        assert raw.at_eof()


# ---- 5. Expect: 100-continue mid-life ----------------------------------------------------------


@pytest.mark.parametrize("body_with_head", [False, True])
def test_expect_100_continue_after_a_plain_get(
    start: Callable[..., APIServer], body_with_head: bool
) -> None:
    srv = start(request_latency=0.01)
    post = req("POST", PODS, pod("cont"), headers={"Expect": "100-continue"})
    split = post.index(b"\r\n\r\n") + 4
    with Raw(srv) as raw:
        raw.send(req("GET", "/version"))
        assert raw.answer().status == 200
        mark = len(raw.received)  # the server has nothing more to send before the 100
        if body_with_head:
            raw.send(post)
        else:
            raw.send(post[:split])  # the client waits for 100 Continue before the body
        assert raw.interim() == (100, {})
        assert raw.received[mark:].startswith(b"HTTP/1.1 100 Continue\r\n\r\n")  # its bytes
        if not body_with_head:
            raw.send(post[split:])
        created = raw.answer()
        assert (created.status, name_of(created)) == (201, "cont")
        raw.send(req("GET", f"{PODS}/cont", close=True))
        got = raw.answer()
        assert (got.status, name_of(got)) == (200, "cont")
        assert raw.at_eof()
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
def test_half_close_while_the_answer_is_being_made(
    start: Callable[..., APIServer], monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """The EOF reaches the server while it is answering (the request held at dispatch):
    the answer still goes out whole, then the server closes."""
    srv = start()
    gate = Gate(srv, monkeypatch)
    srv.create("pods", pod("a"))
    with Raw(srv) as raw:
        if what == "get":
            raw.send(req("GET", f"{PODS}/a"))
        else:
            raw.send(req("POST", "/debug/faults", {"action": "clear"}))
        state = accepted(srv, raw)
        gate.wait()
        raw.sock.shutdown(socket.SHUT_WR)
        eventually(lambda: fin_arrived(srv, state), what="the EOF reached the server")
        assert not state.idle
        gate.open()
        answer = raw.answer()
        assert answer.status == 200
        if what == "get":
            assert name_of(answer) == "a"
        else:
            assert answer.json() == {"action": "clear", "result": None}
        assert raw.at_eof()
    eventually(lambda: srv.stats()["connections"] == 0, what="the server let go")


# ---- 7. shutdown with an answer in progress ----------------------------------------------------


def test_close_lets_a_pending_answer_out(start: Callable[..., APIServer]) -> None:
    """With real timers: close() from another thread while the answer waits out its
    latency; the client gets it whole, then the connection closes."""
    srv = start(request_latency=0.3)
    srv.create("pods", pod("a"))
    with Raw(srv) as raw:
        raw.send(req("GET", f"{PODS}/a"))
        state = accepted(srv, raw)
        eventually(lambda: not state.idle, what="the request read")
        closer = threading.Thread(target=srv.close)
        closer.start()
        try:
            answer = raw.answer()
            assert (answer.status, name_of(answer)) == (200, "a")
            assert answer.headers["connection"] == "close"
            assert raw.at_eof()
        finally:
            closer.join(TIMEOUT)
        assert not closer.is_alive()
    assert srv._thread is not None and not srv._thread.is_alive()


@pytest.mark.parametrize("what", ["get", "large-get", "fault-action"])
def test_shutdown_waits_for_the_answer_in_progress(
    start: Callable[..., APIServer], monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """close() while a request is being answered (held at dispatch): idle connections
    close at once (FIN), the shutdown waits for that answer (up to its 2 s bound), the
    client gets it whole with ``Connection: close``, then EOF; the request pipelined
    behind it is not taken. The gate opens only once the shutdown is under way, so the
    order of events is fixed."""
    srv = start()
    gate = Gate(srv, monkeypatch)
    size = 1_000_000 if what == "large-get" else 10
    srv.create("pods", pod("a", big="z" * size))
    first = {
        "get": req("GET", f"{PODS}/a"),
        "large-get": req("GET", f"{PODS}/a"),
        "fault-action": req("POST", "/debug/faults", {"action": "clear"}),
    }[what]
    closer = threading.Thread(target=srv.close)
    with Raw(srv, rcvbuf=32 * 1024) as raw, Raw(srv) as idle:
        accepted(srv, idle)
        state = accepted(srv, raw)
        if what == "large-get":
            server_send_buffer(state, 16 * 1024)
        raw.send(first + req("GET", "/version"))
        gate.wait()
        closer.start()
        try:
            eventually(lambda: srv._closing, what="the shutdown under way")
            assert idle.at_eof()  # an idle connection is not waited for
            gate.open()
            answer = whole_answer(raw)
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
    assert gate.taken == [first.split(b" ")[1].decode()]


# ---- 8. restart over HTTP ----------------------------------------------------------------------


@pytest.mark.parametrize("latency", [0.0, 0.01])
def test_restart_answers_resets_the_others_and_serves_again(
    start: Callable[..., APIServer], latency: float
) -> None:
    srv = start(request_latency=latency)
    srv.create("pods", pod("a"))
    port = srv.port
    with Raw(srv) as idle, Raw(srv) as raw:
        idle.send(req("GET", f"{PODS}/a"))  # an idle keep-alive connection
        assert idle.answer().status == 200
        raw.send(req("GET", "/healthz"))  # the restart comes on a connection mid-life
        assert raw.answer().status == 200
        assert srv.stats()["connections"] == 2
        raw.send(req("POST", "/debug/faults", {"action": "restart"}) + req("GET", "/version"))
        answer = whole_answer(raw)
        assert answer.status == 200 and answer.headers["connection"] == "close"
        assert answer.json() == {"action": "restart", "result": None}
        assert raw.at_eof()  # closed after its answer; /version behind it not taken
        assert idle.at_eof()  # the idle one is dropped by the restart
    eventually(lambda: srv.counters["restarts"] == 1, what="restarted")
    assert srv.stats()["connections"] == 0
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
    """The restart request is pipelined behind a large answer the client reads slowly:
    the large one goes out whole, then the restart's answer, whole, then EOF."""
    srv = start()
    size = 300_000
    srv.create("pods", pod("big", fill="q" * size))
    with Raw(srv, rcvbuf=16 * 1024) as raw:
        server_send_buffer(accepted(srv, raw), 16 * 1024)
        raw.send(req("GET", f"{PODS}/big") + req("POST", "/debug/faults", {"action": "restart"}))
        big = whole_answer(raw)  # read while the restart goes on
        assert big.json()["metadata"]["annotations"]["fill"] == "q" * size
        answer = whole_answer(raw)
        assert answer.json() == {"action": "restart", "result": None}
        assert raw.at_eof()
    eventually(lambda: srv.counters["restarts"] == 1, what="restarted")


# ---- 9. a client that does not read --------------------------------------------------------


def _parked_in_write(srv: APIServer, state: ConnState) -> bool:
    """The connection's task is parked in the write of an answer. Seen from another task
    of the server's thread, a write in progress is one that could not finish: the
    kernel's buffers are full, and they stay full while the client does not read."""
    return bool(on_thread(srv, lambda: state.writing))


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
        state = accepted(srv, raw)
        # The kernel buffers between server and client hold ~50 KB at most (not the
        # megabytes loopback autotuning allows): the rest waits in the server's write.
        server_send_buffer(state, 16 * 1024)
        raw.send(pipeline + req("GET", "/version", close=True))
        eventually(lambda: _parked_in_write(srv, state), what="the server blocked in a write")
        settle(srv)
        answered_now = srv.counters["requests"] - before
        # The server stopped at the answer it could not write: no request behind it
        # was dispatched (nothing is answered ahead into memory).
        assert 1 <= answered_now < n
        assert _parked_in_write(srv, state)
        if then == "half-close-then-read":
            raw.sock.shutdown(socket.SHUT_WR)
            settle(srv)
            assert srv.counters["requests"] - before == answered_now  # still held back
        answers = [raw.answer() for _ in range(n)]  # reading lets the server go on
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
    """While an answer waits for the client, the requests it keeps pipelining are not
    read without bound: the blocked task reads nothing, the kernel's buffers fill and
    TCP pushes back on the client. What the server holds (the parser's queue) stays small."""
    srv = start()
    srv.create("pods", pod("big", fill="x" * 100_000))
    bound = 1 << 20
    with Raw(srv, rcvbuf=16 * 1024) as raw:
        state = accepted(srv, raw)
        server_send_buffer(state, 16 * 1024)
        one = req("GET", f"{PODS}/big")
        block = one * (65536 // len(one))
        raw.sock.setblocking(False)
        sent = 0
        while sent < 4 * bound:
            try:
                sent += raw.sock.send(block)
            except BlockingIOError:
                if _parked_in_write(srv, state):
                    break  # the server reads no more: what is in flight stays there
                select.select([], [raw.sock], [], 0.01)
        assert _parked_in_write(srv, state), f"{sent} bytes sent, the server still reading"
        held = held_bytes(srv, state)
        assert held <= bound, f"the server holds {held} bytes of unanswered requests"


# ---- 10. stats -----------------------------------------------------------------------------------


def test_stats_count_connections(start: Callable[..., APIServer]) -> None:
    srv = start()
    assert srv.stats()["connections"] == 0
    raws = [Raw(srv) for _ in range(3)]
    try:
        for raw in raws:
            raw.send(req("GET", "/healthz"))
            assert raw.answer().status == 200
        assert srv.stats()["connections"] == 3 and srv.counters["connections"] == 3
        raws[0].send(req("GET", "/debug/stats"))  # over HTTP too, counting itself
        over_http = raws[0].answer().json()
        assert over_http["connections"] == 3 and over_http["counters"]["connections"] == 3
        raws[1].sock.close()
        eventually(lambda: srv.stats()["connections"] == 2, what="a closed one is let go")
        raws[2].send(req("GET", f"{PODS}?watch=1"))  # a watch: still counted, once
        srv.wait_for_watchers(1)
        assert srv.stats()["connections"] == 2
        raws[0].send(req("GET", "/healthz", close=True))
        assert raws[0].answer().status == 200 and raws[0].at_eof()
        eventually(lambda: srv.stats()["connections"] == 1, what="closed after Connection: close")
    finally:
        for raw in raws:
            raw.sock.close()
    eventually(lambda: srv.stats()["connections"] == 0, what="every connection let go")
    assert srv.counters["connections"] == 3  # accepted in all


# ---- 11. httptools, no parser of our own ---------------------------------------------------------


def test_the_server_parses_requests_with_httptools_only() -> None:
    """httptools (llhttp) parses every request: no module of the server reaches into
    its private parts, and none imports h11 (the parser it had before)."""
    pkg = ROOT / "examples" / "k8s_watch" / "apiserver"
    offenders = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(pkg.glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "httptools._" in line or "import h11" in line
    ]
    assert offenders == []
