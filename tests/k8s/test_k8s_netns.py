"""A leader cut off from the API server by a network namespace steps down in time.

k8s.md: "Testable here with several processes against one embedded
apiserver, cutting one off with a network namespace." The apiserver runs in
this process, in the root namespace, bound to one end of a veth pair; two
controller replicas run as processes with ``--leader-elect``: the first, in
a network namespace behind the other end of the pair, becomes the leader;
the second, in the root namespace, follows. Then the namespace's link goes
down. With a 3 s lease, a 2 s renew deadline and a 0.5 s retry period:

* the cut-off leader prints "stopped leading" within the renew deadline (plus
  the retry period it was waiting out) of the cut;
* only then, a lease duration after it last saw the Lease renewed, does the
  follower print "started leading";
* the new leader reconciles everything, including the writes made while
  nobody led: nothing is lost.

Each replica's output is read line by line by a thread that stamps each
line when it arrives, so the order and the delays are measured, not slept
for. Needs root (CAP_NET_ADMIN) and ``ip``; the namespace and the links are
removed in a fixture, whatever happens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import APIError, APIServer, serve  # noqa: E402
from examples.k8s_watch.convergence import check  # noqa: E402

LEASE, RENEW, RETRY = 3.0, 2.0, 0.5
LEASE_NAME = "k8s-watch-controller"
NS = f"gochan-test-{os.getpid()}"
HOST_DEV, NS_DEV = f"gcv{os.getpid() % 100000}a", f"gcv{os.getpid() % 100000}b"
HOST_IP, NS_IP = "10.213.77.1", "10.213.77.2"  # a private /30 of our own


def _ip(
    *args: str, netns: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", *args] if netns is None else ["ip", "netns", "exec", netns, "ip", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=10)


def _why_no_netns() -> str | None:
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if shutil.which("ip") is None:
        return "no `ip` command (apt-get install -y iproute2)"
    if os.geteuid() != 0:
        return "needs root (CAP_NET_ADMIN) to create a network namespace"
    probe = f"{NS}-probe"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"`ip netns add` failed: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace joined to the root one by a veth pair, removed afterwards."""
    why = _why_no_netns()
    if why is not None:
        pytest.skip(why)
    try:
        _ip("netns", "add", NS)
        _ip("link", "add", HOST_DEV, "type", "veth", "peer", "name", NS_DEV)
        _ip("link", "set", NS_DEV, "netns", NS)
        _ip("addr", "add", f"{HOST_IP}/30", "dev", HOST_DEV)
        _ip("link", "set", HOST_DEV, "up")
        _ip("addr", "add", f"{NS_IP}/30", "dev", NS_DEV, netns=NS)
        _ip("link", "set", NS_DEV, "up", netns=NS)
        _ip("link", "set", "lo", "up", netns=NS)
        yield NS
    finally:
        _ip("link", "del", HOST_DEV, check=False)  # takes its peer along
        _ip("netns", "del", NS, check=False)


class Replica:
    """A controller process whose output lines are stamped on arrival."""

    def __init__(self, name: str, cmd: list[str], log: Path) -> None:
        self.name = name
        self.log = log
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, out: IO[str]) -> None:
        with self.log.open("w") as f:
            for line in out:
                f.write(line)
                f.flush()
                with self._cond:
                    self.lines.append((time.monotonic(), line.rstrip("\n")))
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, text: str, timeout: float = 30.0, after: float = 0.0) -> float:
        """When a line containing ``text`` arrived (after ``after``); waits for it."""

        def found() -> float | None:
            return next((t for t, line in self.lines if t >= after and text in line), None)

        with self._cond:
            ok = self._cond.wait_for(
                lambda: found() is not None or not self._reader.is_alive(), timeout
            )
            t = found()
        assert ok and t is not None, f"{self.name}: no {text!r}; output:\n{self.output()}"
        return t

    def output(self) -> str:
        with self._cond:
            return "\n".join(line for _, line in self.lines[-60:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _holder(srv: APIServer) -> str:
    try:
        return str(srv.get("leases", LEASE_NAME)["spec"]["holderIdentity"])
    except APIError:
        return ""


def _wait_for_state(srv: APIServer, cond: Callable[[], bool], what: str, timeout: float) -> None:
    """Block until ``cond()`` holds, re-checked after each write to the apiserver's store."""
    changed = threading.Condition()

    def on_change(_plurals: set[str]) -> None:
        with changed:
            changed.notify_all()

    srv.store.subscribe(on_change)
    try:
        with changed:
            ok = changed.wait_for(cond, timeout)
    finally:
        srv.store._listeners.remove(on_change)  # no public unsubscribe
    assert ok, f"timed out waiting for {what}"


def pod(name: str, image: str = "a") -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": image}]}}


def test_a_leader_cut_off_by_a_network_namespace_steps_down_before_the_takeover(
    netns: str, tmp_path: Path
) -> None:
    srv = serve(HOST_IP, 0, allow_remote=True, bookmark_interval=1.0)
    replicas: dict[str, Replica] = {}
    try:
        for i in range(60):
            srv.create("pods", pod(f"p{i}"))

        def start(name: str, in_netns: bool) -> Replica:
            cmd = [
                sys.executable, "-m", "examples.k8s_watch", "--server", srv.url,
                "--leader-elect", "--identity", name, "--lease-duration", str(LEASE),
                "--renew-deadline", str(RENEW), "--retry-period", str(RETRY),
                "--timeout", "2", "--bookmark-interval", "1", "--report", "60",
                "--workers", "4",
            ]  # fmt: skip
            if in_netns:
                cmd = ["ip", "netns", "exec", netns, *cmd]
            r = Replica(name, cmd, tmp_path / f"{name}.log")
            replicas[name] = r
            return r

        leader = start("cut-off", in_netns=True)
        leader.wait_for("started leading")
        assert _holder(srv) == "cut-off"
        follower = start("follower", in_netns=False)
        follower.wait_for("leader is cut-off")
        _wait_for_state(srv, lambda: check(srv).ok, "the first leader's reconcile", 30)

        cut = time.monotonic()
        _ip("link", "set", NS_DEV, "down", netns=netns)  # the leader's only way out
        # While nobody can lead: writes that the next leader must not lose.
        for i in range(60, 80):
            srv.create("pods", pod(f"p{i}"))
        for i in range(0, 20):
            srv.patch("pods", f"p{i}", {"metadata": {"labels": {"v": "2"}}})
        for i in range(20, 40):
            srv.delete("pods", f"p{i}")

        stopped = leader.wait_for("stopped leading", after=cut)
        took_over = follower.wait_for("started leading", after=cut)
        # The leader's renew round began within a retry period (jittered) of the cut
        # and gave up a renew deadline later.
        assert stopped - cut <= RETRY * 1.2 + RENEW + 1.0, (stopped - cut, leader.output())
        # The follower waited a lease duration from the last renewal it saw (which was
        # at most a retry period before the cut): the old leader was gone by then.
        assert stopped < took_over, (stopped - cut, took_over - cut)
        assert took_over - cut >= LEASE - RETRY * 1.2, took_over - cut
        lease = srv.get("leases", LEASE_NAME)["spec"]
        assert lease["holderIdentity"] == "follower" and lease["leaseTransitions"] == 1

        _wait_for_state(srv, lambda: check(srv).ok, "the new leader's reconcile", 30)
        v = check(srv)
        assert v.pods == 60 and not v.stale and not v.leftovers, v
        assert srv.get("configmaps", "p0-info")["data"]["podResourceVersion"] == str(
            srv.get("pods", "p0")["metadata"]["resourceVersion"]
        )
        assert follower.proc.poll() is None and leader.proc.poll() is None  # both alive
        print(
            f"cut at 0: 'stopped leading' at {stopped - cut:.2f} s, "
            f"'started leading' at {took_over - cut:.2f} s"
        )
    finally:
        for r in replicas.values():
            r.stop()
        srv.close()
