"""The reflector: keep a store in step with the API server, through every fault.

client-go's ``tools/cache/reflector.go`` in gochan terms. One green task
(`Reflector.run`, a permanent child of a `gochan.Supervisor`) loops:

1. **LIST**, paged (``limit=500`` and ``continue``), then **replace** the
   store with the result (vanished keys become tombstones).
2. **WATCH** from the list's ``metadata.resourceVersion`` with
   ``allowWatchBookmarks=true`` and ``timeoutSeconds`` drawn from
   [300, 600), so that a fleet of clients does not reconnect in step.
3. Apply ADDED / MODIFIED / DELETED to the store; take the resume
   resourceVersion from every event and every BOOKMARK, except the
   synthetic initial ADDEDs of a watch started without one (watch-list
   mode), which are not in RV order: there the RV comes only from the
   ``k8s.io/initial-events-end`` bookmark.

What each way a watch ends leads to, as in client-go (``watch`` and
``handleAnyWatch`` re-watch at once after a stream that worked; every error
backs off, as ``Run``'s ``BackoffUntil`` does before the next ListAndWatch):

============================================  ==========================================
the watch ...                                 the reflector ...
============================================  ==========================================
ends cleanly (server ``timeoutSeconds``)      re-watches from the last RV at once
is cut (torn chunk, reset, read timeout)      re-watches from the last RV at once
is silent for 2x the bookmark interval        treats it as dead, re-watches at once
ends within 1 s having delivered nothing      backs off, re-watches (client-go's "very
                                              short watch": a broken server is not
                                              hammered)
cannot open (refused, no answer within the    backs off (0.8 s doubling to 30 s, with
header timeout), or sends garbage (corrupt    jitter; reset after 2 min without one),
JSON, broken framing, an event it cannot      then re-watches from the last RV
apply)
answers or sends 410 ``Expired``, 504 "Too    backs off, then relists: never re-watches
large resource version", or another error     with that RV
answers or sends 429                          waits ``Retry-After`` (else backs off),
                                              then re-watches
============================================  ==========================================

Any other error (a bug in a handler, a store that raises) escapes `run`; the
supervisor restarts the reflector, which starts over with a LIST.

resourceVersions are opaque strings: they are only ever compared for
equality, never parsed or ordered.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import gochan

from .store import JSON, ReplaceDelta
from .transport import (
    APIStatusError,
    Client,
    Resource,
    StreamEnd,
    TransportError,
    WatchItem,
)

log = logging.getLogger("k8s_watch.reflector")

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


# ---- what the reflector talks to ---------------------------------------------------------------


class EventStream(Protocol):
    """A watch in progress: events (dicts), then one `StreamEnd`, then closed."""

    events: gochan.Chan[WatchItem]

    def close(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


class ListerWatcher(Protocol):
    """client-go's ``ListerWatcher``: one LIST page, or a WATCH."""

    def list(self, *, limit: int, continue_: str | None) -> JSON: ...

    def watch(
        self,
        *,
        resource_version: str | None,
        timeout_seconds: int,
        allow_watch_bookmarks: bool,
        send_initial_events: bool,
        read_timeout: float,
    ) -> EventStream: ...


class Sink(Protocol):
    """Where the reflector puts what it learns: a `Store`, or an `Informer`."""

    def replace(self, items: list[JSON], resource_version: str) -> ReplaceDelta | None: ...

    def add(self, obj: JSON) -> Any: ...

    def update(self, obj: JSON) -> Any: ...

    def delete(self, obj: JSON) -> Any: ...


class ListWatch:
    """A `ListerWatcher` over a `Client`: one resource, one namespace (or all)."""

    def __init__(
        self,
        client: Client,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.selectors = {"labelSelector": label_selector, "fieldSelector": field_selector}

    def list(self, *, limit: int, continue_: str | None) -> JSON:
        # No resourceVersion: a consistent read of the latest state (what
        # client-go does after a 410 too; "0" would allow a stale cache).
        return self.client.list(
            self.resource, self.namespace, limit=limit, continue_=continue_, **self.selectors
        )

    def watch(
        self,
        *,
        resource_version: str | None,
        timeout_seconds: int,
        allow_watch_bookmarks: bool,
        send_initial_events: bool,
        read_timeout: float,
    ) -> EventStream:
        params: dict[str, Any] = {
            "resourceVersion": resource_version or None,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": allow_watch_bookmarks,
            **self.selectors,
        }
        if send_initial_events:
            params["sendInitialEvents"] = True
            params["resourceVersionMatch"] = "NotOlderThan"
        return self.client.watch(self.resource, self.namespace, read_timeout=read_timeout, **params)


# ---- backoff -------------------------------------------------------------------------------------


class Backoff:
    """client-go's ``NewExponentialBackoffManager(800ms, 30s, 2min, 2.0, 1.0)``.

    Each `next()` returns the current step plus up to ``jitter`` times
    itself, and doubles the step (at most ``cap``). If ``reset_after``
    seconds passed since the previous `next()`, the step starts over.

    >>> b = Backoff(jitter=0, now=lambda: 0.0)
    >>> [b.next() for _ in range(7)]
    [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0]
    """

    def __init__(
        self,
        initial: float = 0.8,
        cap: float = 30.0,
        factor: float = 2.0,
        jitter: float = 1.0,
        reset_after: float = 120.0,
        *,
        rng: random.Random | None = None,
        now: Callable[[], float] = gochan.monotonic,
    ) -> None:
        self.initial, self.cap, self.factor = initial, cap, factor
        self.jitter, self.reset_after = jitter, reset_after
        self.rng = rng or random.Random()
        self.now = now
        self._step = initial
        self._last: float | None = None

    def next(self) -> float:
        t = self.now()
        if self._last is not None and t - self._last > self.reset_after:
            self._step = self.initial
        self._last = t
        d = self._step
        self._step = min(self.cap, self._step * self.factor)
        return round(d + self.rng.random() * self.jitter * d if self.jitter else d, 6)

    def reset(self) -> None:
        self._step = self.initial
        self._last = None


# ---- the reflector ----------------------------------------------------------------------------


class _Outcome:
    """Why a watch ended, and what comes next."""

    REWATCH = "rewatch"  # the stream ended (cleanly, cut, or dead): re-watch now
    RETRY = "retry"  # an error: back off (429: Retry-After), then re-watch from the last RV
    RELIST = "relist"  # the server refused the RV, or answered an error: back off, then list


@dataclass
class ReflectorStats:
    lists: int = 0
    list_pages: int = 0
    watches: int = 0
    relists: int = 0
    events: int = 0
    bookmarks: int = 0
    backoffs: int = 0
    dead_streams: int = 0
    bad_events: int = 0
    retry_afters: int = 0


class Reflector:
    """List, then watch, forever; every change goes to ``sink`` (see the module doc).

    Run `run` as a permanent child of a `gochan.Supervisor` (the `Informer`
    does). Cancelling it (stopping the supervisor) closes the stream; call
    `join_streams` afterwards, from a task, to wait for the reader threads.
    ``observer(kind, detail)`` sees each step (for tests and progress bars).
    """

    def __init__(
        self,
        lw: ListerWatcher,
        sink: Sink,
        *,
        name: str = "reflector",
        page_size: int = 500,
        min_watch_timeout: float = 300.0,
        bookmark_interval: float = 60.0,
        use_watch_list: bool = False,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        observer: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.lw = lw
        self.sink = sink
        self.name = name
        self.page_size = page_size
        self.min_watch_timeout = min_watch_timeout
        self.bookmark_interval = bookmark_interval
        self.use_watch_list = use_watch_list
        self.rng = rng or random.Random()
        self.backoff = backoff or Backoff(rng=self.rng)
        self.observer = observer
        self.stats = ReflectorStats()
        self.errors: Counter[str] = Counter()
        self.last_sync_resource_version = ""
        self._closed_streams: list[EventStream] = []

    def __repr__(self) -> str:
        return f"<Reflector {self.name!r} rv={self.last_sync_resource_version!r}>"

    @property
    def dead_after(self) -> float:
        """No event and no bookmark for this long: the stream is dead."""
        return 2 * self.bookmark_interval

    def _note(self, kind: str, **detail: Any) -> None:
        if self.observer is not None:
            self.observer(kind, detail)

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """List and watch until cancelled (see the module doc for every case)."""
        relist = True
        while True:
            if relist:
                if self.use_watch_list:
                    self.last_sync_resource_version = ""
                else:
                    delay = self._list()
                    if delay is not None:
                        self._sleep(delay)
                        continue
                relist = False
            outcome, retry_after = self._watch()
            if outcome != _Outcome.REWATCH:
                self._sleep(retry_after if retry_after is not None else self._backoff())
            if outcome == _Outcome.RELIST:
                self.stats.relists += 1
                relist = True
            if self.use_watch_list and not self.last_sync_resource_version:
                relist = True  # the initial events never finished: start over

    def _backoff(self) -> float:
        self.stats.backoffs += 1
        return self.backoff.next()

    def _sleep(self, seconds: float) -> None:
        self._note("sleep", seconds=seconds)
        if seconds > 0:
            gochan.sleep(seconds)

    def _list(self) -> float | None:
        """A full paged LIST into the sink; None, or how long to wait before trying again."""
        items: list[JSON] = []
        cont: str | None = None
        rv = ""
        self._note("list")
        try:
            while True:
                page = self.lw.list(limit=self.page_size, continue_=cont)
                self.stats.list_pages += 1
                meta = page.get("metadata") or {}
                items.extend(page.get("items") or [])
                rv = str(meta.get("resourceVersion") or "")
                cont = meta.get("continue") or None
                if not cont:
                    break
        except APIStatusError as e:
            self.errors[f"list {e.code}"] += 1
            log.warning("%s: list failed: %s", self.name, e)
            self._note("list_error", error=e)
            if e.code == 429 and e.retry_after is not None:
                self.stats.retry_afters += 1
                return e.retry_after
            return self._backoff()  # 410 on a continue token: start over, after a pause
        except TransportError as e:
            self.errors["list transport"] += 1
            log.warning("%s: list failed: %s", self.name, e)
            self._note("list_error", error=e)
            return self._backoff()
        self.sink.replace(items, rv)
        self.last_sync_resource_version = rv
        self.stats.lists += 1
        self._note("listed", resource_version=rv, items=len(items))
        return None

    def _watch(self) -> tuple[str, float | None]:
        """One watch; returns (outcome, Retry-After)."""
        rv = self.last_sync_resource_version
        watch_list = self.use_watch_list and not rv
        timeout = int(self.min_watch_timeout * (1.0 + self.rng.random()))
        self._note("watch", resource_version=rv, timeout_seconds=timeout, watch_list=watch_list)
        started = gochan.monotonic()
        try:
            stream = self.lw.watch(
                resource_version=rv or None,
                timeout_seconds=timeout,
                allow_watch_bookmarks=True,
                send_initial_events=watch_list,
                read_timeout=self.dead_after + 1.0,
            )
        except APIStatusError as e:
            return self._refused(e, watch_list), e.retry_after
        except TransportError as e:
            self.errors["watch transport"] += 1
            log.warning("%s: watch failed: %s", self.name, e)
            self._note("watch_error", error=e)
            return _Outcome.RETRY, None
        self.stats.watches += 1
        try:
            outcome, delivered, retry_after = self._consume(stream, watch_list)
        finally:
            stream.close()
            # The reader ends by itself in a moment; it is joined at stop
            # (join_streams), not here: a thread's join would wait its turn
            # in the blocking() pool behind the workers' requests.
            self._closed_streams = [
                s for s in self._closed_streams if getattr(s, "alive", True)
            ] + [stream]
        if outcome == _Outcome.REWATCH and delivered == 0 and gochan.monotonic() - started < 1.0:
            # client-go's "very short watch": a server that ends every watch at
            # once with nothing in it is not hammered.
            self._note("short_watch")
            return _Outcome.RETRY, None
        return outcome, retry_after

    def _refused(self, e: APIStatusError, watch_list: bool) -> str:
        """The server answered the WATCH request itself with an error."""
        self.errors[f"watch {e.code}"] += 1
        self._note("watch_error", error=e)
        log.info("%s: watch refused: %s", self.name, e)
        if watch_list and 400 <= e.code < 500 and e.code not in (410, 429):
            # client-go falls back to LIST when the server cannot stream lists
            log.warning("%s: watch-list refused (%s): falling back to LIST", self.name, e)
            self.use_watch_list = False
        return self._on_status(e)

    def _on_status(self, e: APIStatusError) -> str:
        if e.code == 429:
            self.stats.retry_afters += 1
            return _Outcome.RETRY
        return _Outcome.RELIST  # 410, 504 too large, any other: client-go ends ListAndWatch

    def _consume(self, stream: EventStream, watch_list: bool) -> tuple[str, int, float | None]:
        """Apply the stream's events until it ends; (outcome, events delivered, Retry-After)."""
        dead_after = self.dead_after
        timer = gochan.Timer(dead_after)
        last = gochan.monotonic()
        delivered = 0
        initial: list[JSON] | None = [] if watch_list else None
        events = stream.events
        try:
            while True:
                if len(events):  # events are flowing: take the next without a select
                    i, item = 0, events.recv()
                else:
                    i, item = gochan.select(events.recv, timer.c.recv)
                if i == 1:
                    idle = gochan.monotonic() - last
                    if idle >= dead_after:
                        self.stats.dead_streams += 1
                        self._note("dead", idle=idle)
                        log.warning("%s: no event for %.1f s: the stream is dead", self.name, idle)
                        return _Outcome.REWATCH, delivered, None
                    timer.reset(dead_after - idle)
                    continue
                last = gochan.monotonic()
                if item is None or isinstance(item, StreamEnd):
                    return self._on_end(item, delivered), delivered, None
                outcome = self._apply(item, initial)
                delivered += 1
                if outcome is not None:
                    return outcome[0], delivered, outcome[1]
                if initial is not None and self.last_sync_resource_version:
                    initial = None  # the initial-events-end bookmark arrived
        finally:
            timer.stop()

    def _on_end(self, item: StreamEnd | None, delivered: int) -> str:
        error = item.error if item is not None else TransportError("stream closed")
        if error is None:
            self._note("ended", delivered=delivered)
            return _Outcome.REWATCH
        log.warning("%s: watch stream failed: %s", self.name, error)
        self._note("stream_error", error=error)
        if isinstance(error, TransportError):  # cut: what worked so far still holds
            self.errors["stream transport"] += 1
            return _Outcome.REWATCH
        if isinstance(error, APIStatusError):
            self.errors[f"watch {error.code}"] += 1
            return self._on_status(error)
        self.errors["stream decode"] += 1  # garbage: an error, backed off
        return _Outcome.RETRY

    def _bad(self, why: str) -> tuple[str, float | None]:
        self.stats.bad_events += 1
        self.errors["bad event"] += 1
        log.warning("%s: %s; restarting the watch", self.name, why)
        self._note("bad_event", why=why)
        return _Outcome.RETRY, None

    def _apply(self, event: JSON, initial: list[JSON] | None) -> tuple[str, float | None] | None:
        """Apply one event; an outcome ends the watch."""
        type_ = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            return self._bad(f"event without an object: {event!r:.100}")
        if type_ == "ERROR":
            e = APIStatusError.from_status(obj)
            self.errors[f"watch event {e.code}"] += 1
            self._note("watch_error", error=e)
            log.info("%s: watch error event: %s", self.name, e)
            return self._on_status(e), e.retry_after
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            return self._bad(f"{type_} event without metadata")
        rv = meta.get("resourceVersion")
        if not isinstance(rv, str) or not rv:
            return self._bad(f"{type_} event without a resourceVersion")
        if type_ == "BOOKMARK":
            self.stats.bookmarks += 1
            annotations = meta.get("annotations") or {}
            if initial is not None:
                if annotations.get(INITIAL_EVENTS_END) == "true":
                    self.sink.replace(initial, rv)
                    self.last_sync_resource_version = rv
                    self.stats.lists += 1
                    self._note("listed", resource_version=rv, items=len(initial))
                return None  # a bookmark inside the initial events carries no usable RV
            self.last_sync_resource_version = rv
            self._note("bookmark", resource_version=rv)
            return None
        if type_ not in ("ADDED", "MODIFIED", "DELETED"):
            return self._bad(f"unknown event type {type_!r}")
        if not meta.get("name"):
            return self._bad(f"{type_} event for an object without a name")
        self.stats.events += 1
        if initial is not None:
            # A synthetic initial ADDED: not in RV order, so its RV is not a
            # resume point; it waits for the initial-events-end bookmark.
            if type_ != "ADDED":
                return self._bad(f"{type_} among the initial events")
            initial.append(obj)
            return None
        if type_ == "ADDED":
            self.sink.add(obj)
        elif type_ == "MODIFIED":
            self.sink.update(obj)
        else:
            self.sink.delete(obj)
        self.last_sync_resource_version = rv
        return None

    def join_streams(self, timeout: float = 5.0) -> None:
        """Wait for the reader threads of closed streams (call from a task)."""
        while self._closed_streams:
            self._closed_streams.pop().join(timeout)


__all__ = [
    "INITIAL_EVENTS_END",
    "Backoff",
    "EventStream",
    "ListWatch",
    "ListerWatcher",
    "Reflector",
    "ReflectorStats",
    "Sink",
]
