"""Leader election with a ``coordination.k8s.io/v1`` Lease, as client-go does it.

Several replicas of a controller run; only the one holding the Lease runs
workers. client-go's ``tools/leaderelection`` with its defaults: a lease of
**15 s**, a renew deadline of **10 s**, a retry period of **2 s**.

- **Acquire**: every retry period (with up to 20 % jitter), read the Lease.
  If nobody holds it, or the holder has not renewed it for a whole lease
  duration *as observed locally* (the time this replica last saw the record
  change, not the ``renewTime`` written by another machine's clock), write
  ourselves in as holder with an optimistic update (a 409 Conflict means
  someone else won the race).
- **Lead**: ``on_started_leading(ctx)`` runs in its own task with a context
  that is cancelled the moment leadership is lost.
- **Renew**: every retry period, write a fresh ``renewTime``. If renewing has
  not succeeded for the renew deadline, stop leading: cancel the context and
  call ``on_stopped_leading``. Because the renew deadline (10 s) is shorter
  than the lease (15 s), the old leader has stopped before any other replica
  may take the Lease over.
- **Release**: with ``release_on_cancel``, a leader whose context is
  cancelled (a clean shutdown) hands the Lease back (empty holder, 1 s
  duration) so that another replica takes over at once instead of after 15 s.

Extras beyond client-go, for sharding and probes: ``acquire_delay`` (a
callable giving extra seconds to wait before each acquisition attempt: a
replica that already leads shards lets the others win free Leases first),
``last_contact`` (when a Lease read last succeeded: a follower that keeps
reading it is healthy) and ``leader_task`` (the task running
``on_started_leading``, to join after `run` returns). The retry jitter's
``rng``, when not given, is seeded from the gochan scheduler's own (so a
``gochan.run(..., seed=N)`` on the virtual clock replays the same waits).

The lock is a `LeaseLock` over the `Client`, or anything with the same three
methods (`fake.MemoryLease` in tests).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import gochan
from gochan import context
from gochan._runtime.threads import peek_scheduler  # no public accessor for the seeded rng
from gochan.context import Context

from .store import JSON
from .transport import LEASES, APIStatusError, Client, TransportError, is_not_found

log = logging.getLogger("k8s_watch.leaderelection")

LEASE_DURATION = 15.0
RENEW_DEADLINE = 10.0
RETRY_PERIOD = 2.0
JITTER_FACTOR = 1.2  # client-go's JitterFactor: waits are retry_period * [1, 1.2)


def _default_rng() -> random.Random:
    """The jitter's rng when none is given: under gochan, one seeded from the
    scheduler's rng (so a run with ``seed=`` on the virtual clock replays the
    same waits); outside any scheduler, an unseeded one."""
    sched = peek_scheduler()  # never creates a scheduler
    if sched is None:
        return random.Random()
    return random.Random(sched.rng.getrandbits(64))


def micro_time(t: float) -> str:
    """A ``metav1.MicroTime``: RFC 3339 with microseconds, UTC."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaderElectionRecord:
    """The Lease's spec, as client-go's ``resourcelock.LeaderElectionRecord``."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: str = ""
    renew_time: str = ""
    lease_transitions: int = 0

    @classmethod
    def from_lease(cls, lease: JSON) -> LeaderElectionRecord:
        spec = lease.get("spec") or {}
        return cls(
            holder_identity=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=str(spec.get("acquireTime") or ""),
            renew_time=str(spec.get("renewTime") or ""),
            lease_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def spec(self) -> JSON:
        spec: JSON = {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "leaseTransitions": self.lease_transitions,
        }
        if self.acquire_time:
            spec["acquireTime"] = self.acquire_time
        if self.renew_time:
            spec["renewTime"] = self.renew_time
        return spec


class Lock(Protocol):
    """client-go's ``resourcelock.Interface``, reduced: get, create, update."""

    identity: str

    def get(self) -> LeaderElectionRecord | None:
        """The current record, or None if the Lease does not exist."""
        ...

    def create(self, record: LeaderElectionRecord) -> None: ...

    def update(self, record: LeaderElectionRecord) -> None:
        """Write over the record last read by `get`; 409 if it changed since."""
        ...


class LeaseLock:
    """A `Lock` on a ``coordination.k8s.io/v1`` Lease through a `Client`."""

    def __init__(self, client: Client, name: str, namespace: str, identity: str) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self._lease: JSON | None = None

    def __repr__(self) -> str:
        return f"<LeaseLock {self.namespace}/{self.name} as {self.identity!r}>"

    def get(self) -> LeaderElectionRecord | None:
        try:
            self._lease = self.client.get(LEASES, self.name, self.namespace)
        except APIStatusError as e:
            if is_not_found(e):
                self._lease = None
                return None
            raise
        return LeaderElectionRecord.from_lease(self._lease)

    def create(self, record: LeaderElectionRecord) -> None:
        body = {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": record.spec(),
        }
        self._lease = self.client.create(LEASES, body, self.namespace)

    def update(self, record: LeaderElectionRecord) -> None:
        if self._lease is None:
            raise RuntimeError("update() before get()")
        body = {**self._lease, "spec": record.spec()}  # carries the resourceVersion read
        self._lease = self.client.update(LEASES, body, self.namespace)


@dataclass
class ElectionStats:
    attempts: int = 0
    acquired: int = 0
    renewals: int = 0
    failures: int = 0
    lost: int = 0
    released: int = 0


class LeaderElector:
    """Run ``on_started_leading(ctx)`` while this replica holds the Lease.

    `run(ctx)` blocks: it acquires, leads, renews, and returns when
    leadership is lost or ``ctx`` is cancelled (after ``on_stopped_leading``).
    Run it again to stand for election again.
    """

    def __init__(
        self,
        lock: Lock,
        *,
        on_started_leading: Callable[[Context], Any],
        on_stopped_leading: Callable[[], Any] | None = None,
        on_new_leader: Callable[[str], Any] | None = None,
        lease_duration: float = LEASE_DURATION,
        renew_deadline: float = RENEW_DEADLINE,
        retry_period: float = RETRY_PERIOD,
        release_on_cancel: bool = True,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        name: str = "leader-election",
        acquire_delay: Callable[[], float] | None = None,
    ) -> None:
        if not lease_duration > renew_deadline > JITTER_FACTOR * retry_period > 0:
            raise ValueError(
                "need lease_duration > renew_deadline > 1.2 * retry_period > 0 (client-go's rule)"
            )
        self.lock = lock
        self.identity = lock.identity
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_cancel = release_on_cancel
        self.wall_clock = wall_clock
        self.rng = rng if rng is not None else _default_rng()
        self.name = name
        self.stats = ElectionStats()
        self.observed: LeaderElectionRecord | None = None
        self.observed_time = 0.0  # local monotonic time of the last change seen
        self._reported_leader = ""
        self._attempt: gochan.Task | None = None
        self.acquire_delay = acquire_delay
        self.last_contact: float | None = None  # monotonic time of the last successful read
        self.leader_task: gochan.Task | None = None

    def __repr__(self) -> str:
        return f"<LeaderElector {self.identity!r} leader={self.get_leader()!r}>"

    def is_leader(self) -> bool:
        return self.observed is not None and self.observed.holder_identity == self.identity

    def get_leader(self) -> str:
        return self.observed.holder_identity if self.observed is not None else ""

    # -- the loop ---------------------------------------------------------------------------

    def run(self, ctx: Context) -> None:
        """Acquire, lead, renew; return when leadership is lost or ``ctx`` is done."""
        if not self._acquire(ctx):
            return
        lead_ctx, cancel = context.with_cancel(ctx)
        leader_task = gochan.go(self.on_started_leading, lead_ctx)
        leader_task.name = f"{self.name}/leading"
        self.leader_task = leader_task
        try:
            self._renew(ctx)
        finally:
            cancel()
            if self.release_on_cancel and ctx.err() is not None:
                self._release()
            if self.on_stopped_leading is not None:
                self.on_stopped_leading()

    def _wait(self, ctx: Context, seconds: float) -> bool:
        """Sleep ``seconds``; False if ``ctx`` ended first."""
        timer = gochan.Timer(seconds)
        try:
            i, _ = gochan.select(timer.c.recv, ctx.done().recv)
        finally:
            timer.stop()
        return i == 0

    def _jittered(self) -> float:
        return self.retry_period * (1 + (JITTER_FACTOR - 1) * self.rng.random())

    def _acquire(self, ctx: Context) -> bool:
        """Try every retry period (jittered) until we hold the Lease."""
        while ctx.err() is None:
            extra = self.acquire_delay() if self.acquire_delay is not None else 0.0
            if extra > 0 and not self._wait(ctx, extra):
                break
            if self._try_bounded(ctx, self.renew_deadline):
                self.stats.acquired += 1
                log.info("%s: acquired lease as %s", self.name, self.identity)
                return True
            if not self._wait(ctx, self._jittered()):
                break
        return False

    def _renew(self, ctx: Context) -> None:
        """Renew every retry period; return when a renew round misses the deadline.

        A round starts with an attempt and retries every retry period; if no
        attempt has succeeded when ``renew_deadline`` has passed since the
        round began, leadership is lost (client-go's renew loop).
        """
        while True:
            if not self._wait(ctx, self.retry_period):
                return
            deadline = gochan.monotonic() + self.renew_deadline
            while True:
                left = deadline - gochan.monotonic()
                if left <= 0:
                    self.stats.lost += 1
                    log.warning(
                        "%s: %s failed to renew the lease within %g s: leadership lost",
                        self.name,
                        self.identity,
                        self.renew_deadline,
                    )
                    self.observed = None
                    return
                if self._try_bounded(ctx, left):
                    self.stats.renewals += 1
                    break
                if ctx.err() is not None:
                    return
                left = deadline - gochan.monotonic()
                if left > 0 and not self._wait(ctx, min(self.retry_period, left)):
                    return

    def _try_bounded(self, ctx: Context, budget: float) -> bool:
        """`try_acquire_or_renew` in a task, given up after ``budget`` seconds.

        The API calls wait in `gochan.blocking` and cannot be interrupted;
        a deadline must not wait for a hung request, so the attempt runs in
        its own task and we stop waiting for it.
        """
        result: gochan.Chan[bool] = gochan.Chan(1)
        self._wait_attempt(budget)  # one attempt at a time, even an abandoned one

        def attempt() -> None:
            try:
                ok = self.try_acquire_or_renew()
            except Exception as e:  # an API or transport error: this attempt failed
                self.stats.failures += 1
                log.info("%s: %s: lease update failed: %s", self.name, self.identity, e)
                ok = False
            result.send(ok)

        self._attempt = gochan.go(attempt)
        self._attempt.name = f"{self.name}/attempt"
        timer = gochan.Timer(budget)
        try:
            i, ok = gochan.select(result.recv, timer.c.recv, ctx.done().recv)
        finally:
            timer.stop()
        return i == 0 and bool(ok)

    def _wait_attempt(self, budget: float) -> bool:
        """Wait (up to ``budget``) for an attempt still in flight; True if none is."""
        t = self._attempt
        if t is None or t.done():
            return True
        try:
            t.join(budget)
        except TimeoutError:
            return False
        return True

    def try_acquire_or_renew(self) -> bool:
        """One round of client-go's ``tryAcquireOrRenew``; True if we hold the Lease."""
        self.stats.attempts += 1
        now = self.wall_clock()
        record = LeaderElectionRecord(
            holder_identity=self.identity,
            lease_duration_seconds=max(1, round(self.lease_duration)),
            acquire_time=micro_time(now),
            renew_time=micro_time(now),
        )
        old = self.lock.get()
        self.last_contact = gochan.monotonic()
        if old is None:
            self.lock.create(record)
            self._observe(record)
            return True
        if old != self.observed:
            self._observe(old)
        held_by_other = (
            old.holder_identity != ""
            and old.holder_identity != self.identity
            and self.observed_time + self.lease_duration > gochan.monotonic()
        )
        if held_by_other:
            return False
        if old.holder_identity == self.identity:
            record = replace(
                record, acquire_time=old.acquire_time, lease_transitions=old.lease_transitions
            )
        else:
            record = replace(record, lease_transitions=old.lease_transitions + 1)
        self.lock.update(record)  # 409 if someone else wrote first
        self._observe(record)
        return True

    def _observe(self, record: LeaderElectionRecord) -> None:
        self.observed = record
        self.observed_time = gochan.monotonic()
        holder = record.holder_identity
        if holder and holder != self._reported_leader:
            self._reported_leader = holder
            if self.on_new_leader is not None:
                self.on_new_leader(holder)

    def _release(self) -> None:
        """Hand the Lease back: empty holder, 1 s duration (client-go's release).

        An attempt abandoned when the context ended may still be writing;
        it is waited for first, or the release would race it into a 409. The
        release has the renew deadline to get through.
        """
        if not self.is_leader() or self.observed is None:
            return
        budget = self.renew_deadline
        start = gochan.monotonic()
        if not self._wait_attempt(budget):
            return
        now = self.wall_clock()
        record = LeaderElectionRecord(
            holder_identity="",
            lease_duration_seconds=1,
            acquire_time=micro_time(now),
            renew_time=micro_time(now),
            lease_transitions=self.observed.lease_transitions,
        )
        done: gochan.Chan[bool] = gochan.Chan(1)

        def release() -> None:
            ok = False
            for _ in range(2):  # once more after a conflict
                try:
                    current = self.lock.get()
                    if current is None or current.holder_identity != self.identity:
                        break  # not ours any more: nothing to release
                    self.lock.update(record)
                    ok = True
                    break
                except (APIStatusError, TransportError) as e:
                    log.info("%s: could not release the lease: %s", self.name, e)
            done.send(ok)

        # The caller's context is done; the release gets its own deadline.
        gochan.go(release).name = f"{self.name}/release"
        timer = gochan.Timer(max(0.0, budget - (gochan.monotonic() - start)))
        try:
            i, ok = gochan.select(done.recv, timer.c.recv)
        finally:
            timer.stop()
        if i == 0 and ok:
            self.stats.released += 1
            self.observed = record


__all__ = [
    "LEASE_DURATION",
    "RENEW_DEADLINE",
    "RETRY_PERIOD",
    "ElectionStats",
    "LeaderElectionRecord",
    "LeaderElector",
    "LeaseLock",
    "Lock",
    "micro_time",
]
