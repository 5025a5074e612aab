"""The engine: an asyncio loop in one thread, its connections and watch streams.

`ServerCore` owns the loop thread, the `Listener`, every connection
and every `Watcher`; `APIServer` (server.py) adds the public API on top
(faults, the Python face of the store). ``close()`` ends every stream and
connection and joins the one thread it started, so tests that check for
leaked threads stay green. One loop thread serves hundreds of watchers (each
a coroutine reading the store's event log), which is also why this is
asyncio and not ``ThreadingHTTPServer``: a thread per watcher would make
"close a watcher whose backlog is too large" and "stall" racy to test.

Thread model: the store is locked and may be written from any thread (the
Python API); watchers, connections and fault actions on live streams belong
to the loop, and the public methods hop onto it (`_call`). Store writes wake
watchers through one coalesced callback per loop iteration.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import threading
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Self, TypeVar

from .clock import Clock, RealClock
from .connection import Connection, answer_bytes, rejection
from .faults import Faults
from .handlers import HOLD, Later, Response, Result, finish, make_table
from .listener import Listener
from .resources import Resource, by_name
from .status import JSON
from .store import Store
from .watch import Watcher, WatchPlan
from .wire import BadHTTP, BodyTooLarge, Request, read_body, read_request

T = TypeVar("T")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(eq=False)
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle: bool = True
    dropped: bool = False  # bytes sent during a hold were read and lost: close after it


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
        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(
                f"refusing to listen on {host!r}: loopback only unless allow_remote=True"
            )
        if not request_latency >= 0:
            raise ValueError(
                f"request_latency must be a number of seconds >= 0, got {request_latency!r}"
            )
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
        self._loop_factory = loop_factory or asyncio.new_event_loop
        self.store = Store(
            now=self.clock.now, initial_rv=initial_rv, max_events=max_events, seed=seed
        )
        self.faults = Faults()
        self.counters: Counter[str] = Counter()
        # Every API request, as RBAC sees it: (group, resource[/subresource], verb).
        self.audit: Counter[tuple[str, str, str]] = Counter()
        self._watchers: set[Watcher] = set()
        self._watch_cond = threading.Condition()
        self._conns: dict[asyncio.Task[Any], _Conn] = {}  # connections served on streams
        self._fast: set[Connection] = set()  # the others (see connection.py)
        self._held: set[Connection] = set()  # of those, the ones held by a fault
        # Every connection's transport, ended or not: one closed with unsent
        # data still buffered (a watch whose client stopped reading) stays
        # open until the data drains, so shutdown aborts them all.
        self._transports: weakref.WeakSet[asyncio.Transport] = weakref.WeakSet()
        self._bg: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listener: Listener | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._closing = False
        self._closed = False
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()
        self._notify_scheduled = False
        self._stop: asyncio.Event | None = None
        self._release: asyncio.Event | None = None
        self._changed: asyncio.Event | None = None
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
        loop, thread, stop = self._loop, self._thread, self._stop
        if loop is not None and thread is not None and stop is not None and thread.is_alive():
            if threading.current_thread() is thread:
                raise RuntimeError("close() from the server's own thread")
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=30)
            if thread.is_alive():  # pragma: no cover - a bug, not a condition
                raise RuntimeError("the apiserver thread did not stop")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        loop = self._loop_factory()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as e:  # pragma: no cover - reported through start()
            if not self._ready.is_set():
                self._start_error = e
                self._ready.set()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self._release = asyncio.Event()
        self._changed = asyncio.Event()
        try:
            await self._listen()
        except OSError as e:
            self._start_error = e
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self._shutdown()

    async def _listen(self) -> None:
        self._listener = await Listener.open(
            self.host, self.port, lambda: Connection(self), backlog=1024
        )
        self._listener.on_transport = self._transports.add
        self.port = self._listener.port

    async def _stop_listening(self) -> None:
        """Refuse new connections; every one accepted so far is in `_transports`."""
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.close()

    async def _drop_connections(self, action: str, wait: float) -> None:
        """End every watcher with ``action``, release holds, close connections."""
        for w in list(self._watchers):
            w.poke(action)
        self._release_holds()
        me = asyncio.current_task()
        for conn in list(self._conns.values()):
            if conn.idle or action == "abort":
                conn.writer.transport.abort()
        answering: list[asyncio.Future[None]] = []
        for fast in list(self._fast):
            if action == "abort" or fast.quiet():
                fast.abort()
            else:  # its answer (or what is left of it) goes out first
                answering.append(fast.close_when_answered())
        if action == "abort":
            # Also those adopted but not yet in a handler. Not those already
            # closing: an answer being flushed (the restart's own) is kept.
            for transport in list(self._transports):
                if not transport.is_closing():
                    transport.abort()
        tasks = [t for t in self._conns if t is not me]
        if tasks or answering:
            _, pending = await asyncio.wait([*tasks, *answering], timeout=wait)
            for conn in list(self._conns.values()):
                conn.writer.transport.abort()
            for fast in list(self._fast):
                fast.abort()
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _shutdown(self) -> None:
        self._closing = True
        await self._stop_listening()
        await self._drop_connections("close", wait=2.0)
        # A connection adopted but not yet in its handler (which will see
        # _closing and abort it) or one closed with unsent data: abort all.
        for transport in list(self._transports):
            transport.abort()
        await asyncio.sleep(0)  # their sockets close in the next round
        for t in list(self._bg):
            t.cancel()
        await asyncio.gather(*self._bg, return_exceptions=True)

    # ---- connections -------------------------------------------------------------------

    async def _on_conn(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        first: tuple[Request, Result] | None = None,
    ) -> None:
        """Serve a connection that `Connection` handed over to streams (``first``: a
        request it has already dispatched, to be answered first)."""
        if (self._closing and first is None) or writer.transport.is_closing():
            # Handed over just before the shutdown, but only now running,
            # after _drop_connections looked (or aborted by it already).
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        conn = _Conn(reader, writer)
        self._conns[task] = conn
        try:
            await self._serve(conn, first)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        except Exception:  # pragma: no cover - a bug; the connection closes, the server lives
            self.counters["internal_errors"] += 1
        finally:
            try:
                if not writer.transport.is_closing():
                    writer.close()
                with contextlib.suppress(Exception):  # what is written goes out first
                    await writer.wait_closed()
            finally:
                self._conns.pop(task, None)

    def _dispatch(self, req: Request) -> Result:
        """Answer one request (the REST layer; `APIServer` provides it)."""
        raise NotImplementedError

    def _run_after(self, after: Callable[[], Awaitable[None]]) -> None:
        """Run ``after`` (a restart, say) once the answer that asked for it is out."""
        task = asyncio.ensure_future(after())
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    async def _serve(self, conn: _Conn, first: tuple[Request, Result] | None) -> None:
        reader, writer = conn.reader, conn.writer
        while first is not None or not self._closing:
            if first is not None:
                (req, result), first = first, None
                conn.idle = False
            else:
                conn.idle = True
                try:
                    req_or_none = await read_request(reader, self.max_body)
                    if req_or_none is None:
                        return
                    req = req_or_none
                    conn.idle = False
                    if req.meta:  # a body, or Expect: 100-continue, was announced
                        await read_body(req, reader, writer, self.max_body)
                except (BadHTTP, BodyTooLarge) as e:
                    writer.write(rejection(self, e))
                    return
                if self.request_latency:
                    await asyncio.sleep(self.request_latency)
                result = self._dispatch(req)
            if isinstance(result, Later):
                result = await finish(self, result)
            if isinstance(result, WatchPlan):
                if not await self._watch(conn, result):
                    return
                continue
            if result is HOLD:
                await self._hold(conn)
                writer.transport.abort()
                return
            assert isinstance(result, Response)
            data, head_len, keep = answer_bytes(req, result, self._closing)
            if result.stall:
                writer.write(data[:head_len])
                if not await self._hold(conn):
                    return
                writer.write(data[head_len:])
                keep = keep and not conn.dropped
            else:
                writer.write(data)
            await writer.drain()
            if result.after is not None:
                writer.close()
                self._run_after(result.after)
                return
            if not keep:
                return

    async def _watch(self, conn: _Conn, plan: WatchPlan) -> bool:
        w = Watcher(self, plan, conn.reader, conn.writer)
        with self._watch_cond:
            self._watchers.add(w)
        self.counters["watches"] += 1
        try:
            keep = await w.run()
        finally:
            with self._watch_cond:
                self._watchers.discard(w)
                self._watch_cond.notify_all()
        if not keep and w.action == "tear":
            with contextlib.suppress(TimeoutError, ConnectionError, OSError):
                await asyncio.wait_for(conn.writer.drain(), 5.0)
        return keep

    async def _hold(self, conn: _Conn) -> bool:
        """Wait until the holds are released (True), or the client hangs up or we close.

        The client's end is noticed by reading: bytes it pipelines meanwhile
        are read and dropped (``conn.dropped``), so the connection must close
        after this answer. (Connections not yet handed over to streams hold in
        `Connection`, where such bytes wait their turn instead.)
        """
        assert self._release is not None
        self.counters["held"] += 1
        release = asyncio.ensure_future(self._release.wait())
        try:
            while not release.done():
                read = asyncio.ensure_future(conn.reader.read(65536))
                try:
                    await asyncio.wait({release, read}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not read.done():
                        read.cancel()
                        await asyncio.wait({read})  # the reader is free again after this
                if read.cancelled():
                    continue
                if read.exception() is not None or not read.result():
                    return False  # the client hung up
                conn.dropped = True
        finally:
            release.cancel()
        return not self._closing

    def _release_holds(self) -> None:
        if self._release is not None:
            self._release.set()
            self._release = asyncio.Event()
        for fast in list(self._held):
            fast.release()

    # ---- wakeups -----------------------------------------------------------------------

    def _on_store_change(self, plurals: set[str]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with self._pending_lock:
            self._pending |= plurals
            if self._notify_scheduled:
                return
            self._notify_scheduled = True
        try:
            if self._in_loop():
                loop.call_soon(self._notify)
            else:
                loop.call_soon_threadsafe(self._notify)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _notify(self) -> None:
        with self._pending_lock:
            plurals, self._pending = self._pending, set()
            self._notify_scheduled = False
        for w in list(self._watchers):
            if w.resource.plural in plurals:
                w.poke()
                self.check_backlog(w)
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    def _on_clock(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def poke_all() -> None:
            for w in list(self._watchers):
                w.poke()

        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(poke_all)

    def check_backlog(self, w: Watcher) -> None:
        limit = self.watch_backlog_limit
        if limit is None or not w.blocked or w.action is not None:
            return
        if self.store.pending(w.resource, w.cursor) > limit:
            self.counters["backlog_closed"] += 1
            w.poke("backlog")

    async def wait_for_rv(self, rv: int) -> bool:
        """Wait (up to ``too_large_wait`` real seconds) for the store to reach ``rv``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.too_large_wait
        while self.store.rv < rv:
            left = deadline - loop.time()
            if left <= 0 or self._changed is None:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return self.store.rv >= rv
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
        loop = self._loop
        if self._in_loop() or loop is None or self._closed or loop.is_closed():
            return fn()
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)

        loop.call_soon_threadsafe(run)
        return fut.result(timeout=60)

    def _run_coro(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if self._in_loop():
            coro.close()
            raise RuntimeError("call the *_async variant from the server's loop")
        if loop is None or self._closed:
            coro.close()
            raise RuntimeError("the server is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=120)

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
