"""W9 k8s: a K8s watch + worker pool's events/s with an I/O-bound reconcile:
gochan against what a Python user would write instead.

Issue 21's speed target, at 128 and 1,024 workers: the gochan controller
handles at least 2x the events/s of the official ``kubernetes`` client in a
``ThreadPoolExecutor`` and at least 1x those of ``kubernetes_asyncio`` on
uvloop, with less memory (RSS growth) than either.

What runs, each piece in a process of its own:

* **the apiserver** (``examples.k8s_watch.apiserver``: gochan on its builtin backend)
  (``python bench/w9_k8s.py serve``), away from the clients' GIL. It answers
  every request ``LATENCY`` seconds after reading it (``request_latency``: a
  timer, no CPU), so a reconcile's round trip costs what it costs against a
  real cluster's apiserver (a few ms), not the loopback's 0.1 ms: the
  reconcile is I/O-bound, which is the case concurrency is for.
* **one client process per (setup, workers)** (``python bench/w9_k8s.py run``):
  it lists the pods of a fresh namespace and watches from there. Then two
  phases, each with a burst of pod writes made by the apiserver itself
  (``POST /debug/faults {"action": "burst"}``):

  1. **the pool alone**: the burst is written and queued before any worker
     runs; then the N workers are started and timed until they have drained
     the queue (items/s, client CPU per item, and the RSS the pool adds while
     it starts its workers and drains: their stacks, connections and
     requests in flight);
  2. **end to end**: with the workers running, a second burst, timed from
     the request until every resulting watch event is handled and the
     queue is idle (events/s, client CPU per event, RSS growth).

  Every setup runs the same two phases (`phases`: one driver, stepped by
  each setup's way of waiting); the peak RSS is the kernel's (``VmHWM``,
  reset at the start of each phase); the manager reads the server process's
  CPU.

  - ``gochan``: the example's own controller on the builtin backend: an
    `Informer` (reflector, store, handlers) and the `Controller`
    (``gochan.workqueue``, N supervised green workers) on the ``green``
    transport (``gochan.net`` sockets, HTTP parsed by httptools), taken by
    name through ``transports.make_transport``; each reconcile is one
    ``client.get`` of the pod.
  - ``threads``: the official ``kubernetes`` client as its users write a
    worker pool: a thread iterating ``kubernetes.watch.Watch().stream`` feeds
    a dict store and a queue of keys with client-go's rules (`KeyQueue`: a
    queued key is not queued twice, a key in flight is not handed to a
    second worker), and N ``ThreadPoolExecutor`` workers each take a key and
    call ``CoreV1Api.read_namespaced_pod`` (urllib3's pool:
    ``connection_pool_maxsize`` = N).
  - ``kubernetes_asyncio``: the same shape on uvloop: a task iterating
    ``kubernetes_asyncio.watch.Watch().stream``, an ``asyncio.Queue`` with
    the same rules (`AsyncKeyQueue`), N worker tasks awaiting
    ``read_namespaced_pod`` (aiohttp's connector ``limit`` = N).

  Every side decodes JSON into plain dicts, as the example's transports do:
  the baselines' reads pass ``_preload_content=False`` and are decoded with
  ``json.loads``, their watches are told not to build typed models
  (``deserialize=False``; ``return_type="object"``). Models would add their
  construction's CPU to each event, and the ratio would then measure model
  building rather than scheduling. In both baselines the watch has an
  ``ApiClient`` (a connection) of its own, so the N workers have N.

* **the watch decode rate**: 10,000 writes over 1,000 keys made *before* the
  watch opens, then one watch from the RV before them, read through each of
  the example's transports (those of ``DECODE_TRANSPORTS`` it still has)
  until all 10,000 events are out of the stream's channel.

Reported: for both phases, the rate per setup and worker count, gochan's
ratios to each baseline (events/s, and memory: RSS growth), client CPU; the
decode rate in events/s and client CPU µs per event.

    python bench/w9_k8s.py measure --mode quick      # all of it, prints JSON
    python bench/w9_k8s.py serve --latency 0.005    # the server process
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import Impl, Workload  # noqa: E402

WORKERS = {"full": (1, 16, 128, 1024), "quick": (1, 16, 128, 1024), "smoke": (1, 16)}
GOCHAN = "gochan"
BASELINES = ("threads", "kubernetes_asyncio")
SETUPS = (GOCHAN, *BASELINES)
# What each setup runs (the report's labels).
SETUP_LABELS = {
    GOCHAN: "the example's Informer + Controller, green transport (gochan.net, httptools), "
    "builtin backend",
    "threads": "kubernetes: a Watch thread + ThreadPoolExecutor workers, read_namespaced_pod",
    "kubernetes_asyncio": "kubernetes_asyncio on uvloop: a Watch task + worker tasks, "
    "read_namespaced_pod",
}
# The third-party module each baseline needs; without it its rows say so.
REQUIRES = {"threads": "kubernetes", "kubernetes_asyncio": "kubernetes_asyncio"}
LATENCY = 0.005  # seconds added to every request: a round trip to a real apiserver
# Events per client run: per-worker count, clamped (so one worker is not slow for minutes).
# The quick run keeps make bench-quick under 3 minutes with fewer events.
EVENTS = {"full": (1000, 100, 20_000), "quick": (50, 16, 4000), "smoke": (40, 5, 100)}
DECODE_EVENTS = {"full": 10_000, "quick": 2000, "smoke": 1000}
# The example's transports whose decode rate is measured; a name the example
# no longer has is left out (`decode_transports`).
DECODE_TRANSPORTS = ("green", "httpx", "official")
REPEAT = {"full": 3, "quick": 1, "smoke": 1}
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _examples_importable() -> None:
    """Put the checkout on sys.path for ``examples.k8s_watch``, after
    site-packages: an installed gochan (the compiled build in
    ``.venv-compiled``) must not be shadowed by the checkout's sources."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))


def gochan_build() -> str:
    """``compiled`` or ``pure``: which gochan runtime this process imported."""
    import gochan._runtime.chan as chan

    return "pure" if chan.__file__ is None or chan.__file__.endswith(".py") else "compiled"


def missing(setup: str) -> str | None:
    """Why ``setup`` cannot run in this interpreter (its package is not installed), or None."""
    module = REQUIRES.get(setup)
    if module is None or importlib.util.find_spec(module) is not None:
        return None
    return f"not installed: {module} (pip install 'gochan[bench]')"


def decode_transports() -> tuple[str, ...]:
    """The names of `DECODE_TRANSPORTS` the example still has."""
    _examples_importable()
    from examples.k8s_watch.transports import TRANSPORTS

    return tuple(t for t in DECODE_TRANSPORTS if t in TRANSPORTS)


def events_for(workers: int, mode: str) -> int:
    """Writes per burst for ``workers`` in ``mode``: per worker, clamped."""
    lo, per, hi = EVENTS[mode]
    return max(lo, min(hi, per * workers))


def rss() -> int:
    """This process's resident set size in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class PeakRSS:
    """The kernel's peak RSS of this process (``VmHWM``), reset at will.

    Writing 5 to ``/proc/self/clear_refs`` resets the peak to the current
    RSS: no sampler thread, and no peak missed between samples. Where the
    reset is refused, the peak is the RSS when it is read (``method``
    says which).
    """

    _HWM = re.compile(rb"VmHWM:\s+(\d+) kB")

    def __init__(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.method = "VmHWM"
        except OSError:
            self.method = "current"

    def reset(self) -> int:
        """Reset the peak to the current RSS; returns the current RSS."""
        if self.method == "VmHWM":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        return rss()

    def peak(self) -> int:
        """The peak RSS in bytes since the last `reset`."""
        if self.method != "VmHWM":
            return rss()
        with open("/proc/self/status", "rb") as f:
            m = self._HWM.search(f.read())
        assert m is not None, "no VmHWM in /proc/self/status"
        return int(m.group(1)) * 1024


def _raise_fd_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def burst(api: str, namespace: str, writes: int, keys: int, seed: int = 1) -> int:
    """Have the apiserver write ``writes`` pods in ``namespace``; the writes it applied."""
    body = json.dumps(
        {"action": "burst", "writes": writes, "keys": keys, "namespace": namespace, "seed": seed}
    ).encode()
    req = urllib.request.Request(
        f"{api}/debug/faults",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        return int(json.loads(resp.read())["result"])


# ---- the server process: the apiserver, answers delayed ---------------------------------------


def serve_main(latency: float) -> None:
    """Run the apiserver (every request answered ``latency`` s late) until stdin closes."""
    _examples_importable()
    _raise_fd_limit()
    from examples.k8s_watch.apiserver import serve

    # gochan's builtin backend: the server is the same for every setup, and
    # on builtin it spends the least CPU per event (callgrind, 128 workers:
    # 374k instructions per event, as the asyncio server it replaced), so it
    # caps the clients' rate later.
    srv = serve(
        bookmark_interval=60.0,
        max_events=2_000_000,
        request_latency=latency,
        backend="builtin",
    )
    print(json.dumps({"api": srv.url}), flush=True)
    try:
        sys.stdin.read()
    finally:
        srv.close()


# ---- the two phases, the same for every setup -------------------------------------------------


class Pool:
    """What `phases` asks of a setup: its watch's progress, its queue, its workers.

    ``reconciled`` counts finished reconciles and ``last`` is the
    ``perf_counter`` of the latest one; `check` raises what a watch or a
    worker failed with (a run never waits forever on a dead watch).
    """

    reconciled = 0
    last = 0.0

    def delivered(self, events: int) -> bool:
        """True once ``events`` watch events have been seen and their keys queued."""
        raise NotImplementedError

    def depth(self) -> int:
        """Keys waiting in the queue."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the N workers."""
        raise NotImplementedError

    def idle(self) -> bool:
        """True when no key is queued and none is being reconciled."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise what the watch or a worker failed with, if anything."""


# What `phases` yields: a pause (None: wait about a millisecond) or a blocking call to make
# off the scheduler (the function, then its arguments); it is sent the call's result.
Step = tuple[Any, ...] | None


def phases(
    pool: Pool, api: str, namespace: str, events: int
) -> Generator[Step, Any, dict[str, Any]]:
    """Run both phases on ``pool`` (a generator: each setup drives it with its own
    waits, see `drive`); returns the run's result."""
    mem = PeakRSS()

    def wait(done: Callable[[], bool]) -> Generator[Step, Any, None]:
        while not done():
            pool.check()
            yield None

    # 1. The pool alone: a burst queued while no worker runs, then drained.
    n1 = yield (burst, api, namespace, events, events * 100, 1)
    yield from wait(lambda: pool.delivered(n1))
    queued = pool.depth()
    drain_base = mem.reset()
    cpu0, t0 = time.process_time(), time.perf_counter()
    pool.start()
    yield from wait(pool.idle)
    drain = {
        "items": pool.reconciled,
        "seconds": pool.last - t0,
        "cpu_us_per_item": (time.process_time() - cpu0) / max(1, pool.reconciled) * 1e6,
        "rss_growth": mem.peak() - drain_base,
    }
    if pool.reconciled != queued:
        raise RuntimeError(f"{queued} keys were queued but {pool.reconciled} reconciled")
    # 2. End to end: a burst written while the workers run.
    done_before = pool.reconciled
    base = mem.reset()
    cpu0, t0 = time.process_time(), time.perf_counter()
    n = yield (burst, api, namespace, events, events * 100, 2)
    burst_seconds = time.perf_counter() - t0  # the apiserver's writes alone
    yield from wait(lambda: pool.delivered(n1 + n) and pool.idle())
    cpu = time.process_time() - cpu0
    return {
        "events": n,
        "reconciled": pool.reconciled - done_before,
        "seconds": pool.last - t0,
        "burst_seconds": burst_seconds,
        "cpu_us_per_event": cpu / max(1, n) * 1e6,
        "drain": drain,
        "rss_base": base,
        "rss_peak": mem.peak(),
        "rss_peak_method": mem.method,
    }


def drive(
    steps: Generator[Step, Any, dict[str, Any]],
    pause: Callable[[], None],
    call: Callable[..., Any],
) -> dict[str, Any]:
    """Run `phases` where waiting is a plain call: ``pause()`` for about a
    millisecond, ``call(fn, *args)`` for a blocking call."""
    sent: Any = None
    try:
        while True:
            step = steps.send(sent)
            if step is None:
                pause()
                sent = None
            else:
                sent = call(*step)
    except StopIteration as done:
        result: dict[str, Any] = done.value
        return result


# ---- gochan: the example's controller on the green transport ----------------------------------


class GochanPool(Pool):
    """The example's `Informer` and `Controller` (N green workers) on transport ``transport``."""

    def __init__(self, api: str, workers: int, namespace: str, transport: str = "green") -> None:
        _examples_importable()
        from examples.k8s_watch.controller import Controller
        from examples.k8s_watch.informer import Informer
        from examples.k8s_watch.reflector import ListWatch
        from examples.k8s_watch.transport import PODS, APIStatusError, is_not_found
        from examples.k8s_watch.transports import make_transport

        # One connection per worker, and the watch's.
        self.client = client = make_transport(
            transport, api, timeout=120, max_connections=workers + 1
        )
        self.informer = Informer(
            ListWatch(client, PODS, namespace), name="pods", bookmark_interval=60.0
        )

        def reconcile(key: str) -> None:
            ns, name = key.split("/", 1)
            try:
                client.get(PODS, name, ns)
            except APIStatusError as e:
                if not is_not_found(e):
                    raise
            self.reconciled += 1
            self.last = time.perf_counter()

        self.controller = Controller("pods", reconcile, workers=workers)
        self.informer.add_event_handler(self.controller.handler(), name="enqueue")
        self.informer.start()
        if not self.informer.wait_for_sync(60):
            raise RuntimeError("the informer did not sync in 60 s")

    def delivered(self, events: int) -> bool:
        return self.informer.reflector.stats.events >= events and not self.informer.pending()

    def depth(self) -> int:
        return int(self.controller.snapshot()["depth"])

    def start(self) -> None:
        self.controller.start()

    def idle(self) -> bool:
        # Polled every ms, so the cheap checks come first: a metrics snapshot
        # walks every key in flight.
        ctl = self.controller
        if len(ctl.queue) or ctl.in_flight:
            return False
        snap = ctl.snapshot()
        return bool(snap["depth"] == 0 and snap["in_flight"] == 0)

    def close(self) -> None:
        self.controller.stop(drain=False)
        self.informer.stop()
        self.informer.reflector.join_streams()
        self.client.close()


def run_gochan(api: str, workers: int, events: int, namespace: str) -> dict[str, Any]:
    """The ``gochan`` setup: `GochanPool` on the green transport's default backend."""
    _examples_importable()
    import gochan
    from examples.k8s_watch.transports import default_backend

    transport = "green"
    backend = default_backend(transport)

    def main() -> dict[str, Any]:
        pool = GochanPool(api, workers, namespace, transport)
        try:
            result = drive(
                phases(pool, api, namespace, events),
                lambda: gochan.sleep(0.001),
                gochan.blocking,
            )
        finally:
            pool.close()
        return {**result, "backend": backend, "transport": transport}

    result: dict[str, Any] = gochan.run(main, backend=backend)
    return {**result, "gochan_build": gochan_build()}


# ---- threads: the official client in a ThreadPoolExecutor -------------------------------------


class KeyQueue:
    """client-go's workqueue rules for threads: fair (FIFO), a queued key is not
    queued again (dirty set), a key in flight goes back in only after done()."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.queue: deque[str] = deque()
        self.dirty: set[str] = set()
        self.processing: set[str] = set()
        self.shutting_down = False

    def add(self, key: str) -> None:
        with self.cond:
            if self.shutting_down or key in self.dirty:
                return
            self.dirty.add(key)
            if key in self.processing:
                return
            self.queue.append(key)
            self.cond.notify()

    def get(self) -> str | None:
        """The next key (None once shut down), marked in flight."""
        with self.cond:
            while not self.queue and not self.shutting_down:
                self.cond.wait()
            if not self.queue:
                return None
            key = self.queue.popleft()
            self.processing.add(key)
            self.dirty.discard(key)
            return key

    def done(self, key: str) -> None:
        with self.cond:
            self.processing.discard(key)
            if key in self.dirty:
                self.queue.append(key)
                self.cond.notify()

    def depth(self) -> int:
        with self.cond:
            return len(self.queue)

    def idle(self) -> bool:
        with self.cond:
            return not self.queue and not self.processing

    def shut_down(self) -> None:
        with self.cond:
            self.shutting_down = True
            self.cond.notify_all()


def _event_key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}"


class ThreadsPool(Pool):
    """The official ``kubernetes`` client: a watch thread, N ThreadPoolExecutor workers."""

    def __init__(self, api: str, workers: int, namespace: str) -> None:
        from kubernetes import client, watch

        def core(pool_size: int) -> Any:
            cfg = client.Configuration()
            cfg.host = api
            cfg.connection_pool_maxsize = pool_size
            return client.CoreV1Api(client.ApiClient(cfg))

        self.workers = workers
        self.v1 = core(workers)  # the workers' client: a connection each
        self.ApiException = client.ApiException
        self.store: dict[str, Any] = {}
        self.q = KeyQueue()
        self.seen = 0
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.stopping = False
        self.futures: list[Any] = []
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")
        rv = self.v1.list_namespaced_pod(namespace).metadata.resource_version
        self.watch = watch.Watch()
        stream = self.watch.stream(
            core(1).list_namespaced_pod,  # the watch's own client and connection
            namespace,
            resource_version=rv,
            allow_watch_bookmarks=True,
            timeout_seconds=600,
            deserialize=False,  # dicts, as every other setup decodes
        )
        self.watcher = threading.Thread(
            target=self._watch, args=(stream,), name="watch", daemon=True
        )
        self.watcher.start()

    def _watch(self, stream: Any) -> None:
        try:
            for ev in stream:
                if ev["type"] == "BOOKMARK":
                    continue
                obj = ev["object"]
                key = _event_key(obj)
                if ev["type"] == "DELETED":
                    self.store.pop(key, None)
                else:
                    self.store[key] = obj
                self.q.add(key)
                self.seen += 1
            if not self.stopping:
                raise RuntimeError("the watch ended")
        except BaseException as e:
            if not self.stopping:
                self.error = e

    def _reconcile(self, key: str) -> None:
        ns, name = key.split("/", 1)
        try:
            json.loads(self.v1.read_namespaced_pod(name, ns, _preload_content=False).data)
        except self.ApiException as e:
            if e.status != 404:
                raise
        with self.lock:
            self.reconciled += 1
            self.last = time.perf_counter()

    def _work(self) -> None:
        while (key := self.q.get()) is not None:
            try:
                self._reconcile(key)
            finally:
                self.q.done(key)

    def delivered(self, events: int) -> bool:
        return self.seen >= events

    def depth(self) -> int:
        return self.q.depth()

    def start(self) -> None:
        self.futures = [self.executor.submit(self._work) for _ in range(self.workers)]

    def idle(self) -> bool:
        return self.q.idle()

    def check(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"the watch failed: {self.error!r}") from self.error
        for f in self.futures:
            if f.done():
                f.result()  # a worker returns only when it failed (or at shutdown)

    def close(self) -> None:
        self.stopping = True
        self.q.shut_down()
        for f in self.futures:
            f.result()
        self.executor.shutdown()
        self.watch.stop()  # shuts the watch's socket down: its thread's read returns
        self.watcher.join(10)


def run_threads(api: str, workers: int, events: int, namespace: str) -> dict[str, Any]:
    """The ``threads`` setup: `ThreadsPool`, its phases run by the main thread."""
    pool = ThreadsPool(api, workers, namespace)
    try:
        return drive(
            phases(pool, api, namespace, events),
            lambda: time.sleep(0.001),
            lambda fn, *args: fn(*args),
        )
    finally:
        pool.close()


# ---- kubernetes_asyncio on uvloop -------------------------------------------------------------


class AsyncKeyQueue:
    """The same rules as `KeyQueue` on an ``asyncio.Queue`` (one event loop: no lock)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.dirty: set[str] = set()
        self.processing: set[str] = set()

    def add(self, key: str) -> None:
        if key in self.dirty:
            return
        self.dirty.add(key)
        if key not in self.processing:
            self.queue.put_nowait(key)

    async def get(self) -> str:
        """The next key, marked in flight."""
        key = await self.queue.get()
        self.processing.add(key)
        self.dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        self.processing.discard(key)
        if key in self.dirty:
            self.queue.put_nowait(key)

    def idle(self) -> bool:
        return self.queue.empty() and not self.processing


class AsyncioPool(Pool):
    """``kubernetes_asyncio``: a watch task and N worker tasks (build with `open`)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.q = AsyncKeyQueue()
        self.store: dict[str, Any] = {}
        self.seen = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.watcher: asyncio.Task[None] | None = None
        self.stopping = False

    async def open(self, api: str, namespace: str) -> None:
        """Connect, list, and start the watch task."""
        from kubernetes_asyncio import client, watch

        def api_client(pool_size: int) -> Any:
            cfg = client.Configuration(host=api)
            cfg.connection_pool_maxsize = pool_size  # aiohttp's connector limit
            return client.ApiClient(cfg)

        self.api_client, self.watch_client = api_client(self.workers), api_client(1)
        self.v1: Any = client.CoreV1Api(self.api_client)  # untyped: _preload_content=False
        self.ApiException = client.ApiException
        listed = await self.v1.list_namespaced_pod(namespace)
        self.watch = watch.Watch(return_type="object")  # dicts, as every other setup decodes
        stream = self.watch.stream(
            client.CoreV1Api(self.watch_client).list_namespaced_pod,
            namespace,
            resource_version=listed.metadata.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=600,
        )
        self.watcher = asyncio.create_task(self._watch(stream))

    async def _watch(self, stream: Any) -> None:
        async for ev in stream:
            if ev["type"] == "BOOKMARK":
                continue
            obj = ev["object"]
            key = _event_key(obj)
            if ev["type"] == "DELETED":
                self.store.pop(key, None)
            else:
                self.store[key] = obj
            self.q.add(key)
            self.seen += 1
        if not self.stopping:
            raise RuntimeError("the watch ended")

    async def _reconcile(self, key: str) -> None:
        ns, name = key.split("/", 1)
        async with await self.v1.read_namespaced_pod(name, ns, _preload_content=False) as resp:
            body = await resp.read()
            if resp.status != 404:
                if not 200 <= resp.status <= 299:
                    raise self.ApiException(status=resp.status, reason=resp.reason)
                json.loads(body)
        self.reconciled += 1
        self.last = time.perf_counter()

    async def _work(self) -> None:
        while True:
            key = await self.q.get()
            try:
                await self._reconcile(key)
            finally:
                self.q.done(key)

    def delivered(self, events: int) -> bool:
        return self.seen >= events

    def depth(self) -> int:
        return self.q.queue.qsize()

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    def idle(self) -> bool:
        return self.q.idle()

    def check(self) -> None:
        for t in [self.watcher, *self.tasks]:
            if t is not None and t.done():
                t.result()  # a task ends only when it failed

    async def close(self) -> None:
        self.stopping = True
        for t in [*self.tasks, self.watcher]:
            if t is not None:
                t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.watcher is not None:
            await asyncio.gather(self.watcher, return_exceptions=True)
            await self.watch.close()
        await self.api_client.close()
        await self.watch_client.close()


def run_asyncio(api: str, workers: int, events: int, namespace: str) -> dict[str, Any]:
    """The ``kubernetes_asyncio`` setup: `AsyncioPool` on uvloop (else asyncio's own loop)."""

    async def main() -> dict[str, Any]:
        pool = AsyncioPool(workers)
        try:
            await pool.open(api, namespace)
            steps = phases(pool, api, namespace, events)
            sent: Any = None
            while True:
                try:
                    step = steps.send(sent)
                except StopIteration as done:
                    result: dict[str, Any] = done.value
                    return result
                if step is None:
                    await asyncio.sleep(0.001)
                    sent = None
                else:
                    sent = await asyncio.to_thread(*step)
        finally:
            await pool.close()

    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return {**asyncio.run(main()), "loop": "asyncio"}
    return {**uvloop.run(main()), "loop": "uvloop"}


# ---- the watch decode rate ----------------------------------------------------------------


def run_decode(transport: str, api: str, events: int, namespace: str) -> dict[str, Any]:
    _examples_importable()
    import gochan
    from examples.k8s_watch.transport import PODS, StreamEnd
    from examples.k8s_watch.transports import default_backend, make_transport

    backend = default_backend(transport)

    def main() -> dict[str, Any]:
        client = make_transport(transport, api, timeout=120)
        rv = client.list(PODS, namespace)["metadata"]["resourceVersion"]
        n = gochan.blocking(burst, api, namespace, events, max(1, events // 10))
        cpu0, t0 = time.process_time(), time.perf_counter()
        stream = client.watch(
            PODS, namespace, read_timeout=120, resourceVersion=rv, timeoutSeconds=600
        )
        for got, item in enumerate(stream.events, 1):
            if isinstance(item, StreamEnd):
                raise RuntimeError(f"the stream ended after {got - 1} events: {item}")
            if got == n:
                break
        t1, cpu1 = time.perf_counter(), time.process_time()
        stream.close()
        stream.join(10)
        client.close()
        return {
            "events": n,
            "seconds": t1 - t0,
            "cpu_us_per_event": (cpu1 - cpu0) / n * 1e6,
            "backend": backend,
        }

    result: dict[str, Any] = gochan.run(main, backend=backend)
    return result


# ---- the manager: everything, in subprocesses -----------------------------------------------


class Server:
    """The server process (the apiserver, answers delayed by the latency)."""

    def __init__(self, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve", "--latency", str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the W9 server process did not start")
        urls = json.loads(line)
        self.api = urls["api"]

    def cpu(self) -> float:
        """CPU seconds the server process has used so far (user + system)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            self.proc.wait()


def _child(args: list[str], timeout: float = 900) -> dict[str, Any]:
    p = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(ROOT),
        check=False,
    )
    if p.returncode != 0:
        tail = "\n".join(p.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"w9 {' '.join(args[:1])} failed ({p.returncode}): {tail}")
    result: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return result


def measure(
    mode: str = "quick",
    latency: float = LATENCY,
    workers: tuple[int, ...] | None = None,
    progress: Callable[[str], None] | None = None,
    setups: tuple[str, ...] = SETUPS,
    decode: bool = True,
) -> dict[str, Any]:
    """Run the setups and the decode rates; a JSON-able summary with raw values.

    A setup whose package is not installed is not run: ``missing`` says why.
    """
    counts = workers or WORKERS[mode]
    repeat = REPEAT[mode]
    out: dict[str, Any] = {
        "mode": mode,
        "latency": latency,
        "workers": list(counts),
        "setups": list(setups),
        "runs": {},
        "decode": {},
        "errors": {},
        "missing": {s: why for s in setups if (why := missing(s)) is not None},
    }
    runnable = [s for s in setups if s not in out["missing"]]
    server = Server(latency)
    try:
        seq = 0
        for n in counts:
            # Repetitions interleave the setups (A B C A B C ...): this VM's
            # speed drifts over minutes, and each ratio compares runs made
            # close together rather than one setup's early runs with
            # another's late ones.
            for setup in runnable:
                out["runs"][f"{setup}-{n}"] = []
            for _ in range(repeat):
                for setup in runnable:
                    key = f"{setup}-{n}"
                    if key in out["errors"]:
                        continue
                    seq += 1
                    events = events_for(n, mode)
                    if progress:
                        progress(f"W9 {setup}, {n} workers ({events} events)")
                    try:
                        cpu0 = server.cpu()
                        run = _child(
                            [
                                *("run", "--setup", setup, "--api", server.api),
                                *("--workers", str(n), "--events", str(events)),
                                *("--namespace", f"w9-{seq}"),
                            ]
                        )
                    except Exception as e:
                        out["errors"][key] = str(e)
                        continue
                    handled = run["events"] + run["drain"]["items"]
                    run["server_cpu_us_per_event"] = (server.cpu() - cpu0) / max(1, handled) * 1e6
                    out["runs"][key].append(run)
        for t in decode_transports() if decode else ():
            vals = []
            for _ in range(repeat):
                seq += 1
                if progress:
                    progress(f"W9 decode, {t} transport ({DECODE_EVENTS[mode]} events)")
                try:
                    vals.append(
                        _child(
                            [
                                *("decode", "--transport", t, "--api", server.api),
                                *("--events", str(DECODE_EVENTS[mode]), "--namespace", f"w9-{seq}"),
                            ]
                        )
                    )
                except Exception as e:
                    out["errors"][f"decode-{t}"] = str(e)
                    break
            out["decode"][t] = vals
    finally:
        server.close()
    builds = {r["gochan_build"] for rs in out["runs"].values() for r in rs if "gochan_build" in r}
    out["gochan_build"] = ",".join(sorted(builds))
    return out


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def rate(runs: list[dict[str, Any]]) -> float:
    """Median events/s of a setup's runs (0.0 without runs)."""
    return _median([r["events"] / r["seconds"] for r in runs]) if runs else 0.0


def growth(runs: list[dict[str, Any]]) -> float:
    """Median RSS growth in bytes from the synced controller to the peak."""
    return _median([max(0, r["rss_peak"] - r["rss_base"]) for r in runs]) if runs else 0.0


def drain_stats(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Medians of the drain phase (the pool alone): items/s, client CPU µs per
    item, RSS growth while the pool starts and drains; and the end-to-end
    client CPU µs per event."""
    if not runs:
        return {}
    return {
        "drain_rate": _median([r["drain"]["items"] / r["drain"]["seconds"] for r in runs]),
        "drain_cpu_us": _median([r["drain"]["cpu_us_per_item"] for r in runs]),
        "pool_rss": _median([max(0, r["drain"]["rss_growth"]) for r in runs]),
        "cpu_us": _median([r["cpu_us_per_event"] for r in runs]),
    }


WORKLOAD = Workload(
    key="W9",
    name="k8s",
    title="W9 k8s controller",
    unit="event",
    description="watch events handled by a K8s watch + worker pool, each reconcile one GET "
    "of the pod answered 5 ms late by the embedded apiserver (its own process): gochan (the "
    "example's Informer + Controller, green workers on the green transport: gochan.net and "
    "httptools, builtin backend) against what a Python user writes instead, the official "
    "kubernetes client in a ThreadPoolExecutor and kubernetes_asyncio on uvloop, with the same "
    "queue rules (a queued key is not queued twice, a key in flight goes to one worker) and the "
    "same worker counts; every side decodes JSON into dicts",
    external=True,
    impls={
        "gochan": Impl("green workers: Informer + Controller on the green transport", None),
    },
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/w9_k8s.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--latency", type=float, default=LATENCY)
    r = sub.add_parser("run")
    r.add_argument("--setup", choices=SETUPS, required=True)
    r.add_argument("--api", required=True)
    r.add_argument("--workers", type=int, required=True)
    r.add_argument("--events", type=int, required=True)
    r.add_argument("--namespace", required=True)
    d = sub.add_parser("decode")
    d.add_argument("--transport", choices=DECODE_TRANSPORTS, required=True)
    d.add_argument("--api", required=True)
    d.add_argument("--events", type=int, required=True)
    d.add_argument("--namespace", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--mode", choices=tuple(EVENTS), default="quick")
    m.add_argument("--latency", type=float, default=LATENCY)
    m.add_argument("--workers", help="comma-separated worker counts")
    m.add_argument("--setups", help=f"comma-separated, of {','.join(SETUPS)} (default: all)")
    m.add_argument("--no-decode", action="store_true", help="skip the watch decode rates")
    args = ap.parse_args(argv)
    if args.cmd == "serve":
        serve_main(args.latency)
        return 0
    if args.cmd == "run":
        _raise_fd_limit()
        run = {GOCHAN: run_gochan, "threads": run_threads, "kubernetes_asyncio": run_asyncio}
        result = run[args.setup](args.api, args.workers, args.events, args.namespace)
    elif args.cmd == "decode":
        result = run_decode(args.transport, args.api, args.events, args.namespace)
    else:
        counts = tuple(int(x) for x in args.workers.split(",")) if args.workers else None
        setups = tuple(args.setups.split(",")) if args.setups else SETUPS
        unknown = set(setups) - set(SETUPS)
        if unknown:
            ap.error(f"unknown setup(s) {', '.join(sorted(unknown))}; choose from {SETUPS}")
        result = measure(
            args.mode,
            args.latency,
            counts,
            progress=lambda t: print(t, file=sys.stderr),
            setups=setups,
            decode=not args.no_decode,
        )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
