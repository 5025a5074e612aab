"""`APIServer`: the public face of the server, and `serve()`.

The engine (loop thread, connections, watch streams) is `ServerCore` in
core.py; this adds what callers use: fault injection (armed faults, modes,
actions on live streams, compaction, bursts, restarts), the Python face of
the store, stats and a kubeconfig.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gochan

from .core import ServerCore
from .faults import ArmedFault
from .handlers import Result, handle
from .resources import RESOURCES, Resource, by_name
from .status import JSON
from .watch import CORRUPTIONS
from .wire import Request


class APIServer(ServerCore):
    """A small Kubernetes API server (see the package docstring); start it with `serve()`."""

    def _dispatch(self, req: Request) -> Result:
        return handle(self, req)

    # ---- faults ------------------------------------------------------------------------

    def fail_requests(
        self,
        code: int = 429,
        *,
        count: int | None = 1,
        verbs: Iterable[str] | None = ("list", "watch"),
        resource: str | None = None,
        retry_after: int | None = 1,
    ) -> None:
        """The next ``count`` matching requests fail with ``code`` (and ``Retry-After``)."""
        if not 400 <= code <= 599:
            raise ValueError(f"not an HTTP error code: {code}")
        self.faults.arm(
            ArmedFault("http_error", count, _verbs(verbs), _plural(resource), code, retry_after)
        )

    def stall_after_headers(
        self,
        *,
        count: int | None = 1,
        resource: str | None = None,
        verbs: Iterable[str] | None = ("watch",),
    ) -> None:
        """The next ``count`` matching list/watch requests get their headers, then nothing
        until `clear_faults()` (a watch then goes on normally)."""
        self.faults.arm(ArmedFault("stall", count, _verbs(verbs), _plural(resource)))

    def never_answer(
        self,
        *,
        count: int | None = 1,
        resource: str | None = None,
        verbs: Iterable[str] | None = None,
    ) -> None:
        """The next ``count`` matching requests are read and never answered (until
        `clear_faults()`, which closes them unanswered)."""
        self.faults.arm(ArmedFault("never_answer", count, _verbs(verbs), _plural(resource)))

    def force_conflict(self, *, count: int | None = 1, resource: str | None = None) -> None:
        """The next ``count`` updates, patches or deletes fail with 409 Conflict."""
        self.faults.arm(ArmedFault("conflict", count, None, _plural(resource)))

    def slow_watches(self, delay: float) -> None:
        """Every watch event waits ``delay`` real seconds before it is sent (0: off)."""
        if delay < 0:
            raise ValueError("delay must be >= 0")
        self.faults.slow_delay = delay

    def trickle_watches(self, chunk_bytes: int = 7, delay: float = 0.0) -> None:
        """Every watch event goes out in chunks of ``chunk_bytes``, ``delay`` apart."""
        if chunk_bytes < 1 or delay < 0:
            raise ValueError("chunk_bytes must be >= 1 and delay >= 0")
        self.faults.trickle = (chunk_bytes, delay)

    def tear_watches(self, resource: str | None = None) -> int:
        """Cut live streams in the middle of an event; returns how many."""
        return self._poke_watchers("tear", resource)

    def end_watches(self, resource: str | None = None) -> int:
        """End live streams cleanly (as a timeout would); returns how many."""
        return self._poke_watchers("end", resource)

    def expire_watches(self, resource: str | None = None) -> int:
        """Send live streams one ERROR 410 Expired, then end them; returns how many."""
        return self._poke_watchers("expire", resource)

    def corrupt_watches(self, resource: str | None = None, kind: str = "json") -> int:
        """Write one bad event to every live stream (of ``resource``) and carry on:
        ``kind`` is ``json`` (a line that is not JSON), ``type`` (an unknown event type)
        or ``truncated`` (a chunk shorter than its size line); returns how many."""
        if kind not in CORRUPTIONS:
            raise ValueError(f"unknown kind {kind!r}; known: {list(CORRUPTIONS)}")

        def run() -> int:
            targets = [w for w in self._matching(resource) if w.action is None]
            for w in targets:
                w.corrupt(kind)
            return len(targets)

        return self._call(run)

    def close_backlogged_watchers(self, max_backlog: int = 0, resource: str | None = None) -> int:
        """Close (cleanly) the live streams more than ``max_backlog`` events behind."""

        def run() -> int:
            n = 0
            for w in self._matching(resource):
                if w.action is None and self.store.pending(w.resource, w.cursor) > max_backlog:
                    w.poke("backlog")
                    n += 1
            return n

        return self._call(run)

    def set_watch_backlog_limit(self, limit: int | None) -> None:
        """Close any watcher whose client stops reading while more than ``limit`` events are
        queued for it (None: never), as the apiserver drops watchers that cannot keep up."""
        self.watch_backlog_limit = limit

        def run() -> None:
            for w in list(self._watchers):
                self.check_backlog(w)

        self._call(run)

    def compact(self, rv: int | None = None) -> int:
        """Compact history at ``rv`` (default: now); returns the new horizon."""
        self.faults.count("compact")
        horizon = self.store.compact(rv)
        self._on_store_change({r.plural for r in RESOURCES})
        return horizon

    def clear_faults(self) -> None:
        """Disarm everything; stalled streams go on, held requests are closed unanswered."""
        self.faults.clear()

        def run() -> None:
            self._release_holds()
            for w in list(self._watchers):
                if w.stalled:
                    w.poke("release")

        self._call(run)

    def burst(
        self,
        writes: int = 10_000,
        keys: int = 1000,
        *,
        namespace: str = "default",
        resource: str = "pods",
        seed: int = 0,
    ) -> int:
        """``writes`` creates/updates/deletes over ``keys`` names, as fast as the store takes
        them (watchers run between batches); returns the number of writes."""
        return self._run_task(
            lambda: self.burst_green(
                writes, keys, namespace=namespace, resource=resource, seed=seed
            )
        )

    def burst_green(
        self,
        writes: int,
        keys: int,
        *,
        namespace: str = "default",
        resource: str = "pods",
        seed: int = 0,
    ) -> int:
        r = by_name(resource)
        if writes < 0 or keys < 1:
            raise ValueError("writes must be >= 0 and keys >= 1")
        self.faults.count("burst")
        rng = random.Random(seed)
        done = 0
        batch = 250
        for start in range(0, writes, batch):
            ops = []
            for i in range(start, min(writes, start + batch)):
                k = rng.randrange(keys)
                name = f"burst-{k}"
                body = _burst_body(r, name, k, i)
                patch: JSON = {"metadata": {"annotations": {"burst/seq": str(i)}}}
                ops.append((namespace, name, rng.random() < 0.1, body, patch))
            done += self.store.apply_many(r, ops)
            gochan.gosched()  # watchers run between batches
        return done

    def restart(
        self,
        *,
        keep_state: bool = True,
        reset_rv: bool = False,
        down_for: float = 0.0,
        keep_history: bool = False,
    ) -> None:
        """Drop every connection (reset) and listen again on the same port.

        With state, objects survive but the event history does not (unless
        ``keep_history``): like a real apiserver whose watch cache starts at
        the current revision, old resourceVersions get 410. Without state,
        everything is gone (and with ``reset_rv`` the revision starts over).
        """
        self._run_task(
            lambda: self.restart_green(
                keep_state=keep_state,
                reset_rv=reset_rv,
                down_for=down_for,
                keep_history=keep_history,
            )
        )

    def restart_green(
        self,
        keep_state: bool = True,
        reset_rv: bool = False,
        down_for: float = 0.0,
        keep_history: bool = False,
    ) -> None:
        self.faults.count("restart")
        self._stop_listening()
        self._drop_connections("abort", wait=2.0)
        if keep_state:
            if not keep_history:
                self.store.compact()
        else:
            self.store.wipe(reset_rv=reset_rv)
        if down_for > 0:
            gochan.sleep(down_for)
        if not self._closing:
            self._listen()
        self.counters["restarts"] += 1  # done: listening again

    # ---- the Python face of the store ----------------------------------------------------

    def create(self, resource: str, obj: JSON, namespace: str = "default") -> JSON:
        return self.store.create(by_name(resource), namespace, obj)

    def get(self, resource: str, name: str, namespace: str = "default") -> JSON:
        return self.store.get(by_name(resource), namespace, name)

    def update(self, resource: str, obj: JSON, namespace: str = "default") -> JSON:
        return self.store.update(by_name(resource), namespace, obj["metadata"]["name"], obj)

    def patch(
        self,
        resource: str,
        name: str,
        patch: object,
        namespace: str = "default",
        content_type: str = "application/merge-patch+json",
    ) -> JSON:
        return self.store.patch(by_name(resource), namespace, name, content_type, patch)

    def delete(self, resource: str, name: str, namespace: str = "default") -> JSON:
        return self.store.delete(by_name(resource), namespace, name)

    def objects(self, resource: str, namespace: str | None = None) -> list[JSON]:
        return self.store.objects(by_name(resource), namespace)

    @property
    def resource_version(self) -> int:
        return self.store.rv

    def stats(self) -> JSON:
        return {
            "resourceVersion": self.store.rv,
            "horizon": self.store.horizon,
            "compactions": self.store.compactions,
            "objects": {r.plural: self.store.count(r) for r in RESOURCES},
            "watchers": self.watcher_count(),
            "connections": len(self._conns),
            "counters": dict(self.counters),
            "faults": self.faults.describe(),
        }

    def kubeconfig(self, path: str | Path | None = None, token: str = "gochan") -> str:
        """A kubeconfig for this server (any bearer token is accepted); written if ``path``."""
        text = (
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            "- name: gochan\n"
            "  cluster:\n"
            f"    server: {self.url}\n"
            "contexts:\n"
            "- name: gochan\n"
            "  context:\n"
            "    cluster: gochan\n"
            "    user: gochan\n"
            "    namespace: default\n"
            "current-context: gochan\n"
            "users:\n"
            "- name: gochan\n"
            "  user:\n"
            f"    token: {token}\n"
        )
        if path is not None:
            Path(path).write_text(text)
        return text


def _plural(resource: str | None) -> str | None:
    return by_name(resource).plural if resource else None


def _verbs(verbs: Iterable[str] | None) -> frozenset[str] | None:
    return None if verbs is None else frozenset(verbs)


def _burst_body(r: Resource, name: str, k: int, i: int) -> JSON:
    md: JSON = {
        "name": name,
        "labels": {"app": "burst", "burst-key": str(k)},
        "annotations": {"burst/seq": str(i)},
    }
    if r.kind == "Pod":
        return {"metadata": md, "spec": {"containers": [{"name": "main", "image": "busybox"}]}}
    if r.kind == "ConfigMap":
        return {"metadata": md, "data": {"seq": str(i)}}
    return {"metadata": md, "spec": {"holderIdentity": f"burst-{i}"}}


def serve(host: str = "127.0.0.1", port: int = 0, **options: Any) -> APIServer:
    """Start an apiserver in this process; it listens when this returns.

    >>> srv = serve()
    >>> srv.url.startswith("http://127.0.0.1:")
    True
    >>> srv.close()
    """
    return APIServer(host, port, **options).start()


__all__ = ["APIServer", "serve"]
