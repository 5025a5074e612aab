"""Sharding: keys split by hash range across replicas, one Lease per shard.

Throughput scale-out for the controller. The key space is the 64-bit
FNV-1a hash of each pod's ``metadata.uid`` (what the apiserver's
``shardSelector`` hashes, KEP-5866, alpha in Kubernetes 1.36). With N
shards, shard ``i`` owns the hash range ``[i * 2^64 // N, (i+1) * 2^64 // N)``:
the ranges are contiguous, disjoint and cover the space, so every pod
belongs to exactly one shard, for its whole life (a uid never changes).

Each replica runs one `LeaderElector` per shard, on the Lease
``<lease-name>-shard-<i>``, and for every shard it leads, a whole
`PodConfigMaps` of its own (informers, queue, workers), started when the
Lease is won and stopped when it is lost. So a shard is processed by at
most one replica at a time, with the leader-election guarantee (the old
holder stops before anyone may take over), and a replica's crash hands its
shards to the others once their Leases run out.

A shard's controller is the plain one with filters (`shard_controller`):

- **pods**: only the shard's. With ``server_side`` the LIST and WATCH carry
  ``shardSelector`` (the apiserver filters: less traffic, less decoding);
  the client-side `Shard.owns` filter always runs too, in the informer,
  so a server that ignores the parameter (an older cluster, the feature gate
  off) costs bandwidth, never correctness.
- **ConfigMaps**: the managed ones whose owner pod (``ownerReferences``
  uid) is in the shard, client-side (the server can only hash a
  ConfigMap's own uid or namespace). The reconciler deletes only what this
  cache holds, so a shard never deletes another shard's ConfigMap.

A replica that **loses** a shard stops that shard's controller at once: the
queued keys are dropped (a request already sent may still land); the next
holder lists the shard from scratch and reconciles every key in it
(level-triggered: nothing is lost, and work already done is found done).

Balancing is best effort: electors start at random points of the first
retry period, and a replica that leads ``k`` shards waits ``k`` retry
periods more before each attempt on a free Lease, so replicas with fewer
shards tend to win. client-go has no balancing at all; nothing here depends
on it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import gochan
from gochan.context import Context

from .fnv import SPACE, fnv1a_64
from .leaderelection import (
    LEASE_DURATION,
    RENEW_DEADLINE,
    RETRY_PERIOD,
    LeaderElector,
    LeaseLock,
)
from .reconcile import PodConfigMaps, Writes, owner_uid, pod_uid
from .reflector import Backoff
from .store import JSON
from .transport import Client

log = logging.getLogger("k8s_watch.shard")

UID_FIELD = "object.metadata.uid"


def shard_range(index: int, count: int) -> tuple[int, int]:
    """``[start, end)`` of shard ``index`` of ``count``.

    >>> [f"{s:#x}" for s in shard_range(1, 4)]
    ['0x4000000000000000', '0x8000000000000000']
    """
    if not 0 <= index < count:
        raise ValueError(f"shard index {index} not in 0..{count - 1}")
    return index * SPACE // count, (index + 1) * SPACE // count


def shard_of(h: int, count: int) -> int:
    """The shard whose range holds hash ``h``.

    >>> shard_of(0, 3), shard_of((1 << 64) - 1, 3)
    (0, 2)
    """
    if not 0 <= h < SPACE:
        raise ValueError(f"hash {h} outside [0, 2^64)")
    i = h * count // SPACE
    while h >= (i + 1) * SPACE // count:
        i += 1
    while h < i * SPACE // count:
        i -= 1
    return i


def shard_selector(index: int, count: int, field: str = UID_FIELD) -> str:
    """The ``shardSelector`` of one shard (the KEP's wire format).

    >>> shard_selector(3, 4)
    "shardRange(object.metadata.uid, '0xc000000000000000', '0x10000000000000000')"
    """
    start, end = shard_range(index, count)
    return f"shardRange({field}, '0x{start:016x}', '0x{end:016x}')"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``: its hash range and the client-side filter."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("a shard count must be >= 1")
        shard_range(self.index, self.count)  # checks the index

    @property
    def range(self) -> tuple[int, int]:
        return shard_range(self.index, self.count)

    def selector(self) -> str:
        return shard_selector(self.index, self.count)

    def holds(self, value: str) -> bool:
        start, end = self.range
        return start <= fnv1a_64(value) < end

    def owns(self, obj: JSON) -> bool:
        """The filter for pods: ``metadata.uid`` hashes into this shard."""
        return self.count == 1 or self.holds(pod_uid(obj))

    def owns_configmap(self, obj: JSON) -> bool:
        """The filter for managed ConfigMaps: their owner pod's uid is in this shard.

        A ConfigMap without a Pod owner reference belongs to no shard (this
        controller always writes one): no replica touches it.
        """
        if self.count == 1:
            return True
        uid = owner_uid(obj)
        return bool(uid) and self.holds(uid)

    def lease_name(self, base: str) -> str:
        return base if self.count == 1 else f"{base}-shard-{self.index}"


def shard_controller(
    client: Client, namespace: str | None, shard: Shard, *, server_side: bool = False, **kw: Any
) -> PodConfigMaps:
    """`PodConfigMaps` for one shard: its informers filtered to the shard
    (``server_side``: the pods' LIST and WATCH also carry its ``shardSelector``)."""
    if shard.count == 1:
        return PodConfigMaps(client, namespace, **kw)
    return PodConfigMaps(
        client,
        namespace,
        tag=f"-shard-{shard.index}",
        pod_filter=shard.owns,
        configmap_filter=shard.owns_configmap,
        shard_selector=shard.selector() if server_side else None,
        **kw,
    )


# ---- one replica: an elector per shard ------------------------------------------------------


@dataclass
class ShardState:
    shard: Shard
    elector: LeaderElector | None = None
    controller: PodConfigMaps | None = None
    leading: bool = False
    acquired: int = 0


@dataclass(repr=False, eq=False)
class ShardedReplica:
    """One replica: for each shard, stand for its Lease and run it while leading.

    Without ``leader_elect`` (only meaningful with one shard, or in tests)
    every shard runs here unconditionally. ``make_controller(shard)`` builds
    what runs for a shard (`shard_controller`); ``say`` gets one line per event.
    `run(ctx)` returns when ``ctx`` is done, after every shard stopped.
    """

    client: Client
    namespace: str | None
    _: KW_ONLY
    shards: int = 1
    identity: str = "replica"
    leader_elect: bool = True
    lease_name: str = "k8s-watch-controller"
    lease_namespace: str = "default"
    lease_duration: float = LEASE_DURATION
    renew_deadline: float = RENEW_DEADLINE
    retry_period: float = RETRY_PERIOD
    release_on_cancel: bool = True
    workers: int = 16
    bookmark_interval: float = 60.0
    server_side: bool = False
    on_write: Writes | None = None
    say: Callable[[str], None] | None = None
    rng: random.Random = field(default_factory=random.Random)
    backoff: Backoff | None = None
    states: list[ShardState] = field(init=False)
    started_at: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.states = [ShardState(Shard(i, self.shards)) for i in range(self.shards)]

    def _say(self, text: str) -> None:
        if self.say is not None:
            self.say(text)
        else:
            log.info("%s: %s", self.identity, text)

    def __repr__(self) -> str:
        return f"<ShardedReplica {self.identity!r} leading={self.leading()}>"

    def leading(self) -> list[int]:
        return [s.shard.index for s in self.states if s.leading]

    def make_controller(self, shard: Shard) -> PodConfigMaps:
        """What runs for a shard while this replica leads it."""
        return shard_controller(
            self.client,
            self.namespace,
            shard,
            server_side=self.server_side,
            workers=self.workers,
            bookmark_interval=self.bookmark_interval,
            backoff=self.backoff,
            on_write=self.on_write,
        )

    # -- running ------------------------------------------------------------------------------

    def run(self, ctx: Context) -> None:
        self.started_at = gochan.monotonic()
        tasks = [gochan.go(self._run_shard, ctx, st) for st in self.states]
        for t in tasks:
            t.join()

    def _label(self, st: ShardState) -> str:
        return "" if st.shard.count == 1 else f" shard {st.shard.index}"

    def _lead(self, ctx: Context, st: ShardState) -> None:
        """Run the shard's controller until ``ctx`` ends (leadership lost or shutdown)."""
        st.leading = True
        st.acquired += 1
        self._say(f"started leading{self._label(st)}")
        c = self.make_controller(st.shard)
        st.controller = c
        try:
            c.start()
            ctx.done().recv()
        finally:
            c.stop()  # no drain: the queued keys are the next leader's
            st.controller = None
            st.leading = False

    def _run_shard(self, ctx: Context, st: ShardState) -> None:
        if not self.leader_elect:
            self._lead(ctx, st)
            return
        lock = LeaseLock(
            self.client, st.shard.lease_name(self.lease_name), self.lease_namespace, self.identity
        )
        label = self._label(st)
        st.elector = LeaderElector(
            lock,
            on_started_leading=lambda lctx: self._lead(lctx, st),
            on_stopped_leading=lambda: self._say(f"stopped leading{label}"),
            on_new_leader=lambda who: self._say(f"leader{label} is {who}"),
            lease_duration=self.lease_duration,
            renew_deadline=self.renew_deadline,
            retry_period=self.retry_period,
            release_on_cancel=self.release_on_cancel,
            acquire_delay=self._acquire_delay if st.shard.count > 1 else None,
            rng=random.Random(self.rng.random()),
            name=f"leader-election{label.replace(' ', '-')}",
        )
        if st.shard.count > 1:  # spread the first attempts over a retry period
            timer = gochan.Timer(self.rng.random() * self.retry_period)
            try:
                gochan.select(timer.c.recv, ctx.done().recv)
            finally:
                timer.stop()
        while ctx.err() is None:  # stand again after losing the Lease
            st.elector.run(ctx)
            t = st.elector.leader_task
            if t is not None:  # the shard's controller has stopped before we stand again
                t.join()

    def _acquire_delay(self) -> float:
        return len(self.leading()) * self.retry_period

    # -- health -------------------------------------------------------------------------------

    def ready(self, now: float) -> tuple[bool, str]:
        """Readiness (see health.py): synced where leading, in touch with the API."""
        why: list[str] = []
        for st in self.states:
            c = st.controller
            if st.leading and c is not None:
                if not c.synced():
                    why.append(f"shard {st.shard.index}: caches not synced")
            elif not self.leader_elect:
                why.append(f"shard {st.shard.index}: not started")
        if self.leader_elect:
            limit = self.lease_duration
            for st in self.states:
                e = st.elector
                seen = e.last_contact if e is not None else None
                if seen is None:
                    if now - self.started_at > limit:
                        why.append(f"shard {st.shard.index}: Lease never read")
                elif now - seen > limit:
                    why.append(
                        f"shard {st.shard.index}: no Lease read for {now - seen:.1f} s "
                        f"(> lease duration {limit:g} s)"
                    )
        return not why, "; ".join(why) or f"ok, leading shards {self.leading()}"

    def snapshot(self) -> list[tuple[int, PodConfigMaps]]:
        return [(s.shard.index, s.controller) for s in self.states if s.controller is not None]


def run_for(ctx: Context, replica: ShardedReplica) -> gochan.Task:
    """Start ``replica.run(ctx)`` in its own task."""
    t = gochan.go(replica.run, ctx)
    t.name = f"replica/{replica.identity}"
    return t


__all__ = [
    "UID_FIELD",
    "Shard",
    "ShardState",
    "ShardedReplica",
    "run_for",
    "shard_controller",
    "shard_of",
    "shard_range",
    "shard_selector",
]
