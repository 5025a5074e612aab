"""Sharding: FNV-1a 64, the hash ranges, the client-side filter, the apiserver's
``shardSelector`` (list and watch), and replicas sharing four shards through
four Leases, one of them crashing.
"""

from __future__ import annotations

import doctest
import itertools
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import gochan
from gochan import context

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch import fnv, shard  # noqa: E402
from examples.k8s_watch.apiserver import APIError, APIServer, ManualClock, serve  # noqa: E402
from examples.k8s_watch.apiserver import sharding as server_sharding  # noqa: E402
from examples.k8s_watch.apiserver.resources import CONFIGMAPS as SERVER_CONFIGMAPS  # noqa: E402
from examples.k8s_watch.fnv import SPACE, fnv1a_64  # noqa: E402
from examples.k8s_watch.informer import EventHandlerFuncs, Informer  # noqa: E402
from examples.k8s_watch.reconcile import configmap_name, desired_data, owner_uid  # noqa: E402
from examples.k8s_watch.shard import (  # noqa: E402
    Shard,
    ShardedReplica,
    run_for,
    shard_of,
    shard_range,
    shard_selector,
)
from examples.k8s_watch.transport import PODS, APIStatusError  # noqa: E402
from examples.k8s_watch.transport_green import GreenClient  # noqa: E402

# ---- FNV-1a 64 ---------------------------------------------------------------------------------

# Go's hash/fnv golden values for New64a, and the FNV reference's "foobar".
VECTORS = {
    b"": 0xCBF29CE484222325,
    b"a": 0xAF63DC4C8601EC8C,
    b"ab": 0x089C4407B545986A,
    b"abc": 0xE71FA2190541574B,
    b"foobar": 0x85944171F73967E8,
}


@pytest.mark.parametrize("data", list(VECTORS))
def test_fnv1a_64_known_vectors(data: bytes) -> None:
    assert fnv1a_64(data) == VECTORS[data]
    assert fnv1a_64(data.decode()) == VECTORS[data]


def test_client_and_server_share_one_hash() -> None:
    """One copy: the apiserver's shardSelector and the client's filter cannot disagree."""
    assert server_sharding.fnv1a_64 is fnv1a_64
    assert server_sharding.SPACE == SPACE == 1 << 64


@pytest.mark.parametrize("module", [fnv, shard, server_sharding])
def test_module_doctests(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


# ---- ranges -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 16, 17, 1000, 1024])
def test_ranges_cover_the_space_without_overlap(n: int) -> None:
    ranges = [shard_range(i, n) for i in range(n)]
    assert ranges[0][0] == 0
    assert ranges[-1][1] == SPACE
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert end == start  # contiguous: no gap, no overlap
    assert all(s < e for s, e in ranges)
    rng = random.Random(n)
    probes = [0, SPACE - 1] + [rng.randrange(SPACE) for _ in range(200)]
    probes += [s for s, _ in ranges] + [e - 1 for _, e in ranges]
    for h in probes:
        owners = [i for i, (s, e) in enumerate(ranges) if s <= h < e]
        assert owners == [shard_of(h, n)]


def test_shard_range_rejects_bad_indices() -> None:
    with pytest.raises(ValueError):
        shard_range(4, 4)
    with pytest.raises(ValueError):
        Shard(0, 0)


def test_selectors_are_the_keps_wire_format_and_the_server_parses_them() -> None:
    assert shard_selector(0, 2) == (
        "shardRange(object.metadata.uid, '0x0000000000000000', '0x8000000000000000')"
    )
    assert shard_selector(1, 2) == (
        "shardRange(object.metadata.uid, '0x8000000000000000', '0x10000000000000000')"
    )
    assert shard_selector(2, 4) == (
        "shardRange(object.metadata.uid, '0x8000000000000000', '0xc000000000000000')"
    )
    for n in (1, 3, 4):
        for i in range(n):
            sel = server_sharding.parse_shard_selector(shard_selector(i, n))
            assert [(r.field, r.start, r.end) for r in sel.ranges] == [
                ("object.metadata.uid", *shard_range(i, n))
            ]
    either = server_sharding.parse_shard_selector(
        "shardRange(object.metadata.uid, '0x0', '0x4000000000000000') || "
        'shardRange(object.metadata.namespace, "0xc000000000000000", "0x10000000000000000")'
    )
    assert len(either.ranges) == 2
    for bad in (
        "shardRange(metadata.uid, '0x0', '0x1')",  # the fieldSelector form
        "shardRange(object.metadata.name, '0x0', '0x1')",  # not a supported field
        "shardRange(object.metadata.uid, '0x10', '0x1')",  # empty range
        "shardRange(object.metadata.uid, '0x0', '0x10000000000000001')",  # beyond 2^64
        "shardRange(object.metadata.uid, 0x0, 0x1)",  # unquoted
        "shardRange(object.metadata.uid, '0x0', '0x1') && true",
    ):
        with pytest.raises(server_sharding.ShardSelectorError):
            server_sharding.parse_shard_selector(bad)


# ---- the client-side filter -------------------------------------------------------------------


def _pod(name: str, uid: str, rv: str = "1") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "uid": uid, "resourceVersion": rv}}


def _cm(pod: str, owner: str, rv: str = "1") -> dict[str, Any]:
    return {
        "metadata": {
            "name": configmap_name(pod),
            "namespace": "default",
            "resourceVersion": rv,
            "uid": f"cm-{pod}-{owner}",
            "ownerReferences": [{"kind": "Pod", "name": pod, "uid": owner, "controller": True}],
        },
        "data": {},
    }


def test_every_uid_is_owned_by_exactly_one_shard() -> None:
    shards = [Shard(i, 4) for i in range(4)]
    rng = random.Random(4)
    uids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(400)]
    counts: Counter[int] = Counter()
    for uid in uids:
        owners = [s.index for s in shards if s.owns(_pod("p", uid))]
        assert owners == [shard_of(fnv1a_64(uid), 4)]
        counts[owners[0]] += 1
        assert [s.index for s in shards if s.owns_configmap(_cm("p", uid))] == owners
    assert len(counts) == 4 and min(counts.values()) > 60  # roughly even, for random uids
    # FNV-1a spreads the *high* bits poorly over keys that differ only at the end:
    # fine for uids (random UUIDs), not for names like these (why uid is the key).
    assert len({shard_of(fnv1a_64(f"uid-{i}"), 4) for i in range(400)}) == 1
    assert not any(s.owns_configmap({"metadata": {"name": "x-info"}}) for s in shards)
    assert Shard(0, 1).owns({"metadata": {}}) and Shard(0, 1).owns_configmap({"metadata": {}})
    assert owner_uid(_cm("p", "u")) == "u"


def _uid_in(shard: Shard, prefix: str) -> str:
    return next(f"{prefix}{i}" for i in range(10_000) if shard.holds(f"{prefix}{i}"))


def test_the_informer_drops_other_shards_before_the_queue() -> None:
    mine, other = Shard(0, 2), Shard(1, 2)

    def main() -> None:
        seen: list[tuple[str, str]] = []
        inf = Informer(lw=None, filter=mine.owns_configmap)  # type: ignore[arg-type]
        lst = inf.add_event_handler(
            EventHandlerFuncs(
                add=lambda o, _i: seen.append(("add", o["metadata"]["name"])),
                update=lambda _o, n: seen.append(("update", n["metadata"]["name"])),
                delete=lambda o: seen.append(("delete", o["metadata"]["name"])),
            )
        )
        a, b = _uid_in(mine, "a"), _uid_in(other, "b")
        inf.replace([_cm("p1", a), _cm("p2", b)], "10")
        inf.add(_cm("p3", b, "11"))  # another shard's: never stored, never delivered
        inf.update(_cm("p1", a, "12"))
        inf.delete(_cm("p3", b, "13"))
        inf.update(_cm("p1", b, "14"))  # its owner moved to the other shard: a delete for us
        inf.update(_cm("p2", a, "15"))  # ... and this one moved in: an add
        for n in list(lst.buffer):
            lst._dispatch(n)
        assert seen == [
            ("add", "p1-info"),
            ("update", "p1-info"),
            ("delete", "p1-info"),
            ("add", "p2-info"),
        ]
        assert [o["metadata"]["name"] for o in inf.store.list()] == ["p2-info"]
        assert inf.store.resource_version == "15"
        assert inf.counts["filtered"] == 4

    gochan.run(main)


# ---- the apiserver's shardSelector -----------------------------------------------------------


@pytest.fixture
def srv() -> Iterator[APIServer]:
    with serve(clock=ManualClock()) as s:
        yield s


def _mkpods(srv: APIServer, n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        srv.create(
            "pods",
            {"metadata": {"name": f"p{i}"}, "spec": {"containers": [{"name": "c", "image": "a"}]}},
        )
        for i in range(start, start + n)
    ]


def _in_shard(objs: list[dict[str, Any]], shard: Shard) -> set[str]:
    return {o["metadata"]["name"] for o in objs if shard.owns(o)}


def test_list_with_shard_selector_returns_the_shard_and_echoes_it(srv: APIServer) -> None:
    _mkpods(srv, 60)
    everything = srv.objects("pods")

    def main() -> None:
        client = GreenClient(srv.url, timeout=5)
        try:
            names: list[set[str]] = []
            for i in range(4):
                sel = shard_selector(i, 4)
                got = client.list(PODS, "default", shardSelector=sel)
                assert got["metadata"]["shardInfo"] == {"selector": sel}
                page = {o["metadata"]["name"] for o in got["items"]}
                assert page == _in_shard(everything, Shard(i, 4))
                # paged, and across namespaces, the same
                paged: set[str] = set()
                cont = None
                while True:
                    part = client.list(PODS, None, shardSelector=sel, limit=5, continue_=cont)
                    paged |= {o["metadata"]["name"] for o in part["items"]}
                    cont = part["metadata"].get("continue")
                    if not cont:
                        break
                assert paged == page
                names.append(page)
            assert set().union(*names) == {f"p{i}" for i in range(60)}
            assert sum(map(len, names)) == 60  # disjoint
            plain = client.list(PODS, "default")
            assert "shardInfo" not in plain["metadata"]
            with pytest.raises(APIStatusError) as e:
                client.list(PODS, "default", shardSelector="shardRange(metadata.uid,'0','1')")
            assert e.value.code == 400
            # combined with a label selector
            srv.patch("pods", "p0", {"metadata": {"labels": {"x": "y"}}})
            p0 = srv.get("pods", "p0")
            owner = next(i for i in range(4) if Shard(i, 4).owns(p0))
            for i in range(4):
                got = client.list(
                    PODS, "default", shardSelector=shard_selector(i, 4), labelSelector="x=y"
                )
                assert [o["metadata"]["name"] for o in got["items"]] == (
                    ["p0"] if i == owner else []
                )
        finally:
            client.close()

    gochan.run(main)


def test_watch_with_shard_selector_sees_only_its_shard(srv: APIServer) -> None:
    _mkpods(srv, 5)
    start_rv = str(srv.store.rv)
    created = _mkpods(srv, 40, start=5)
    for i in range(5, 15):
        srv.patch("pods", f"p{i}", {"metadata": {"labels": {"v": "2"}}})
    for i in range(15, 25):
        srv.delete("pods", f"p{i}")
    shard = Shard(1, 3)
    ours = {o["metadata"]["name"] for o in created if shard.owns(o)}
    assert ours and len(ours) < 40
    want = [("ADDED", f"p{i}") for i in range(5, 45) if f"p{i}" in ours]
    want += [("MODIFIED", f"p{i}") for i in range(5, 15) if f"p{i}" in ours]
    want += [("DELETED", f"p{i}") for i in range(15, 25) if f"p{i}" in ours]

    def main() -> list[tuple[str, str]]:
        client = GreenClient(srv.url, timeout=5)
        try:
            stream = client.watch(
                PODS,
                "default",
                resourceVersion=start_rv,
                timeoutSeconds=30,
                shardSelector=shard.selector(),
            )
            srv.wait_for_watchers(1)
            srv.clock.advance(60)  # after the replay, the stream times out: a clean end
            out = []
            for item in stream:
                if isinstance(item, dict):
                    out.append((item["type"], item["object"]["metadata"]["name"]))
                else:
                    assert item.error is None
            return out
        finally:
            client.close()

    assert gochan.run(main) == want


# ---- replicas over four shards ------------------------------------------------------------------

FAST = {"lease_duration": 1.5, "renew_deadline": 1.0, "retry_period": 0.1}


def _until(cond: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = gochan.monotonic() + timeout
    while not cond():
        assert gochan.monotonic() < deadline, f"timed out waiting for {what}"
        gochan.sleep(0.02)


def _converged(srv: APIServer) -> bool:
    pods = {p["metadata"]["name"]: p for p in srv.objects("pods")}
    cms = {c["metadata"]["name"]: c for c in srv.objects("configmaps")}
    return all(
        (cms.get(configmap_name(n)) or {}).get("data") == desired_data(p) for n, p in pods.items()
    ) and all(n.removesuffix("-info") in pods for n in cms)


def _holders(srv: APIServer, shards: int) -> list[str]:
    out = []
    for i in range(shards):
        try:
            out.append(
                srv.get("leases", f"k8s-watch-controller-shard-{i}")["spec"]["holderIdentity"]
            )
        except APIError:
            out.append("")
    return out


@pytest.fixture
def live() -> Iterator[APIServer]:
    with serve() as s:
        yield s


def test_three_replicas_four_shards_exactly_once_and_a_crash_moves_shards(
    live: APIServer,
) -> None:
    srv = live
    _mkpods(srv, 60)
    writes: list[tuple[str, str, str, str]] = []  # (replica, action, key, podResourceVersion)

    def main() -> None:
        clients, replicas, cancels, tasks = [], [], [], []
        for r in range(3):
            name = f"replica-{r}"
            client = GreenClient(srv.url, timeout=5)
            rep = ShardedReplica(
                client,
                "default",
                shards=4,
                identity=name,
                release_on_cancel=False,  # a cancel is a crash: nothing handed back
                workers=4,
                server_side=r != 0,  # replica-0 filters client-side only: both must agree
                on_write=lambda action, key, data, who=name: writes.append(
                    (who, action, key, data.get("podResourceVersion", ""))
                ),
                rng=random.Random(r),
                **FAST,
            )
            ctx, cancel = context.with_cancel(context.background())
            clients.append(client)
            replicas.append(rep)
            cancels.append(cancel)
            tasks.append(run_for(ctx, rep))

        def led() -> dict[int, list[str]]:
            by: dict[int, list[str]] = {i: [] for i in range(4)}
            for rep in replicas:
                for i in rep.leading():
                    by[i].append(rep.identity)
            return by

        def all_led(alive: list[ShardedReplica]) -> bool:
            by = led()
            return all(len(v) == 1 for v in by.values()) and all(
                h in {a.identity for a in alive} for h in _holders(srv, 4)
            )

        def synced(alive: list[ShardedReplica]) -> bool:
            return all(rep.ready(gochan.monotonic())[0] for rep in alive)

        try:
            _until(lambda: all_led(replicas) and synced(replicas), "every shard led")
            _until(lambda: _converged(srv), "the first reconcile")
            checkpoint = {p["metadata"]["name"]: p for p in srv.objects("pods")}
            for i in range(0, 20):
                srv.patch("pods", f"p{i}", {"metadata": {"labels": {"v": "2"}}})
            _until(lambda: _converged(srv), "the patches")
            checkpoints = [checkpoint, {p["metadata"]["name"]: p for p in srv.objects("pods")}]

            # The replica leading the most shards crashes.
            victim = max(replicas, key=lambda rep: len(rep.leading()))
            lost = victim.leading()
            assert lost
            v = replicas.index(victim)
            cancels[v]()
            tasks[v].join()
            crashed_at = len(writes)
            alive = [rep for rep in replicas if rep is not victim]
            for i in range(60, 75):
                _mkpods(srv, 1, start=i)
            for i in range(20, 35):
                srv.patch("pods", f"p{i}", {"metadata": {"labels": {"v": "3"}}})
            for i in range(35, 50):
                srv.delete("pods", f"p{i}")
            _until(lambda: all_led(alive) and synced(alive), "the lost shards taken over")
            _until(lambda: _converged(srv), "convergence after the crash")
            checkpoints.append({p["metadata"]["name"]: p for p in srv.objects("pods")})
            assert not [w for w in writes[crashed_at:] if w[0] == victim.identity]
            holders = _holders(srv, 4)
            assert victim.identity not in holders
            for i in lost:
                assert (
                    srv.get("leases", f"k8s-watch-controller-shard-{i}")["spec"]["leaseTransitions"]
                    >= 1
                )
        finally:
            for c in cancels:
                c()
            for t in tasks:
                t.join()
            for c in clients:
                c.close()

        # Exactly once per version, as the API server saw the writes.
        events, _, horizon = srv.store.events_since(SERVER_CONFIGMAPS, 0, 1_000_000)
        assert horizon <= 10_000  # nothing compacted away
        per_version = Counter(
            (e.obj["metadata"]["name"], e.obj["data"]["podResourceVersion"])
            for e in events
            if e.type in ("ADDED", "MODIFIED")
        )
        assert max(per_version.values()) == 1, [k for k, n in per_version.items() if n > 1]
        for cp in checkpoints:
            for name, pod in cp.items():
                rv = pod["metadata"]["resourceVersion"]
                assert per_version[(configmap_name(name), rv)] == 1, (name, rv)
        deleted = Counter(e.obj["metadata"]["name"] for e in events if e.type == "DELETED")
        assert deleted == Counter(configmap_name(f"p{i}") for i in range(35, 50))
        # ... and by exactly one replica: each write a replica reports, one replica
        # reports. (A crash can cut a write off after the server applied it and before
        # the replica heard back: that one the server counts and nobody reports.)
        reported = Counter((key, rv) for _, action, key, rv in writes if action != "delete")
        assert max(reported.values()) == 1
        assert {(configmap_name(k.split("/")[1]), rv) for k, rv in reported} <= set(per_version)
        assert len(per_version) - len(reported) <= 4 * len(lost)  # the victim's in-flight
        for cm in srv.objects("configmaps"):
            pod = srv.get("pods", cm["metadata"]["name"].removesuffix("-info"))
            assert owner_uid(cm) == pod["metadata"]["uid"]

    gochan.run(main)


# ---- three replica processes over four shards ---------------------------------------------------


def _wait(cond: Callable[[], bool], what: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_three_replica_processes_four_shards_one_killed(live: APIServer, tmp_path: Path) -> None:
    srv = live
    _mkpods(srv, 80)
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
                        "--leader-elect", "--shards", "4", "--shard-filter", "server",
                        "--identity", name, "--lease-duration", "1.5", "--renew-deadline",
                        "1.0", "--retry-period", "0.1", "--report", "1", "--workers", "4",
                    ],
                    cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
        _wait(lambda: all(h in procs for h in _holders(srv, 4)), "every shard led")
        _wait(lambda: _converged(srv), "the first reconcile")
        holders = _holders(srv, 4)
        victim = Counter(holders).most_common(1)[0][0]
        procs[victim].kill()  # SIGKILL: no release
        procs[victim].wait()
        _mkpods(srv, 20, start=80)
        for i in range(0, 20):
            srv.patch("pods", f"p{i}", {"metadata": {"labels": {"v": "2"}}})
        for i in range(20, 40):
            srv.delete("pods", f"p{i}")
        _wait(
            lambda: all(h in procs and h != victim for h in _holders(srv, 4)),
            "the victim's shards taken over",
        )
        try:
            _wait(lambda: _converged(srv), "convergence after the kill")
        except AssertionError:
            print({n: f.read_text()[-3000:] for n, f in logs.items()})
            raise
        for name, p in procs.items():
            if name != victim:
                assert p.poll() is None, logs[name].read_text()
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            p.wait(10)
    # SIGTERM is a clean stop: the survivors released their Leases.
    assert all(h in ("", victim) for h in _holders(srv, 4)), _holders(srv, 4)
