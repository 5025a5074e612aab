"""The worker pool: keys from a workqueue, reconciled by N green tasks under a supervisor.

client-go's sample controller and controller-runtime's
``processNextWorkItem``, in gochan terms. Each worker loops:

1. ``key, shutdown = queue.get()``; stop when the queue is shut down;
2. ``defer(queue.done, key)``: however this iteration ends, even if the
   worker itself crashes, the key leaves the in-flight set (a key stuck in
   flight would never be processed again: the queue is stingy);
3. ``reconcile(key)``, with a deferred ``recover`` around it:

   - returns None (or a plain `Result`): success, ``forget(key)`` (its
     backoff starts over);
   - returns ``Result(requeue_after=s)``: ``forget`` + ``add_after(key, s)``;
   - returns ``Result(requeue=True)``: ``add_rate_limited(key)``;
   - raises (any exception, a `gochan.Panic` included): the panic is
     recovered, logged, counted, and the key goes back with
     ``add_rate_limited``.

A crash *outside* reconcile (in the bookkeeping, or in the ``on_result``
hook) is not recovered: it ends the worker, the supervisor restarts it (the
workers are ``transient`` children, so that they are not restarted when they
return because the queue was shut down), and the deferred ``done`` has
already released the key.

Reconcile is level-triggered: it gets a key, not an event, and reads the
current state from the informer's store. The queue guarantees that no key is
reconciled by two workers at once; the controller checks that too, and
counts any violation (`ControllerStats.concurrent`), for the demo's proof.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gochan
from gochan import defer, recover, workqueue

from .informer import Deleted, EventHandlerFuncs
from .store import JSON, meta_namespace_key

log = logging.getLogger("k8s_watch.controller")


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for (controller-runtime's ``reconcile.Result``)."""

    requeue: bool = False
    requeue_after: float | None = None


Reconciler = Callable[[str], "Result | None"]


@dataclass(frozen=True)
class Outcome:
    """How one reconcile ended: ``ok``, ``requeue``, ``requeue_after``, ``error``, ``panic``."""

    key: str
    kind: str
    worker: int
    result: Result | None = None
    error: BaseException | None = None


@dataclass
class ControllerStats:
    started: int = 0  # reconciles begun
    reconciled: int = 0  # ended well (ok, requeue_after)
    errors: int = 0  # raised an exception
    panics: int = 0  # raised a gochan.Panic
    requeued: int = 0  # Result(requeue=True)
    requeued_after: int = 0
    worker_restarts: int = 0  # crashes outside reconcile, restarted by the supervisor
    concurrent: int = 0  # a key reconciled by two workers at once: must stay 0
    max_in_flight: int = 0


class Controller:
    """N workers reconciling keys from a rate-limited workqueue (see the module doc)."""

    def __init__(
        self,
        name: str,
        reconcile: Reconciler,
        *,
        workers: int = 2,
        queue: workqueue.Queue[str] | None = None,
        on_result: Callable[[Outcome], None] | None = None,
        max_restarts: int = 10,
        period: float = 10.0,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.name = name
        self.reconcile = reconcile
        self.workers = workers
        self.queue: workqueue.Queue[str] = queue or workqueue.Queue[str](name)
        self.on_result = on_result
        self.stats = ControllerStats()
        self.in_flight: dict[str, int] = {}  # key -> worker reconciling it
        self.supervisor = gochan.Supervisor(
            f"{name}-workers",
            max_restarts=max_restarts,
            period=period,
            backoff=0.05,
            backoff_max=1.0,
            auto_shutdown=True,
            on_report=self._on_report,
        )
        self._started = False

    def __repr__(self) -> str:
        return (
            f"<Controller {self.name!r} workers={self.workers} queued={self.queue.len()} "
            f"in_flight={len(self.in_flight)} reconciled={self.stats.reconciled}>"
        )

    # -- feeding the queue --------------------------------------------------------------------

    def enqueue(self, obj: JSON | Deleted) -> None:
        self.queue.add(meta_namespace_key(obj))

    def handler(self) -> EventHandlerFuncs:
        """An informer handler that queues the key of every added, updated or deleted object."""
        return EventHandlerFuncs(
            add=lambda obj, _initial: self.enqueue(obj),
            update=lambda _old, new: self.enqueue(new),
            delete=self.enqueue,
        )

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers under the supervisor."""
        if self._started:
            raise RuntimeError(f"controller {self.name!r} already started")
        self._started = True
        for i in range(self.workers):
            self.supervisor.add(self._worker, i, name=f"worker-{i}", restart="transient")
        self.supervisor.start()

    def stop(self, drain: bool = True) -> None:
        """Shut the queue down and wait for the workers to finish.

        With ``drain`` the keys already queued are still reconciled and
        this waits for them; without it, the workers are cancelled at once,
        a reconcile in flight included (its request may still land), and
        the queued keys are left. A controller that was never started has
        nothing to stop.
        """
        if not self._started:
            self.queue.shut_down()
            return
        if drain:
            self.queue.shut_down_with_drain()
            self.supervisor.join()
        else:
            self.queue.shut_down()
            self.supervisor.stop()

    def _on_report(self, report: gochan.PanicReport) -> None:
        if report.action == "restart":
            self.stats.worker_restarts += 1

    # -- one worker -------------------------------------------------------------------------------

    def _worker(self, wid: int) -> None:
        while self.process_next_work_item(wid):
            pass

    @gochan.func
    def process_next_work_item(self, wid: int) -> bool:
        """One key from get to done; False once the queue is shut down and empty."""
        key, shutdown = self.queue.get()
        if shutdown or key is None:
            return False
        outcomes: list[Outcome] = []
        defer(self._report, outcomes)  # last: once the key is done and the worker has left it
        defer(self.queue.done, key)
        self._enter(key, wid)
        defer(self._leave, key, wid)
        outcome = self._reconcile(key, wid)
        q = self.queue
        if outcome.kind in ("error", "panic"):
            q.add_rate_limited(key)
        elif outcome.kind == "requeue":
            self.stats.requeued += 1
            q.add_rate_limited(key)
        elif outcome.kind == "requeue_after":
            assert outcome.result is not None and outcome.result.requeue_after is not None
            self.stats.requeued_after += 1
            self.stats.reconciled += 1
            q.forget(key)
            q.add_after(key, outcome.result.requeue_after)
        else:
            self.stats.reconciled += 1
            q.forget(key)
        outcomes.append(outcome)
        return True

    def _report(self, outcomes: list[Outcome]) -> None:
        if outcomes and self.on_result is not None:
            self.on_result(outcomes[0])  # outside the recover: a crash here restarts the worker

    def _enter(self, key: str, wid: int) -> None:
        self.stats.started += 1
        if key in self.in_flight:
            self.stats.concurrent += 1
            log.error(
                "%s: %s reconciled by workers %d and %d at once",
                self.name,
                key,
                self.in_flight[key],
                wid,
            )
        self.in_flight[key] = wid
        self.stats.max_in_flight = max(self.stats.max_in_flight, len(self.in_flight))

    def _leave(self, key: str, wid: int) -> None:
        if self.in_flight.get(key) == wid:
            del self.in_flight[key]

    def _reconcile(self, key: str, wid: int) -> Outcome:
        """Call reconcile with a deferred recover: a panic becomes an outcome."""
        box = [Outcome(key, "panic", wid)]
        self._guarded(box, key, wid)
        return box[0]

    # Decorated once, here, not per call inside _reconcile: @gochan.func
    # inspects and wraps its function, which would cost every event ~50 µs.
    @gochan.func
    def _guarded(self, box: list[Outcome], key: str, wid: int) -> None:
        """Run reconcile; box[0] gets the outcome (the deferred catch sets it on a panic)."""
        defer(self._catch, box, key, wid)
        result = self.reconcile(key)
        if result is None or not (result.requeue or result.requeue_after):
            box[0] = Outcome(key, "ok", wid, result)
        elif result.requeue_after:
            box[0] = Outcome(key, "requeue_after", wid, result)
        else:
            box[0] = Outcome(key, "requeue", wid, result)

    def _catch(self, box: list[Outcome], key: str, wid: int) -> None:
        exc = sys.exception()
        if recover() is None:
            return
        is_panic = isinstance(exc, gochan.Panic)
        if is_panic:
            self.stats.panics += 1
        else:
            self.stats.errors += 1
        log.info("%s: reconcile %s failed: %r", self.name, key, exc)
        box[0] = Outcome(key, "panic" if is_panic else "error", wid, error=exc)

    def snapshot(self) -> dict[str, Any]:
        m = self.queue.metrics()
        return {
            "depth": m.depth,
            "in_flight": m.in_flight,
            "delayed": m.delayed,
            "retries": m.retries,
            "adds": m.adds,
            "reconciled": self.stats.reconciled,
            "errors": self.stats.errors + self.stats.panics,
            "concurrent": self.stats.concurrent,
        }


__all__ = ["Controller", "ControllerStats", "Outcome", "Reconciler", "Result"]
