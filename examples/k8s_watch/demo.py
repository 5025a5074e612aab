"""The K8s-watch worker pool, live: an apiserver, a load, faults, and a proof.

    make demo                                # about a minute
    python -m examples.k8s_watch.demo --fast # about ten seconds, for tests

What runs, all in this process:

* the **embedded apiserver** (``examples.k8s_watch.apiserver``), on its own
  thread, speaking the real Kubernetes wire protocol on a loopback port;
* a **load generator** that creates, updates and deletes pods in bursts
  (thousands over the run), plus one burst of writes over fewer keys;
* the **controller**: an informer (paged LIST, WATCH with bookmarks, relist
  on 410, backoff...) feeding a rate-limited workqueue, and N green workers
  under a supervisor, each reconcile writing the pod's ConfigMap back through
  the API (GET, then CREATE or UPDATE; DELETE when the pod is gone);
* a **fault schedule**: a torn stream, an ERROR 410, forced 409 conflicts, a
  stall after the headers, a write burst, 429s with Retry-After, an apiserver
  restart that drops every connection and forgets its history, and 500s.

The screen shows events/s, queue depth, in-flight, retries, reconciled and
the faults so far (a table that updates in place on a terminal, one line per
second otherwise). When the load stops, the demo waits for the controller to
catch up and checks, against the apiserver's own state:

* every pod has its ConfigMap, holding the pod's *last* resourceVersion;
* every deleted pod's ConfigMap is gone (no orphans);
* no key was ever reconciled by two workers at once (instrumented).

The last line is the summary; the exit status is 0 when all three hold.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make "examples" importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import gochan
from examples.k8s_watch.apiserver import APIError, APIServer, serve
from examples.k8s_watch.controller import Controller
from examples.k8s_watch.convergence import Verdict, settle
from examples.k8s_watch.informer import EventHandlerFuncs, Informer
from examples.k8s_watch.metrics import ControllerMetrics, Samples, scrape, value
from examples.k8s_watch.reconcile import ConfigMapReconciler, PodConfigMaps
from examples.k8s_watch.reflector import Backoff
from examples.k8s_watch.store import JSON
from examples.k8s_watch.transport_green import GreenClient
from gochan import workqueue

NAMESPACE = "default"


@dataclass(frozen=True)
class Settings:
    duration: float  # seconds of load
    burst_every: float
    creates: int  # per burst
    updates: int
    deletes: int
    big_burst: int  # writes in the one big burst (over big_burst // 10 keys)
    workers: int
    bookmark_interval: float
    tick: float  # progress refresh
    settle_timeout: float
    backoff: tuple[float, float, float]  # initial, cap, reset after (client-go: 0.8, 30, 120)

    @property
    def name(self) -> str:
        return "fast" if self is FAST else "full"


FULL = Settings(
    duration=45.0,
    burst_every=0.5,
    creates=45,
    updates=35,
    deletes=30,
    big_burst=3000,
    workers=32,
    bookmark_interval=1.0,
    tick=0.25,
    settle_timeout=60.0,
    backoff=(0.8, 30.0, 5.0),
)
FAST = Settings(
    duration=6.0,
    burst_every=0.2,
    creates=25,
    updates=20,
    deletes=15,
    big_burst=600,
    workers=16,
    bookmark_interval=0.25,
    tick=0.5,
    settle_timeout=30.0,
    backoff=(0.1, 2.0, 1.0),
)


def pod(name: str, image: str, rev: int) -> JSON:
    return {
        "metadata": {"name": name, "labels": {"app": "demo", "rev": str(rev)}},
        "spec": {"containers": [{"name": "main", "image": image}]},
    }


# ---- the load -------------------------------------------------------------------------------


@dataclass
class Load:
    """Bursts of creates, updates and deletes through the apiserver's Python API."""

    srv: APIServer
    rng: random.Random
    alive: list[str] = field(default_factory=list)
    next_id: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0

    def burst(self, creates: int, updates: int, deletes: int) -> None:
        """One burst (runs on a pool thread: the apiserver's API is thread-safe)."""
        srv = self.srv
        for _ in range(creates):
            name = f"web-{self.next_id:05d}"
            self.next_id += 1
            srv.create("pods", pod(name, "nginx:1.25", 0), NAMESPACE)
            self.alive.append(name)
            self.created += 1
        for name in self.rng.sample(self.alive, min(updates, len(self.alive))):
            rev = self.rng.randrange(1, 1000)
            patch = {
                "metadata": {"labels": {"rev": str(rev)}},
                "spec": {"containers": [{"name": "main", "image": f"nginx:1.{rev}"}]},
            }
            try:
                srv.patch("pods", name, patch, NAMESPACE)
                self.updated += 1
            except APIError:  # pragma: no cover - a fault on the write path
                pass
        for name in self.rng.sample(self.alive, min(deletes, len(self.alive))):
            try:
                srv.delete("pods", name, NAMESPACE)
                self.deleted += 1
            except APIError:  # pragma: no cover
                pass
            self.alive.remove(name)


# ---- faults -----------------------------------------------------------------------------------


def fault_schedule(s: Settings) -> list[tuple[float, str, Callable[[APIServer], object]]]:
    """(fraction of the load phase, name, action) in order."""
    return [
        (0.10, "torn watch stream", lambda srv: srv.tear_watches("pods")),
        (0.20, "ERROR 410 Expired", lambda srv: srv.expire_watches("pods")),
        (
            0.30,
            "25 forced 409 conflicts",
            lambda srv: srv.force_conflict(count=25, resource="configmaps"),
        ),
        (
            0.40,
            "stall after headers",
            lambda srv: (
                srv.stall_after_headers(resource="pods"),
                srv.end_watches("pods"),
            ),
        ),
        (
            0.50,
            f"burst of {s.big_burst} writes",
            lambda srv: srv.burst(writes=s.big_burst, keys=max(10, s.big_burst // 10), seed=1),
        ),
        (
            0.60,
            "429 + Retry-After on relist",
            lambda srv: (
                srv.fail_requests(
                    429, count=2, verbs=["list", "watch"], resource="pods", retry_after=1
                ),
                srv.expire_watches("pods"),
            ),
        ),
        (0.70, "apiserver restart", lambda srv: srv.restart(keep_state=True)),
        (
            0.85,
            "20 HTTP 500s on configmaps",
            lambda srv: srv.fail_requests(
                500, count=20, verbs=None, resource="configmaps", retry_after=None
            ),
        ),
    ]


# ---- progress -------------------------------------------------------------------------------


@dataclass
class Progress:
    started: float
    last_events: int = 0
    last_time: float = 0.0
    events_per_s: float = 0.0
    peak_events_per_s: float = 0.0
    faults: list[str] = field(default_factory=list)
    phase: str = "load"


def snapshot(
    inf: Informer, ctl: Controller, srv: APIServer, load: Load, p: Progress
) -> dict[str, Any]:
    now = time.monotonic()
    events = inf.reflector.stats.events
    if now > p.last_time:
        rate = (events - p.last_events) / (now - p.last_time) if p.last_time else 0.0
        p.events_per_s, p.last_events, p.last_time = rate, events, now
        p.peak_events_per_s = max(p.peak_events_per_s, rate)
    m = ctl.queue.metrics()
    r = inf.reflector.stats
    return {
        "t": now - p.started,
        "phase": p.phase,
        "events/s": p.events_per_s,
        "events": events,
        "depth": m.depth,
        "in flight": m.in_flight,
        "delayed": m.delayed,
        "retries": m.retries,
        "reconciled": ctl.stats.reconciled,
        "errors": ctl.stats.errors + ctl.stats.panics,
        "pods": len(inf.store),
        "lists": r.lists,
        "watches": r.watches,
        "faults": len(p.faults),
        "last fault": p.faults[-1] if p.faults else "-",
        "injected": srv.faults.describe()["injectedTotal"],
        "load": f"+{load.created} ~{load.updated} -{load.deleted}",
    }


def plain_line(s: dict[str, Any]) -> str:
    return (
        f"{s['t']:5.1f}s {s['phase']:<7} events/s={s['events/s']:7.0f} depth={s['depth']:<5} "
        f"in-flight={s['in flight']:<3} retries={s['retries']:<4} reconciled={s['reconciled']:<6} "
        f"pods={s['pods']:<5} lists={s['lists']} watches={s['watches']} "
        f"faults={s['faults']} ({s['last fault']})"
    )


class Screen:
    """A rich table updated in place on a terminal; plain lines otherwise."""

    def __init__(self, live: bool) -> None:
        self.live: Any = None
        if live:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(console=Console(), auto_refresh=False, transient=False)
            self.live.start()

    def show(self, s: dict[str, Any]) -> None:
        if self.live is None:
            print(plain_line(s), flush=True)
            return
        from rich.table import Table

        t = Table(
            title=f"gochan K8s-watch worker pool: {s['phase']}, t={s['t']:.1f} s",
            show_header=False,
            title_justify="left",
        )
        t.add_column("metric", style="bold")
        t.add_column("value", justify="right", min_width=8)
        t.add_column("", style="dim")
        t.add_row("events/s", f"{s['events/s']:.0f}", f"{s['events']} events so far")
        t.add_row("queue depth", str(s["depth"]), f"{s['delayed']} waiting to retry")
        t.add_row("in flight", str(s["in flight"]), "reconciles running now")
        t.add_row("retries", str(s["retries"]), f"{s['errors']} reconcile errors")
        t.add_row("reconciled", str(s["reconciled"]), f"{s['pods']} pods in the cache")
        t.add_row("lists / watches", f"{s['lists']} / {s['watches']}", "relists and reconnects")
        t.add_row("faults injected", str(s["faults"]), f"last: {s['last fault']}")
        t.add_row("load", "", s["load"] + " pods")
        self.live.update(t, refresh=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


# ---- main ---------------------------------------------------------------------------------------


def run_demo(s: Settings, *, seed: int, live: bool, metrics_port: int = 0) -> int:
    srv = serve(bookmark_interval=s.bookmark_interval, seed=seed)
    metrics = ControllerMetrics()
    server = metrics.serve(metrics_port)
    try:
        return gochan.run(_main, s, srv, seed, live, metrics, server.url, seed=seed)
    finally:
        server.close()
        srv.close()


def _main(
    s: Settings,
    srv: APIServer,
    seed: int,
    live: bool,
    metrics: ControllerMetrics,
    metrics_url: str,
) -> int:
    rng = random.Random(seed)
    client = GreenClient(srv.url, timeout=5.0)
    # client-go's backoff resets after 2 minutes without a fault; this demo packs
    # eight faults into a minute, so it resets sooner, or the pauses would stack up.
    initial, cap, reset_after = s.backoff
    c = PodConfigMaps(
        client,
        NAMESPACE,
        workers=s.workers,
        bookmark_interval=s.bookmark_interval,
        backoff=Backoff(initial, cap, reset_after=reset_after, rng=random.Random(seed)),
        # client-go's workqueue metrics, served on /metrics (examples/k8s_watch/metrics.py)
        queue=workqueue.Queue[str]("pods", metrics_provider=metrics.provider),
    )
    inf, ctl, rec = c.pods, c.controller, c.reconciler
    metrics.add_reflector("pods", c.pods.reflector)
    metrics.add_reflector("configmaps", c.configmaps.reflector)
    metrics.add_controller(ctl)
    seen: set[str] = set()
    inf.add_event_handler(
        EventHandlerFuncs(add=lambda o, _i: seen.add(o["metadata"]["name"])), name="seen"
    )
    load = Load(srv, rng)
    p = Progress(started=time.monotonic())
    screen = Screen(live)
    print(
        f"K8s-watch demo ({s.name}): apiserver {srv.url}, {s.workers} workers, "
        f"{s.duration:g} s of load with {len(fault_schedule(s))} faults, seed {seed}; "
        f"metrics on {metrics_url}",
        flush=True,
    )
    c.start(sync_timeout=30)

    def ticker() -> None:
        while True:
            screen.show(snapshot(inf, ctl, srv, load, p))
            gochan.sleep(s.tick)

    ticker_task = gochan.go(ticker)
    faults = fault_schedule(s)
    t0 = gochan.monotonic()
    try:
        while (elapsed := gochan.monotonic() - t0) < s.duration or faults:
            while faults and elapsed >= faults[0][0] * s.duration:
                _, name, action = faults.pop(0)
                # Hit a live stream, not one that is down from the last fault.
                gochan.blocking(srv.wait_for_watchers, 1, "pods", 30.0)
                p.faults.append(name)
                gochan.blocking(action, srv)
            gochan.blocking(load.burst, s.creates, s.updates, s.deletes)
            gochan.sleep(s.burst_every)
        gochan.blocking(srv.clear_faults)
        p.phase = "settle"
        verdict = settle(c, srv, seen, timeout=s.settle_timeout, namespace=NAMESPACE)
        p.phase = "done"
        screen.show(snapshot(inf, ctl, srv, load, p))
    finally:
        ticker_task.cancel()
        screen.close()
        c.stop()
        client.close()
    scraped = gochan.blocking(scrape, metrics_url)
    return summary(s, srv, ctl, rec, load, p, verdict, seen, scraped)


def summary(
    s: Settings,
    srv: APIServer,
    ctl: Controller,
    rec: ConfigMapReconciler,
    load: Load,
    p: Progress,
    v: Verdict,
    seen: set[str],
    scraped: Samples,
) -> int:
    """The last lines; the reflector's and the workers' numbers come from /metrics."""

    def r(counter: str) -> int:
        return int(value(scraped, f"reflector_{counter}_total", name="pods"))

    def c(metric: str, **labels: str) -> int:
        return int(value(scraped, metric, controller=ctl.name, **labels))

    reconciles = c("controller_reconciles_started_total")
    retries = int(value(scraped, "workqueue_retries_total", name=ctl.queue.name))
    injected = srv.faults.describe()["injected"]
    print(
        f"load: {load.created} pods created, {load.updated} updated, {load.deleted} deleted "
        f"in bursts, plus a {s.big_burst}-write burst; {len(seen)} pods seen in all"
    )
    print(
        f"faults: {len(p.faults)} scheduled ({', '.join(p.faults)}); "
        f"injected by the apiserver: {dict(sorted(injected.items()))}"
    )
    print(
        f"reflector: {r('lists')} lists ({r('list_pages')} pages), {r('watches')} watches, "
        f"{r('watch_events')} events, {r('bookmarks')} bookmarks, {r('relists')} relists, "
        f"{r('dead_streams')} dead streams, {r('backoffs')} backoffs, "
        f"peak {p.peak_events_per_s:.0f} events/s"
    )
    print(
        f"workers: {reconciles} reconciles by {ctl.workers} workers (at most "
        f"{c('controller_max_in_flight')} at once), {retries} retries, "
        f"{c('controller_runtime_reconcile_errors_total')} errors; "
        f"ConfigMaps {rec.counts['create']} created, {rec.counts['update']} updated, "
        f"{rec.counts['delete']} deleted"
    )
    dup = c("controller_concurrent_reconciles_total")
    ok = v.ok and dup == 0
    verdict = "OK" if ok else "FAILED"
    print(
        f"summary: {verdict}: converged {v.waited:.1f} s after the load stopped: "
        f"{v.pods - len(v.stale)}/{v.pods} pods reconciled at their last version, "
        f"{v.deleted} deleted pods cleaned up ({len(v.leftovers)} ConfigMaps left behind), "
        f"{dup} keys reconciled twice at once",
        flush=True,
    )
    if not ok:
        print(f"stale: {v.stale[:10]} leftovers: {v.leftovers[:10]}", file=sys.stderr)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m examples.k8s_watch.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--fast",
        action="store_true",
        default=bool(os.environ.get("GOCHAN_DEMO_FAST")),
        help="a ten-second run (GOCHAN_DEMO_FAST=1 too)",
    )
    ap.add_argument("--duration", type=float, help="seconds of load")
    ap.add_argument("--workers", type=int, help="reconcile workers")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--plain", action="store_true", help="plain progress lines, even on a terminal")
    ap.add_argument("-v", "--verbose", action="store_true", help="log the reflector's warnings")
    ap.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve the controller's /metrics on this port of 127.0.0.1 (0: any free port)",
    )
    args = ap.parse_args(argv)
    s = FAST if args.fast else FULL
    if args.duration is not None:
        s = Settings(**{**s.__dict__, "duration": args.duration})
    if args.workers is not None:
        s = Settings(**{**s.__dict__, "workers": args.workers})
    logging.basicConfig(
        level=logging.WARNING if args.verbose else logging.CRITICAL,
        format="%(asctime)s %(name)s: %(message)s",
    )
    live = sys.stdout.isatty() and not args.plain
    if live:
        try:
            import rich  # noqa: F401
        except ImportError:  # the dev extra brings it; without it, plain lines
            live = False
    return run_demo(s, seed=args.seed, live=live, metrics_port=args.metrics_port)


if __name__ == "__main__":
    sys.exit(main())
