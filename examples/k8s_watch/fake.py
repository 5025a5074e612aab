"""Test doubles: a scripted `ListerWatcher` and an in-memory Lease; green, on any clock.

client-go tests reflectors against ``cache/testing.FakeControllerSource``;
this is the same idea for gochan. A test scripts what LIST answers
(`FakeListerWatcher.list_results`, or pages cut from ``objects``) and gets
each WATCH the reflector opens from the ``watches`` channel, as a
`FakeWatch` it then drives by hand: events, bookmarks, errors, a clean or a
torn end. Everything is a channel operation on the test's own thread, so a
test on the virtual clock is exact: backoffs, dead-stream timeouts and
Retry-After waits take no real time and can be read off `gochan.monotonic`.

`MemoryLease` is a Lease with resourceVersions in memory, for leader election
on the virtual clock: each `MemoryLock` on it is a replica's, and ``cut``
cuts that replica off from the API.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import gochan

from .leaderelection import LeaderElectionRecord
from .store import JSON
from .transport import APIStatusError, StreamEnd, TransportError, WatchItem


def obj(name: str, rv: str, namespace: str = "default", **extra: Any) -> JSON:
    """A minimal object: ``metadata`` with name, namespace and resourceVersion."""
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": rv}, **extra}


def status(code: int, reason: str, message: str = "") -> JSON:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message or reason,
    }


class FakeWatch:
    """One watch the reflector opened; the test feeds it."""

    def __init__(self, params: dict[str, Any], opened_at: float) -> None:
        self.params = params
        self.opened_at = opened_at
        self.events: gochan.Chan[WatchItem] = gochan.Chan(10_000)
        self.closed = False
        self.ended = False

    def __repr__(self) -> str:
        return f"<FakeWatch rv={self.params.get('resource_version')!r} closed={self.closed}>"

    @property
    def resource_version(self) -> str | None:
        rv: str | None = self.params.get("resource_version")
        return rv

    def send(self, type_: str, object_: JSON) -> None:
        self.events.send({"type": type_, "object": object_})

    def added(self, o: JSON) -> None:
        self.send("ADDED", o)

    def modified(self, o: JSON) -> None:
        self.send("MODIFIED", o)

    def deleted(self, o: JSON) -> None:
        self.send("DELETED", o)

    def bookmark(self, rv: str, annotations: dict[str, str] | None = None) -> None:
        md: JSON = {"resourceVersion": rv}
        if annotations:
            md["annotations"] = annotations
        self.send("BOOKMARK", {"kind": "Pod", "apiVersion": "v1", "metadata": md})

    def error(self, code: int, reason: str, message: str = "") -> None:
        self.send("ERROR", status(code, reason, message))

    def raw(self, event: JSON) -> None:
        self.events.send(event)

    def end(self, error: BaseException | None = None) -> None:
        """End the stream: cleanly (None), or with a transport or decode error."""
        if not self.ended:
            self.ended = True
            self.events.send(StreamEnd(error))
            self.events.close()

    def tear(self) -> None:
        self.end(TransportError("torn stream: the connection ended mid-body"))

    def reset(self) -> None:
        self.end(TransportError("ConnectionResetError: connection reset by peer"))

    def close(self) -> None:
        self.closed = True

    def join(self, timeout: float | None = None) -> None:
        pass

    @property
    def alive(self) -> bool:
        return False


@dataclass
class FakeListerWatcher:
    """Scripted LIST answers and hand-driven WATCHes (see the module doc).

    A LIST takes the next item of ``list_results`` (a page, or an exception
    to raise); when that is empty it cuts pages of ``limit`` from
    ``objects`` at ``resource_version``. A WATCH takes the next item of
    ``watch_errors`` to raise, if any; otherwise it creates a `FakeWatch`,
    records it and sends it on ``watches``.
    """

    objects: list[JSON] = field(default_factory=list)
    resource_version: str = "100"
    list_results: deque[JSON | BaseException] = field(default_factory=deque)
    watch_errors: deque[BaseException] = field(default_factory=deque)
    list_calls: list[dict[str, Any]] = field(default_factory=list)
    watch_calls: list[dict[str, Any]] = field(default_factory=list)
    watches: gochan.Chan[FakeWatch] = field(default_factory=lambda: gochan.Chan(1000))
    lists: gochan.Chan[float] = field(default_factory=lambda: gochan.Chan(1000))

    def list(self, *, limit: int, continue_: str | None) -> JSON:
        self.list_calls.append({"limit": limit, "continue": continue_, "at": gochan.monotonic()})
        gochan.select((self.lists.send, gochan.monotonic()), gochan.default)
        if self.list_results:
            r = self.list_results.popleft()
            if isinstance(r, BaseException):
                raise r
            return r
        start = int(continue_ or 0)
        page = self.objects[start : start + limit]
        meta: JSON = {"resourceVersion": self.resource_version}
        if start + limit < len(self.objects):
            meta["continue"] = str(start + limit)
        return {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": page}

    def watch(
        self,
        *,
        resource_version: str | None,
        timeout_seconds: int,
        allow_watch_bookmarks: bool,
        send_initial_events: bool,
        read_timeout: float,
    ) -> FakeWatch:
        params = {
            "resource_version": resource_version,
            "timeout_seconds": timeout_seconds,
            "allow_watch_bookmarks": allow_watch_bookmarks,
            "send_initial_events": send_initial_events,
            "read_timeout": read_timeout,
            "at": gochan.monotonic(),
        }
        self.watch_calls.append(params)
        if self.watch_errors:
            raise self.watch_errors.popleft()
        w = FakeWatch(params, gochan.monotonic())
        self.watches.send(w)
        return w


def api_error(code: int, reason: str, retry_after: float | None = None) -> APIStatusError:
    return APIStatusError(
        code, reason, reason, retry_after=retry_after, status=status(code, reason)
    )


class MemoryLease:
    """An in-memory Lease with resourceVersions, shared by `MemoryLock` s (tests)."""

    def __init__(self) -> None:
        self.record: LeaderElectionRecord | None = None
        self.rv = 0
        self.writes: list[tuple[float, str]] = []  # (time, holder)

    def lock(self, identity: str) -> MemoryLock:
        return MemoryLock(self, identity)


class MemoryLock:
    """A `Lock` on a `MemoryLease`; ``cut`` simulates a replica cut off from the API."""

    def __init__(self, lease: MemoryLease, identity: str) -> None:
        self.lease = lease
        self.identity = identity
        self.cut = False
        self._read_rv = -1

    def _check(self) -> None:
        if self.cut:
            raise TransportError("connection refused (partitioned)")

    def get(self) -> LeaderElectionRecord | None:
        self._check()
        self._read_rv = self.lease.rv
        return self.lease.record

    def create(self, record: LeaderElectionRecord) -> None:
        self._check()
        if self.lease.record is not None:
            raise APIStatusError(409, "AlreadyExists", "leases already exists")
        self._write(record)

    def update(self, record: LeaderElectionRecord) -> None:
        self._check()
        if self._read_rv != self.lease.rv:
            raise APIStatusError(409, "Conflict", "the object has been modified")
        self._write(record)

    def _write(self, record: LeaderElectionRecord) -> None:
        self.lease.record = record
        self.lease.rv += 1
        self._read_rv = self.lease.rv
        self.lease.writes.append((gochan.monotonic(), record.holder_identity))


__all__ = [
    "FakeListerWatcher",
    "FakeWatch",
    "MemoryLease",
    "MemoryLock",
    "api_error",
    "obj",
    "status",
]
