"""The network examples print the same thing on every backend.

tests/examples/test_examples_go.py runs every Go-classics example on the default
(builtin) backend. The ``gochan.net`` programs below are also run on the
loop backends (asyncio, uvloop, trio), as ``GOCHAN_BACKEND=NAME python
examples/NAME.py``, and their stdout must equal the same
``examples/expected/NAME.txt`` byte for byte, with nothing on stderr: a
socket wait behaves alike whichever poller watches the fd.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = ROOT / "examples" / "expected"

NET_EXAMPLES = ["echo_server", "chat_server", "port_checker", "http_server", "tcp_proxy"]
LOOP_BACKENDS = ["asyncio", "uvloop", "trio"]
TIMEOUT = 60


def _installed(backend: str) -> bool:
    return backend == "asyncio" or importlib.util.find_spec(backend) is not None


@pytest.mark.timeout(TIMEOUT + 30)
@pytest.mark.parametrize("backend", LOOP_BACKENDS)
@pytest.mark.parametrize("name", NET_EXAMPLES)
def test_net_example_on_backend(name: str, backend: str) -> None:
    if not _installed(backend):
        pytest.skip(f"{backend} is not installed")
    env = {k: v for k, v in os.environ.items() if k != "GOCHAN_DEBUG"}
    env["GOCHAN_BACKEND"] = backend
    proc = subprocess.run(
        [sys.executable, f"examples/{name}.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == (EXPECTED / f"{name}.txt").read_text()


@pytest.mark.parametrize("name", NET_EXAMPLES)
def test_net_example_runs_on_builtin_too(name: str) -> None:
    # test_examples_go.py runs it on builtin (and checks examples/README.md lists it).
    assert f'    "{name}",\n' in (ROOT / "tests" / "examples" / "test_examples_go.py").read_text()
