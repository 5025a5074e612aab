"""One watch stream: chunked, newline-delimited ``{"type","object"}``, one chunk per event.

A `Watcher` owns its HTTP response from the headers to the last chunk. It
reads the store's event log from its cursor (the revision of the last event
it has looked at), so a write never waits for a watcher and a watcher never
misses an event: the log is the buffer. Bookmarks, ``timeoutSeconds`` and
the default timeout run on the server's clock.

Control comes from outside through `Watcher.poke` (the fault methods and the
server's shutdown): it sets ``action`` and ``wake``, and the stream acts at
its next await, including while it waits for a slow client to drain.

Actions: ``end`` (clean end of stream), ``expire`` (one ERROR 410, then a
clean end), ``tear`` (half an event, then the connection closes),
``backlog`` (clean end, as the real apiserver drops a watcher that cannot
keep up), ``close`` (server shutdown: clean end), ``abort`` (restart: the
connection is reset), ``gone`` (the client hung up). `Watcher.corrupt` is not
an action: it writes one bad event and the stream goes on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import status as st
from .resources import Resource
from .selectors import FieldSelector, LabelSelector
from .sharding import ShardSelector
from .status import JSON, APIError
from .store import Event, dumps, event_line, with_kind
from .wire import LAST_CHUNK, chunk, head_bytes

if TYPE_CHECKING:
    from .core import ServerCore

HIGH_WATER = 64 * 1024
CORRUPTIONS = ("json", "type", "truncated")  # what `Watcher.corrupt` can write
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
_ids = itertools.count(1)


@dataclass
class WatchPlan:
    resource: Resource
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    rv: int | None  # None: no resourceVersion or "0" (start with the current state)
    send_initial: bool | None
    bookmarks: bool
    timeout: float | None
    table: str | None  # the Table apiVersion when kubectl asked for tables
    stall: bool = False
    shard: ShardSelector | None = None  # shardSelector: uid/namespace never change shards


class Watcher:
    def __init__(
        self,
        server: ServerCore,
        plan: WatchPlan,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.id = next(_ids)
        self.server = server
        self.plan = plan
        self.resource = plan.resource
        self.reader = reader
        self.writer = writer
        self.wake = asyncio.Event()
        self.action: str | None = None
        self.cursor = 0
        self.established = False  # headers and initial events sent: events from here are live
        self.blocked = False  # waiting for the client to read
        self.sent = 0
        self.pipelined = False
        self.stalled = False  # an injected stall: headers sent, nothing else until released
        self._selecting = (
            not plan.labels.empty
            or not plan.fields.empty
            or (plan.shard is not None and not plan.shard.empty)
        )

    def __repr__(self) -> str:
        ns = self.plan.namespace or "*"
        return (
            f"<Watcher {self.id} {self.resource.plural} ns={ns} rv={self.cursor} sent={self.sent}>"
        )

    def poke(self, action: str | None = None) -> None:
        """Wake the stream (new events, clock moved); with an action, make it act."""
        if action is not None and self.action is None:
            self.action = action
        self.wake.set()

    # ---- writing ------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self.writer.write(data)

    async def _pause(self, seconds: float) -> bool:
        """Sleep in real time unless an action comes first; False if one did."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while self.action is None:
            left = end - loop.time()
            if left <= 0:
                return True
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), left)
            except TimeoutError:
                return True
        return False

    async def _drain(self) -> bool:
        """Wait while the client is behind; False if an action came first."""
        transport = self.writer.transport
        if transport.get_write_buffer_size() <= HIGH_WATER:
            return self.action is None
        self.blocked = True
        self.server.check_backlog(self)
        drain = asyncio.ensure_future(self.writer.drain())
        try:
            while self.action is None and not drain.done():
                self.wake.clear()
                waker = asyncio.ensure_future(self.wake.wait())
                await asyncio.wait({drain, waker}, return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
                if not drain.done() and self.action is None:
                    self.server.check_backlog(self)
            if drain.done() and not drain.cancelled() and drain.exception() is not None:
                raise ConnectionResetError("client went away")
        finally:
            self.blocked = False
            if not drain.done():
                drain.cancel()
        return self.action is None

    async def _send(self, line: bytes) -> bool:
        faults = self.server.faults
        if faults.slow_delay > 0 and not await self._pause(faults.slow_delay):
            return False
        trickle = faults.trickle
        if trickle is not None:
            size, delay = trickle
            for i in range(0, len(line), max(1, size)):
                if i and delay > 0 and not await self._pause(delay):
                    return False
                self._write(chunk(line[i : i + size]))
        else:
            self._write(chunk(line))
        self.sent += 1
        self.server.counters["watch_events"] += 1
        return await self._drain()

    async def _send_events(self, events: list[Event]) -> bool:
        """Send what ``events`` hold for this stream; False if an action came first.

        Each event is its own chunk, but the chunks go out in one write per
        batch (not one ``send()`` each), up to `HIGH_WATER` bytes buffered;
        the rest is read again from the cursor. Slowed or trickled streams
        pace every event through `_send`.
        """
        faults = self.server.faults
        if faults.slow_delay > 0 or faults.trickle is not None:
            for ev in events:
                if self.action is not None:
                    return False
                maybe = self._line_for(ev)
                self.cursor = ev.rv
                if maybe is not None and not await self._send(maybe):
                    return False
            return True
        room = HIGH_WATER - self.writer.transport.get_write_buffer_size()
        batch: list[bytes] = []
        for ev in events:
            maybe = self._line_for(ev)
            self.cursor = ev.rv
            if maybe is not None:
                batch.append(chunk(maybe))
                room -= len(maybe)
                if room < 0:
                    break
        if batch:
            self._write(b"".join(batch))
            self.sent += len(batch)
            self.server.counters["watch_events"] += len(batch)
        return await self._drain()

    # ---- what to send ----------------------------------------------------------------

    def _matches(self, obj: JSON) -> bool:
        if not self._selecting:
            return True
        shard = self.plan.shard
        return (
            self.plan.labels.matches((obj.get("metadata") or {}).get("labels"))
            and self.plan.fields.matches(self.resource.field_labels(obj))
            and (shard is None or shard.matches(obj))
        )

    def _line(self, type_: str, obj: JSON, event: Event | None = None) -> bytes:
        if self.plan.table is not None:
            table = self.server.table(self.resource, [obj], None, self.plan.table)
            return event_line(type_, dumps(table))
        if event is not None:
            return (
                event.wire(type_, obj)
                if type_ != event.type or obj is not event.obj
                else event.wire()
            )
        return event_line(type_, with_kind(self.resource, dumps(obj)))

    def _line_for(self, ev: Event) -> bytes | None:
        ns = self.plan.namespace
        if ns is not None and ev.key[0] != ns:
            return None
        if not self._selecting:
            return self._line(ev.type, ev.obj, ev)
        if ev.type == "ADDED":
            return self._line("ADDED", ev.obj, ev) if self._matches(ev.obj) else None
        if ev.type == "DELETED":
            return self._line("DELETED", ev.obj, ev) if self._matches(ev.obj) else None
        now, before = self._matches(ev.obj), ev.prev is not None and self._matches(ev.prev)
        if now and before:
            return self._line("MODIFIED", ev.obj, ev)
        if now:
            return self._line("ADDED", ev.obj, ev)
        if before and ev.prev is not None:
            gone = dict(ev.prev)
            gone["metadata"] = {**ev.prev["metadata"], "resourceVersion": str(ev.rv)}
            return self._line("DELETED", gone, ev)
        return None

    def _error_line(self, err: APIError) -> bytes:
        return event_line("ERROR", dumps(err.status))

    def _bookmark_line(self, rv: int, annotations: dict[str, str] | None = None) -> bytes:
        return event_line("BOOKMARK", dumps(self.resource.bookmark(rv, annotations)))

    def corrupt(self, kind: str) -> None:
        """Write one bad event between two of the stream's own chunks (on the loop), and
        carry on: ``json`` a line that is not JSON, ``type`` an event of an unknown type,
        ``truncated`` a chunk shorter than its size line says (the client then reads the
        next chunks as the rest of it, and the framing is off from there)."""
        if kind == "json":
            self._write(chunk(b'{"type":"ADDED","object":{"metadata": not json\n'))
        elif kind == "type":
            obj = self.resource.bookmark(self.cursor)
            self._write(chunk(event_line("SURPRISE", dumps(obj))))
        elif kind == "truncated":
            line = self._bookmark_line(self.cursor)
            self._write(b"%x\r\n" % len(line) + line[: len(line) // 2] + b"\r\n")
        else:
            raise ValueError(f"unknown corruption {kind!r}; known: {list(CORRUPTIONS)}")
        self.server.faults.count(f"watch_corrupt_{kind}")

    # ---- the stream ------------------------------------------------------------------

    async def run(self) -> bool:
        """Serve the stream; True if the connection can carry another request."""
        self._write(
            head_bytes(
                200,
                [
                    ("Cache-Control", "no-cache, private"),
                    ("Content-Type", "application/json"),
                    ("Transfer-Encoding", "chunked"),
                ],
            )
        )
        monitor = asyncio.ensure_future(self._watch_for_hangup())
        try:
            return await self._run() and not self.pipelined
        except (ConnectionError, OSError):
            return False
        finally:
            monitor.cancel()
            await asyncio.wait({monitor})  # its read ended: the reader serves the next request

    async def _watch_for_hangup(self) -> None:
        try:
            data = await self.reader.read(65536)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self.poke("gone")
        else:  # a pipelined request: do not reuse this connection after the stream
            self.pipelined = True

    async def _run(self) -> bool:
        server, store, clock = self.server, self.server.store, self.server.clock
        plan = self.plan
        if plan.stall:
            self.stalled = True
            while self.action is None:
                self.wake.clear()
                await self.wake.wait()
            self.stalled = False
            if self.action == "release":
                self.action = None
        now = clock.now()
        timeout = plan.timeout
        if timeout is None:  # the apiserver's --min-request-timeout, randomised like its own
            timeout = server.min_request_timeout * (1 + random.random())
        deadline = now + timeout
        next_bookmark = now + server.bookmark_interval if plan.bookmarks else None

        initial = plan.rv is None if plan.send_initial is None else plan.send_initial
        too_large = plan.send_initial and plan.rv is not None and plan.rv > store.rv
        if too_large and plan.rv is not None and not await server.wait_for_rv(plan.rv):
            return await self._finish_error(st.too_large_rv(plan.rv, store.rv))
        if initial:
            snap = store.list_page(
                self.resource,
                plan.namespace,
                labels=plan.labels,
                fields=plan.fields,
                shard=plan.shard,
            )
            self.cursor = snap.rv
            for item in snap.items:
                if self.action is not None:
                    return await self._act()
                line = (
                    self._line("ADDED", json.loads(item))
                    if plan.table is not None
                    else event_line("ADDED", with_kind(self.resource, item))
                )
                if not await self._send(line):
                    return await self._act()
            end = {INITIAL_EVENTS_END: "true"}
            if plan.send_initial and not await self._send(self._bookmark_line(snap.rv, end)):
                return await self._act()
        else:
            self.cursor = plan.rv if plan.rv is not None else store.rv
            if self.cursor < store.horizon:
                return await self._finish_error(st.too_old_watch(self.cursor, store.horizon))
        self.established = True
        server.watcher_established()

        while True:
            if self.action is not None:
                return await self._act()
            self.wake.clear()
            events, current, horizon = store.events_since(self.resource, self.cursor, 500)
            if self.cursor < horizon:
                return await self._finish_error(st.too_old_watch(self.cursor, horizon))
            if events:
                if not await self._send_events(events):
                    return await self._act()
                continue
            self.cursor = max(self.cursor, current)  # caught up: nothing of ours up to current
            now = clock.now()
            if now >= deadline:
                self._write(LAST_CHUNK)
                return True
            if next_bookmark is not None and now >= next_bookmark:
                next_bookmark = now + server.bookmark_interval
                if not await self._send(self._bookmark_line(self.cursor)):
                    return await self._act()
                continue
            wake_at = deadline if next_bookmark is None else min(deadline, next_bookmark)
            delay = clock.real_delay(wake_at)
            try:
                if delay is None:
                    await self.wake.wait()
                else:
                    await asyncio.wait_for(self.wake.wait(), delay + 0.001)
            except TimeoutError:
                pass

    async def _finish_error(self, err: APIError) -> bool:
        self._write(chunk(self._error_line(err)))
        self._write(LAST_CHUNK)
        return True

    async def _act(self) -> bool:
        action = self.action
        self.server.faults.count(f"watch_{action}")
        if action == "expire":
            horizon = self.server.store.horizon
            return await self._finish_error(
                st.too_old_watch(self.cursor, max(horizon, self.cursor + 1))
            )
        if action == "tear":
            events, _, _ = self.server.store.events_since(self.resource, self.cursor, 1)
            line = events[0].wire() if events else self._bookmark_line(self.cursor)
            self._write(b"%x\r\n" % len(line) + line[: len(line) // 2])
            return False  # the caller closes the connection after flushing the half event
        if action in ("end", "backlog", "close"):
            self._write(LAST_CHUNK)
            return action != "close"
        if action == "abort":
            self.writer.transport.abort()
        return False
