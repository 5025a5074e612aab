"""The informer: a reflector, a store, and event handlers that never block the watch.

client-go's ``SharedIndexInformer``, reduced to what a controller needs.
The `Reflector` writes into the informer (it is the reflector's sink); the
informer updates its `Store` first and then tells every handler, in order:

- ``on_add(obj, is_in_initial_list)``: a new key; ``is_in_initial_list`` is
  True for the objects of the first LIST (and for the existing objects a
  handler added later is told about);
- ``on_update(old, new)``: a known key changed (or was relisted, or resynced:
  then ``old is new``);
- ``on_delete(obj)``: the key is gone; ``obj`` is the final state from the
  DELETED event, or a `DeletedFinalStateUnknown` tombstone when the key
  vanished across a relist.

Each handler has its own listener task and an **unbounded** buffer, as
client-go's ``processorListener``: the reflector only appends to buffers, so
a slow handler never stalls the watch (a bounded channel would, and the real
apiserver drops watchers that fall behind). A handler is called sequentially,
in event order, after the store has the change. An exception in a handler is
logged and counted; the listener goes on with the next notification.

Everything runs under one `gochan.Supervisor`: the reflector and the
listeners are permanent children, restarted if they crash.

A ``filter`` (a predicate on objects) keeps the informer to a subset of what
the watch delivers: the client-side half of sharding (`shard.Shard`). An
object it rejects never enters the store and never reaches a handler, so its
key never reaches a queue; one that stops matching (a ConfigMap whose owner
moved to another shard) leaves as a delete, one that starts matching
arrives as an add.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import gochan

from .reflector import Backoff, ListerWatcher, Reflector
from .store import JSON, DeletedFinalStateUnknown, IndexFunc, ReplaceDelta, Store

log = logging.getLogger("k8s_watch.informer")

Deleted = JSON | DeletedFinalStateUnknown


class ResourceEventHandler(Protocol):
    def on_add(self, obj: JSON, is_in_initial_list: bool) -> None: ...

    def on_update(self, old: JSON, new: JSON) -> None: ...

    def on_delete(self, obj: Deleted) -> None: ...


@dataclass
class EventHandlerFuncs:
    """client-go's ``ResourceEventHandlerFuncs``: any of the three may be None."""

    add: Callable[[JSON, bool], None] | None = None
    update: Callable[[JSON, JSON], None] | None = None
    delete: Callable[[Deleted], None] | None = None

    def on_add(self, obj: JSON, is_in_initial_list: bool) -> None:
        if self.add is not None:
            self.add(obj, is_in_initial_list)

    def on_update(self, old: JSON, new: JSON) -> None:
        if self.update is not None:
            self.update(old, new)

    def on_delete(self, obj: Deleted) -> None:
        if self.delete is not None:
            self.delete(obj)


# A notification: ("add", obj, initial) | ("update", old, new) | ("delete", obj, None)
Notification = tuple[str, Any, Any]


class Listener:
    """One handler's buffer and the task that feeds it (client-go's processorListener)."""

    def __init__(self, handler: ResourceEventHandler, name: str, resync: bool) -> None:
        self.handler = handler
        self.name = name
        self.resync = resync
        self.buffer: deque[Notification] = deque()
        self._bell: gochan.Chan[None] = gochan.Chan(1)
        self.delivered = 0
        self.errors = 0

    def __repr__(self) -> str:
        return f"<Listener {self.name!r} buffered={len(self.buffer)} delivered={self.delivered}>"

    def push(self, n: Notification) -> None:
        """Append; never blocks."""
        self.buffer.append(n)
        self._bell.offer(None)  # ring unless a ring is already pending (never blocks)

    def run(self) -> None:
        while True:
            while self.buffer:
                self._dispatch(self.buffer.popleft())
            self._bell.recv()

    def _dispatch(self, n: Notification) -> None:
        kind, a, b = n
        try:
            if kind == "add":
                self.handler.on_add(a, b)
            elif kind == "update":
                self.handler.on_update(a, b)
            else:
                self.handler.on_delete(a)
        except Exception:
            self.errors += 1
            log.exception("handler %s failed on %s", self.name, kind)
        self.delivered += 1


class Informer:
    """A store kept in sync by a reflector, with handlers (see the module doc).

    >>> # inf = Informer(ListWatch(client, PODS)); inf.add_event_handler(h)
    >>> # inf.start(); inf.wait_for_sync(10); ...; inf.stop()
    """

    def __init__(
        self,
        lw: ListerWatcher,
        *,
        name: str = "informer",
        resync_period: float = 0.0,
        indexers: dict[str, IndexFunc] | None = None,
        bookmark_interval: float = 60.0,
        min_watch_timeout: float = 300.0,
        page_size: int = 500,
        use_watch_list: bool = False,
        backoff: Backoff | None = None,
        observer: Callable[[str, dict[str, Any]], None] | None = None,
        filter: Callable[[JSON], bool] | None = None,
    ) -> None:
        self.name = name
        self.store = Store(indexers=indexers)
        self.filter = filter
        self.resync_period = resync_period
        self.reflector = Reflector(
            lw,
            self,
            name=f"{name}/reflector",
            page_size=page_size,
            min_watch_timeout=min_watch_timeout,
            bookmark_interval=bookmark_interval,
            use_watch_list=use_watch_list,
            backoff=backoff,
            observer=observer,
        )
        # Restarts are for bugs; generous, so that a flaky handler does not take
        # the informer down, and slow enough not to spin.
        self.supervisor = gochan.Supervisor(
            name, max_restarts=10, period=60, backoff=0.5, backoff_max=10
        )
        self.listeners: list[Listener] = []
        self.counts: Counter[str] = Counter()
        self._synced: gochan.Chan[None] = gochan.Chan()
        self._has_synced = False
        self._started = False

    def __repr__(self) -> str:
        return (
            f"<Informer {self.name!r} {len(self.store)} objects synced={self._has_synced} "
            f"handlers={len(self.listeners)}>"
        )

    # -- handlers ---------------------------------------------------------------------------

    def add_event_handler(
        self, handler: ResourceEventHandler, *, resync: bool = True, name: str | None = None
    ) -> Listener:
        """Register a handler; a running informer tells it about every object it has."""
        lst = Listener(handler, name or f"handler-{len(self.listeners)}", resync)
        self.listeners.append(lst)
        for obj in self.store.list():
            lst.push(("add", obj, True))
        if self._started:
            self.supervisor.add(lst.run, name=lst.name)
        return lst

    def _notify(self, n: Notification, resync: bool = False) -> None:
        for lst in self.listeners:
            if not resync or lst.resync:
                lst.push(n)

    # -- the reflector's sink ------------------------------------------------------------------

    def _keep(self, obj: JSON) -> bool:
        if self.filter is None or self.filter(obj):
            return True
        self.counts["filtered"] += 1
        return False

    def replace(self, items: list[JSON], resource_version: str) -> ReplaceDelta:
        if self.filter is not None:
            items = [obj for obj in items if self._keep(obj)]
        delta = self.store.replace(items, resource_version)
        initial = not self._has_synced
        self.counts["relist"] += 1
        for obj in delta.added:
            self._notify(("add", obj, initial))
        for old, new in delta.updated:
            self._notify(("update", old, new))
        for tomb in delta.deleted:
            self.counts["tombstones"] += 1
            self._notify(("delete", tomb, None))
        if not self._has_synced:
            self._has_synced = True
            self._synced.close()
        return delta

    def add(self, obj: JSON) -> None:
        self.counts["ADDED"] += 1
        self._upsert(obj)

    def update(self, obj: JSON) -> None:
        self.counts["MODIFIED"] += 1
        self._upsert(obj)

    def _upsert(self, obj: JSON) -> None:
        if not self._keep(obj):
            if self.store.get(obj) is not None:  # it left our subset: a delete for us
                self._delete(obj)
            else:
                self.store.resource_version = str(obj["metadata"]["resourceVersion"])
            return
        old = self.store.add(obj)
        self.store.resource_version = str(obj["metadata"]["resourceVersion"])
        if old is None:
            self._notify(("add", obj, False))
        else:
            self._notify(("update", old, obj))

    def delete(self, obj: JSON) -> None:
        self.counts["DELETED"] += 1
        if self.filter is not None and self.store.get(obj) is None and not self._keep(obj):
            self.store.resource_version = str(obj["metadata"]["resourceVersion"])
            return
        self._delete(obj)

    def _delete(self, obj: JSON) -> None:
        self.store.delete(obj)
        self.store.resource_version = str(obj["metadata"]["resourceVersion"])
        self._notify(("delete", obj, None))

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reflector, the listeners (and the resync loop) under the supervisor."""
        if self._started:
            raise RuntimeError(f"informer {self.name!r} already started")
        self._started = True
        sup = self.supervisor
        sup.add(self.reflector.run, name="reflector")
        for lst in self.listeners:
            sup.add(lst.run, name=lst.name)
        if self.resync_period > 0:
            sup.add(self._resync_loop, name="resync")
        sup.start()

    def _resync_loop(self) -> None:
        ticker = gochan.Ticker(self.resync_period)
        try:
            for _ in ticker.c:
                self.counts["resyncs"] += 1
                for obj in self.store.list():
                    self._notify(("update", obj, obj), resync=True)
        finally:
            ticker.stop()

    def stop(self) -> None:
        """Stop everything and wait for the watch threads (call from a task)."""
        self.supervisor.stop()
        self.reflector.join_streams()

    def has_synced(self) -> bool:
        return self._has_synced

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Block until the first LIST is in the store; False if ``timeout`` passed."""
        if self._has_synced:
            return True
        if timeout is None:
            self._synced.recv()
            return True
        timer = gochan.Timer(timeout)
        try:
            i, _ = gochan.select(self._synced.recv, timer.c.recv)
        finally:
            timer.stop()
        return i == 0

    def pending(self) -> int:
        """Notifications buffered for the handlers, not delivered yet."""
        return sum(len(lst.buffer) for lst in self.listeners)


__all__ = ["EventHandlerFuncs", "Informer", "Listener", "ResourceEventHandler"]
