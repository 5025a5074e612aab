"""The reflector, one test per rule and per fault of k8s.md's list.

Most tests drive a `FakeListerWatcher` by hand on the virtual clock: every
LIST and WATCH the reflector makes is handed to the test, which answers with
events, bookmarks, errors or a torn end, and `wait_all_blocked()` says when
the reflector has done all it can. Backoffs and timeouts are then exact
virtual times. The last tests run the real transport against the embedded
apiserver, with its own fault injection.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httptools
import pytest

import gochan
from gochan.testing import VirtualClockFixture, wait_all_blocked

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import APIServer, serve  # noqa: E402
from examples.k8s_watch.apiserver.client import RawWatch, TornStream, request  # noqa: E402
from examples.k8s_watch.convergence import settle  # noqa: E402
from examples.k8s_watch.fake import FakeListerWatcher, FakeWatch, api_error, obj  # noqa: E402
from examples.k8s_watch.informer import EventHandlerFuncs, Informer  # noqa: E402
from examples.k8s_watch.reconcile import PodConfigMaps  # noqa: E402
from examples.k8s_watch.reflector import (  # noqa: E402
    INITIAL_EVENTS_END,
    Backoff,
    ListWatch,
    Reflector,
)
from examples.k8s_watch.store import JSON, Store  # noqa: E402
from examples.k8s_watch.transport import (  # noqa: E402
    PODS,
    APIStatusError,
    StreamDecodeError,
    StreamEnd,
    TransportError,
)
from examples.k8s_watch.transport_green import GreenClient  # noqa: E402
from examples.k8s_watch.transports import make_transport  # noqa: E402

# ---- harness ----------------------------------------------------------------------------------


class Harness:
    """A reflector on a fake, under a supervisor, with a trace of what it did."""

    def __init__(
        self,
        lw: FakeListerWatcher | None = None,
        sink: Any = None,
        *,
        jitter: float = 0.0,
        **options: Any,
    ) -> None:
        self.lw = lw or FakeListerWatcher()
        self.store = sink if sink is not None else Store()
        self.trace: list[tuple[float, str, dict[str, Any]]] = []
        rng = random.Random(7)
        self.reflector = Reflector(
            self.lw,
            self.store,
            rng=rng,
            backoff=Backoff(jitter=jitter, rng=rng),
            observer=lambda kind, detail: self.trace.append((gochan.monotonic(), kind, detail)),
            **options,
        )
        self.sup = gochan.Supervisor("test", backoff=0, jitter=0)

    def __enter__(self) -> Harness:
        self.sup.add(self.reflector.run, name="reflector")
        self.sup.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sup.stop()
        self.reflector.join_streams()

    def next_watch(self) -> FakeWatch:
        i, w = gochan.select(self.lw.watches.recv, gochan.after(10_000).recv)
        assert i == 0, f"no watch within 10000 virtual seconds; trace: {self.trace[-5:]}"
        assert isinstance(w, FakeWatch)
        return w

    def settle(self) -> None:
        wait_all_blocked()

    def names(self) -> list[str]:
        return sorted(o["metadata"]["name"] for o in self.store.list())

    def kinds(self) -> list[str]:
        return [k for _, k, _ in self.trace]


def recv_watch(lw: FakeListerWatcher) -> FakeWatch:
    w = lw.watches.recv()
    assert w is not None
    return w


def pods(n: int, rv: str = "1") -> list[JSON]:
    return [obj(f"p{i:04d}", rv) for i in range(n)]


@pytest.fixture
def vrun(virtual_clock: VirtualClockFixture) -> Callable[[Callable[[], Any]], Any]:
    return virtual_clock.run


# ---- list, then watch -------------------------------------------------------------------------


def test_paged_list_then_watch_from_the_list_rv(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        lw = FakeListerWatcher(objects=pods(1200), resource_version="5000")
        with Harness(lw) as h:
            w = h.next_watch()
            assert [(c["limit"], c["continue"]) for c in lw.list_calls] == [
                (500, None),
                (500, "500"),
                (500, "1000"),
            ]
            assert len(h.store) == 1200 and h.store.resource_version == "5000"
            assert w.params["resource_version"] == "5000"
            assert w.params["allow_watch_bookmarks"] is True
            assert w.params["send_initial_events"] is False
            assert 300 <= w.params["timeout_seconds"] < 600

    vrun(main)


def test_watch_timeouts_are_spread_over_300_to_600_seconds(vrun: Callable[..., Any]) -> None:
    def main() -> list[int]:
        with Harness() as h:
            out = []
            for _ in range(20):
                w = h.next_watch()
                out.append(w.params["timeout_seconds"])
                gochan.sleep(2)  # a watch that lasted: the next one comes at once
                w.end()
            return out

    timeouts = vrun(main)
    assert all(300 <= t < 600 for t in timeouts)
    assert len(set(timeouts)) > 10


def test_events_are_applied_and_each_one_moves_the_resume_rv(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        lw = FakeListerWatcher(objects=[obj("a", "90"), obj("b", "91")], resource_version="100")
        with Harness(lw) as h:
            w = h.next_watch()
            w.added(obj("c", "101"))
            w.modified(obj("a", "102", data={"x": "1"}))
            w.deleted(obj("b", "103"))
            h.settle()
            assert h.names() == ["a", "c"]
            assert h.store.get_by_key("default/a")["data"] == {"x": "1"}  # type: ignore[index]
            assert h.reflector.last_sync_resource_version == "103"
            w.bookmark("150")
            h.settle()
            assert h.reflector.last_sync_resource_version == "150"
            w.end()
            w2 = h.next_watch()
            assert w2.resource_version == "150"
            assert len(lw.list_calls) == 1  # a clean end is not a relist

    vrun(main)


def test_resource_versions_are_opaque(vrun: Callable[..., Any]) -> None:
    # Not numbers, and not in any order: only the latest one counts.
    def main() -> None:
        lw = FakeListerWatcher(objects=[obj("a", "zz")], resource_version="list-rv-Q")
        with Harness(lw) as h:
            w = h.next_watch()
            assert w.resource_version == "list-rv-Q"
            w.modified(obj("a", "mmm"))
            w.added(obj("b", "aaa"))
            w.end()
            assert h.next_watch().resource_version == "aaa"

    vrun(main)


def test_clean_end_rewatches_at_once(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        with Harness(bookmark_interval=1000) as h:
            w = h.next_watch()
            w.added(obj("a", "101"))
            gochan.sleep(400)  # the server's timeoutSeconds
            w.end()
            w2 = h.next_watch()
            assert w2.opened_at == 400 and w2.resource_version == "101"
            assert w.closed

    vrun(main)


def test_a_very_short_empty_watch_backs_off(vrun: Callable[..., Any]) -> None:
    # client-go's "very short watch": a server that ends every watch at once
    # with nothing in it is not hammered.
    def main() -> list[float]:
        with Harness() as h:
            times = []
            for _ in range(4):
                w = h.next_watch()
                times.append(w.opened_at)
                w.end()
            return times

    assert vrun(main) == pytest.approx([0, 0.8, 0.8 + 1.6, 0.8 + 1.6 + 3.2])


# ---- 410 and friends: relist --------------------------------------------------------------


def test_error_410_event_backs_off_then_relists_and_never_rewatches_the_expired_rv(
    vrun: Callable[..., Any],
) -> None:
    # client-go: the 410 ends ListAndWatch, and Run's BackoffUntil waits a
    # backoff step before the next one lists.
    def main() -> None:
        lw = FakeListerWatcher(objects=[obj("a", "1"), obj("b", "2")], resource_version="100")
        with Harness(lw) as h:
            w = h.next_watch()
            w.added(obj("c", "120"))
            h.settle()
            # While the watch was down, b was deleted and d created: the relist shows it.
            lw.objects = [obj("a", "1"), obj("c", "120"), obj("d", "130")]
            lw.resource_version = "200"
            w.error(410, "Expired", "too old resource version: 120 (150)")
            w2 = h.next_watch()
            assert [c["at"] for c in lw.list_calls] == [0, 0.8]
            assert w2.resource_version == "200" and w2.opened_at == 0.8
            assert [c["resource_version"] for c in lw.watch_calls] == ["100", "200"]
            assert h.names() == ["a", "c", "d"]
            assert h.reflector.stats.relists == 1 and h.reflector.stats.backoffs == 1

    vrun(main)


@pytest.mark.parametrize(
    "code, reason, message",
    [
        (410, "Gone", "too old resource version"),
        (410, "Expired", "too old resource version"),
        (504, "Timeout", "Too large resource version: 5000, current: 100"),
    ],
)
def test_http_410_or_504_too_large_on_watch_relists(
    vrun: Callable[..., Any], code: int, reason: str, message: str
) -> None:
    def main() -> None:
        lw = FakeListerWatcher(objects=[obj("a", "1")], resource_version="100")
        err = api_error(code, reason)
        err.message = message
        lw.watch_errors.append(err)
        with Harness(lw) as h:
            w = h.next_watch()  # the second watch, after a relist
            assert len(lw.list_calls) == 2
            assert [c["resource_version"] for c in lw.watch_calls] == ["100", "100"]
            # The watch after the relist starts from the relist's RV (here the same
            # opaque value: the rule is "relist", not "pick another RV").
            assert w.resource_version == "100"
            assert h.reflector.stats.relists == 1

    vrun(main)


def test_a_410_storm_is_not_a_hot_loop(vrun: Callable[..., Any]) -> None:
    def main() -> list[float]:
        lw = FakeListerWatcher()
        for _ in range(3):
            lw.watch_errors.append(api_error(410, "Gone"))
        with Harness(lw) as h:
            h.next_watch()
            return [c["at"] for c in lw.list_calls]

    # first list at 0; each 410 came at once, so each relist waits the backoff
    assert vrun(main) == pytest.approx([0, 0.8, 0.8 + 1.6, 0.8 + 1.6 + 3.2])


# ---- connection errors: backoff ---------------------------------------------------------


def test_connection_errors_back_off_from_0_8_to_30_seconds(vrun: Callable[..., Any]) -> None:
    def main() -> list[float]:
        lw = FakeListerWatcher()
        for _ in range(8):
            lw.watch_errors.append(TransportError("connection refused"))
        with Harness(lw) as h:
            h.next_watch()
            times = [c["at"] for c in lw.watch_calls]
            assert len(lw.list_calls) == 1  # a failed watch is retried, not relisted
            return [round(b - a, 6) for a, b in itertools.pairwise(times)]

    assert vrun(main) == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]


def test_backoff_resets_after_two_minutes_healthy(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        lw = FakeListerWatcher()
        lw.watch_errors.extend(TransportError("refused") for _ in range(3))
        with Harness(lw, bookmark_interval=1000) as h:
            w = h.next_watch()  # at 0.8 + 1.6 + 3.2 = 5.6; the next step would be 6.4
            assert w.opened_at == pytest.approx(5.6)
            gochan.sleep(121)  # healthy for more than 2 minutes
            w.error(500, "InternalError")  # an error: back off, relist
            w2 = h.next_watch()
            assert w2.opened_at == pytest.approx(5.6 + 121 + 0.8)  # back to 0.8 s
            gochan.sleep(5)  # healthy for a short while only
            w2.error(500, "InternalError")
            w3 = h.next_watch()
            assert w3.opened_at == pytest.approx(5.6 + 121 + 0.8 + 5 + 1.6)

    vrun(main)


def test_backoff_jitter_stays_within_one_step(vrun: Callable[..., Any]) -> None:
    def main() -> list[float]:
        lw = FakeListerWatcher()
        lw.watch_errors.extend(TransportError("refused") for _ in range(6))
        with Harness(lw, jitter=1.0) as h:
            h.next_watch()
            times = [c["at"] for c in lw.watch_calls]
            return [b - a for a, b in itertools.pairwise(times)]

    delays = vrun(main)
    base = [0.8, 1.6, 3.2, 6.4, 12.8, 25.6]
    assert all(b <= d <= 2 * b for b, d in zip(base, delays, strict=True))
    assert delays != base


def test_a_torn_stream_rewatches_at_once_and_only_errors_back_off(
    vrun: Callable[..., Any],
) -> None:
    # Fix 4 (client-go's watch loop): a stream that worked and then ended,
    # cleanly or cut (torn, reset, read timeout), is re-watched from the last
    # RV at once; errors back off, one step further each time.
    def main() -> None:
        lw = FakeListerWatcher(resource_version="100")
        with Harness(lw, bookmark_interval=1000) as h:
            w = h.next_watch()
            w.added(obj("a", "105"))
            gochan.sleep(30)
            w.tear()
            w2 = h.next_watch()
            assert (w2.opened_at, w2.resource_version) == (30, "105")
            gochan.sleep(10)
            w2.reset()  # a reset connection: the same
            w3 = h.next_watch()
            assert (w3.opened_at, w3.resource_version) == (40, "105")
            assert h.reflector.errors["stream transport"] == 2
            assert h.reflector.stats.backoffs == 0 and len(lw.list_calls) == 1
            # Errors: corrupt input, then a watch that cannot open, then a cut
            # within a second with nothing delivered (a "very short watch").
            lw.watch_errors.append(TransportError("connection refused"))
            w3.end(StreamDecodeError("corrupt event b'{'"))
            w4 = h.next_watch()  # 0.8 s after 40, then the refused one, 1.6 s later
            assert w4.opened_at == pytest.approx(40 + 0.8 + 1.6)
            w4.tear()
            w5 = h.next_watch()
            assert w5.opened_at == pytest.approx(40 + 0.8 + 1.6 + 3.2)
            assert w5.resource_version == "105" and len(lw.list_calls) == 1
            assert h.reflector.stats.backoffs == 3

    vrun(main)


# ---- 429 ----------------------------------------------------------------------------------


def test_429_on_watch_obeys_retry_after(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        lw = FakeListerWatcher()
        lw.watch_errors.append(api_error(429, "TooManyRequests", retry_after=7))
        with Harness(lw) as h:
            w = h.next_watch()
            assert w.opened_at == 7 and len(lw.list_calls) == 1
            assert h.reflector.stats.retry_afters == 1

    vrun(main)


def test_429_on_list_obeys_retry_after(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        lw = FakeListerWatcher(objects=[obj("a", "1")])
        lw.list_results.append(api_error(429, "TooManyRequests", retry_after=3))
        lw.list_results.append(api_error(429, "TooManyRequests", retry_after=11))
        with Harness(lw) as h:
            w = h.next_watch()
            assert [c["at"] for c in lw.list_calls] == [0, 3, 14]
            assert w.opened_at == 14 and h.names() == ["a"]

    vrun(main)


def test_list_errors_back_off_and_retry(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        lw = FakeListerWatcher(objects=[obj("a", "1")])
        lw.list_results.append(TransportError("connection refused"))
        lw.list_results.append(api_error(500, "InternalError"))
        with Harness(lw) as h:
            h.next_watch()
            assert [c["at"] for c in lw.list_calls] == pytest.approx([0, 0.8, 2.4])

    vrun(main)


# ---- dead streams -----------------------------------------------------------------------------


def test_a_silent_stream_is_dead_after_twice_the_bookmark_interval(
    vrun: Callable[..., Any],
) -> None:
    def main() -> None:
        lw = FakeListerWatcher(resource_version="100")
        with Harness(lw, bookmark_interval=5) as h:
            w = h.next_watch()
            w2 = h.next_watch()  # nothing sent: dead at 10 s
            assert w.closed and w2.opened_at == 10 and w2.resource_version == "100"
            gochan.sleep(8)
            w2.bookmark("120")  # any event or bookmark keeps it alive for 10 s more
            w3 = h.next_watch()
            assert w3.opened_at == 28 and w3.resource_version == "120"
            assert h.reflector.stats.dead_streams == 2
            assert len(lw.list_calls) == 1

    vrun(main)


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"type": "SURPRISE", "object": obj("a", "101")},
        {"type": "ADDED"},
        {"type": "ADDED", "object": "not an object"},
        {"type": "MODIFIED", "object": {"kind": "Pod"}},
        {"type": "ADDED", "object": {"metadata": {"name": "a"}}},  # no resourceVersion
    ],
    ids=["unknown-type", "no-object", "object-not-a-dict", "no-metadata", "no-rv"],
)
def test_bad_events_are_counted_and_the_watch_restarts(
    vrun: Callable[..., Any], event: JSON
) -> None:
    def main() -> None:
        lw = FakeListerWatcher(resource_version="100")
        with Harness(lw) as h:
            w = h.next_watch()
            w.added(obj("ok", "101"))
            w.raw(event)
            w2 = h.next_watch()
            assert w.closed and w2.resource_version == "101"
            assert h.reflector.stats.bad_events == 1
            assert h.names() == ["ok"]
            w2.added(obj("later", "102"))
            h.settle()
            assert h.names() == ["later", "ok"]  # alive and well

    vrun(main)


def test_corrupt_json_ends_the_stream_and_is_counted(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        with Harness() as h:
            w = h.next_watch()
            w.end(StreamDecodeError('corrupt event b\'{"type": "ADD\''))
            h.next_watch()
            assert h.reflector.errors["stream decode"] == 1

    vrun(main)


# ---- watch-list: no RV from the synthetic initial events ------------------------------------


def test_watch_list_takes_no_rv_from_the_initial_events(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        lw = FakeListerWatcher()
        with Harness(lw, use_watch_list=True) as h:
            w = h.next_watch()
            assert w.params["send_initial_events"] is True and w.resource_version is None
            w.added(obj("b", "105"))  # initial events: not in RV order
            w.added(obj("a", "103"))
            h.settle()
            assert h.reflector.last_sync_resource_version == ""
            assert h.names() == []  # not applied until the initial events end
            w.tear()  # cut before initial-events-end: start the watch-list over
            w2 = h.next_watch()
            assert w2.params["send_initial_events"] is True and w2.resource_version is None
            w2.added(obj("b", "105"))
            w2.added(obj("a", "103"))
            w2.bookmark("110", {INITIAL_EVENTS_END: "true"})
            h.settle()
            assert h.names() == ["a", "b"]
            assert h.reflector.last_sync_resource_version == "110"
            w2.added(obj("c", "111"))  # live events from here: their RVs count
            w2.end()
            w3 = h.next_watch()
            assert w3.params["send_initial_events"] is False
            assert w3.resource_version == "111"
            assert lw.list_calls == []

    vrun(main)


def test_watch_list_falls_back_to_list_when_refused(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        lw = FakeListerWatcher(objects=[obj("a", "1")], resource_version="100")
        lw.watch_errors.append(api_error(422, "Invalid"))
        with Harness(lw, use_watch_list=True) as h:
            w = h.next_watch()
            assert len(lw.list_calls) == 1 and w.resource_version == "100"
            assert h.names() == ["a"]

    vrun(main)


# ---- supervision --------------------------------------------------------------------------


class FlakyStore(Store):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def add(self, obj: JSON) -> JSON | None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("a bug in the store")
        return super().add(obj)


def test_a_crash_is_restarted_by_the_supervisor_with_a_fresh_list(
    vrun: Callable[..., Any],
) -> None:
    def main() -> None:
        lw = FakeListerWatcher(objects=[obj("a", "1")], resource_version="100")
        h = Harness(lw, FlakyStore())
        with h:
            w = h.next_watch()
            w.added(obj("b", "101"))  # the store raises: the reflector task dies
            w2 = h.next_watch()
            report = h.sup.reports.recv()
            assert (
                report is not None
                and report.action == "restart"
                and "a bug in the store" in str(report)
            )
            assert len(lw.list_calls) == 2 and w2.resource_version == "100"
            assert w.closed  # its stream was closed on the way out
            w2.added(obj("b", "101"))
            h.settle()
            assert h.names() == ["a", "b"]

    vrun(main)


# ---- the informer on the fake: handlers -------------------------------------------------------


def test_informer_handlers_see_initial_list_updates_and_tombstones(
    vrun: Callable[..., Any],
) -> None:
    def main() -> None:
        lw = FakeListerWatcher(objects=[obj("a", "1"), obj("b", "2")], resource_version="10")
        got: list[tuple[Any, ...]] = []
        inf = Informer(lw, name="pods")
        inf.add_event_handler(
            EventHandlerFuncs(
                add=lambda o, initial: got.append(("add", o["metadata"]["name"], initial)),
                update=lambda old, new: got.append(
                    (
                        "update",
                        old["metadata"]["resourceVersion"],
                        new["metadata"]["resourceVersion"],
                    )
                ),
                delete=lambda o: got.append(("delete", type(o).__name__)),
            )
        )
        inf.start()
        assert inf.wait_for_sync(60)
        w = recv_watch(lw)
        w.added(obj("c", "11"))
        w.modified(obj("a", "12"))
        w.deleted(obj("c", "13"))
        wait_all_blocked()
        assert got == [
            ("add", "a", True),
            ("add", "b", True),
            ("add", "c", False),
            ("update", "1", "12"),
            ("delete", "dict"),
        ]
        got.clear()
        lw.objects = [obj("a", "12")]  # b vanished while the watch was down
        lw.resource_version = "20"
        w.error(410, "Expired")
        recv_watch(lw)
        wait_all_blocked()
        assert got == [("update", "12", "12"), ("delete", "DeletedFinalStateUnknown")]
        inf.stop()

    vrun(main)


def test_a_slow_handler_never_blocks_the_watch(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        lw = FakeListerWatcher()
        seen: list[str] = []
        release = gochan.Chan[None]()

        def slow_add(o: JSON, initial: bool) -> None:
            release.recv()
            seen.append(o["metadata"]["name"])

        inf = Informer(lw, name="pods")
        listener = inf.add_event_handler(EventHandlerFuncs(add=slow_add))
        inf.start()
        w = recv_watch(lw)
        for i in range(5000):
            w.added(obj(f"p{i}", str(1000 + i)))
        wait_all_blocked()
        # The reflector took everything while the handler sat on its first event.
        assert len(inf.store) == 5000 and inf.reflector.last_sync_resource_version == "5999"
        assert len(listener.buffer) == 4999 and seen == []
        release.close()
        wait_all_blocked()
        assert seen == [f"p{i}" for i in range(5000)]  # in order
        inf.stop()

    vrun(main)


def test_a_failing_handler_is_logged_and_the_next_event_still_comes(
    vrun: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    def main() -> None:
        lw = FakeListerWatcher()
        seen: list[str] = []

        def add(o: JSON, initial: bool) -> None:
            if o["metadata"]["name"] == "bad":
                raise ValueError("handler bug")
            seen.append(o["metadata"]["name"])

        inf = Informer(lw, name="pods")
        lst = inf.add_event_handler(EventHandlerFuncs(add=add))
        inf.start()
        w = recv_watch(lw)
        for name in ("a", "bad", "c"):
            w.added(obj(name, "1" + name))
        wait_all_blocked()
        assert seen == ["a", "c"] and lst.errors == 1
        inf.stop()

    vrun(main)
    assert "handler bug" in caplog.text


def test_resync_sends_updates_with_the_same_object(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        lw = FakeListerWatcher(objects=[obj("a", "1")])
        updates: list[tuple[float, bool]] = []
        inf = Informer(lw, name="pods", resync_period=30, bookmark_interval=1000)
        inf.add_event_handler(
            EventHandlerFuncs(update=lambda o, n: updates.append((gochan.monotonic(), o is n)))
        )
        inf.start()
        w = recv_watch(lw)
        gochan.sleep(95)
        w.bookmark("5")
        assert updates == [(30, True), (60, True), (90, True)]
        inf.stop()

    vrun(main)


def test_a_late_handler_hears_about_every_cached_object(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        lw = FakeListerWatcher(objects=pods(3))
        inf = Informer(lw, name="pods")
        inf.start()
        inf.wait_for_sync()
        got: list[tuple[str, bool]] = []
        inf.add_event_handler(
            EventHandlerFuncs(add=lambda o, initial: got.append((o["metadata"]["name"], initial)))
        )
        wait_all_blocked()
        assert got == [("p0000", True), ("p0001", True), ("p0002", True)]
        inf.stop()

    vrun(main)


# ---- the real transport against the embedded apiserver ----------------------------------------


@pytest.fixture
def srv() -> Iterator[APIServer]:
    with serve(bookmark_interval=0.2) as s:
        yield s


def pod(name: str, image: str = "busybox") -> JSON:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": image}]}}


def _server_view(srv: APIServer) -> dict[str, str]:
    return {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
        for o in srv.objects("pods")
    }


def _cache_view(inf: Informer) -> dict[str, str]:
    return {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
        for o in inf.store.list()
    }


def _until(cond: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll ``cond`` (a safety-net deadline, not a guess at how long things take)."""
    deadline = gochan.monotonic() + timeout
    while not cond():
        assert gochan.monotonic() < deadline, f"timed out waiting for {what}"
        gochan.sleep(0.005)


def _writes(srv: APIServer, tag: int) -> None:
    srv.create("pods", pod(f"new-{tag}"))
    names = sorted(o["metadata"]["name"] for o in srv.objects("pods"))
    srv.update("pods", {**srv.get("pods", names[0]), "spec": pod(names[0], f"img-{tag}")["spec"]})
    srv.delete("pods", names[-1])


def test_informer_follows_the_real_apiserver_through_every_fault(srv: APIServer) -> None:
    for i in range(40):
        srv.create("pods", pod(f"p{i}"))
    trace: list[str] = []

    def main() -> None:
        client = GreenClient(srv.url, timeout=5)
        inf = Informer(
            ListWatch(client, PODS),
            name="pods",
            bookmark_interval=0.2,  # dead after 0.4 s of silence
            page_size=7,
            backoff=Backoff(initial=0.01, cap=0.05, jitter=0),
            observer=lambda kind, _d: trace.append(kind),
        )
        inf.start()
        assert inf.wait_for_sync(10)
        assert _cache_view(inf) == _server_view(srv)

        def compact() -> None:
            srv.compact()
            srv.end_watches("pods")

        def too_many_requests() -> None:
            srv.fail_requests(429, verbs=["watch"], retry_after=1)
            srv.end_watches("pods")

        def internal_errors() -> None:
            srv.fail_requests(500, count=2, retry_after=None)
            srv.expire_watches("pods")

        def stall() -> None:
            srv.stall_after_headers()
            srv.end_watches("pods")

        faults: list[tuple[str, Callable[[], object]]] = [
            ("torn stream", lambda: srv.tear_watches("pods")),
            ("clean end", lambda: srv.end_watches("pods")),
            ("ERROR 410", lambda: srv.expire_watches("pods")),
            ("compaction", compact),
            ("429 on the next watch", too_many_requests),
            ("500 on the next list and watch", internal_errors),
            ("stall after headers", stall),
            ("restart", lambda: srv.restart()),
        ]
        for n, (name, inject) in enumerate(faults):
            gochan.blocking(srv.wait_for_watchers, 1, "pods")
            gochan.blocking(inject)
            gochan.blocking(_writes, srv, n)
            _until(lambda: _cache_view(inf) == _server_view(srv), f"convergence after {name}")
        inf.stop()
        gochan.blocking(srv.clear_faults)
        client.close()

    gochan.run(main)
    assert trace.count("list") >= 4  # the first, then 410, compaction, 500s, restart
    assert "dead" in trace and "stream_error" in trace and "sleep" in trace


def test_watch_list_against_the_real_apiserver(srv: APIServer) -> None:
    for i in range(30):
        srv.create("pods", pod(f"p{i}"))

    def main() -> None:
        client = GreenClient(srv.url, timeout=5)
        inf = Informer(ListWatch(client, PODS), name="pods", use_watch_list=True)
        inf.start()
        assert inf.wait_for_sync(10)
        assert _cache_view(inf) == _server_view(srv)
        assert inf.reflector.stats.list_pages == 0  # no LIST at all
        gochan.blocking(_writes, srv, 1)
        _until(lambda: _cache_view(inf) == _server_view(srv), "convergence")
        inf.stop()
        client.close()

    gochan.run(main)


# ---- the transport's stream decoder, byte by byte ------------------------------------------


class RequestRead:
    """httptools' request parser; ``done`` once a whole request is in."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.done = False

    def on_message_complete(self) -> None:
        self.done = True


class CannedServer:
    """Answers one request with fixed bytes, then closes (or holds) the connection."""

    def __init__(self, payload: bytes, *, hold: bool = False) -> None:
        self.payload = payload
        self.hold = hold
        self.release = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, name="canned-server")
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            request = RequestRead()
            while not request.done:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request.parser.feed_data(chunk)
            conn.sendall(self.payload)
            if self.hold:
                self.release.wait(10)

    def close(self) -> None:
        self.release.set()
        self.thread.join(10)
        self.sock.close()


def chunked(*pieces: bytes, last: bool = True) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return head + body + (b"0\r\n\r\n" if last else b"")


def event_line(type_: str, name: str, rv: str) -> bytes:
    return json.dumps({"type": type_, "object": obj(name, rv)}).encode() + b"\n"


def error_answer(code: int, reason: str, extra: str = "") -> bytes:
    body = json.dumps({"kind": "Status", "code": code, "reason": reason, "message": reason})
    return (
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


A, B = event_line("ADDED", "a", "1"), event_line("MODIFIED", "a", "2")


# Each transport decodes the same bytes the same way (transport.py's table).
TRANSPORTS = [
    pytest.param(("green", "builtin"), id="green"),
    pytest.param(("official", "builtin"), id="official"),
    pytest.param(("httpx", "asyncio"), id="httpx"),
]


def run_watch(transport: tuple[str, str], url: str, read_timeout: float = 5) -> list[Any]:
    """Open a watch on ``url`` with ``transport``; every item of its stream."""
    name, backend = transport

    def main() -> list[Any]:
        client = make_transport(name, url, timeout=5)
        try:
            stream = client.watch(PODS, "default", read_timeout=read_timeout)
            items = list(stream.events)
            stream.join(5)
            return items
        finally:
            client.close()

    return gochan.run(main, backend=backend)  # type: ignore[no-any-return]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "payload, events, error, message",
    [
        (chunked(A, B), 2, None, ""),
        (chunked(A[:10], A[10:30], A[30:] + B), 2, None, ""),  # an event across chunks
        (chunked(A + B), 2, None, ""),  # two events in one chunk
        (chunked(A, b'{"type": "ADDED", "obj\n'), 1, StreamDecodeError, "corrupt event"),
        (chunked(A, b"[1, 2]\n"), 1, StreamDecodeError, "not a JSON object"),
        (chunked(A, last=False), 1, TransportError, "torn stream"),
        (chunked(A, last=False) + b"64\r\n" + B[:10], 1, TransportError, "torn stream"),
        (chunked(A, B[:20]), 1, TransportError, "torn stream"),
        (chunked(A, last=False) + b"zz\r\n", 1, StreamDecodeError, "bad framing"),
    ],
    ids=[
        "clean",
        "split-event",
        "joined-events",
        "corrupt-json",
        "not-an-object",
        "no-last-chunk",
        "truncated-chunk",
        "partial-last-event",
        "bad-chunk-header",
    ],
)
def test_the_stream_decoder_tells_a_clean_end_from_a_torn_one(
    transport: tuple[str, str],
    payload: bytes,
    events: int,
    error: type[Exception] | None,
    message: str,
) -> None:
    server = CannedServer(payload)
    try:
        items = run_watch(transport, server.url)
    finally:
        server.close()
    assert len(items) == events + 1 and all(isinstance(i, dict) for i in items[:-1])
    end = items[-1]
    assert isinstance(end, StreamEnd)
    if error is None:
        assert end.error is None
    else:
        assert isinstance(end.error, error) and message in str(end.error), end


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "payload, code, retry_after",
    [
        (error_answer(410, "Gone"), 410, None),
        (error_answer(429, "TooManyRequests", "Retry-After: 3\r\n"), 429, 3.0),
        (error_answer(500, "InternalError"), 500, None),
    ],
)
def test_an_error_answer_to_a_watch_raises_its_status(
    transport: tuple[str, str], payload: bytes, code: int, retry_after: float | None
) -> None:
    server = CannedServer(payload)
    try:
        with pytest.raises(APIStatusError) as e:
            run_watch(transport, server.url)
    finally:
        server.close()
    assert e.value.code == code and e.value.retry_after == retry_after


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_silent_stream_hits_the_client_read_timeout(transport: tuple[str, str]) -> None:
    server = CannedServer(chunked(A, last=False), hold=True)
    try:
        items = run_watch(transport, server.url, read_timeout=0.2)
    finally:
        server.close()
    assert len(items) == 2 and isinstance(items[1], StreamEnd)
    assert isinstance(items[1].error, TransportError) and "read timeout" in str(items[1].error)


# ---- bad input on a real stream: the apiserver's corrupt_watches --------------------------------


def test_corrupt_watches_writes_one_bad_event_and_the_stream_goes_on(srv: APIServer) -> None:
    rv = srv.resource_version
    path = f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}"
    with RawWatch(srv.url, path) as w:
        srv.wait_for_watchers(1, "pods")
        assert srv.corrupt_watches("configmaps", "json") == 0  # other resources untouched
        assert srv.corrupt_watches("pods", "json") == 1
        assert srv.corrupt_watches("pods", "type") == 1
        srv.create("pods", pod("after"))
        bad = w.next_chunk()
        assert bad is not None and bad.endswith(b"\n")
        with pytest.raises(ValueError):
            json.loads(bad)
        surprise = w.next_event()
        assert surprise is not None and surprise["type"] == "SURPRISE"
        assert surprise["object"]["metadata"]["resourceVersion"] == str(rv)
        ev = w.next_event()  # the stream went on
        assert ev is not None and ev["type"] == "ADDED"
        assert ev["object"]["metadata"]["name"] == "after"
        # A chunk shorter than its size line: what follows is read as the rest of it.
        assert srv.corrupt_watches("pods", "truncated") == 1
        srv.create("pods", pod("after-2"))
        with pytest.raises(TornStream, match=r"malformed stream: .*after chunk data"):
            w.next_chunk()
    injected = srv.faults.describe()["injected"]
    assert [injected[f"watch_corrupt_{k}"] for k in ("json", "type", "truncated")] == [1, 1, 1]
    with pytest.raises(ValueError, match="unknown kind"):
        srv.corrupt_watches("pods", "zalgo")


def test_corrupt_is_a_fault_action_over_http(srv: APIServer) -> None:
    with RawWatch(srv.url, "/api/v1/pods?watch=1") as w:
        srv.wait_for_watchers(1, "pods")
        r = request(srv.url, "POST", "/debug/faults", {"action": "corrupt", "kind": "type"})
        assert r.status == 200 and r.json() == {"action": "corrupt", "result": 1}
        ev = w.next_event()
        assert ev is not None and ev["type"] == "SURPRISE"
    r = request(srv.url, "POST", "/debug/faults", {"action": "corrupt", "kind": "nope"})
    assert r.status == 400 and "unknown kind" in r.json()["message"]


BAD_INPUT = {
    # kind: (the reflector's error counter, what its warning says)
    "json": ("stream decode", "corrupt event"),
    "type": ("bad event", "unknown event type 'SURPRISE'"),
    "truncated": ("stream decode", "corrupt event"),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUT))
def test_bad_input_on_the_real_stream_is_logged_counted_and_the_watch_restarts(
    srv: APIServer, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    for i in range(5):
        srv.create("pods", pod(f"p{i}"))
    counter, words = BAD_INPUT[kind]
    steps: list[str] = []

    def main() -> Informer:
        client = GreenClient(srv.url, timeout=5)
        notes: gochan.Chan[str] = gochan.Chan(10_000)
        inf = Informer(
            ListWatch(client, PODS),
            name="pods",
            bookmark_interval=5,  # no dead-stream verdict in this test's time
            backoff=Backoff(initial=0.01, cap=0.05, jitter=0),
            observer=lambda k, _d: gochan.select((notes.send, k), gochan.default),
        )
        inf.start()
        assert inf.wait_for_sync(10)

        def until_note(*kinds: str) -> str:
            deadline = gochan.after(15)
            while True:
                i, k = gochan.select(notes.recv, deadline.recv)
                assert i == 0, f"no {kinds} within 15 s; steps {steps}"
                steps.append(k)
                if k in kinds:
                    return k

        until_note("watch")
        gochan.blocking(srv.wait_for_watchers, 1, "pods")
        assert gochan.blocking(srv.corrupt_watches, "pods", kind) == 1
        # The next write brings the bytes that show a truncated chunk for what it is.
        gochan.blocking(srv.create, "pods", pod("after"))
        until_note("stream_error", "bad_event")
        until_note("watch")  # restarted, from the last RV: no relist
        gochan.blocking(srv.create, "pods", pod("later"))
        _until(lambda: _cache_view(inf) == _server_view(srv), "convergence")
        inf.stop()
        client.close()
        return inf

    with caplog.at_level(logging.WARNING, logger="k8s_watch.reflector"):
        inf = gochan.run(main)
    r = inf.reflector
    assert r.errors[counter] == 1, r.errors
    assert r.stats.lists == 1 and r.stats.relists == 0  # never relisted, never crashed
    assert r.stats.watches >= 2
    assert (r.stats.bad_events == 1) == (kind == "type")
    warnings = [rec.getMessage() for rec in caplog.records if rec.name == "k8s_watch.reflector"]
    assert any(words in m for m in warnings), warnings
    assert srv.faults.describe()["injected"][f"watch_corrupt_{kind}"] == 1


def test_the_controller_lives_through_every_kind_of_bad_input(srv: APIServer) -> None:
    for i in range(30):
        srv.create("pods", pod(f"p{i}"))

    def main() -> PodConfigMaps:
        client = GreenClient(srv.url, timeout=5)
        c = PodConfigMaps(
            client,
            "default",
            workers=4,
            bookmark_interval=0.2,
            backoff=Backoff(initial=0.01, cap=0.05, jitter=0),
        )
        # PodConfigMaps gives its backoff to the pods informer only: six faults in a
        # row would put the ConfigMaps one 0.8 * 2^5 s away with client-go's.
        c.configmaps.reflector.backoff = Backoff(initial=0.01, cap=0.05, jitter=0)
        try:
            assert c.start(sync_timeout=10)
            infs = (c.pods, c.configmaps)
            hit: set[int] = set()  # the streams already given bad input

            def failures() -> list[int]:
                return [
                    i.reflector.stats.bad_events + i.reflector.errors["stream decode"] for i in infs
                ]

            for n, kind in enumerate(["json", "type", "truncated"] * 2):
                # A stream the last fault broke may linger on the server for a moment
                # (its client hung up): wait for new ones on both resources.
                _until(
                    lambda: all(
                        any(
                            w["established"] and w["resource"] == r and w["id"] not in hit
                            for w in srv.watchers()
                        )
                        for r in ("pods", "configmaps")
                    ),
                    f"fresh streams before {kind} #{n}: {srv.watchers()}",
                )
                hit.update(w["id"] for w in srv.watchers() if w["established"])
                before = failures()
                assert gochan.blocking(srv.corrupt_watches, None, kind) >= 2
                gochan.blocking(_writes, srv, n)
                _until(
                    lambda before=before: all(
                        a > b for a, b in zip(failures(), before, strict=True)
                    ),
                    f"both streams to fail on {kind}",
                )
            v = settle(c, srv, timeout=30)
            assert v.ok and v.idle, f"{v} {v.detail}"
        finally:
            c.stop()
            client.close()
        return c

    c = gochan.run(main)
    for inf in (c.pods, c.configmaps):
        r = inf.reflector
        assert r.errors["stream decode"] == 4 and r.stats.bad_events == 2, (inf.name, r.errors)
        assert r.stats.relists == 0  # each time, a re-watch from the last RV
    assert c.controller.stats.worker_restarts == 0 and c.controller.stats.concurrent == 0
    injected = srv.faults.describe()["injected"]
    assert all(injected[f"watch_corrupt_{k}"] >= 4 for k in ("json", "type", "truncated"))
