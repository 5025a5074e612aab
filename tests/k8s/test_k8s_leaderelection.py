"""Leader election with a Lease: client-go's 15 s / 10 s / 2 s, and what they guarantee.

On the virtual clock with an in-memory Lease the timings are exact: renewals
every 2 s, a cut-off leader stepping down 10 s after its last renewal, a
follower taking over 15 s after it last saw the Lease change, so there is
never a moment with two leaders. Against the embedded apiserver, with the
durations scaled down, the real ``coordination.k8s.io/v1`` Lease changes
hands when the leader crashes or releases it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import gochan
from gochan import context
from gochan.context import Context
from gochan.testing import VirtualClockFixture

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import APIError, APIServer, serve  # noqa: E402
from examples.k8s_watch.fake import MemoryLease  # noqa: E402
from examples.k8s_watch.leaderelection import LeaderElector, LeaseLock, Lock  # noqa: E402
from examples.k8s_watch.reconcile import configmap_name, desired_data  # noqa: E402
from examples.k8s_watch.transport_green import GreenClient  # noqa: E402


@pytest.fixture
def vrun(virtual_clock: VirtualClockFixture) -> Callable[[Callable[[], Any]], Any]:
    return virtual_clock.run


Log = list[tuple[float, str, str]]


class Replica:
    """One candidate: its elector, its own context, and a log of when it led."""

    def __init__(self, lock: Lock, log: list[tuple[float, str, str]], **options: Any) -> None:
        self.log = log
        self.ctx, self.cancel = context.with_cancel(context.background())
        self.leading = False
        self.elector = LeaderElector(
            lock,
            on_started_leading=self._lead,
            on_stopped_leading=self._stop,
            **options,
        )
        self.task: gochan.Task | None = None

    @property
    def name(self) -> str:
        return self.elector.identity

    def _lead(self, ctx: Context) -> None:
        self.leading = True
        self.log.append((round(gochan.monotonic(), 3), self.name, "start"))
        ctx.done().recv()  # "run the workers" until leadership ends

    def _stop(self) -> None:
        self.leading = False
        self.log.append((round(gochan.monotonic(), 3), self.name, "stop"))

    def start(self) -> Replica:
        self.task = gochan.go(self.elector.run, self.ctx)
        return self

    def stop(self) -> None:
        self.cancel()
        if self.task is not None:
            self.task.join()


def never_two_leaders(log: list[tuple[float, str, str]]) -> None:
    """Replay the log (in the order it was written): at most one leader at a time."""
    leading: set[str] = set()
    for _, who, what in log:
        if what == "start":
            assert not leading, f"{who} started while {leading} led: {log}"
            leading.add(who)
        else:
            leading.discard(who)


def test_a_lone_candidate_acquires_and_renews_every_retry_period(
    vrun: Callable[..., Any],
) -> None:
    def main() -> None:
        lease, log = MemoryLease(), Log()
        a = Replica(lease.lock("a"), log).start()
        gochan.sleep(9)
        assert log == [(0, "a", "start")]
        times = [t for t, who in lease.writes if who == "a"]
        assert times == [0, 2, 4, 6, 8]
        assert lease.record is not None and lease.record.lease_duration_seconds == 15
        assert a.elector.is_leader() and a.elector.get_leader() == "a"
        a.stop()
        assert log[-1] == (9, "a", "stop")
        assert lease.record.holder_identity == ""  # released on cancel

    vrun(main)


def test_a_cut_off_leader_steps_down_before_anyone_takes_over(
    vrun: Callable[..., Any],
) -> None:
    def main() -> None:
        lease, log = MemoryLease(), Log()
        locks = [lease.lock(n) for n in ("a", "b", "c")]
        replicas = [Replica(lk, log).start() for lk in locks]
        gochan.sleep(5)
        leader = next(r for r in replicas if r.leading)
        others = [r for r in replicas if r is not leader]
        last_renewal = max(t for t, who in lease.writes if who == leader.name)
        locks[replicas.index(leader)].cut = True  # partitioned from the API server
        gochan.sleep(40)
        stop = next(t for t, who, what in log if who == leader.name and what == "stop")
        new = next(t for t, who, what in log if what == "start" and who != leader.name)
        # The old leader gave up 10 s after the round it could not renew began
        # (2 s after its last renewal). A follower saw that renewal at its next
        # poll (up to one jittered retry period, 2.4 s, later), waited 15 s
        # from then, and took over at the next poll after that (another 2.4 s
        # at most): client-go measures the lease from the observed change.
        assert stop == pytest.approx(last_renewal + 2 + 10, abs=0.01)
        assert last_renewal + 15 <= new <= last_renewal + 2.4 + 15 + 2.4 + 0.01
        assert stop < new
        never_two_leaders(log)
        assert lease.record is not None and lease.record.lease_transitions == 1
        assert sum(r.leading for r in others) == 1
        for r in replicas:
            r.stop()

    vrun(main)


def test_release_on_cancel_hands_over_at_once(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        lease, log = MemoryLease(), Log()
        a = Replica(lease.lock("a"), log).start()
        gochan.sleep(1)
        b = Replica(lease.lock("b"), log).start()
        gochan.sleep(10)
        a.stop()  # a clean shutdown: the lease is released
        gochan.sleep(3)
        assert [(who, what) for _, who, what in log] == [
            ("a", "start"),
            ("a", "stop"),
            ("b", "start"),
        ]
        took_over = log[-1][0]
        assert 11 < took_over <= 11 + 2.4  # within one retry period, not 15 s
        b.stop()
        never_two_leaders(log)

    vrun(main)


def test_a_crashed_leader_is_replaced_after_the_lease_duration(
    vrun: Callable[..., Any],
) -> None:
    def main() -> None:
        lease, log = MemoryLease(), Log()
        a = Replica(lease.lock("a"), log, release_on_cancel=False).start()
        gochan.sleep(1)
        b = Replica(lease.lock("b"), log).start()
        gochan.sleep(4.5)
        a.stop()  # a crash: nothing released; its last renewal was at t=4
        gochan.sleep(30)
        start_b = next(t for t, who, what in log if who == "b" and what == "start")
        # b saw the renewal of t=4 at its next poll, 4 < t <= 4 + 2.4
        assert 4 + 15 < start_b <= 4 + 2.4 + 15 + 2.4
        b.stop()

    vrun(main)


def test_simultaneous_candidates_elect_exactly_one(vrun: Callable[..., Any]) -> None:
    def main() -> None:
        lease, log = MemoryLease(), Log()
        replicas = [Replica(lease.lock(f"r{i}"), log).start() for i in range(5)]
        gochan.sleep(30)
        assert sum(r.leading for r in replicas) == 1
        assert len([e for e in log if e[2] == "start"]) == 1
        for r in replicas:
            r.stop()

    vrun(main)


def test_durations_must_nest() -> None:
    lease = MemoryLease()
    with pytest.raises(ValueError):
        LeaderElector(lease.lock("a"), on_started_leading=print, renew_deadline=20)
    with pytest.raises(ValueError):
        LeaderElector(lease.lock("a"), on_started_leading=print, retry_period=9)


# ---- the real Lease on the embedded apiserver ---------------------------------------------------


@pytest.fixture
def srv() -> Iterator[APIServer]:
    with serve() as s:
        yield s


FAST = {"lease_duration": 1.5, "renew_deadline": 1.0, "retry_period": 0.1}


def _until(cond: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = gochan.monotonic() + timeout
    while not cond():
        assert gochan.monotonic() < deadline, f"timed out waiting for {what}"
        gochan.sleep(0.01)


def test_three_replicas_on_a_real_lease_the_leader_crashes(srv: APIServer) -> None:
    log: list[tuple[float, str, str]] = []

    def main() -> None:
        client = GreenClient(srv.url, timeout=2)
        replicas = [
            Replica(
                LeaseLock(client, "k8s-watch", "default", f"replica-{i}"),
                log,
                release_on_cancel=False,
                **FAST,
            ).start()
            for i in range(3)
        ]
        _until(lambda: any(r.leading for r in replicas), "a leader")
        first = next(r for r in replicas if r.leading)
        lease = srv.get("leases", "k8s-watch")
        assert lease["spec"]["holderIdentity"] == first.name
        assert lease["spec"]["leaseDurationSeconds"] == 2  # 1.5 s, rounded as int seconds
        assert lease["spec"]["renewTime"].endswith("Z") and "." in lease["spec"]["renewTime"]
        crashed_at = gochan.monotonic()
        first.stop()  # crash: no release
        _until(lambda: any(r.leading for r in replicas if r is not first), "a new leader")
        assert gochan.monotonic() - crashed_at >= 1.0  # it waited for the lease to run out
        lease = srv.get("leases", "k8s-watch")
        second = next(r for r in replicas if r.leading)
        assert lease["spec"]["holderIdentity"] == second.name
        assert lease["spec"]["leaseTransitions"] == 1
        for r in replicas:
            r.stop()
        client.close()

    gochan.run(main)
    never_two_leaders(log)


def test_a_clean_shutdown_releases_the_real_lease(srv: APIServer) -> None:
    def main() -> None:
        log: list[tuple[float, str, str]] = []
        client = GreenClient(srv.url, timeout=2)
        a = Replica(LeaseLock(client, "k8s-watch", "default", "a"), log, **FAST).start()
        _until(lambda: a.leading, "a leads")
        b = Replica(LeaseLock(client, "k8s-watch", "default", "b"), log, **FAST).start()
        gochan.sleep(0.3)
        assert not b.leading
        released_at = gochan.monotonic()
        a.stop()
        assert srv.get("leases", "k8s-watch")["spec"]["holderIdentity"] == ""
        _until(lambda: b.leading, "b takes over")
        assert gochan.monotonic() - released_at < 1.0  # not a whole lease duration
        b.stop()
        client.close()
        never_two_leaders(log)

    gochan.run(main)


# ---- three replica processes -------------------------------------------------------------------


def _converged(srv: APIServer) -> bool:
    pods = {p["metadata"]["name"]: p for p in srv.objects("pods")}
    cms = {c["metadata"]["name"]: c for c in srv.objects("configmaps")}
    return all(
        (cms.get(configmap_name(n)) or {}).get("data") == desired_data(p) for n, p in pods.items()
    ) and all(n.removesuffix("-info") in pods for n in cms)


def _wait(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _holder(srv: APIServer) -> str:
    try:
        return str(srv.get("leases", "k8s-watch-controller")["spec"]["holderIdentity"])
    except APIError:
        return ""


def test_three_replica_processes_the_leader_is_killed_and_nothing_is_lost(
    srv: APIServer, tmp_path: Path
) -> None:
    for i in range(100):
        srv.create(
            "pods",
            {"metadata": {"name": f"p{i}"}, "spec": {"containers": [{"name": "c", "image": "a"}]}},
        )
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, Path] = {}
    try:
        for i in range(3):
            name = f"replica-{i}"
            logs[name] = tmp_path / f"{name}.log"
            with logs[name].open("wb") as out:
                procs[name] = subprocess.Popen(
                    [
                        sys.executable, "-m", "examples.k8s_watch", "--server", srv.url,
                        "--leader-elect", "--identity", name, "--lease-duration", "1.5",
                        "--renew-deadline", "1.0", "--retry-period", "0.1",
                        "--bookmark-interval", "60", "--report", "0.5", "--workers", "8",
                    ],
                    cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
        _wait(lambda: _holder(srv) in procs, "a leader")
        _wait(lambda: _converged(srv), "the first leader's reconcile")
        leader = _holder(srv)
        procs[leader].kill()  # SIGKILL: no release, no goodbye
        procs[leader].wait()
        for i in range(100, 150):
            srv.create(
                "pods",
                {
                    "metadata": {"name": f"p{i}"},
                    "spec": {"containers": [{"name": "c", "image": "a"}]},
                },
            )
        for i in range(0, 30):
            srv.patch("pods", f"p{i}", {"metadata": {"labels": {"v": "2"}}})
        for i in range(30, 60):
            srv.delete("pods", f"p{i}")
        _wait(lambda: _holder(srv) not in ("", leader), "a new leader")
        new = _holder(srv)
        try:
            _wait(lambda: _converged(srv), "the new leader's reconcile")
        except AssertionError:
            print({n: f.read_text()[-3000:] for n, f in logs.items()})  # the replicas' logs
            raise
        assert srv.get("leases", "k8s-watch-controller")["spec"]["leaseTransitions"] == 1
        text = logs[new].read_text()
        assert f"{new}: started leading" in text, text
        for name, p in procs.items():
            if name != leader:
                assert p.poll() is None, logs[name].read_text()  # alive and well
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            p.wait(10)


def test_the_default_jitter_replays_with_the_scheduler_seed() -> None:
    """No rng given: the elector's jitter comes from the seeded scheduler, so a
    virtual-clock run with the same seed makes the same Lease writes at the same times."""

    def main() -> list[tuple[float, str]]:
        lease, log = MemoryLease(), Log()
        locks = [lease.lock(n) for n in ("a", "b", "c")]
        replicas = [Replica(lk, log).start() for lk in locks]
        gochan.sleep(5)
        for lk in locks:  # a partition: everyone's retries run on the jitter
            lk.cut = True
        gochan.sleep(20)
        for lk in locks:
            lk.cut = False
        gochan.sleep(20)
        for r in replicas:
            r.stop()
        return [(round(t, 6), who) for t, who in lease.writes]

    runs = [VirtualClockFixture(seed=s).run(main) for s in (5, 5, 6)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
