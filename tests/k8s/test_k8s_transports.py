"""The K8s-watch transports against the embedded apiserver: green, official and httpx.

Each transport (``green`` on ``gochan.net`` and httptools on the builtin,
asyncio and trio backends, ``official`` in ``blocking()`` and a thread per
watch on the builtin backend, ``httpx`` through ``await_`` on the uvloop and
asyncio backends) must give the reflector and the controller the same face,
the same errors and the same timeouts:

* requests: paging, get / create / update / patch / delete, leases, Status
  errors (404, 409, 429 with Retry-After), a timeout on a request the server
  never answers;
* watch streams: events as dicts, a torn stream, an ERROR 410, a corrupt JSON
  line, an error answer to the WATCH itself, a client read timeout when the
  server stalls after the headers, and the header timeout when it never
  answers at all (fix 2); ``close()`` aborts a watch that waits for its
  answer (fix 3);
* configuration through the official loader: a kubeconfig (token, CA and
  client certificate given inline) and the in-cluster files;
* the reflector: bookmarks move the resume RV (on the apiserver's manual
  clock, so each bookmark is sent on cue), and a watch that got no answer
  is retried;
* the whole controller converges through torn streams, 410s (ERROR event and
  HTTP answer), a corrupt line (logged, counted, the watch restarted) and a
  stall after headers.

Waits are explicit hand-offs: the apiserver's ``wait_for_watchers``, the
reflector's observer feeding a channel, a canned server's events, and a
bounded poll of a convergence condition (a safety deadline, never a guess at
how long something takes).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import queue
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httptools
import pytest

import gochan
from gochan import net
from gochan.net import tls

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.k8s_watch.apiserver import APIServer, ManualClock, serve
from examples.k8s_watch.informer import Informer
from examples.k8s_watch.reconcile import PodConfigMaps, configmap_name
from examples.k8s_watch.reflector import Backoff, ListWatch
from examples.k8s_watch.store import JSON
from examples.k8s_watch.transport import (
    CONFIGMAPS,
    LEASES,
    PODS,
    APIStatusError,
    StreamDecodeError,
    StreamEnd,
    TransportError,
    is_conflict,
    is_not_found,
)
from examples.k8s_watch.transports import (
    check_backend,
    default_backend,
    make_transport,
)

pytest.importorskip("httpx")
pytest.importorskip("kubernetes")

TRANSPORTS = [
    pytest.param(("httpx", "uvloop"), id="httpx-uvloop"),
    pytest.param(("httpx", "asyncio"), id="httpx-asyncio"),
    pytest.param(("official", "builtin"), id="official-builtin"),
    pytest.param(("green", "builtin"), id="green-builtin"),
    pytest.param(("green", "asyncio"), id="green-asyncio"),
    pytest.param(("green", "trio"), id="green-trio"),
]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> tuple[str, str]:
    name, backend = request.param
    if backend in ("uvloop", "trio"):
        pytest.importorskip(backend)
    return name, backend


@pytest.fixture
def srv() -> Iterator[APIServer]:
    with serve(bookmark_interval=0.2) as s:
        yield s


def pod(name: str, image: str = "busybox") -> JSON:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": image}]}}


def run_with(
    transport: tuple[str, str], url: str, fn: Callable[[Any], Any], timeout: float = 5.0
) -> Any:
    """``fn(client)`` in a green task of a fresh run on the transport's backend."""
    name, backend = transport

    def main() -> Any:
        client = make_transport(name, url, timeout=timeout)
        try:
            return fn(client)
        finally:
            client.close()

    return gochan.run(main, backend=backend)


def inject_corrupt_line(srv: APIServer, resource: str = "pods") -> int:
    """Send every live watch stream of ``resource`` one line that is not JSON."""
    return srv.corrupt_watches(resource, kind="json")


def _within(seconds: float, cond: Callable[[], bool]) -> bool:
    """Whether ``cond()`` holds within ``seconds``, polled from a green task."""
    deadline = gochan.monotonic() + seconds
    while not cond():
        if gochan.monotonic() >= deadline:
            return False
        gochan.sleep(0.005)
    return True


def until(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``cond`` from a green task (a safety deadline, not a guess)."""
    deadline = gochan.monotonic() + timeout
    while not cond():
        assert gochan.monotonic() < deadline, f"timed out waiting for {what}"
        gochan.sleep(0.005)


# ---- the factory ----------------------------------------------------------------------------


def test_the_factory_knows_each_transport_and_its_backends() -> None:
    assert default_backend("official") == "builtin"
    assert default_backend("green") == "builtin"
    for backend in ("builtin", "asyncio", "uvloop", "trio"):
        check_backend("green", backend)
    assert default_backend("httpx") in ("uvloop", "asyncio")
    check_backend("httpx", "asyncio")
    with pytest.raises(ValueError, match="needs one of the backends uvloop, asyncio"):
        check_backend("httpx", "builtin")
    with pytest.raises(ValueError, match="unknown transport 'grpc'"):
        make_transport("grpc", "http://127.0.0.1:1")


# ---- requests -------------------------------------------------------------------------------


def test_requests_and_status_errors(transport: tuple[str, str], srv: APIServer) -> None:
    for i in range(7):
        srv.create("pods", pod(f"p{i}"))

    def body(c: Any) -> None:
        first = c.list(PODS, "default", limit=3)
        assert len(first["items"]) == 3 and first["metadata"]["continue"]
        rest = c.list(PODS, "default", limit=10, continue_=first["metadata"]["continue"])
        names = [o["metadata"]["name"] for o in first["items"] + rest["items"]]
        assert sorted(names) == [f"p{i}" for i in range(7)]
        assert len(c.list(PODS)["items"]) == 7  # all namespaces

        cm = c.create(CONFIGMAPS, {"metadata": {"name": "a"}, "data": {"k": "1"}}, "default")
        stale = json.loads(json.dumps(cm))
        cm["data"] = {"k": "2"}
        cm = c.update(CONFIGMAPS, cm, "default")
        assert c.get(CONFIGMAPS, "a", "default")["data"] == {"k": "2"}
        stale["data"] = {"k": "3"}
        with pytest.raises(APIStatusError) as conflict:
            c.update(CONFIGMAPS, stale, "default")
        assert is_conflict(conflict.value)
        patched = c.patch(CONFIGMAPS, "a", {"data": {"z": "9"}}, "default")
        assert patched["data"] == {"k": "2", "z": "9"}
        c.delete(CONFIGMAPS, "a", "default")
        with pytest.raises(APIStatusError) as gone:
            c.get(CONFIGMAPS, "a", "default")
        assert is_not_found(gone.value) and gone.value.reason == "NotFound"

        lease = {
            "metadata": {"name": "leader"},
            "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15},
        }
        made = c.create(LEASES, lease, "default")
        made["spec"]["holderIdentity"] = "you"
        assert c.update(LEASES, made, "default")["spec"]["holderIdentity"] == "you"

        gochan.blocking(srv.fail_requests, 429, verbs=["get"], retry_after=3)
        with pytest.raises(APIStatusError) as busy:
            c.get(PODS, "p1", "default")
        assert busy.value.code == 429 and busy.value.retry_after == 3.0

    run_with(transport, srv.url, body)


def test_a_request_the_server_never_answers_hits_the_read_timeout(
    transport: tuple[str, str], srv: APIServer
) -> None:
    srv.never_answer(verbs=["get"])

    def body(c: Any) -> None:
        started = gochan.monotonic()
        with pytest.raises(TransportError, match=r"timed out|timeout"):
            c.get(PODS, "anything", "default")
        assert gochan.monotonic() - started < 5.0
        gochan.blocking(srv.clear_faults)

    run_with(transport, srv.url, body, timeout=0.3)


# ---- watch streams ------------------------------------------------------------------------


def _open(c: Any, srv: APIServer, read_timeout: float = 10.0) -> tuple[Any, str]:
    rv = c.list(PODS, "default")["metadata"]["resourceVersion"]
    stream = c.watch(
        PODS,
        "default",
        read_timeout=read_timeout,
        resourceVersion=rv,
        timeoutSeconds=300,
        allowWatchBookmarks=False,
    )
    return stream, rv


def _drain(stream: Any) -> list[Any]:
    items = list(stream.events)
    stream.join(5)
    return items


def test_watch_events_then_a_torn_stream(transport: tuple[str, str], srv: APIServer) -> None:
    def body(c: Any) -> list[Any]:
        stream, _ = _open(c, srv)
        gochan.blocking(srv.wait_for_watchers, 1, "pods")
        gochan.blocking(srv.create, "pods", pod("a"))
        first = stream.events.recv()
        assert first["type"] == "ADDED" and first["object"]["metadata"]["name"] == "a"
        gochan.blocking(srv.create, "pods", pod("b"))
        assert stream.events.recv()["object"]["metadata"]["name"] == "b"
        assert gochan.blocking(srv.tear_watches, "pods") == 1
        return _drain(stream)

    items = run_with(transport, srv.url, body)
    assert len(items) == 1 and isinstance(items[0], StreamEnd)
    assert isinstance(items[0].error, TransportError), items[0]
    assert "torn stream" in str(items[0].error)


def test_watch_error_410_is_an_event_then_a_clean_end(
    transport: tuple[str, str], srv: APIServer
) -> None:
    def body(c: Any) -> list[Any]:
        stream, _ = _open(c, srv)
        gochan.blocking(srv.wait_for_watchers, 1, "pods")
        gochan.blocking(srv.expire_watches, "pods")
        return _drain(stream)

    items = run_with(transport, srv.url, body)
    assert [type(i).__name__ for i in items] == ["dict", "StreamEnd"]
    assert items[0]["type"] == "ERROR" and items[0]["object"]["code"] == 410
    assert items[1].error is None


def test_watch_corrupt_json_line_ends_the_stream(
    transport: tuple[str, str], srv: APIServer
) -> None:
    def body(c: Any) -> list[Any]:
        stream, _ = _open(c, srv)
        gochan.blocking(srv.wait_for_watchers, 1, "pods")
        gochan.blocking(srv.create, "pods", pod("a"))
        assert stream.events.recv()["type"] == "ADDED"
        assert gochan.blocking(inject_corrupt_line, srv) == 1
        return _drain(stream)

    items = run_with(transport, srv.url, body)
    assert len(items) == 1 and isinstance(items[0], StreamEnd)
    assert isinstance(items[0].error, StreamDecodeError)
    assert "corrupt event" in str(items[0].error)


def test_an_error_answer_to_a_watch_raises_its_status(
    transport: tuple[str, str], srv: APIServer
) -> None:
    srv.fail_requests(429, verbs=["watch"], retry_after=2)

    def body(c: Any) -> None:
        with pytest.raises(APIStatusError) as e:
            _open(c, srv)
        assert e.value.code == 429 and e.value.retry_after == 2.0
        assert c.streams() == []

    run_with(transport, srv.url, body)


def test_a_stall_after_headers_hits_the_client_read_timeout(
    transport: tuple[str, str], srv: APIServer
) -> None:
    srv.stall_after_headers(resource="pods")

    def body(c: Any) -> list[Any]:
        stream, _ = _open(c, srv, read_timeout=0.3)
        try:
            return _drain(stream)  # the stall lasts until clear_faults: only a timeout ends it
        finally:
            gochan.blocking(srv.clear_faults)

    items = run_with(transport, srv.url, body)
    assert len(items) == 1 and isinstance(items[0], StreamEnd)
    err = items[0].error
    assert isinstance(err, TransportError) and "client read timeout" in str(err), err


def test_closing_a_stream_stops_its_reader(transport: tuple[str, str], srv: APIServer) -> None:
    def body(c: Any) -> None:
        stream, _ = _open(c, srv)
        gochan.blocking(srv.wait_for_watchers, 1, "pods")
        stream.close()
        stream.join(5)
        assert not stream.alive
        assert c.streams() == []

    run_with(transport, srv.url, body)


# ---- the reflector: bookmarks on cue ----------------------------------------------------


def test_bookmarks_move_the_resume_rv(transport: tuple[str, str]) -> None:
    clock = ManualClock()
    with serve(clock=clock, bookmark_interval=60.0) as srv:
        for i in range(3):
            srv.create("pods", pod(f"p{i}"))
        notes: gochan.Chan[tuple[str, dict[str, Any]]] = gochan.Chan(10_000)

        def expect(kind: str) -> dict[str, Any]:
            while True:
                i, note = gochan.select(notes.recv, gochan.after(20).recv)
                assert i == 0, f"no {kind!r} note"
                assert note is not None
                if note[0] == kind:
                    return note[1]

        def body(c: Any) -> tuple[str, str, str]:
            inf = Informer(
                ListWatch(c, PODS, "default"),
                name="pods",
                bookmark_interval=60.0,
                observer=lambda kind, detail: notes.offer((kind, detail)),
            )
            inf.start()
            assert inf.wait_for_sync(10)
            expect("watch")
            gochan.blocking(srv.wait_for_watchers, 1, "pods")
            gochan.blocking(srv.create, "pods", pod("late"))
            gochan.blocking(clock.advance, 61)  # the server owes the stream a bookmark
            marked = expect("bookmark")["resource_version"]
            now = str(srv.resource_version)
            gochan.blocking(srv.end_watches, "pods")  # clean end: re-watch from the bookmark
            resumed = expect("watch")["resource_version"]
            assert inf.reflector.stats.bookmarks >= 1
            assert "default/late" in {f"default/{o['metadata']['name']}" for o in inf.store.list()}
            inf.stop()
            inf.reflector.join_streams()
            return marked, now, resumed

        marked, now, resumed = run_with(transport, srv.url, body)
    assert marked == now == resumed


# ---- the whole controller through every fault -------------------------------------------


def _want(srv: APIServer) -> dict[str, str]:
    return {
        configmap_name(p["metadata"]["name"]): p["metadata"]["resourceVersion"]
        for p in srv.objects("pods", "default")
    }


def _have(srv: APIServer) -> dict[str, str]:
    return {
        cm["metadata"]["name"]: cm.get("data", {}).get("podResourceVersion", "")
        for cm in srv.objects("configmaps", "default")
    }


def _writes(srv: APIServer, tag: int) -> None:
    for k in range(3):
        srv.create("pods", pod(f"new-{tag}-{k}"))
    names = sorted(o["metadata"]["name"] for o in srv.objects("pods", "default"))
    srv.patch("pods", names[0], {"metadata": {"labels": {"tag": str(tag)}}})
    srv.delete("pods", names[-1])


def test_the_controller_converges_through_every_fault(
    transport: tuple[str, str], srv: APIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="k8s_watch.reflector")
    for i in range(30):
        srv.create("pods", pod(f"p{i}"))

    def stall() -> None:
        srv.stall_after_headers(resource="pods")
        srv.end_watches("pods")

    def http_410() -> None:
        srv.fail_requests(410, verbs=["watch"], resource="pods", retry_after=None)
        srv.end_watches("pods")

    faults: list[tuple[str, Callable[[], object]]] = [
        ("torn stream", lambda: srv.tear_watches("pods")),
        ("ERROR 410", lambda: srv.expire_watches("pods")),
        ("HTTP 410 on the next watch", http_410),
        ("corrupt JSON line", lambda: inject_corrupt_line(srv)),
        ("stall after headers", stall),
    ]

    def body(c: Any) -> dict[str, Any]:
        ctl = PodConfigMaps(
            c, "default", workers=8, bookmark_interval=0.2, backoff=Backoff(0.01, 0.05, jitter=0)
        )
        assert ctl.start(10)
        until(lambda: _have(srv) == _want(srv), "the first convergence")
        r = ctl.pods.reflector
        for n, (name, inject) in enumerate(faults):
            gochan.blocking(srv.wait_for_watchers, 2)  # pods and configmaps
            if name in ("torn stream", "corrupt JSON line"):
                # The watcher count may include a stream that is just ending,
                # which takes the fault unseen: inject until the live one fails.
                counter = "stream transport" if name == "torn stream" else "stream decode"
                failed = r.errors.get(counter, 0)
                for _ in range(50):
                    gochan.blocking(inject)
                    if _within(1.0, lambda f=failed, k=counter: r.errors.get(k, 0) > f):
                        break
                    gochan.blocking(srv.wait_for_watchers, 2)
            else:
                gochan.blocking(inject)
            gochan.blocking(_writes, srv, n)
            until(lambda: _have(srv) == _want(srv), f"convergence after {name}")
            gochan.blocking(srv.clear_faults)
        ctl.stop()
        ctl.pods.reflector.join_streams()
        ctl.configmaps.reflector.join_streams()
        return {"relists": r.stats.relists, "errors": dict(r.errors), "dead": r.stats.dead_streams}

    seen = run_with(transport, srv.url, body)
    assert seen["relists"] >= 2, seen  # ERROR 410 and HTTP 410
    assert seen["errors"].get("stream decode", 0) >= 1, seen  # corrupt
    assert seen["errors"].get("stream transport", 0) >= 1, seen  # torn (and the stall, or dead)
    failed = [r.getMessage() for r in caplog.records if "watch stream failed" in r.getMessage()]
    assert any("corrupt event" in m for m in failed), failed


# ---- servers for the tests below: requests parsed by httptools --------------------------


class Requests:
    """httptools' request parser, collecting whole requests: (method, target, headers)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.done: list[tuple[str, str, dict[str, str]]] = []
        self._url = b""
        self._headers: dict[str, str] = {}

    def feed(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode().lower()] = value.decode()

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode()
        self.done.append((method, self._url.decode(), self._headers))
        self._url, self._headers = b"", {}

    def next(self, conn: Any) -> tuple[str, str, dict[str, str]] | None:
        """The next request read from ``conn``; None at its end."""
        while not self.done:
            data = conn.read(65536)
            if not data:
                return None
            self.feed(data)
        return self.done.pop(0)


Answer = Callable[[tuple[str, str, dict[str, str]]], bytes] | None


def _serve(answers: list[Answer]) -> tuple[net.Listener, gochan.Task, list[Any]]:
    """A one-connection-at-a-time HTTP server in a green task.

    Each request gets the next answer of ``answers`` (the request in, the
    bytes to send back out); a None answer closes the connection unanswered.
    """
    ln = net.listen("tcp", "127.0.0.1:0")
    seen: list[tuple[str, str, dict[str, str]]] = []

    def serve() -> None:
        with ln:
            while answers:
                with ln.accept() as conn:
                    requests = Requests()
                    while answers and (req := requests.next(conn)) is not None:
                        seen.append(req)
                        answer = answers.pop(0)
                        if answer is None:
                            break
                        conn.write(answer(req))
                        if getattr(answer, "hang_up", False):
                            break

    return ln, gochan.go(serve), seen


def _ok(body: bytes, chunked: bool = False) -> Answer:
    if chunked:
        mid = len(body) // 2
        framed = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:mid], body[mid:]) if part
        )
        return lambda _: (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n"
        )
    return lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def _ok_then_hang_up(body: bytes) -> Answer:
    """An answer after which the server closes the connection (without saying so)."""

    def answer(req: tuple[str, str, dict[str, str]]) -> bytes:
        ok = _ok(body)
        assert ok is not None
        return ok(req)

    answer.hang_up = True  # type: ignore[attr-defined]
    return answer


class SilentServer:
    """Accepts, reads each request and never answers (in a thread, any backend):
    ``arrived`` is set once a request is in; ``close()`` hangs up."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.arrived = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="silent-server")
        self.thread.start()

    def _serve(self) -> None:
        conns = []
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                conns.append(conn)
                requests = Requests()
                while not requests.done:
                    requests.feed(conn.recv(65536))
                self.arrived.set()
        for conn in conns:
            conn.close()
        self.done.set()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(10)


# ---- fix 2: one header timeout; fix 3: close() aborts a watch waiting for its answer --------


def test_a_watch_never_answered_fails_at_the_header_timeout(transport: tuple[str, str]) -> None:
    name, backend = transport
    server = SilentServer()

    def main() -> None:
        c = make_transport(name, server.url, timeout=5, header_timeout=0.2)
        try:
            with pytest.raises(TransportError, match=r"no answer within 0.2 s \(header timeout\)"):
                c.watch(PODS, "default", read_timeout=3600)
            assert server.arrived.is_set() and c.streams() == []
        finally:
            c.close()

    try:
        gochan.run(main, backend=backend)
    finally:
        server.close()


def test_the_informer_retries_a_watch_that_got_no_answer(
    transport: tuple[str, str], srv: APIServer
) -> None:
    for i in range(3):
        srv.create("pods", pod(f"p{i}"))
    srv.never_answer(verbs=["watch"], resource="pods")  # the first watch only
    name, backend = transport
    notes: gochan.Chan[tuple[str, dict[str, Any]]] = gochan.Chan(10_000)

    def main() -> list[str]:
        c = make_transport(name, srv.url, timeout=5, header_timeout=0.2)
        inf = Informer(
            ListWatch(c, PODS, "default"),
            name="pods",
            backoff=Backoff(0.01, 0.05, jitter=0),
            observer=lambda kind, detail: notes.offer((kind, detail)),
        )
        try:
            inf.start()
            assert inf.wait_for_sync(10)
            seen = []
            while len([k for k in seen if k == "watch"]) < 2:
                kind, detail = notes.recv() or ("", {})
                seen.append(kind)
                if kind == "watch_error":
                    assert "header timeout" in str(detail["error"])
            gochan.blocking(srv.create, "pods", pod("late"))
            until(lambda: len(inf.store.list()) == 4, "the late pod through the second watch")
            return seen
        finally:
            inf.stop()
            inf.reflector.join_streams()
            c.close()

    seen = gochan.run(main, backend=backend)
    assert seen[seen.index("watch") :] == ["watch", "watch_error", "sleep", "watch"], seen


def test_close_aborts_a_watch_waiting_for_its_answer(transport: tuple[str, str]) -> None:
    """Fix 3: the header timeout is an hour, the server never answers: ``close()``
    must end the watch call (and its reader) without waiting for either."""
    name, backend = transport
    server = SilentServer()

    def main() -> None:
        c = make_transport(name, server.url, timeout=5, header_timeout=3600)
        outcome: gochan.Chan[BaseException | None] = gochan.Chan(1)

        def watcher() -> None:
            try:
                c.watch(PODS, "default", read_timeout=3600)
            except BaseException as e:
                outcome.send(e)
            else:
                outcome.send(None)

        gochan.go(watcher)
        gochan.blocking(server.arrived.wait)  # the request is in; no answer will come
        c.close()
        error = outcome.recv()
        assert isinstance(error, TransportError) and "closed" in str(error), error
        assert c.streams() == []
        assert not [t for t in threading.enumerate() if t.name.startswith("watch-")]

    try:
        gochan.run(main, backend=backend)
    finally:
        server.close()


def test_stopping_an_informer_aborts_its_watch_waiting_for_an_answer(
    transport: tuple[str, str],
) -> None:
    """The SIGTERM path: the reflector is cancelled while its watch waits for an answer
    that will never come; the informer stops, and no reader is left behind."""
    name, backend = transport
    server = SilentServer()
    pods = {"kind": "PodList", "metadata": {"resourceVersion": "7"}, "items": []}

    class Lists(ListWatch):
        def list(self, *, limit: int, continue_: str | None) -> JSON:
            return pods  # the silent server answers no LIST either

    def main() -> None:
        c = make_transport(name, server.url, timeout=5, header_timeout=3600)
        inf = Informer(Lists(c, PODS, "default"), name="pods")
        inf.start()
        assert inf.wait_for_sync(10)
        gochan.blocking(server.arrived.wait)
        inf.stop()
        inf.reflector.join_streams()
        gochan.blocking(_no_watch_threads)
        assert c.streams() == []
        c.close()

    try:
        gochan.run(main, backend=backend)
    finally:
        server.close()


def _no_watch_threads() -> None:
    """Wait for the reader threads of aborted watches (they end at once; the
    test's timeout is the bound)."""
    for t in threading.enumerate():
        if t.name.startswith("watch-"):
            t.join()


# ---- configuration through the official loader: kubeconfig and in-cluster, over TLS ---------


class TLSServer:
    """An HTTPS server (``gochan.net.tls``, in a thread of its own) that checks a
    client certificate if it gets one: every request gets a small Pod; it
    records each request's ``Authorization`` and the client certificate's
    common name ("" for none)."""

    def __init__(self, ca: Any) -> None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(ctx)
        ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        self.seen: list[tuple[str, str]] = []
        ready: queue.Queue[int] = queue.Queue()

        def run() -> None:
            def handle(conn: Any) -> None:
                with conn, contextlib.suppress(OSError, ssl.SSLError):
                    requests = Requests()
                    while (req := requests.next(conn)) is not None:
                        peer = conn.peer_certificate or {}
                        subject = dict(x[0] for x in peer.get("subject", ()))
                        name = subject.get("commonName", "")
                        self.seen.append((req[2].get("authorization", ""), name))
                        body = b'{"kind": "Pod", "metadata": {"name": "tls"}}'
                        conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
                        conn.write(body)

            self.ln = tls.listen("tcp", "127.0.0.1:0", ctx)
            ready.put(self.ln.addr.port)
            with contextlib.suppress(OSError):
                net.serve(self.ln, handle)

        self.thread = threading.Thread(target=gochan.run, args=(run,), name="tls-server")
        self.thread.start()
        self.port = ready.get(timeout=10)

    def close(self) -> None:
        self.ln.close()
        self.thread.join(10)


@pytest.fixture
def ca() -> Any:
    trustme = pytest.importorskip("trustme")
    return trustme.CA()


def _client_cert(ca: Any) -> tuple[bytes, bytes]:
    cert = ca.issue_cert("k8s-watch@example.org", common_name="k8s-watch")
    return cert.cert_chain_pems[0].bytes(), cert.private_key_pem.bytes()


def test_every_transport_reads_a_kubeconfig_with_inline_certificates(
    transport: tuple[str, str], ca: Any, tmp_path: Path
) -> None:
    cert, key = _client_cert(ca)
    server = TLSServer(ca)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "test",
                "cluster": {
                    "server": f"https://127.0.0.1:{server.port}",
                    "certificate-authority-data": b64(ca.cert_pem.bytes()),
                },
            }
        ],
        "users": [
            {
                "name": "me",
                "user": {
                    "token": "s3cret",
                    "client-certificate-data": b64(cert),
                    "client-key-data": b64(key),
                },
            }
        ],
        "contexts": [{"name": "here", "context": {"cluster": "test", "user": "me"}}],
        "current-context": "here",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))  # JSON is YAML
    name, backend = transport

    def main() -> str:
        c = make_transport(name, kubeconfig=str(path), timeout=5)
        try:
            return str(c.get(PODS, "tls", "default")["metadata"]["name"])
        finally:
            c.close()

    try:
        assert gochan.run(main, backend=backend) == "tls"
    finally:
        server.close()
    assert server.seen == [("Bearer s3cret", "k8s-watch")]


def test_every_transport_reads_the_in_cluster_config(
    transport: tuple[str, str], ca: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes.config import incluster_config

    server = TLSServer(ca)
    (tmp_path / "token").write_text("pod-token")
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem.bytes())
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    name, backend = transport

    def main() -> str:
        c = make_transport(name, in_cluster_config=True, timeout=5)
        try:
            return str(c.get(PODS, "tls", "default")["metadata"]["name"])
        finally:
            c.close()

    try:
        assert gochan.run(main, backend=backend) == "tls"
    finally:
        server.close()
    assert server.seen == [("bearer pod-token", "")]  # the token; no client certificate


# ---- the green transport: framing, stale connections, timeouts ----------------------------


@pytest.mark.parametrize("backend", ["builtin", "asyncio"])
def test_green_framing_keep_alive_and_the_bearer_token(backend: str) -> None:
    def main() -> None:
        ln, server, seen = _serve(
            [
                _ok(b'{"kind": "Pod", "n": 1}'),
                _ok(b'{"kind": "Pod", "n": 2}', chunked=True),
                lambda _: (
                    b"HTTP/1.1 100 Continue\r\n\r\n"
                    b'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{"n": 3}\n'
                ),
            ]
        )
        c = make_transport("green", f"http://{ln.addr}", token="s3cret", timeout=5)
        try:
            assert c.get(PODS, "a", "default")["n"] == 1
            assert c.get(PODS, "b", "default")["n"] == 2  # chunked, same connection
            assert c.create(PODS, pod("c"), "default")["n"] == 3
        finally:
            c.close()
        server.join(5)
        assert len(seen) == 3  # one connection served all three: keep-alive
        assert all(h["authorization"] == "Bearer s3cret" for _, _, h in seen)
        assert seen[2][:2] == ("POST", "/api/v1/namespaces/default/pods")
        assert c.stats.requests == 3 and c.stats.by_verb == {"GET": 2, "POST": 1}

    gochan.run(main, backend=backend)


def test_green_retries_a_stale_connection_once_for_idempotent_requests_only() -> None:
    def main() -> None:
        # Each connection answers one request, then closes without answering the next:
        # the client sees no FIN before it reuses the connection (the poll passes).
        ln, server, _ = _serve([_ok(b"{}"), None, _ok(b'{"again": true}'), _ok(b"{}"), None])
        c = make_transport("green", f"http://{ln.addr}", timeout=5)
        try:
            c.get(PODS, "a", "default")
            assert c.get(PODS, "a", "default") == {"again": True}  # retried on a fresh one
            assert c.stats.retried_stale == 1
            c.get(PODS, "a", "default")
            with pytest.raises(TransportError, match="closed the connection"):
                c.create(PODS, pod("x"), "default")  # POST: never retried
            assert c.stats.retried_stale == 1
        finally:
            c.close()
        server.join(5)

    gochan.run(main, backend="builtin")


def test_green_checks_an_idle_connection_only_before_a_request_it_cannot_retry() -> None:
    """The server closes each connection right after its answer. A POST polls
    the idle connection first, sees the FIN and takes a fresh one (no failure,
    no retry); a GET skips the poll, fails on the stale connection and is
    retried once on a fresh one."""

    def main() -> None:
        ln, server, seen = _serve([_ok_then_hang_up(b"{}") for _ in range(3)])
        c = make_transport("green", f"http://{ln.addr}", timeout=5)
        try:
            c.get(PODS, "a", "default")
            until(lambda: c._idle[0].dropped(), "the server's FIN")
            c.create(PODS, pod("x"), "default")
            assert c.stats.retried_stale == 0  # the poll saw the FIN: a fresh connection
            until(lambda: c._idle[0].dropped(), "the server's FIN")
            c.get(PODS, "a", "default")
            assert c.stats.retried_stale == 1  # no poll: failed once, retried
            assert [m for m, _, _ in seen] == ["GET", "POST", "GET"]
        finally:
            c.close()
        server.join(5)

    gochan.run(main, backend="builtin")


def test_green_connect_timeout() -> None:
    import socket

    # A listener that never accepts, with its backlog full: the next SYN is dropped
    # and a connect hangs in SYN_SENT until the client gives up.
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)

        def main() -> float:
            c = make_transport("green", f"http://127.0.0.1:{port}", timeout=0.3)
            started = gochan.monotonic()
            try:
                with pytest.raises(TransportError, match="timed out"):
                    c.get(PODS, "a", "default")
            finally:
                c.close()
            return gochan.monotonic() - started

        took = gochan.run(main, backend="builtin")
        assert took < 3.0
    finally:
        for s in fillers:
            s.close()
        lsock.close()


def test_green_close_ends_watches_and_their_tasks(srv: APIServer) -> None:
    def main() -> None:
        c = make_transport("green", srv.url, timeout=5)
        streams = [_open(c, srv)[0] for _ in range(3)]
        gochan.blocking(srv.wait_for_watchers, 3, "pods")
        assert gochan.num_goroutine() == 4  # main and one task per watch
        c.close()
        assert not any(s.alive for s in streams) and c.streams() == []
        assert [list(s.events) for s in streams] == [[], [], []]  # closed: no StreamEnd
        with pytest.raises(TransportError, match="closed"):
            c.get(PODS, "a", "default")

    gochan.run(main, backend="builtin")
