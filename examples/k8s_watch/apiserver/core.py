"""The engine: a gochan scheduler on one thread, its connections and watch streams.

`ServerCore` owns the server thread (``gochan.run``), the listeners
(``gochan.net``), every connection (a green task each, connection.py) and
every `Watcher`; `APIServer` (server.py) adds the public API on top (faults,
the Python face of the store). ``close()`` ends every stream and connection
and joins the one thread it started, so tests that check for leaked threads
stay green. One thread serves hundreds of watchers, each the task of its
connection reading the store's event log.

Thread model: the store is locked and may be written from any thread (the
Python API); watchers, connections and fault actions on live streams belong
to the server thread, and the public methods hop onto it (`_call`) through a
channel that a task of the server drains (channels cross OS threads). Store
writes wake watchers through one coalesced call per batch of writes.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ipaddress
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, Self, TypeVar

import gochan
from gochan import net

from .clock import Clock, RealClock
from .connection import ConnState, abort, serve_conn
from .faults import Faults
from .handlers import Result, make_table
from .listener import listen_all
from .resources import Resource, by_name
from .status import JSON
from .store import Store
from .watch import Watcher, WatchPlan
from .wire import Request

T = TypeVar("T")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServerCore:
    """Lifecycle, connections, watchers and wakeups; see `APIServer` for the public API."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Clock | None = None,
        bookmark_interval: float = 60.0,
        min_request_timeout: float = 1800.0,
        initial_rv: int = 10_000,
        max_events: int | None = 100_000,
        max_body: int = 3 * 1024 * 1024,
        too_large_wait: float = 3.0,
        watch_backlog_limit: int | None = None,
        allow_remote: bool = False,
        seed: int = 0,
        request_latency: float = 0.0,
        read_header_timeout: float = 32.0,
        idle_timeout: float = 90.0,
        backend: str | None = None,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(
                f"refusing to listen on {host!r}: loopback only unless allow_remote=True"
            )
        for name, value in (
            ("request_latency", request_latency),
            ("read_header_timeout", read_header_timeout),
            ("idle_timeout", idle_timeout),
        ):
            if not value >= 0 or (name != "request_latency" and not value > 0):
                sign = ">=" if name == "request_latency" else ">"
                raise ValueError(f"{name} must be a number of seconds {sign} 0, got {value!r}")
        self.host = host
        self.port = port
        self.clock: Clock = clock or RealClock()
        self.bookmark_interval = bookmark_interval
        self.min_request_timeout = min_request_timeout
        self.max_body = max_body
        self.too_large_wait = too_large_wait
        self.watch_backlog_limit = watch_backlog_limit
        # Real seconds every request waits, once read, before it is handled:
        # the round trip to a distant apiserver, without a proxy's CPU.
        self.request_latency = request_latency
        # Go's http.Server ReadHeaderTimeout (the kube-apiserver's 32 s) and
        # IdleTimeout (its 90 s): real seconds, as read deadlines.
        self.read_header_timeout = read_header_timeout
        self.idle_timeout = idle_timeout
        self.backend = backend  # gochan's backend for the server thread (None: the default)
        self.store = Store(
            now=self.clock.now, initial_rv=initial_rv, max_events=max_events, seed=seed
        )
        self.faults = Faults()
        self.counters: Counter[str] = Counter()
        # Every API request, as RBAC sees it: (group, resource[/subresource], verb).
        self.audit: Counter[tuple[str, str, str]] = Counter()
        self._watchers: set[Watcher] = set()
        self._watch_cond = threading.Condition()
        self._conns: dict[net.Conn, ConnState] = {}
        self._conn_tasks = gochan.WaitGroup()
        self._thread: threading.Thread | None = None
        self._listeners: list[net.Listener] = []
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._running = False  # the server thread takes calls (`_calls` is drained)
        self._closing = False
        self._closed = False
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()
        self._notify_scheduled = False
        self._calls: gochan.Chan[Callable[[], None]] = gochan.Chan(4096)
        self._stop: gochan.Chan[None] = gochan.Chan()
        self._release: gochan.Chan[None] = gochan.Chan()  # closed: holds released
        self._changed: gochan.Chan[None] = gochan.Chan()  # closed: the store moved
        self.store.subscribe(self._on_store_change)
        self._unsubscribe_clock = self.clock.subscribe(self._on_clock)

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __repr__(self) -> str:
        state = "closed" if self._closed else "serving"
        return f"<APIServer {self.url} {state} rv={self.store.rv} watchers={self.watcher_count()}>"

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(
            target=self._run, name=f"k8s-apiserver:{self.port}", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            self._thread.join()
            self._closed = True
            self._unsubscribe_clock()
            raise self._start_error
        return self

    def close(self) -> None:
        """End every stream, close every connection, join the server thread."""
        if self._closed:
            return
        self._closed = True
        self._unsubscribe_clock()
        thread = self._thread
        if thread is not None and thread.is_alive():
            if threading.current_thread() is thread:
                raise RuntimeError("close() from the server's own thread")
            with contextlib.suppress(Exception):
                self._calls.send(self._stop.close)
            thread.join(timeout=30)
            if thread.is_alive():  # pragma: no cover - a bug, not a condition
                raise RuntimeError("the apiserver thread did not stop")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            gochan.run(self._main, backend=self.backend)
        except BaseException as e:  # pragma: no cover - reported through start()
            if not self._ready.is_set():
                self._start_error = e
                self._ready.set()
        finally:
            self._running = False
            self._ready.set()

    def _main(self) -> None:
        try:
            self._listen()
        except OSError as e:
            self._start_error = e
            self._ready.set()
            return
        self._running = True
        gochan.go(self._serve_calls)
        self._ready.set()
        self._stop.recv()
        self._shutdown()
        self._running = False
        self._calls.close()

    def _serve_calls(self) -> None:
        """Run what other threads (and this one) hand over through `_calls`."""
        while (fn := self._calls.recv()) is not None:
            fn()

    def _listen(self) -> None:
        self._listeners = listen_all(self.host, self.port)
        self.port = self._listeners[0].addr.port
        for ln in self._listeners:
            gochan.go(self._accept, ln)

    def _accept(self, ln: net.Listener) -> None:
        while True:
            try:
                conn = ln.accept()
            except net.ErrClosed:
                return
            except OSError:  # EMFILE and kin: not now
                gochan.sleep(0.01)
                continue
            if self._closing:
                abort(conn)
                continue
            self.counters["connections"] += 1
            state = ConnState(conn)
            self._conns[conn] = state
            self._conn_tasks.add(1)
            gochan.go(self._on_conn, state)

    def _stop_listening(self) -> None:
        """Refuse new connections (those queued in the kernel are reset)."""
        listeners, self._listeners = self._listeners, []
        for ln in listeners:
            ln.close()

    def _wait_conns(self, timeout: float) -> bool:
        """Wait (up to ``timeout`` s) until every connection task has ended."""
        done: gochan.Chan[None] = gochan.Chan()

        def wait() -> None:
            self._conn_tasks.wait()
            done.close()

        gochan.go(wait)
        return gochan.select(done.recv, gochan.after(timeout).recv)[0] == 0

    def _drop_connections(self, action: str, wait: float) -> None:
        """End every watcher with ``action``, release holds, close connections."""
        for w in list(self._watchers):
            w.poke(action)
        self._release_holds()
        for conn, state in list(self._conns.items()):
            if action == "abort":
                abort(conn)
            elif state.idle:
                conn.close()  # its task, blocked reading, sees ErrClosed and ends
        if not self._wait_conns(wait):
            for conn in list(self._conns):
                abort(conn)
            self._wait_conns(30)

    def _shutdown(self) -> None:
        self._closing = True
        self._stop_listening()
        self._drop_connections("close", wait=2.0)

    # ---- connections -------------------------------------------------------------------

    def _on_conn(self, state: ConnState) -> None:
        conn = state.conn
        try:
            serve_conn(self, state)
        except OSError:
            pass
        except Exception:  # pragma: no cover - a bug; the connection closes, the server lives
            self.counters["internal_errors"] += 1
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            self._conns.pop(conn, None)
            self._conn_tasks.done()

    def _dispatch(self, req: Request) -> Result:
        """Answer one request (the REST layer; `APIServer` provides it)."""
        raise NotImplementedError

    def _run_after(self, after: Callable[[], None]) -> None:
        """Run ``after`` (a restart, say) in a task of its own, once the answer is out."""
        gochan.go(after)

    def _watch(self, state: ConnState, p: Any, plan: WatchPlan) -> bool:
        """Serve a watch on the connection; True if it can carry another request."""
        w = Watcher(self, plan, state.conn, p)
        with self._watch_cond:
            self._watchers.add(w)
        self.counters["watches"] += 1
        try:
            keep = w.run()
        finally:
            with self._watch_cond:
                self._watchers.discard(w)
                self._watch_cond.notify_all()
        # What the stream has left to write (its end, the half of a torn event, what a
        # blocked write had not sent) goes out now, the watcher already off the list.
        if w.tail and w.action not in ("gone", "abort"):
            conn = state.conn
            try:
                conn.set_write_deadline(gochan.monotonic() + (5.0 if w.action == "tear" else 60.0))
                conn.write(w.tail)
                conn.set_write_deadline(None)
            except OSError:  # TimeoutError included
                return False
        return keep

    def _release_holds(self) -> None:
        release, self._release = self._release, gochan.Chan()
        release.close()

    # ---- wakeups -----------------------------------------------------------------------

    def _post(self, fn: Callable[[], None]) -> bool:
        """Have the server thread run ``fn`` soon (from any thread); False if it is gone."""
        if not self._running:
            return False
        try:
            if self._in_loop():
                gochan.go(fn)
            else:
                self._calls.send(fn)
        except Exception:  # the server closed meanwhile
            return False
        return True

    def _on_store_change(self, plurals: set[str]) -> None:
        with self._pending_lock:
            self._pending |= plurals
            if self._notify_scheduled:
                return
            self._notify_scheduled = True
        if not self._post(self._notify):
            with self._pending_lock:
                self._notify_scheduled = False

    def _notify(self) -> None:
        with self._pending_lock:
            plurals, self._pending = self._pending, set()
            self._notify_scheduled = False
        for w in list(self._watchers):
            if w.resource.plural in plurals:
                w.poke()
                self.check_backlog(w)
        changed, self._changed = self._changed, gochan.Chan()
        changed.close()

    def _on_clock(self) -> None:
        def poke_all() -> None:
            for w in list(self._watchers):
                w.poke()

        self._post(poke_all)

    def check_backlog(self, w: Watcher) -> None:
        limit = self.watch_backlog_limit
        if limit is None or not w.blocked or w.action is not None:
            return
        if self.store.pending(w.resource, w.cursor) > limit:
            self.counters["backlog_closed"] += 1
            w.poke("backlog")

    def wait_for_rv(self, rv: int) -> bool:
        """Wait (up to ``too_large_wait`` real seconds) for the store to reach ``rv``."""
        deadline = gochan.monotonic() + self.too_large_wait
        while self.store.rv < rv:
            left = deadline - gochan.monotonic()
            if left <= 0:
                return False
            gochan.select(self._changed.recv, gochan.after(left).recv)
        return True

    def watcher_established(self) -> None:
        with self._watch_cond:
            self._watch_cond.notify_all()

    def table(
        self, resource: Resource, objects: list[JSON], meta: JSON | None, api_version: str
    ) -> JSON:
        return make_table(resource, objects, meta, api_version, self.clock.now())

    # ---- running things on the loop -----------------------------------------------------

    def _in_loop(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def _call(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the server thread (in the task that drains `_calls`: it must not
        block), its result here."""
        if self._in_loop() or not self._running or self._closed:
            return fn()
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)

        if not self._post(run):
            return fn()
        return fut.result(timeout=60)

    def _run_task(self, fn: Callable[[], T]) -> T:
        """``fn()`` in a task of its own on the server thread (it may block), its result
        here; not from the server thread."""
        if self._in_loop():
            raise RuntimeError("not from the server's thread")
        if not self._running or self._closed:
            raise RuntimeError("the server is not running")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)

        def spawn() -> None:
            gochan.go(run)

        if not self._post(spawn):
            raise RuntimeError("the server is not running")
        return fut.result(timeout=120)

    # ---- watchers ----------------------------------------------------------------------

    def _matching(self, resource: str | None) -> list[Watcher]:
        plural = by_name(resource).plural if resource else None
        with self._watch_cond:
            return [
                w
                for w in self._watchers
                if w.established and (plural is None or w.resource.plural == plural)
            ]

    def watchers(self) -> list[JSON]:
        """A snapshot of the live streams: resource, cursor, events sent, backlog..."""
        with self._watch_cond:
            live = list(self._watchers)
        return [
            {
                "id": w.id,
                "resource": w.resource.plural,
                "namespace": w.plan.namespace,
                "resourceVersion": w.cursor,
                "sent": w.sent,
                "backlog": self.store.pending(w.resource, w.cursor),
                "blocked": w.blocked,
                "established": w.established,
            }
            for w in live
        ]

    def watcher_count(self, resource: str | None = None) -> int:
        """Live watch streams (past their initial events), of one resource or all."""
        return len(self._matching(resource))

    def wait_for_watchers(self, n: int, resource: str | None = None, timeout: float = 10.0) -> None:
        """Block until at least ``n`` watch streams are live (for tests; not from the loop)."""
        with self._watch_cond:
            ok = self._watch_cond.wait_for(lambda: self.watcher_count(resource) >= n, timeout)
        if not ok:
            raise TimeoutError(f"{self.watcher_count(resource)} watchers, wanted {n}")

    def _poke_watchers(self, action: str, resource: str | None) -> int:
        def run() -> int:
            targets = [w for w in self._matching(resource) if w.action is None]
            for w in targets:
                w.poke(action)
            return len(targets)

        return self._call(run)
