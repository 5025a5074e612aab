"""examples/k8s_watch/deploy: schema-valid manifests, RBAC equal to what the
controller actually calls, and a Dockerfile whose command line the CLI accepts.

The schemas come from ``kubernetes-validate`` (bundled, offline); no image
is built or pulled here.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gochan
from gochan import context

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.__main__ import parse  # noqa: E402
from examples.k8s_watch.apiserver import APIServer, serve  # noqa: E402
from examples.k8s_watch.shard import ShardedReplica, run_for  # noqa: E402
from examples.k8s_watch.transport_green import GreenClient  # noqa: E402

DEPLOY = ROOT / "examples" / "k8s_watch" / "deploy"
K8S_VERSION = "1.36.0"


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    kust = _docs("kustomization.yaml")[0]
    return [(f, d) for f in kust["resources"] for d in _docs(f)]


def _kind(kind: str) -> dict[str, Any]:
    return next(d for _, d in _manifests() if d["kind"] == kind)


# ---- schemas -----------------------------------------------------------------------------------


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    kv = pytest.importorskip("kubernetes_validate")
    kinds = []
    for name, doc in _manifests():
        try:
            kv.validate(doc, K8S_VERSION, strict=True)
        except kv.ValidationError as e:
            pytest.fail(f"{name}: {doc['kind']}: {e.message} at {list(e.path)}")
        kinds.append(doc["kind"])
    assert sorted(kinds) == sorted(
        ["Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment"]
    )
    # The validator really validates (offline, from its bundled schemas).
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": "three"}}  # fmt: skip
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, K8S_VERSION, strict=True)


def test_the_deployment_is_what_the_brief_promised(tmp_path: Path) -> None:
    dep = _kind("Deployment")
    spec = dep["spec"]
    assert spec["replicas"] == 3
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == _kind("ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["resources"]["requests"] and c["resources"]["limits"]
    port = next(p for p in c["ports"] if p["name"] == "probes")["containerPort"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    args = _container_args(tmp_path)
    assert args.probe_port == port and args.leader_elect and args.in_cluster
    mount = next(m for m in c["volumeMounts"] if m["name"] == "config")["mountPath"]
    assert c["args"][c["args"].index("--config") + 1].startswith(mount + "/")
    binding = _kind("RoleBinding")
    assert binding["roleRef"]["name"] == _kind("Role")["metadata"]["name"]
    assert binding["subjects"][0]["name"] == _kind("ServiceAccount")["metadata"]["name"]


# ---- the Dockerfile's command line -------------------------------------------------------------


def _dockerfile() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        m = re.match(r"^(FROM|USER|ENTRYPOINT|CMD)\s+(.*)$", line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _container_args(tmp: Path | None = None) -> Any:
    """The Deployment's args + env + the ConfigMap's file, through the real CLI parser."""
    dep = _kind("Deployment")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    fake_pod = {"metadata.name": "k8s-watch-abc", "metadata.namespace": "k8s-watch"}
    env = {
        e["name"]: e.get("value") or fake_pod[e["valueFrom"]["fieldRef"]["fieldPath"]]
        for e in c["env"]
    }
    args = list(c["args"])
    cfg = _kind("ConfigMap")
    if tmp is not None:  # the mounted file, where the args point
        i = args.index("--config")
        (tmp / "config.yaml").write_text(cfg["data"]["config.yaml"])
        args[i + 1] = str(tmp / "config.yaml")
    return parse(args, env)


def test_the_dockerfile_runs_the_cli_as_non_root_and_its_command_parses(tmp_path: Path) -> None:
    d = _dockerfile()
    assert d["FROM"].startswith("python:3.11-slim")
    assert d["USER"].split(":")[0] not in ("0", "root")
    assert json.loads(d["ENTRYPOINT"]) == ["python", "-m", "examples.k8s_watch"]
    cmd = json.loads(d["CMD"])
    i = cmd.index("--config")
    (tmp_path / "config.yaml").write_text(_kind("ConfigMap")["data"]["config.yaml"])
    cmd[i + 1] = str(tmp_path / "config.yaml")
    args = parse(cmd, {})
    assert args.in_cluster and args.leader_elect and args.shards == 4
    # The Deployment's args + env + mounted ConfigMap, as the container would see them.
    args = _container_args(tmp_path)
    assert args.identity == "k8s-watch-abc"
    assert args.namespace == args.lease_namespace == "k8s-watch"
    assert args.sources["identity"] == "from K8S_WATCH_IDENTITY"
    assert args.sources["shards"] == f"from {tmp_path / 'config.yaml'}"
    assert (args.shards, args.probe_port, args.workers) == (4, 8081, 16)


# ---- RBAC: exactly the verbs the controller uses ---------------------------------------------


def _granted() -> set[tuple[str, str, str]]:
    out = set()
    for rule in _kind("Role")["rules"]:
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                for v in rule["verbs"]:
                    out.add((g, r, v))
    return out


@pytest.fixture
def srv() -> Iterator[APIServer]:
    with serve() as s:
        yield s


def _until(cond: Any, what: str, timeout: float = 30.0) -> None:
    deadline = gochan.monotonic() + timeout
    while not cond():
        assert gochan.monotonic() < deadline, f"timed out waiting for {what}"
        gochan.sleep(0.02)


def _converged(srv: APIServer) -> bool:
    from examples.k8s_watch.reconcile import configmap_name, desired_data

    pods = {p["metadata"]["name"]: p for p in srv.objects("pods")}
    cms = {c["metadata"]["name"]: c for c in srv.objects("configmaps")}
    return all(
        (cms.get(configmap_name(n)) or {}).get("data") == desired_data(p) for n, p in pods.items()
    ) and all(n.removesuffix("-info") in pods for n in cms)


@pytest.mark.parametrize("shards", [1, 2])
def test_rbac_grants_exactly_what_the_controller_calls(srv: APIServer, shards: int) -> None:
    """Run the deployed configuration against the embedded apiserver, through every
    path (create, update, delete, drift, lease create/renew/release) and compare
    the (group, resource, verb) it issued with the Role: a new verb in the code
    fails this test until the Role grants it, and a grant nobody uses fails it too."""
    for i in range(10):
        srv.create(
            "pods",
            {"metadata": {"name": f"p{i}"}, "spec": {"containers": [{"name": "c", "image": "a"}]}},
            namespace="k8s-watch",
        )

    def main() -> None:
        client = GreenClient(srv.url, timeout=5)
        rep = ShardedReplica(
            client,
            "k8s-watch",
            shards=shards,
            identity="k8s-watch-abc",
            lease_namespace="k8s-watch",
            lease_duration=1.5,
            renew_deadline=1.0,
            retry_period=0.1,
            workers=2,
        )
        ctx, cancel = context.with_cancel(context.background())
        task = run_for(ctx, rep)
        try:
            _until(lambda: len(rep.leading()) == shards, "leading")
            _until(lambda: _converged(srv), "created")
            for i in range(3):
                srv.patch("pods", f"p{i}", {"metadata": {"labels": {"v": "2"}}}, "k8s-watch")
            for i in range(3, 6):
                srv.delete("pods", f"p{i}", "k8s-watch")
            srv.delete("configmaps", "p7-info", "k8s-watch")  # drift: recreated
            _until(lambda: _converged(srv), "updated, deleted, recreated")
        finally:
            cancel()  # a clean stop releases the Leases (an update)
            task.join()
            client.close()

    gochan.run(main)
    used = {(g, r, v) for (g, r, v), n in srv.audit.items() if n}
    assert used == _granted(), (
        f"used but not granted: {sorted(used - _granted())}; "
        f"granted but not used: {sorted(_granted() - used)}"
    )
