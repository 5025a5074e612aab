"""Real clients against the embedded apiserver, unmodified.

The official ``kubernetes`` package lists with paging, creates, replaces,
patches and deletes, and runs ``watch.Watch().stream`` through resumes,
bookmarks, timeouts, 410s and torn streams; ``kubectl`` gets, watches
(``get pods -w``), applies and deletes with a generated kubeconfig. Time-driven
behaviour runs on the server's ``ManualClock``; nothing sleeps.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, watch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import APIServer, ManualClock, serve  # noqa: E402
from examples.k8s_watch.apiserver.client import request  # noqa: E402


def pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def srv(clock: ManualClock) -> Iterator[APIServer]:
    with serve(clock=clock, bookmark_interval=10.0) as s:
        yield s


@pytest.fixture
def api(srv: APIServer) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    cfg.host = srv.url
    cfg.api_key = {"authorization": "anything-goes"}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    c = client.ApiClient(cfg)
    yield c
    c.close()


@pytest.fixture
def v1(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


def names(items: list[Any]) -> list[str]:
    return [i.metadata.name for i in items]


def api_error(e: client.ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(e.body)
    return body


# ---- the kubernetes client: REST -----------------------------------------------------------


def test_list_with_paging(srv: APIServer, v1: client.CoreV1Api) -> None:
    for i in range(12):
        v1.create_namespaced_pod("default", pod(f"p{i:02d}"))
    first = v1.list_namespaced_pod("default", limit=5)
    assert len(first.items) == 5 and first.metadata.remaining_item_count == 7
    seen, cont = names(first.items), first.metadata._continue
    v1.create_namespaced_pod("default", pod("late"))  # not in the snapshot being paged
    while cont:
        page = v1.list_namespaced_pod("default", limit=5, _continue=cont)
        assert page.metadata.resource_version == first.metadata.resource_version
        seen += names(page.items)
        cont = page.metadata._continue
    assert seen == [f"p{i:02d}" for i in range(12)]
    everything = v1.list_pod_for_all_namespaces()
    assert len(everything.items) == 13 and everything.kind == "PodList"


def test_create_replace_patch_delete(v1: client.CoreV1Api) -> None:
    created = v1.create_namespaced_pod("default", pod("a", {"app": "web"}))
    assert created.metadata.uid and created.status.phase == "Pending"
    created.metadata.labels["tier"] = "fe"
    replaced = v1.replace_namespaced_pod("a", "default", created)
    assert replaced.metadata.labels == {"app": "web", "tier": "fe"}
    with pytest.raises(client.ApiException) as stale:
        v1.replace_namespaced_pod("a", "default", created)  # created's RV is stale now
    assert stale.value.status == 409 and api_error(stale.value)["reason"] == "Conflict"
    patched = v1.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"tier": None}}})
    assert patched.metadata.labels == {"app": "web"}
    patched = v1.patch_namespaced_pod(
        "a", "default", [{"op": "replace", "path": "/metadata/labels/app", "value": "api"}]
    )
    assert patched.metadata.labels == {"app": "api"}
    status = v1.patch_namespaced_pod_status("a", "default", {"status": {"phase": "Running"}})
    assert status.status.phase == "Running"
    running = v1.list_namespaced_pod("default", field_selector="status.phase=Running")
    assert names(running.items) == ["a"]
    deleted = v1.delete_namespaced_pod("a", "default")
    assert deleted.metadata.name == "a"
    with pytest.raises(client.ApiException) as missing:
        v1.read_namespaced_pod("a", "default")
    assert missing.value.status == 404 and api_error(missing.value)["reason"] == "NotFound"
    with pytest.raises(client.ApiException) as exists:
        v1.create_namespaced_pod("default", pod("b"))
        v1.create_namespaced_pod("default", pod("b"))
    assert exists.value.status == 409 and api_error(exists.value)["reason"] == "AlreadyExists"


def test_configmaps_and_leases(api: client.ApiClient, v1: client.CoreV1Api) -> None:
    cm = v1.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"k": "v"}})
    cm.data["k"] = "w"
    assert v1.replace_namespaced_config_map("c", "default", cm).data == {"k": "w"}
    status = v1.delete_namespaced_config_map("c", "default")
    assert status["kind"] == "Status" and status["status"] == "Success"
    leases = client.CoordinationV1Api(api)
    lease = leases.create_namespaced_lease(
        "kube-system",
        {
            "metadata": {"name": "leader"},
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
        },
    )
    lease.spec.holder_identity = "b"
    taken = leases.replace_namespaced_lease("leader", "kube-system", lease)
    assert taken.spec.holder_identity == "b"
    with pytest.raises(client.ApiException) as lost:
        leases.replace_namespaced_lease("leader", "kube-system", lease)
    assert lost.value.status == 409
    assert names(leases.list_lease_for_all_namespaces().items) == ["leader"]


def test_errors_with_retry_after(srv: APIServer, api: client.ApiClient) -> None:
    # urllib3 under the client obeys Retry-After on a 429 by itself (it sleeps and retries);
    # with retries off, the caller sees the 429 and the header.
    cfg = client.Configuration()
    cfg.host, cfg.retries = srv.url, 0
    with client.ApiClient(cfg) as no_retries:
        srv.fail_requests(429, retry_after=2)
        with pytest.raises(client.ApiException) as e:
            client.CoreV1Api(no_retries).list_namespaced_pod("default")
    assert e.value.status == 429 and e.value.headers["Retry-After"] == "2"
    v1 = client.CoreV1Api(api)
    assert v1.list_namespaced_pod("default").items == []
    with pytest.raises(client.ApiException) as bad:
        v1.list_namespaced_pod("default", label_selector="a in (b")
    assert bad.value.status == 400 and api_error(bad.value)["reason"] == "BadRequest"


# ---- the kubernetes client: watch ----------------------------------------------------------


def test_watch_resumes_from_a_resource_version(srv: APIServer, v1: client.CoreV1Api) -> None:
    v1.create_namespaced_pod("default", pod("before"))
    rv = v1.list_namespaced_pod("default").metadata.resource_version
    v1.create_namespaced_pod("default", pod("a"))
    v1.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"x": "1"}}})
    v1.delete_namespaced_pod("a", "default")
    w = watch.Watch()
    seen = []
    for event in w.stream(v1.list_namespaced_pod, "default", resource_version=rv):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    assert w.resource_version == str(srv.resource_version)


def test_watch_live_events(srv: APIServer, v1: client.CoreV1Api) -> None:
    def writer() -> None:
        srv.wait_for_watchers(1)
        for i in range(3):
            srv.create("pods", pod(f"live{i}"))

    t = threading.Thread(target=writer)
    t.start()
    try:
        w = watch.Watch()
        got = []
        for event in w.stream(
            v1.list_namespaced_pod, "default", resource_version=str(srv.resource_version)
        ):
            got.append(event["object"].metadata.name)
            if len(got) == 3:
                w.stop()
    finally:
        t.join()
    assert got == ["live0", "live1", "live2"]


def test_watch_timeout_ends_the_stream(
    srv: APIServer, v1: client.CoreV1Api, clock: ManualClock
) -> None:
    rv = str(srv.resource_version)
    srv.create("pods", pod("a"))
    srv.create("pods", pod("b"))
    stream = watch.Watch().stream(
        v1.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=30
    )
    first = next(stream)
    clock.advance(30)  # the stream is open (it sent an event): now it times out
    rest = list(stream)  # ends: with timeout_seconds the client does not re-watch
    assert [first["object"].metadata.name] + [e["object"].metadata.name for e in rest] == ["a", "b"]


def test_watch_bookmarks(srv: APIServer, v1: client.CoreV1Api, clock: ManualClock) -> None:
    rv = str(srv.resource_version)
    srv.create("pods", pod("a"))
    w = watch.Watch()
    stream = w.stream(
        v1.list_namespaced_pod,
        "default",
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=300,
    )
    assert next(stream)["type"] == "ADDED"
    srv.create("configmaps", {"metadata": {"name": "elsewhere"}})
    clock.advance(10)
    bookmark = next(stream)
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["raw_object"]["metadata"]["resourceVersion"] == str(srv.resource_version)
    assert w.resource_version == str(srv.resource_version)  # the client resumes from it
    clock.advance(300)
    assert list(stream) == []


def test_watch_list_initial_events(srv: APIServer, v1: client.CoreV1Api) -> None:
    srv.create("pods", pod("a"))
    srv.create("pods", pod("b"))
    w = watch.Watch()
    events = []
    for event in w.stream(
        v1.list_namespaced_pod,
        "default",
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        allow_watch_bookmarks=True,
    ):
        events.append(event)
        if event["type"] == "BOOKMARK":
            w.stop()
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    annotations = events[-1]["raw_object"]["metadata"]["annotations"]
    assert annotations == {"k8s.io/initial-events-end": "true"}


def test_watch_with_selectors(srv: APIServer, v1: client.CoreV1Api) -> None:
    rv = str(srv.resource_version)
    srv.create("pods", pod("a", {"app": "web"}))
    srv.create("pods", pod("b", {"app": "db"}))
    srv.patch("pods", "b", {"metadata": {"labels": {"app": "web"}}})
    w = watch.Watch()
    got = []
    for e in w.stream(
        v1.list_namespaced_pod, "default", resource_version=rv, label_selector="app=web"
    ):
        got.append((e["type"], e["object"].metadata.name))
        if len(got) == 2:
            w.stop()
    assert got == [("ADDED", "a"), ("ADDED", "b")]


def test_410_with_a_timeout_raises(srv: APIServer, v1: client.CoreV1Api) -> None:
    rv = str(srv.resource_version)
    srv.create("pods", pod("a"))
    srv.compact()
    with pytest.raises(client.ApiException) as gone:
        list(
            watch.Watch().stream(
                v1.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=5
            )
        )
    assert gone.value.status == 410 and "Expired" in gone.value.reason


def test_410_client_trap_retries_the_same_expired_rv_once(
    srv: APIServer, v1: client.CoreV1Api
) -> None:
    rv = str(srv.resource_version)
    srv.create("pods", pod("a"))
    srv.compact()
    with pytest.raises(client.ApiException) as gone:
        list(watch.Watch().stream(v1.list_namespaced_pod, "default", resource_version=rv))
    assert gone.value.status == 410
    # k8s.md's known trap: the official client re-watches once with the same expired RV
    # and never relists; the reflector in this example relists instead.
    assert srv.counters["verb_watch"] == 2


def test_expired_mid_stream(srv: APIServer, v1: client.CoreV1Api) -> None:
    rv = str(srv.resource_version)
    srv.create("pods", pod("a"))
    stream = watch.Watch().stream(
        v1.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=300
    )
    assert next(stream)["type"] == "ADDED"
    assert srv.expire_watches() == 1
    with pytest.raises(client.ApiException) as gone:
        next(stream)
    assert gone.value.status == 410


def test_torn_stream_is_a_protocol_error(srv: APIServer, v1: client.CoreV1Api) -> None:
    rv = str(srv.resource_version)
    srv.create("pods", pod("a"))
    stream = watch.Watch().stream(
        v1.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=300
    )
    assert next(stream)["type"] == "ADDED"
    assert srv.tear_watches() == 1
    with pytest.raises(urllib3.exceptions.ProtocolError):
        next(stream)


def test_clean_end_makes_the_client_rewatch_from_its_last_rv(
    srv: APIServer, v1: client.CoreV1Api
) -> None:
    rv = str(srv.resource_version)
    srv.create("pods", pod("a"))
    w = watch.Watch()
    stream = w.stream(v1.list_namespaced_pod, "default", resource_version=rv)
    assert next(stream)["object"].metadata.name == "a"
    assert srv.end_watches() == 1
    srv.create("pods", pod("b"))
    assert next(stream)["object"].metadata.name == "b"  # from a new watch, resumed at a's RV
    stream.close()
    assert srv.counters["verb_watch"] == 2


def test_trickled_events_decode(srv: APIServer, v1: client.CoreV1Api) -> None:
    rv = str(srv.resource_version)
    for i in range(5):
        srv.create("pods", pod(f"p{i}"))
    srv.trickle_watches(chunk_bytes=5)
    w = watch.Watch()
    got = []
    for e in w.stream(v1.list_namespaced_pod, "default", resource_version=rv):
        got.append(e["object"].metadata.name)
        if len(got) == 5:
            w.stop()
    assert got == [f"p{i}" for i in range(5)]


# ---- kubectl ---------------------------------------------------------------------------------


def read_lines(proc: subprocess.Popen[bytes], n: int, timeout: float = 20.0) -> list[str]:
    """``n`` lines of a subprocess's stdout, waiting at most ``timeout`` seconds."""
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while buf.count(b"\n") < n:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; got {buf!r}"
            if sel.select(left):
                data = proc.stdout.read()
                assert data, f"kubectl exited; got {buf!r}"
                buf += data
    return buf.decode().splitlines()


def test_kubectl_get_and_describe_versions(srv: APIServer, kubectl: Any) -> None:
    srv.create("pods", pod("web"))
    srv.create("pods", pod("db"), namespace="data")
    out = kubectl("get", "pods", "-A").stdout.splitlines()
    assert out[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [line.split()[:4] for line in out[1:]] == [
        ["data", "db", "0/1", "Pending"],
        ["default", "web", "0/1", "Pending"],
    ]
    assert "Server Version: v1.37.0-gochan" in kubectl("version").stdout
    resources = kubectl("api-resources").stdout
    assert "leases" in resources and "coordination.k8s.io/v1" in resources
    got = json.loads(kubectl("get", "pod", "web", "-o", "json").stdout)
    assert got["kind"] == "Pod" and got["metadata"]["name"] == "web"
    missing = kubectl("get", "pod", "nope", check=False)
    assert missing.returncode == 1 and 'pods "nope" not found' in missing.stderr
    srv.create("leases", {"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}})
    assert kubectl("get", "leases").stdout.splitlines()[1].split()[:2] == ["l", "me"]


def test_kubectl_version_is_within_the_supported_skew(srv: APIServer, kubectl: Any) -> None:
    """The server's version is one the bundled kubectl supports (its minor, one either
    side): ``kubectl version`` prints no skew warning. If this fails after kubectl moved
    on, move ``VERSION_INFO`` in resources.py with it."""
    proc = kubectl("version", "-o", "json")
    versions = json.loads(proc.stdout)
    client, server = versions["clientVersion"], versions["serverVersion"]
    assert server["gitVersion"] == "v1.37.0-gochan"
    skew = abs(int(client["minor"].rstrip("+")) - int(server["minor"]))
    assert client["major"] == server["major"] == "1"
    assert skew <= 1, f"kubectl {client['gitVersion']} against server {server['gitVersion']}"
    plain = kubectl("version")
    for out in (proc.stderr, plain.stdout, plain.stderr):
        assert "version difference" not in out and "skew" not in out, out


def test_kubectl_get_pods_watch(srv: APIServer, kubectl: Any) -> None:
    srv.create("pods", pod("first"))
    with subprocess.Popen(
        [*kubectl.base, "get", "pods", "-w"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        try:
            header, first = read_lines(proc, 2)
            assert header.split()[:3] == ["NAME", "READY", "STATUS"]
            assert first.split()[0] == "first"
            srv.wait_for_watchers(1, timeout=20)
            srv.create("pods", pod("second"))
            srv.delete("pods", "first")
            lines = read_lines(proc, 2)
            assert [line.split()[0] for line in lines] == ["second", "first"]
        finally:
            proc.kill()
            proc.communicate(timeout=10)


def test_kubectl_apply_and_delete(srv: APIServer, kubectl: Any, tmp_path: Path) -> None:
    manifest = tmp_path / "pod.yaml"
    spec = """apiVersion: v1
kind: Pod
metadata:
  name: applied
  labels: {app: demo}
spec:
  containers:
  - name: web
    image: nginx:1.25
"""
    manifest.write_text(spec)
    assert "pod/applied created" in kubectl("apply", "-f", str(manifest)).stdout
    assert "pod/applied unchanged" in kubectl("apply", "-f", str(manifest)).stdout
    manifest.write_text(spec + "    env:\n    - name: MODE\n      value: fast\n")
    assert "pod/applied configured" in kubectl("apply", "-f", str(manifest)).stdout
    applied = srv.get("pods", "applied")
    assert applied["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "fast"}]
    assert "kubectl.kubernetes.io/last-applied-configuration" in applied["metadata"]["annotations"]
    kubectl("label", "pod", "applied", "tier=fe")
    assert srv.get("pods", "applied")["metadata"]["labels"] == {"app": "demo", "tier": "fe"}
    assert 'pod "applied" deleted' in kubectl("delete", "-f", str(manifest)).stdout
    assert srv.objects("pods") == []


def test_python_dash_m_runs_the_server(tmp_path: Path, kubectl_path: str) -> None:
    config = tmp_path / "kubeconfig"
    cmd = [sys.executable, "-m", "examples.k8s_watch.apiserver", "--kubeconfig", str(config)]
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            (line,) = read_lines(proc, 1)
            assert line.startswith("listening on http://127.0.0.1:")
            url = line.split()[-1]
            assert request(url, "GET", "/healthz").body == b"ok"
            base = [kubectl_path, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "c")]
            out = subprocess.run([*base, "get", "pods"], capture_output=True, text=True, timeout=30)
            assert out.returncode == 0 and "No resources found" in out.stderr
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


# ---- request_latency and the loop ----------------------------------------------------------


def test_request_latency_delays_every_answer_and_changes_nothing_else() -> None:
    with serve(request_latency=0.05, backend="asyncio") as s:  # on gochan's asyncio backend
        assert s.backend == "asyncio"
        t0 = time.monotonic()
        created = request(s.url, "POST", "/api/v1/namespaces/default/pods", pod("slow"))
        got = request(s.url, "GET", "/api/v1/namespaces/default/pods/slow")
        elapsed = time.monotonic() - t0
    assert created.status == 201 and got.status == 200
    assert got.json()["metadata"]["name"] == "slow"
    assert elapsed >= 2 * 0.05  # each of the two requests waited its latency


@pytest.mark.parametrize("bad", [-0.001, float("nan")])
def test_request_latency_must_be_a_non_negative_number(bad: float) -> None:
    with pytest.raises(ValueError, match="request_latency must be a number of seconds >= 0"):
        APIServer(request_latency=bad)


# ---- issue 21: what kubectl does with dryRun, namespaces and events ------------------------------


def test_kubectl_server_dry_run_changes_nothing(
    srv: APIServer, kubectl: Any, tmp_path: Path
) -> None:
    srv.create("pods", pod("x"))
    rv = srv.resource_version
    assert (
        'pod "x" deleted from default namespace (server dry run)'
        in kubectl("delete", "pod", "x", "--dry-run=server").stdout
    )
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n")
    out = kubectl("apply", "-f", str(manifest), "--dry-run=server").stdout
    assert "configmap/c created (server dry run)" in out
    assert srv.objects("configmaps") == [] and [
        p["metadata"]["name"] for p in srv.objects("pods")
    ] == ["x"]
    assert srv.resource_version == rv


def test_kubectl_refuses_bad_field_types(srv: APIServer, kubectl: Any, tmp_path: Path) -> None:
    srv.create("pods", pod("good"))
    manifest = tmp_path / "bad.json"
    bad = pod("bad")
    bad["spec"]["containers"][0]["image"] = 5
    manifest.write_text(json.dumps(bad))
    out = kubectl("create", "--validate=false", "-f", str(manifest), check=False)
    assert out.returncode == 1 and "spec.containers[0].image: Invalid value: 5" in out.stderr
    assert "Name:" in kubectl("describe", "pods").stdout  # nothing stored breaks describe


def test_kubectl_get_namespaces_and_events(srv: APIServer, kubectl: Any, tmp_path: Path) -> None:
    out = kubectl("get", "ns").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "AGE"]
    assert [line.split()[:2] for line in out[1:]] == [
        ["default", "Active"],
        ["kube-node-lease", "Active"],
        ["kube-public", "Active"],
        ["kube-system", "Active"],
    ]
    # `kubectl apply` sends JSON (`kubectl create namespace`, protobuf: test_k8s_apiserver_kubectl).
    ns = tmp_path / "ns.yaml"
    ns.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n")
    assert "namespace/team created" in kubectl("apply", "-f", str(ns)).stdout
    assert kubectl("get", "namespace", "team", "-o", "jsonpath={.status.phase}").stdout == "Active"
    got = kubectl("get", "events", "-A")
    assert "No resources found" in got.stderr
