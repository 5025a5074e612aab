"""Fault injection in the embedded apiserver, from Python and over ``POST /debug/faults``.

Each fault is checked on the wire with ``RawWatch`` (what a client would see:
a torn chunk, a clean end, an ERROR 410, chunk sizes, a stall) and through
the server's own counters. Waiting is on conditions (``wait_for_watchers``,
``eventually``) with generous deadlines as safety nets, never on sleeps.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httptools
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import APIServer, ManualClock, serve  # noqa: E402
from examples.k8s_watch.apiserver.client import RawWatch, TornStream, request  # noqa: E402

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def eventually(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.002)


def silent(sock: socket.socket, seconds: float = 0.1) -> bool:
    """Nothing to read on ``sock`` for a moment (a negative check, kept short)."""
    readable, _, _ = select.select([sock], [], [], seconds)
    return not readable


@pytest.fixture
def srv() -> Iterator[APIServer]:
    with serve(clock=ManualClock()) as s:
        yield s


def watch(srv: APIServer, rv: int | None = None, **kw: Any) -> RawWatch:
    rv = srv.resource_version if rv is None else rv
    return RawWatch(srv.url, f"{PODS}?watch=1&resourceVersion={rv}", **kw)


def fault(srv: APIServer, body: Any) -> tuple[int, Any]:
    r = request(srv.url, "POST", "/debug/faults", body)
    return r.status, r.json()


# ---- live streams: tear, end, expire ------------------------------------------------------


def test_tear_cuts_the_stream_inside_an_event(srv: APIServer) -> None:
    with watch(srv) as w:
        srv.wait_for_watchers(1)
        assert srv.tear_watches() == 1
        with pytest.raises(TornStream, match="inside a chunk"):
            w.next_event()
        assert w.torn and not w.ended
        assert w.partial.startswith(b'{"type":"BOOKMARK"')  # half an event
    assert srv.faults.describe()["injected"]["watch_tear"] == 1


def test_tear_cuts_the_next_pending_event(srv: APIServer) -> None:
    rv = srv.resource_version
    srv.create("pods", pod("a"))
    with watch(srv, rv) as w:
        assert w.next_event() is not None
        srv.wait_for_watchers(1)
        srv.create("pods", pod("b"))
        srv.tear_watches("pods")
        events: list[Any] = []
        with pytest.raises(TornStream):
            events.extend(w)
    # The pod may or may not have gone out whole before the tear; if not, it is cut.
    assert [e["object"]["metadata"]["name"] for e in events] in ([], ["b"])
    assert not w.partial or w.partial.startswith(b'{"type":')


def test_end_finishes_the_stream_cleanly(srv: APIServer) -> None:
    with watch(srv) as w:
        srv.wait_for_watchers(1)
        assert srv.end_watches("configmaps") == 0  # other resources are untouched
        assert srv.end_watches() == 1
        assert w.next_event() is None
        assert w.ended and not w.torn


def test_expire_sends_one_410_then_ends(srv: APIServer) -> None:
    with watch(srv) as w:
        srv.wait_for_watchers(1)
        assert srv.expire_watches() == 1
        events = w.events()
    assert w.ended and len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["code"] == 410 and status["reason"] == "Expired"
    assert status["message"].startswith("too old resource version")


def test_compaction_makes_old_watches_expire(srv: APIServer) -> None:
    rv = srv.resource_version
    srv.burst(50, 10)
    assert srv.compact(rv + 20) == rv + 20
    with watch(srv, rv + 19) as w:
        (err,) = w.events()
    assert err["object"]["code"] == 410
    with watch(srv, rv + 20) as w:  # exactly at the horizon is still fine
        assert len(w.events(30)) == 30


def test_automatic_compaction_keeps_a_bounded_history() -> None:
    with serve(max_events=100) as srv:
        rv = srv.resource_version
        srv.burst(1000, 10)
        assert srv.store.horizon > rv
        assert len(srv.store._event_rvs) <= 121
        with watch(srv, rv) as w:
            assert w.events()[0]["object"]["code"] == 410


# ---- armed faults: HTTP errors, conflicts, stalls, no answer ---------------------------


def test_http_errors_with_retry_after(srv: APIServer) -> None:
    srv.fail_requests(429, count=2, retry_after=3)
    for _ in range(2):
        r = request(srv.url, "GET", PODS)
        assert r.status == 429 and r.headers["retry-after"] == "3"
        body = r.json()
        assert body["reason"] == "TooManyRequests" and body["details"]["retryAfterSeconds"] == 3
    assert request(srv.url, "GET", PODS).status == 200  # two, then no more
    srv.fail_requests(500, verbs=["watch"], resource="pods", retry_after=None)
    with RawWatch(srv.url, "/api/v1/configmaps?watch=1") as w:
        assert w.read_head() == 200
    assert request(srv.url, "GET", PODS).status == 200  # a list is not a watch
    r = request(srv.url, "GET", PODS + "?watch=1")
    assert (
        r.status == 500 and r.json()["reason"] == "InternalError" and "retry-after" not in r.headers
    )
    srv.fail_requests(503, count=None, verbs=None, retry_after=1)
    for _ in range(3):
        assert request(srv.url, "POST", PODS, pod("x")).status == 503
    srv.clear_faults()
    assert request(srv.url, "POST", PODS, pod("x")).status == 201


@pytest.mark.parametrize(
    "code, reason",
    [(410, "Gone"), (500, "InternalError"), (503, "ServiceUnavailable"), (504, "Timeout")],
)
def test_any_injected_code_is_a_status(srv: APIServer, code: int, reason: str) -> None:
    srv.fail_requests(code, verbs=["get"], resource="configmaps", retry_after=5)
    r = request(srv.url, "GET", "/api/v1/namespaces/default/configmaps/x")
    assert r.status == code and r.headers["retry-after"] == "5"
    body = r.json()
    assert body["kind"] == "Status" and body["code"] == code and body["reason"] == reason


def test_a_port_in_use_fails_at_start(srv: APIServer) -> None:
    with pytest.raises(OSError):
        serve(port=srv.port)


def test_forced_conflict(srv: APIServer) -> None:
    current = srv.create("pods", pod("a"))
    srv.force_conflict(count=1)
    r = request(srv.url, "PUT", PODS + "/a", current)
    assert r.status == 409 and r.json()["reason"] == "Conflict"
    assert request(srv.url, "PUT", PODS + "/a", current).status == 200


def test_stall_after_headers_then_release(srv: APIServer) -> None:
    rv = srv.resource_version
    srv.stall_after_headers()
    with watch(srv, rv) as w:
        assert w.read_head() == 200
        eventually(lambda: srv.counters["watches"] == 1)
        srv.create("pods", pod("a"))
        assert silent(w.sock) and srv.watcher_count() == 0
        srv.clear_faults()  # the stream goes on from where it was asked to start
        ev = w.next_event()
    assert ev is not None and ev["object"]["metadata"]["name"] == "a"


class Answer:
    """httptools' callbacks for one answer: whether its head and all of it came, its body."""

    def __init__(self) -> None:
        self.head = self.done = False
        self.body = b""

    def on_headers_complete(self) -> None:
        self.head = True

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        self.done = True


def test_stall_a_list_after_headers(srv: APIServer) -> None:
    srv.create("pods", pod("a"))
    srv.stall_after_headers(verbs=["list"])
    got = Answer()
    parser = httptools.HttpResponseParser(got)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(f"GET {PODS} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        eventually(lambda: srv.counters["held"] == 1)
        parser.feed_data(s.recv(65536))
        assert got.head and parser.get_status_code() == 200 and got.body == b""  # the head only
        assert silent(s)
        srv.clear_faults()
        while not got.done:
            data = s.recv(65536)
            assert data, f"closed inside the list: {got.body[:200]!r}"
            parser.feed_data(data)
    assert json.loads(got.body)["kind"] == "PodList"


def test_never_answer_until_cleared(srv: APIServer) -> None:
    srv.never_answer(verbs=["list"])
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(f"GET {PODS} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        eventually(lambda: srv.counters["held"] == 1)
        assert silent(s)
        assert request(srv.url, "GET", PODS).status == 200  # only the armed one hangs
        srv.clear_faults()
        assert s.recv(100) == b""  # closed, never answered


def test_never_answer_notices_the_client_hanging_up(srv: APIServer) -> None:
    srv.never_answer(count=None)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(f"GET {PODS} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        eventually(lambda: srv.counters["held"] == 1)
    eventually(lambda: srv.stats()["connections"] == 0)


# ---- modes: slow and trickled events ------------------------------------------------------


def test_slow_events(srv: APIServer) -> None:
    rv = srv.resource_version
    srv.burst(4, 4)
    srv.slow_watches(0.05)
    start = time.monotonic()
    with watch(srv, rv) as w:
        assert len(w.events(4)) == 4
    assert time.monotonic() - start >= 4 * 0.05
    with pytest.raises(ValueError):
        srv.slow_watches(-1)


def test_trickled_chunks_reassemble(srv: APIServer) -> None:
    rv = srv.resource_version
    srv.burst(20, 5)
    srv.trickle_watches(chunk_bytes=7)
    with watch(srv, rv) as w:
        events = w.events(20)
    assert len(events) == 20
    assert all(len(c) <= 7 for c in w.chunks) and len(w.chunks) > 20 * 50
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == list(range(rv + 1, rv + 21))


# ---- bursts, backlogs, restarts -----------------------------------------------------------


def test_burst_of_10000_writes_over_fewer_keys(srv: APIServer) -> None:
    rv = srv.resource_version
    with watch(srv, rv, timeout=30) as w:
        srv.wait_for_watchers(1)
        assert srv.burst(10_000, 1000, seed=1) == 10_000
        assert srv.resource_version == rv + 10_000
        state: dict[str, str] = {}
        last = rv
        for _ in range(10_000):
            ev = w.next_event()
            assert ev is not None
            md = ev["object"]["metadata"]
            assert int(md["resourceVersion"]) == last + 1
            last += 1
            if ev["type"] == "DELETED":
                del state[md["name"]]
            else:
                state[md["name"]] = md["resourceVersion"]
    live = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in srv.objects("pods")}
    assert state == live and 0 < len(live) <= 1000


def _block_a_watcher(srv: APIServer, w: RawWatch, until: Callable[[], bool]) -> None:
    """Write until ``until()``: the client does not read, so the stream backs up."""
    srv.wait_for_watchers(1)
    for seed in range(10):
        srv.burst(10_000, 2000, seed=seed)
        if until():
            return
    raise AssertionError("the watcher never backed up")


def test_a_watcher_that_falls_too_far_behind_is_closed(srv: APIServer) -> None:
    srv.set_watch_backlog_limit(100)
    with watch(srv, rcvbuf=4096) as w:
        _block_a_watcher(srv, w, lambda: srv.counters["backlog_closed"] > 0)
        events = w.events()
        assert w.ended and not w.torn  # a clean end: the client re-watches from its last RV
        assert 0 < len(events) < srv.store.writes
    srv.set_watch_backlog_limit(None)


def test_close_backlogged_watchers_now(srv: APIServer) -> None:
    with watch(srv, rcvbuf=4096) as w, watch(srv) as idle:
        srv.wait_for_watchers(2)

        def blocked() -> bool:
            return any(info["blocked"] for info in srv.watchers())

        _block_a_watcher(srv, w, blocked)
        # The reading watcher catches up; only the stuck one is behind.
        assert len(idle.events(srv.store.writes)) == srv.store.writes
        eventually(lambda: sorted(i["backlog"] == 0 for i in srv.watchers()) == [False, True])
        assert srv.close_backlogged_watchers(100) == 1
        list(w)
        assert w.ended and not w.torn


def test_restart_keeps_objects_but_not_history(srv: APIServer) -> None:
    srv.create("pods", pod("a"))
    rv = srv.resource_version
    port = srv.port
    with watch(srv) as w:
        srv.wait_for_watchers(1)
        srv.restart()
        with pytest.raises((TornStream, ConnectionError)):
            w.next_event()
    assert srv.port == port
    names = [p["metadata"]["name"] for p in request(srv.url, "GET", PODS).json()["items"]]
    assert names == ["a"]
    srv.create("pods", pod("b"))
    with watch(srv, rv - 1) as w:  # from before the restart: history is gone
        assert w.events()[0]["object"]["code"] == 410
    with watch(srv, rv) as w:
        assert w.next_event()["object"]["metadata"]["name"] == "b"  # type: ignore[index]


def test_restart_without_state(srv: APIServer) -> None:
    srv.create("pods", pod("a"))
    rv = srv.resource_version
    srv.restart(keep_state=False)
    assert request(srv.url, "GET", PODS).json()["items"] == []
    assert srv.create("pods", pod("b"))["metadata"]["resourceVersion"] == str(rv + 1)
    srv.restart(keep_state=False, reset_rv=True, down_for=0.01)
    assert srv.resource_version == srv.store.initial_rv
    assert request(srv.url, "GET", "/healthz").body == b"ok"


# ---- the same over HTTP --------------------------------------------------------------------


def test_faults_over_http(srv: APIServer) -> None:
    assert fault(srv, {"action": "http_error", "code": 429, "retryAfter": 2}) == (
        200,
        {"action": "http_error", "result": None},
    )
    armed = request(srv.url, "GET", "/debug/faults").json()["armed"]
    assert armed == [
        {
            "kind": "http_error",
            "remaining": 1,
            "verbs": ["list", "watch"],
            "resource": None,
            "code": 429,
            "retryAfter": 2,
        }
    ]
    assert request(srv.url, "GET", PODS).headers["retry-after"] == "2"
    fault(srv, {"action": "conflict", "count": 1})
    obj = srv.create("pods", pod("a"))
    assert request(srv.url, "PUT", PODS + "/a", obj).status == 409
    fault(srv, {"action": "burst", "writes": 30, "keys": 5})
    assert srv.store.writes == 31
    assert fault(srv, {"action": "compact"})[1]["result"] == srv.resource_version
    fault(srv, {"action": "slow", "delay": 0.001})
    fault(srv, {"action": "trickle", "chunkBytes": 3})
    faults = request(srv.url, "GET", "/debug/faults").json()
    assert faults["slowDelay"] == 0.001 and faults["trickle"] == {"chunkBytes": 3, "delay": 0.0}
    assert request(srv.url, "DELETE", "/debug/faults").status == 200
    assert srv.faults.trickle is None and srv.faults.slow_delay == 0
    for action in ("tear", "end", "expire"):
        with watch(srv) as w:
            srv.wait_for_watchers(1)
            assert fault(srv, {"action": action, "resource": "pods"})[1]["result"] == 1
            try:
                list(w)
            except TornStream:
                assert action == "tear"
            eventually(lambda: srv.watcher_count() == 0)
    fault(srv, {"action": "stall"})
    fault(srv, {"action": "never_answer", "verbs": ["get"]})
    fault(srv, {"action": "backlog_limit", "limit": 5})
    assert srv.watch_backlog_limit == 5
    assert fault(srv, {"action": "close_backlogged", "maxBacklog": 0})[1]["result"] == 0
    fault(srv, {"action": "clear"})
    stats = request(srv.url, "GET", "/debug/stats").json()
    assert stats["resourceVersion"] == srv.resource_version
    assert stats["faults"]["injectedTotal"] >= 6 and stats["objects"]["pods"] >= 1


def test_restart_over_http_answers_first(srv: APIServer) -> None:
    srv.create("pods", pod("a"))
    r = request(srv.url, "POST", "/debug/faults", {"action": "restart", "keepState": False})
    assert r.status == 200 and r.json() == {"action": "restart", "result": None}
    eventually(lambda: srv.counters["restarts"] == 1)
    eventually(lambda: request(srv.url, "GET", PODS).json()["items"] == [])


@pytest.mark.parametrize(
    "body, text",
    [
        ([], "must be an object"),
        ({"nothing": 1}, "must be an object"),
        ({"action": "explode"}, "unknown action"),
        ({"action": "http_error", "count": "x"}, "count must be an integer"),
        ({"action": "http_error", "count": 0}, "count must be positive"),
        ({"action": "http_error", "code": 200}, "not an HTTP error code"),
        ({"action": "http_error", "verbs": ["fly"]}, "unknown verbs"),
        ({"action": "http_error", "verbs": "list"}, "verbs must be a list"),
        ({"action": "slow", "delay": "fast"}, "delay must be a number"),
        ({"action": "burst", "resource": "widgets"}, "unknown resource"),
        ({"action": "tear", "resource": 5}, "resource must be a string"),
        ({"action": "restart", "downFor": "x"}, "downFor must be a number"),
    ],
)
def test_bad_fault_requests_are_400(srv: APIServer, body: Any, text: str) -> None:
    code, status = fault(srv, body)
    assert code == 400 and status["kind"] == "Status" and status["reason"] == "BadRequest"
    assert text in status["message"]
    assert request(srv.url, "GET", "/debug/faults").json()["armed"] == []
