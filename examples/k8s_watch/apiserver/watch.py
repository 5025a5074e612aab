"""One watch stream: chunked, newline-delimited ``{"type","object"}`` events.

A `Watcher` owns its HTTP response from the headers to the last chunk. It
reads the store's event log from its cursor (the revision of the last event
it has looked at), so a write never waits for a watcher and a watcher never
misses an event: the log is the buffer. Bookmarks, ``timeoutSeconds`` and
the default timeout run on the server's clock.

The stream runs in its connection's green task; its HTTP framing (the
head, the chunks, the last chunk) is wire.py's output formatting: the
events of a batch (up to `HIGH_WATER` bytes) go out as one chunk. A
client splits the stream into events by their newlines, not by chunks:
the kube-apiserver's own chunks do not follow events either (Go's
response writer buffers what the watch encoder writes and frames a chunk
per flush). Control comes from outside
through `Watcher.poke` (the fault methods and the server's shutdown, on the
server's thread): it sets ``action`` and wakes the stream, which acts at
once, including while it waits for a slow client to read: a write blocked
on the client is cut short by moving its write deadline into the past, and
what it had not sent yet goes out before the stream's end.

Actions: ``end`` (clean end of stream), ``expire`` (one ERROR 410, then a
clean end), ``tear`` (half an event, then the connection closes),
``backlog`` (clean end, as the real apiserver drops a watcher that cannot
keep up), ``close`` (server shutdown: clean end), ``abort`` (restart: the
connection is reset), ``gone`` (the client hung up). `Watcher.corrupt` is not
an action: it writes one bad event and the stream goes on.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gochan
from gochan import net

from . import status as st
from .resources import Resource
from .selectors import FieldSelector, LabelSelector
from .sharding import ShardSelector
from .status import JSON, APIError
from .store import Event, dumps, event_line, with_kind
from .wire import LAST_CHUNK, Parser, chunk, response

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
        conn: net.Conn,
        parser: Parser,
    ) -> None:
        self.id = next(_ids)
        self.server = server
        self.plan = plan
        self.resource = plan.resource
        self.conn = conn
        self.parser = parser
        self.wake: gochan.Chan[None] = gochan.Chan(1)
        self._woken = False
        self.tail = b""  # what is still to be written after the stream, outside it
        self._corrupt: list[str] = []  # bad events to write (`corrupt`)
        self.buffered = 0  # bytes of the batch being written, not yet taken by the kernel
        self.action: str | None = None
        self.cursor = 0
        self.established = False  # headers and initial events sent: events from here are live
        self.blocked = False  # waiting for the client to read
        self.sent = 0
        self.pipelined = False  # a request came behind the watch: not reused after it
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
            if self.blocked:  # cut the write short (on the server's thread)
                self.conn.set_write_deadline(gochan.monotonic() - 1)
        if not self._woken:
            self._woken = True
            self.wake.send(None)  # room for one: never blocks

    def _clear(self) -> None:
        if self._woken:
            self._woken = False
            self.wake.recv()  # the one token poke put in: never blocks

    def _wait(self, delay: float | None) -> None:
        """Until poked, or ``delay`` real seconds (None: no limit)."""
        if delay is None:
            self.wake.recv()
            self._woken = False
        elif gochan.select(self.wake.recv, gochan.after(delay).recv)[0] == 0:
            self._woken = False

    # ---- writing ------------------------------------------------------------------------

    def _write(self, data: bytes) -> bool:
        """Write ``data``; False if an action cut it short (the rest is in `tail`)."""
        if self.action is not None:
            self.tail += data
            return False
        view = memoryview(data)
        conn = self.conn
        # Blocked only as others see it: a send that does not park does not yield.
        self.blocked = True
        self.buffered = len(view)
        try:
            while view:
                n = conn.send(view)
                view = view[n:]
                self.buffered = len(view)
            return True
        except TimeoutError:  # poke moved the write deadline: an action
            self.tail += bytes(view)
            return False
        finally:
            if self.blocked:
                self.blocked = False
                self.buffered = 0
                if self.action is not None:
                    conn.set_write_deadline(None)

    def _chunk(self, line: bytes) -> bytes:
        return chunk(line)

    def _pause(self, seconds: float) -> bool:
        """Sleep in real time unless an action comes first; False if one did."""
        end = gochan.monotonic() + seconds
        while self.action is None:
            left = end - gochan.monotonic()
            if left <= 0:
                return True
            self._clear()
            if self.action is None:
                self._wait(left)
        return False

    def _send(self, line: bytes) -> bool:
        faults = self.server.faults
        if faults.slow_delay > 0 and not self._pause(faults.slow_delay):
            return False
        trickle = faults.trickle
        if trickle is not None:
            size, delay = trickle
            for i in range(0, len(line), max(1, size)):
                if i and delay > 0 and not self._pause(delay):
                    return False
                if not self._write(self._chunk(line[i : i + size])):
                    return False
        elif not self._write(self._chunk(line)):
            return False
        self.sent += 1
        self.server.counters["watch_events"] += 1
        return self.action is None

    def _send_events(self, events: list[Event]) -> bool:
        """Send what ``events`` hold for this stream; False if an action came first.

        The events' lines go out as one chunk and one write
        per batch of up to `HIGH_WATER` bytes; the rest is read again from the
        cursor. Slowed or trickled streams pace every event through `_send`.
        """
        faults = self.server.faults
        if faults.slow_delay > 0 or faults.trickle is not None:
            for ev in events:
                if self.action is not None:
                    return False
                maybe = self._line_for(ev)
                self.cursor = ev.rv
                if maybe is not None and not self._send(maybe):
                    return False
            return True
        room = HIGH_WATER
        batch: list[bytes] = []
        out = batch.append
        line_for = self._line_for
        for ev in events:
            maybe = line_for(ev)
            self.cursor = ev.rv
            if maybe is not None:
                out(maybe)
                room -= len(maybe)
                if room < 0:
                    break
        if batch:
            n = len(batch)
            self.sent += n
            self.server.counters["watch_events"] += n
            if not self._write(self._chunk(b"".join(batch))):
                return False
        return self.action is None

    def _send_lines(self, lines: Iterable[bytes]) -> bool:
        """Send ``lines`` (the initial events), a chunk and a write per `HIGH_WATER`
        bytes; False if an action came first. Slowed or trickled streams pace each."""
        faults = self.server.faults
        if faults.slow_delay > 0 or faults.trickle is not None:
            return all(self.action is None and self._send(line) for line in lines)
        batch: list[bytes] = []
        size = 0
        for line in lines:
            batch.append(line)
            size += len(line)
            if size >= HIGH_WATER and not self._flush(batch):
                return False
            if size >= HIGH_WATER:
                batch, size = [], 0
        return self._flush(batch) if batch else self.action is None

    def _flush(self, batch: list[bytes]) -> bool:
        """One chunk, one write for ``batch``; False if an action came first."""
        if self.action is not None:
            return False
        self.sent += len(batch)
        self.server.counters["watch_events"] += len(batch)
        return self._write(self._chunk(b"".join(batch))) and self.action is None

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
        if kind not in CORRUPTIONS:
            raise ValueError(f"unknown corruption {kind!r}; known: {list(CORRUPTIONS)}")
        self._corrupt.append(kind)  # the stream's own task writes it, between two chunks
        self.server.faults.count(f"watch_corrupt_{kind}")
        self.poke()

    def _write_corruption(self, kind: str) -> bool:
        if kind == "json":
            return self._write(self._chunk(b'{"type":"ADDED","object":{"metadata": not json\n'))
        if kind == "type":
            obj = self.resource.bookmark(self.cursor)
            return self._write(self._chunk(event_line("SURPRISE", dumps(obj))))
        line = self._bookmark_line(self.cursor)
        # A framing error on purpose: unlike `chunk`, not a whole chunk.
        return self._write(b"%x\r\n" % len(line) + line[: len(line) // 2] + b"\r\n")

    # ---- the stream ------------------------------------------------------------------

    def run(self) -> bool:
        """Serve the stream; True if the connection can carry another request."""
        from .connection import Monitor

        if not self._write(response(200, "application/json", [], None, True)):
            return self._act()
        if self.parser.in_message or self.parser.ready:  # a request behind it, read with it
            self.pipelined = True
        monitor = Monitor(self.conn, lambda: self.poke("gone"), self._on_pipelined)
        try:
            return self._run() and not self.pipelined
        except OSError:  # reset, broken pipe
            return False
        finally:
            if not monitor.gone:
                monitor.stop()  # its read ended: the connection serves the next request

    def _on_pipelined(self) -> None:
        self.pipelined = True  # a request behind the watch: the connection closes after it

    def _run(self) -> bool:
        server, store, clock = self.server, self.server.store, self.server.clock
        plan = self.plan
        if plan.stall:
            self.stalled = True
            while self.action is None:
                self._clear()
                if self.action is None:
                    self._wait(None)
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
        if too_large and plan.rv is not None and not server.wait_for_rv(plan.rv):
            return self._finish_error(st.too_large_rv(plan.rv, store.rv))
        if initial:
            snap = store.list_page(
                self.resource,
                plan.namespace,
                labels=plan.labels,
                fields=plan.fields,
                shard=plan.shard,
            )
            self.cursor = snap.rv
            lines = (
                self._line("ADDED", json.loads(item))
                if plan.table is not None
                else event_line("ADDED", with_kind(self.resource, item))
                for item in snap.items
            )
            if not self._send_lines(lines):
                return self._act()
            end = {INITIAL_EVENTS_END: "true"}
            if plan.send_initial and not self._send(self._bookmark_line(snap.rv, end)):
                return self._act()
        else:
            self.cursor = plan.rv if plan.rv is not None else store.rv
            if self.cursor < store.horizon:
                return self._finish_error(st.too_old_watch(self.cursor, store.horizon))
        self.established = True
        server.watcher_established()

        while True:
            if self.action is not None:
                return self._act()
            self._clear()
            while self._corrupt:
                if not self._write_corruption(self._corrupt.pop(0)):
                    return self._act()
            events, current, horizon = store.events_since(self.resource, self.cursor, 500)
            if self.cursor < horizon:
                return self._finish_error(st.too_old_watch(self.cursor, horizon))
            if events:
                if not self._send_events(events):
                    return self._act()
                continue
            self.cursor = max(self.cursor, current)  # caught up: nothing of ours up to current
            now = clock.now()
            if now >= deadline:
                return self._end()
            if next_bookmark is not None and now >= next_bookmark:
                next_bookmark = now + server.bookmark_interval
                if not self._send(self._bookmark_line(self.cursor)):
                    return self._act()
                continue
            wake_at = deadline if next_bookmark is None else min(deadline, next_bookmark)
            if self.action is None:
                delay = clock.real_delay(wake_at)
                self._wait(None if delay is None else delay + 0.001)

    def _end(self) -> bool:
        """The last chunk; True: the stream ended cleanly."""
        self.tail += LAST_CHUNK
        return True

    def _finish_error(self, err: APIError) -> bool:
        self.tail += self._chunk(self._error_line(err))
        return self._end()

    def _act(self) -> bool:
        """Do what ``action`` says; what is to be written is left in `tail`, which the
        server writes after the stream has left its list of watchers."""
        action = self.action
        self.server.faults.count(f"watch_{action}")
        if action == "expire":
            horizon = self.server.store.horizon
            return self._finish_error(st.too_old_watch(self.cursor, max(horizon, self.cursor + 1)))
        if action == "tear":
            events, _, _ = self.server.store.events_since(self.resource, self.cursor, 1)
            line = events[0].wire() if events else self._bookmark_line(self.cursor)
            # A torn chunk on purpose: unlike `chunk`, not a whole chunk.
            self.tail += b"%x\r\n" % len(line) + line[: len(line) // 2]
            return False  # the caller closes the connection after flushing the half event
        if action in ("end", "backlog", "close"):
            self._end()
            return action != "close"
        if action == "abort":
            from .connection import abort

            self.tail = b""
            abort(self.conn)
        return False
