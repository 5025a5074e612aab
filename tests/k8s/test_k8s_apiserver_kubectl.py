"""kubectl's everyday commands against the embedded apiserver (issue 21, fix 8).

The typed generators (``create configmap``, ``create namespace``) send
protobuf bodies; ``apply --server-side`` sends an apply patch and the server
keeps ``managedFields``; ``explain`` reads the OpenAPI v3 schemas.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import APIServer, ManualClock, serve  # noqa: E402


@pytest.fixture
def srv() -> Iterator[APIServer]:
    with serve(clock=ManualClock()) as s:
        yield s


# ---- protobuf bodies ---------------------------------------------------------------------


def test_kubectl_create_configmap_from_literal(srv: APIServer, kubectl: Any) -> None:
    out = kubectl("create", "configmap", "x", "--from-literal=a=b", "--from-literal=c=d")
    assert out.stdout.strip() == "configmap/x created"
    [cm] = srv.objects("configmaps")
    assert cm["metadata"]["name"] == "x" and cm["data"] == {"a": "b", "c": "d"}
    again = kubectl("create", "configmap", "x", "--from-literal=a=b", check=False)
    assert again.returncode == 1 and 'configmaps "x" already exists' in again.stderr
    bad = kubectl("create", "configmap", "Bad_Name", "--from-literal=a=b", check=False)
    assert bad.returncode == 1 and 'ConfigMap "Bad_Name" is invalid' in bad.stderr
    dry = kubectl("create", "configmap", "y", "--from-literal=a=b", "--dry-run=server")
    assert "configmap/y created (server dry run)" in dry.stdout
    assert len(srv.objects("configmaps")) == 1


def test_kubectl_create_namespace(srv: APIServer, kubectl: Any) -> None:
    assert kubectl("create", "namespace", "team").stdout.strip() == "namespace/team created"
    got = json.loads(kubectl("get", "ns", "team", "-o", "json").stdout)
    assert got["status"] == {"phase": "Active"} and got["spec"] == {"finalizers": ["kubernetes"]}
    kubectl("create", "configmap", "c", "-n", "team", "--from-literal=k=v")
    assert [c["metadata"]["namespace"] for c in srv.objects("configmaps")] == ["team"]


# ---- server-side apply -------------------------------------------------------------------


def managed(srv: APIServer, resource: str, name: str) -> dict[tuple[str, str], Any]:
    """(manager, operation) -> fieldsV1 of an object's managedFields."""
    [obj] = [o for o in srv.objects(resource) if o["metadata"]["name"] == name]
    return {(e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"]["managedFields"]}


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\n  labels: {{app: a}}\ndata:\n{data}"


def test_kubectl_apply_server_side(srv: APIServer, kubectl: Any, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(CM.format(data='  a: "1"\n  b: "2"\n'))
    ssa = ("apply", "--server-side", "-f", str(manifest))
    assert kubectl(*ssa).stdout.strip() == "configmap/s serverside-applied"  # created
    assert managed(srv, "configmaps", "s") == {
        ("kubectl", "Apply"): {
            "f:data": {"f:a": {}, "f:b": {}},
            "f:metadata": {"f:labels": {"f:app": {}}},
        }
    }
    rv = srv.resource_version
    kubectl(*ssa)  # unchanged: no write
    assert srv.resource_version == rv
    manifest.write_text(CM.format(data='  a: "1"\n  c: "3"\n'))  # b left out: removed
    kubectl(*ssa)
    [cm] = srv.objects("configmaps")
    assert cm["data"] == {"a": "1", "c": "3"} and srv.resource_version == rv + 1
    assert managed(srv, "configmaps", "s")[("kubectl", "Apply")]["f:data"] == {
        "f:a": {},
        "f:c": {},
    }


def test_kubectl_apply_server_side_conflicts(srv: APIServer, kubectl: Any, tmp_path: Path) -> None:
    mine, theirs = tmp_path / "mine.yaml", tmp_path / "theirs.yaml"
    mine.write_text(CM.format(data='  a: "1"\n  b: "2"\n'))
    kubectl("apply", "--server-side", "-f", str(mine))
    theirs.write_text(CM.format(data='  a: "1"\n  b: "9"\n'))
    other = ("apply", "--server-side", "--field-manager=other", "-f", str(theirs))
    refused = kubectl(*other, check=False)
    assert refused.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.b' in refused.stderr
    assert srv.objects("configmaps")[0]["data"]["b"] == "2"
    kubectl(*other, "--force-conflicts")
    assert srv.objects("configmaps")[0]["data"]["b"] == "9"
    fields = managed(srv, "configmaps", "s")
    assert fields[("kubectl", "Apply")]["f:data"] == {"f:a": {}}  # b moved; a is shared
    assert fields[("other", "Apply")]["f:data"] == {"f:a": {}, "f:b": {}}
    # An Update (kubectl label) after the first apply is recorded too.
    kubectl("label", "cm", "s", "tier=x")
    assert managed(srv, "configmaps", "s")[("kubectl-label", "Update")] == {
        "f:metadata": {"f:labels": {"f:tier": {}}}
    }


def test_kubectl_apply_server_side_after_create(
    srv: APIServer, kubectl: Any, tmp_path: Path
) -> None:
    """Fields written before the first apply belong to ``before-first-apply``."""
    kubectl("create", "configmap", "s", "--from-literal=a=0")
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(CM.format(data='  a: "1"\n'))
    refused = kubectl("apply", "--server-side", "-f", str(manifest), check=False)
    assert 'conflict with "before-first-apply" using v1: .data.a' in refused.stderr


POD = """apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
  containers:
  - name: c
    image: {image}
    ports: [{{containerPort: 80}}]
    env: [{{name: A, value: "1"}}]
"""


def test_kubectl_apply_server_side_pod(srv: APIServer, kubectl: Any, tmp_path: Path) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD.format(image="nginx"))
    kubectl("apply", "--server-side", "-f", str(manifest))
    [pod] = srv.objects("pods")
    assert pod["spec"]["restartPolicy"] == "Always"  # defaulted, as on any create
    container = managed(srv, "pods", "p")[("kubectl", "Apply")]["f:spec"]["f:containers"]
    assert container == {
        'k:{"name":"c"}': {
            ".": {},
            "f:env": {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
            "f:image": {},
            "f:name": {},
            "f:ports": {
                'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}
            },
        }
    }
    manifest.write_text(POD.format(image="nginx:2"))
    other = ("apply", "--server-side", "--field-manager=b", "-f", str(manifest))
    refused = kubectl(*other, check=False)
    assert 'conflict with "kubectl": .spec.containers[name="c"].image' in refused.stderr
    kubectl("apply", "--server-side", "-f", str(manifest))
    assert srv.objects("pods")[0]["spec"]["containers"][0]["image"] == "nginx:2"


# ---- explain -------------------------------------------------------------------------------


def test_kubectl_explain(srv: APIServer, kubectl: Any) -> None:
    out = kubectl("explain", "pods").stdout
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n")
    assert "spec\t<Object>" in out and "The desired behavior of the object." in out
    out = kubectl("explain", "pods.spec.containers").stdout
    assert "FIELD: containers <[]Object>" in out and "image\t<string>" in out
    assert "env\t<[]Object>" in out
    assert "FIELD: data <map[string]string>" in kubectl("explain", "cm.data").stdout
    out = kubectl("explain", "leases.spec").stdout
    assert "GROUP:      coordination.k8s.io" in out and "holderIdentity\t<string>" in out
    assert "involvedObject\t<Object>" in kubectl("explain", "events").stdout
    assert "KIND:       Namespace" in kubectl("explain", "ns").stdout
    missing = kubectl("explain", "pods.spec.nope", check=False)
    assert missing.returncode == 1 and 'field "nope" does not exist' in missing.stderr


def test_kubectl_apply_keeps_fields_the_schemas_do_not_name(
    srv: APIServer, kubectl: Any, tmp_path: Path
) -> None:
    """kubectl's default --validate=strict leaves validation to the server (it takes
    fieldValidation), so a field the OpenAPI schemas lack is sent and kept."""
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n"
        "  tolerations: [{key: a, operator: Exists}]\n"
        "  containers: [{name: c, image: nginx, livenessProbe: {exec: {command: [x]}}}]\n"
    )
    assert kubectl("apply", "-f", str(manifest)).stdout.strip() == "pod/q created"
    [pod] = srv.objects("pods")
    assert pod["spec"]["tolerations"] == [{"key": "a", "operator": "Exists"}]
    assert pod["spec"]["containers"][0]["livenessProbe"] == {"exec": {"command": ["x"]}}
