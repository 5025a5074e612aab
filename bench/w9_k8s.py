"""W9 k8s: the K8s-watch controller's events/s with an I/O-bound reconcile, green vs threads.

Issue 6's speed target: green workers at 128 and more reach at least 2x the
events/s of a ``ThreadPoolExecutor`` running the same controller logic
with the same number of workers, in a fraction of its memory.

What runs, each piece in a process of its own:

* **the apiserver** (``examples.k8s_watch.apiserver``: gochan on its uvloop backend) in a
  process of its own (``python bench/w9_k8s.py serve``), away from the
  clients' GIL. It answers every request ``LATENCY`` seconds after reading
  it (``request_latency``: a timer, no CPU), so a reconcile's round trip
  costs what it costs against a real cluster's apiserver (a few ms), not
  the loopback's 0.1 ms: the reconcile is I/O-bound, which is the case
  concurrency is for. (An earlier version put a Python proxy in front to
  add the latency; its CPU per request, on the same two cores, capped the
  whole run.)
* **one client process per (setup, workers)** (``python bench/w9_k8s.py run``):
  it starts its controller on a fresh namespace and waits for the cache to
  sync. Then two phases, each with a burst of pod writes made by the
  apiserver itself (``POST /debug/faults {"action": "burst"}``):

  1. **the pool alone**: the burst is written and queued before any worker
     runs; then the pool is started and timed until it has drained the
     queue (items/s, client CPU per item, and the RSS the pool adds while
     it starts its workers and drains: their stacks, connections and
     requests in flight);
  2. **end to end**: with the workers running, a second burst, timed from
     the request until every resulting watch event is handled and the
     queue is idle (events/s, client CPU per event, RSS growth).

  A sampler keeps the peak RSS; the manager reads the server process's CPU.

  - ``green``: the example's own controller on the uvloop backend: an
    `Informer` (reflector, store, handlers) on the httpx transport, the
    `Controller` (``gochan.workqueue``, N supervised green workers); each
    reconcile is one ``GET`` of the pod through ``await_``.
  - ``green-sock``: the same controller on the builtin backend with the
    green transport (``transport_green``: ``gochan.net`` connections, answers
    parsed by httptools; no thread, no loop).
  - ``threads``: the same logic on threads: a watch thread feeds a store
    and a fair, stingy queue of keys (client-go's rules: a queued key is
    not queued twice, a key in flight is not handed to a second worker),
    and N ``ThreadPoolExecutor`` workers each take a key, ``GET`` the pod
    with urllib3 (``http.client`` underneath, a keep-alive pool as large as
    the worker count) and mark the key done.

* **the watch decode rate**: 10,000 writes over 1,000 keys made *before* the
  watch opens, then one watch from the RV before them, read through each
  transport (``green``, ``httpx``, ``official``) until all 10,000 events are
  out of the stream's channel.

Reported: for both phases, the rate per setup and worker count, the
green/threads ratios, client CPU and RSS (green as a fraction of threads);
the decode rate in events/s and client CPU µs per event.

    python bench/w9_k8s.py measure --mode quick      # all of it, prints JSON
    python bench/w9_k8s.py serve --latency 0.005    # the server process
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import Impl, Workload  # noqa: E402

WORKERS = {"full": (1, 16, 128, 1024), "quick": (1, 16, 128, 1024), "smoke": (1, 16)}
SETUPS = ("green", "green-sock", "threads")
# What each setup runs (the report's labels).
SETUP_LABELS = {
    "green": "Informer + Controller, httpx on uvloop",
    "green-sock": "Informer + Controller, green transport (gochan.net) on builtin",
    "threads": "watch thread + ThreadPoolExecutor, urllib3",
}
LATENCY = 0.005  # seconds added to every request: a round trip to a real apiserver
# Events per client run: per-worker count, clamped (so one worker is not slow for minutes).
# The quick run keeps make bench-quick under 3 minutes: fewer events, and the
# httpx setup (10-30x slower than the others) capped lower still.
EVENTS = {"full": (1000, 100, 20_000), "quick": (50, 8, 1200), "smoke": (40, 5, 100)}
HTTPX_CAP = {"full": 20_000, "quick": 200, "smoke": 100}
DECODE_EVENTS = {"full": 10_000, "quick": 2000, "smoke": 1000}
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


def events_for(workers: int, mode: str, setup: str = "threads") -> int:
    lo, per, hi = EVENTS[mode]
    n = max(lo, min(hi, per * workers))
    return min(n, HTTPX_CAP[mode]) if setup == "green" else n


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def run_result(
    events: int,
    reconciled: int,
    seconds: float,
    burst_seconds: float,
    cpu: float,
    drain: dict[str, Any],
) -> dict[str, Any]:
    """What the end-to-end phase reports (``cpu``: process CPU seconds it used)."""
    return {
        "events": events,
        "reconciled": reconciled,
        "seconds": seconds,
        "burst_seconds": burst_seconds,
        "cpu_us_per_event": cpu / max(1, events) * 1e6,
        "drain": drain,
    }


def drain_result(items: int, seconds: float, cpu0: float, rss_growth: int) -> dict[str, Any]:
    """What the drain phase reports (``cpu0``: process_time() when it began)."""
    return {
        "items": items,
        "seconds": seconds,
        "cpu_us_per_item": (time.process_time() - cpu0) / max(1, items) * 1e6,
        "rss_growth": rss_growth,
    }


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

    try:
        import uvloop  # noqa: F401

        backend: str | None = "uvloop"
    except ImportError:  # pragma: no cover
        backend = None  # gochan's default backend
    srv = serve(
        bookmark_interval=60.0,
        max_events=2_000_000,
        request_latency=latency,
        backend=backend,
    )
    print(json.dumps({"api": srv.url}), flush=True)
    try:
        sys.stdin.read()
    finally:
        srv.close()


# ---- green: the example's controller, on httpx/uvloop or the green transport ------------------


def run_green(
    api: str, workers: int, events: int, namespace: str, transport: str = "httpx"
) -> dict[str, Any]:
    """The example's controller; ``transport`` is ``httpx`` (uvloop) or ``green`` (builtin)."""
    _examples_importable()
    import gochan
    from examples.k8s_watch.controller import Controller
    from examples.k8s_watch.informer import Informer
    from examples.k8s_watch.reflector import ListWatch
    from examples.k8s_watch.transport import PODS, APIStatusError, is_not_found

    if transport == "green":
        backend = "builtin"
    else:
        try:
            import uvloop  # noqa: F401

            backend = "uvloop"
        except ImportError:  # pragma: no cover
            backend = "asyncio"

    def make_client() -> Any:
        if transport == "green":
            from examples.k8s_watch.transport_green import GreenClient

            return GreenClient(api, timeout=120, max_connections=workers + 4)
        from examples.k8s_watch.transport_httpx import HttpxClient

        return HttpxClient(api, timeout=120, max_connections=workers + 4)

    def main() -> dict[str, Any]:
        client = make_client()
        inf = Informer(ListWatch(client, PODS, namespace), name="pods", bookmark_interval=60.0)
        reconciled = 0
        last = 0.0

        def reconcile(key: str) -> None:
            nonlocal reconciled, last
            ns, name = key.split("/", 1)
            try:
                client.get(PODS, name, ns)
            except APIStatusError as e:
                if not is_not_found(e):
                    raise
            reconciled += 1
            last = time.perf_counter()

        ctl = Controller("pods", reconcile, workers=workers)
        inf.add_event_handler(ctl.handler(), name="enqueue")
        inf.start()
        assert inf.wait_for_sync(60)
        ref = inf.reflector
        peak = 0
        sampling = gochan.Chan[None]()

        def sampler() -> None:
            nonlocal peak
            while True:
                i, _ = gochan.select(sampling.recv, gochan.after(0.01).recv)
                peak = max(peak, rss())
                if i == 0:
                    return

        def settle(seen: int) -> None:
            # Polled every ms, so the cheap checks come first: a metrics snapshot
            # walks every key in flight (~30 us at 128 workers, 1,000 times a
            # second), where the threads' loop only looks at its queue.
            while True:
                if (
                    ref.stats.events >= seen
                    and not inf.pending()
                    and not len(ctl.queue)
                    and not ctl.in_flight
                ):
                    snap = ctl.snapshot()
                    if snap["depth"] == 0 and snap["in_flight"] == 0:
                        return
                gochan.sleep(0.001)

        s = gochan.go(sampler)
        # 1. The pool alone: a burst queued while no worker runs, then drained.
        n1 = gochan.blocking(burst, api, namespace, events, events * 100, 1)
        while ref.stats.events < n1 or inf.pending():
            gochan.sleep(0.001)
        queued = ctl.snapshot()["depth"]
        drain_base = peak = rss()
        cpu0, t0 = time.process_time(), time.perf_counter()
        ctl.start()
        settle(n1)
        drain = drain_result(reconciled, last - t0, cpu0, peak - drain_base)
        assert reconciled == queued, (reconciled, queued)
        # 2. End to end: a burst written while the workers run.
        done_before = reconciled
        base = peak = rss()
        cpu0, t0 = time.process_time(), time.perf_counter()
        n = gochan.blocking(burst, api, namespace, events, events * 100, 2)
        burst_seconds = time.perf_counter() - t0  # the apiserver's writes alone
        settle(n1 + n)
        cpu = time.process_time() - cpu0
        seconds = last - t0
        sampling.close()
        s.join()
        ctl.stop(drain=False)
        inf.stop()
        ref.join_streams()
        client.close()
        result = run_result(n, reconciled - done_before, seconds, burst_seconds, cpu, drain)
        return {
            **result,
            "rss_base": base,
            "rss_peak": peak,
            "backend": backend,
            "transport": transport,
            "gochan_build": gochan_build(),
        }

    result: dict[str, Any] = gochan.run(main, backend=backend)
    return result


# ---- threads: the same logic on a ThreadPoolExecutor ---------------------------------------


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

    def idle(self) -> bool:
        with self.cond:
            return not self.queue and not self.processing

    def shut_down(self) -> None:
        with self.cond:
            self.shutting_down = True
            self.cond.notify_all()


def run_threads(api: str, workers: int, events: int, namespace: str) -> dict[str, Any]:
    _examples_importable()
    import http.client
    from urllib.parse import urlsplit

    import urllib3

    from examples.k8s_watch.transport import PODS, decode_answer, is_not_found, loads_json

    parts = urlsplit(api)
    http_pool = urllib3.HTTPConnectionPool(
        parts.hostname, parts.port, maxsize=workers + 4, timeout=120.0, retries=False
    )

    def get(path: str) -> dict[str, Any]:
        r = http_pool.request("GET", path, headers={"Accept": "application/json"})
        return decode_answer(path, r.status, r.headers.get("Retry-After"), r.data)

    store: dict[str, Any] = {}
    q = KeyQueue()
    seen = 0
    reconciled = 0
    last = 0.0
    lock = threading.Lock()

    listed = get(PODS.path(namespace))
    for o in listed.get("items") or []:
        store[f"{namespace}/{o['metadata']['name']}"] = o
    rv = listed["metadata"]["resourceVersion"]
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    conn.request(
        "GET",
        f"{PODS.path(namespace)}?watch=true&resourceVersion={rv}"
        "&allowWatchBookmarks=true&timeoutSeconds=600",
    )
    resp = conn.getresponse()
    assert resp.status == 200, resp.status

    def watcher() -> None:
        nonlocal seen
        with contextlib.suppress(OSError, ValueError, AttributeError, http.client.HTTPException):
            for line in resp:
                ev = loads_json(line)  # the decode every transport uses
                obj = ev["object"]
                if ev["type"] == "BOOKMARK":
                    continue
                key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
                if ev["type"] == "DELETED":
                    store.pop(key, None)
                else:
                    store[key] = obj
                q.add(key)
                seen += 1

    def reconcile(key: str) -> None:
        nonlocal reconciled, last
        ns, name = key.split("/", 1)
        try:
            get(PODS.path(ns, name))
        except Exception as e:  # decode_answer's APIStatusError for a 404
            if not is_not_found(e):
                raise
        with lock:
            reconciled += 1
            last = time.perf_counter()

    def worker() -> None:
        while (key := q.get()) is not None:
            try:
                reconcile(key)
            finally:
                q.done(key)

    w = threading.Thread(target=watcher, name="watch", daemon=True)
    w.start()
    peak = 0
    stop = threading.Event()

    def sampler() -> None:
        nonlocal peak
        while not stop.wait(0.01):
            peak = max(peak, rss())
        peak = max(peak, rss())

    st = threading.Thread(target=sampler, daemon=True)
    st.start()
    # 1. The pool alone: a burst queued while no worker runs, then drained.
    n1 = burst(api, namespace, events, events * 100, 1)
    while seen < n1:
        time.sleep(0.001)
    with q.cond:
        queued = len(q.queue)
    drain_base = peak = rss()
    cpu0, t0 = time.process_time(), time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")
    futures = [pool.submit(worker) for _ in range(workers)]
    while not q.idle():
        time.sleep(0.001)
    drain = drain_result(reconciled, last - t0, cpu0, peak - drain_base)
    assert reconciled == queued, (reconciled, queued)
    # 2. End to end: a burst written while the workers run.
    done_before = reconciled
    base = peak = rss()
    cpu0, t0 = time.process_time(), time.perf_counter()
    n = burst(api, namespace, events, events * 100, 2)
    burst_seconds = time.perf_counter() - t0
    while not (seen >= n1 + n and q.idle()):
        time.sleep(0.001)
    cpu = time.process_time() - cpu0
    seconds = last - t0
    stop.set()
    st.join()
    q.shut_down()
    for f in futures:
        f.result()
    pool.shutdown()
    with contextlib.suppress(OSError):
        conn.sock.shutdown(2)  # type: ignore[union-attr]
    conn.close()
    w.join(5)
    http_pool.close()
    result = run_result(n, reconciled - done_before, seconds, burst_seconds, cpu, drain)
    return {**result, "rss_base": base, "rss_peak": peak}


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
    """Run the setups and the decode rates; a JSON-able summary with raw values."""
    counts = workers or WORKERS[mode]
    repeat = REPEAT[mode]
    out: dict[str, Any] = {
        "mode": mode,
        "latency": latency,
        "workers": list(counts),
        "runs": {},
        "decode": {},
        "errors": {},
    }
    server = Server(latency)
    try:
        seq = 0
        for n in counts:
            # Repetitions interleave the setups (A B C A B C ...): this VM's
            # speed drifts over minutes, and each ratio compares runs made
            # close together rather than one setup's early runs with
            # another's late ones.
            for setup in setups:
                out["runs"][f"{setup}-{n}"] = []
            for _ in range(repeat):
                for setup in setups:
                    key = f"{setup}-{n}"
                    if key in out["errors"]:
                        continue
                    seq += 1
                    if progress:
                        progress(f"W9 {setup}, {n} workers ({events_for(n, mode, setup)} events)")
                    try:
                        cpu0 = server.cpu()
                        run = _child(
                            [
                                "run",
                                "--setup",
                                setup,
                                "--api",
                                server.api,
                                "--workers",
                                str(n),
                                "--events",
                                str(events_for(n, mode, setup)),
                                "--namespace",
                                f"w9-{seq}",
                            ]
                        )
                    except Exception as e:
                        out["errors"][key] = str(e)
                        continue
                    handled = run["events"] + run["drain"]["items"]
                    run["server_cpu_us_per_event"] = (server.cpu() - cpu0) / max(1, handled) * 1e6
                    out["runs"][key].append(run)
        for t in DECODE_TRANSPORTS if decode else ():
            vals = []
            for _ in range(repeat):
                seq += 1
                if progress:
                    progress(f"W9 decode, {t} transport ({DECODE_EVENTS[mode]} events)")
                try:
                    vals.append(
                        _child(
                            [
                                "decode",
                                "--transport",
                                t,
                                "--api",
                                server.api,
                                "--events",
                                str(DECODE_EVENTS[mode]),
                                "--namespace",
                                f"w9-{seq}",
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
    description="watch events handled by the K8s-watch controller, each reconcile one GET "
    "delayed by 5 ms in the embedded apiserver (separate process); green workers "
    "(on httpx/uvloop, and on the green transport: gochan.net + httptools on builtin) vs "
    "a ThreadPoolExecutor with the same logic. A quick run gives the httpx setup at most "
    "200 events per phase (it is 10-30x slower), so its memory growth there is not "
    "comparable with the others'",
    external=True,
    impls={
        "gochan": Impl(
            "green workers: Informer + Controller on httpx/uvloop or the green transport", None
        )
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
        if args.setup == "threads":
            result = run_threads(args.api, args.workers, args.events, args.namespace)
        else:
            transport = "green" if args.setup == "green-sock" else "httpx"
            result = run_green(args.api, args.workers, args.events, args.namespace, transport)
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
