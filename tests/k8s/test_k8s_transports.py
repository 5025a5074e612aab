"""The K8s-watch transports against the embedded apiserver: httpx, official and green.

Each transport (``httpx`` through ``await_`` on the uvloop and asyncio
backends, ``official`` in ``blocking()`` and a reader thread on the builtin
backend, ``green`` on non-blocking sockets and ``wait_readable`` on the
builtin, asyncio and trio backends, and ``stdlib`` as the reference) must give the reflector and the
controller the same face and the same errors:

* requests: paging, get / create / update / patch / delete, leases, Status
  errors (404, 409, 429 with Retry-After), a read timeout on a request the
  server never answers;
* watch streams: events as dicts, a torn stream, an ERROR 410, a corrupt JSON
  line, an error answer to the WATCH itself, and a client read timeout when
  the server stalls after the headers;
* the reflector: bookmarks move the resume RV (on the apiserver's manual
  clock, so each bookmark is sent on cue);
* the whole controller converges through torn streams, 410s (ERROR event and
  HTTP answer), a corrupt line (logged, counted, the watch restarted) and a
  stall after headers.

Waits are explicit hand-offs: the apiserver's ``wait_for_watchers``, the
reflector's observer feeding a channel, and a bounded poll of a convergence
condition (a safety deadline, never a guess at how long something takes).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import gochan

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
    pytest.param(("stdlib", "builtin"), id="stdlib-builtin"),
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
    assert default_backend("stdlib") == "builtin"
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
    assert isinstance(items[0].error, StreamDecodeError), items[0]
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


def test_an_error_answer_to_a_watch_ends_it_with_the_status(
    transport: tuple[str, str], srv: APIServer
) -> None:
    srv.fail_requests(429, verbs=["watch"], retry_after=2)

    items = run_with(transport, srv.url, lambda c: _drain(_open(c, srv)[0]))
    assert len(items) == 1 and isinstance(items[0], StreamEnd)
    err = items[0].error
    assert isinstance(err, APIStatusError) and err.code == 429 and err.retry_after == 2.0


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
                failed = r.errors.get("stream decode", 0)
                for _ in range(50):
                    gochan.blocking(inject)
                    if _within(1.0, lambda f=failed: r.errors.get("stream decode", 0) > f):
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
    assert seen["errors"].get("stream decode", 0) >= 2, seen  # torn and corrupt
    assert seen["dead"] >= 1 or seen["errors"].get("stream transport", 0) >= 1, seen  # the stall
    failed = [r.getMessage() for r in caplog.records if "watch stream failed" in r.getMessage()]
    assert any("corrupt event" in m for m in failed), failed


# ---- the green transport's own HTTP/1.1: framing, stale connections, timeouts ----------


def _raw_server(
    answers: list[Callable[[bytes], bytes] | None],
) -> tuple[Any, gochan.Task, list[bytes]]:
    """A one-connection-at-a-time HTTP server in a green task (wait_readable, no threads).

    Each request gets the next answer of ``answers`` (the request in, the
    bytes to send back out); a None answer closes the connection unanswered.
    """
    import socket

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    lsock.setblocking(False)
    seen: list[bytes] = []

    def read_request(conn: socket.socket, buf: bytearray) -> bytes | None:
        while b"\r\n\r\n" not in buf:
            gochan.wait_readable(conn)
            data = conn.recv(65536)
            if not data:
                return None
            buf += data
        end = buf.index(b"\r\n\r\n") + 4
        head = bytes(buf[:end])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while len(buf) < end + length:
            gochan.wait_readable(conn)
            buf += conn.recv(65536)
        del buf[: end + length]
        return head

    def serve() -> None:
        try:
            while answers:
                gochan.wait_readable(lsock)
                conn, _ = lsock.accept()
                conn.setblocking(False)
                buf = bytearray()
                with conn:
                    while answers:
                        head = read_request(conn, buf)
                        if head is None:
                            break
                        seen.append(head)
                        answer = answers.pop(0)
                        if answer is None:
                            break
                        conn.sendall(answer(head))
        finally:
            lsock.close()

    return lsock, gochan.go(serve), seen


def _ok(body: bytes, chunked: bool = False) -> Callable[[bytes], bytes]:
    if chunked:
        mid = len(body) // 2
        framed = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:mid], body[mid:]) if part
        )
        return lambda _: (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n"
        )
    return lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def test_green_refuses_https_with_a_pointer_to_the_other_transports() -> None:
    with pytest.raises(ValueError, match="use the stdlib or official transport"):
        make_transport("green", "https://127.0.0.1:6443")


@pytest.mark.parametrize("backend", ["builtin", "asyncio"])
def test_green_framing_keep_alive_and_the_bearer_token(backend: str) -> None:
    def main() -> None:
        lsock, server, seen = _raw_server(
            [
                _ok(b'{"kind": "Pod", "n": 1}'),
                _ok(b'{"kind": "Pod", "n": 2}', chunked=True),
                lambda _: (
                    b"HTTP/1.1 100 Continue\r\n\r\n"
                    b'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{"n": 3}\n'
                ),
            ]
        )
        port = lsock.getsockname()[1]
        c = make_transport("green", f"http://127.0.0.1:{port}", token="s3cret", timeout=5)
        try:
            assert c.get(PODS, "a", "default")["n"] == 1
            assert c.get(PODS, "b", "default")["n"] == 2  # chunked, same connection
            assert c.create(PODS, pod("c"), "default")["n"] == 3
        finally:
            c.close()
        server.join(5)
        assert len(seen) == 3  # one connection served all three: keep-alive
        assert all(b"Authorization: Bearer s3cret\r\n" in h for h in seen)
        assert seen[2].startswith(b"POST /api/v1/namespaces/default/pods HTTP/1.1\r\n")
        assert c.stats.requests == 3 and c.stats.by_verb == {"GET": 2, "POST": 1}

    gochan.run(main, backend=backend)


def test_green_retries_a_stale_connection_once_for_idempotent_requests_only() -> None:
    def main() -> None:
        # Each connection answers one request, then closes without answering the next:
        # the client sees no FIN before it reuses the connection (the peek passes).
        lsock, server, _ = _raw_server(
            [_ok(b"{}"), None, _ok(b'{"again": true}'), _ok(b"{}"), None]
        )
        port = lsock.getsockname()[1]
        c = make_transport("green", f"http://127.0.0.1:{port}", timeout=5)
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
    """The server closes each connection right after its answer. A POST peeks at
    the idle connection first, sees the FIN and takes a fresh one (no failure,
    no retry); a GET skips the peek, fails on the stale connection and is
    retried once on a fresh one."""
    import socket

    def main() -> None:
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(8)
        lsock.setblocking(False)
        requests: list[bytes] = []

        def serve() -> None:
            while len(requests) < 3:
                gochan.wait_readable(lsock, 5)
                conn, _ = lsock.accept()
                conn.setblocking(False)
                with conn:
                    buf = b""
                    while b"\r\n\r\n" not in buf:
                        gochan.wait_readable(conn, 5)
                        buf += conn.recv(65536)
                    head, _, body = buf.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    while len(body) < length:
                        gochan.wait_readable(conn, 5)
                        body += conn.recv(65536)
                    requests.append(head.split(b" ", 1)[0])
                    conn.sendall(_ok(b"{}")(head))  # then close: the FIN follows the answer

        server = gochan.go(serve)
        c = make_transport("green", f"http://127.0.0.1:{lsock.getsockname()[1]}", timeout=5)
        try:
            c.get(PODS, "a", "default")
            gochan.wait_readable(c._idle[0].sock, 5)  # the server's FIN has arrived
            c.create(PODS, pod("x"), "default")
            assert c.stats.retried_stale == 0  # the peek saw the FIN: a fresh connection
            gochan.wait_readable(c._idle[0].sock, 5)
            c.get(PODS, "a", "default")
            assert c.stats.retried_stale == 1  # no peek: failed once, retried
            assert requests == [b"GET", b"POST", b"GET"]
        finally:
            c.close()
        server.join(5)
        lsock.close()

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
