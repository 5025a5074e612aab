"""kubectl's everyday commands against the embedded apiserver (issue 21, fix 8).

The typed generators (``create configmap``, ``create namespace``) send
protobuf bodies; ``apply --server-side`` sends an apply patch and the server
keeps ``managedFields``; ``explain`` reads the OpenAPI v3 schemas.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import APIServer, ManualClock, serve  # noqa: E402

_VENV_KUBECTL = Path(sys.executable).parent / "kubectl"
KUBECTL = str(_VENV_KUBECTL) if _VENV_KUBECTL.exists() else shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


@pytest.fixture
def srv() -> Iterator[APIServer]:
    with serve(clock=ManualClock()) as s:
        yield s


@pytest.fixture
def kubectl(srv: APIServer, tmp_path: Path) -> Any:
    config = tmp_path / "kubeconfig"
    srv.kubeconfig(config)
    base = [str(KUBECTL), "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache")]

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*base, *args], capture_output=True, text=True, timeout=30)
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    return run


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
