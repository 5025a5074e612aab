"""The Go-classics examples run as programs and print exactly what they should.

Each ``examples/NAME.py`` below runs as ``python examples/NAME.py`` from the
repository root, and its stdout must equal ``examples/expected/NAME.txt``
byte for byte. The examples make themselves deterministic (virtual clock,
``seed=``, seeded ``random.Random``; the deadlock report is tidied inside
broken_forgot_close.py), so nothing is normalised here.

To refresh an expected file after changing an example on purpose::

    python examples/NAME.py > examples/expected/NAME.txt
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EXPECTED = EXAMPLES / "expected"
SECTION = "## Go concurrency classics"

GO_EXAMPLES = [
    "goroutines",
    "channels",
    "channel_buffering",
    "channel_synchronization",
    "channel_directions",
    "select_basics",
    "timeouts",
    "non_blocking",
    "closing_channels",
    "range_over_channels",
    "timers",
    "tickers",
    "worker_pools",
    "waitgroups",
    "rate_limiting",
    "mutex_counter",
    "stateful_owner",
    "generator",
    "fan_in",
    "restoring_sequence",
    "quit_channel",
    "daisy_chain",
    "replicated_search",
    "pipeline_cancel",
    "subscription",
    "prime_sieve",
    "dining_philosophers",
    "tutorial_say",
    "tutorial_value_and_error",
    "tutorial_buffered_three",
    "tutorial_select_default",
    "tutorial_safe_go",
    "tutorial_error_classes",
    "tutorial_informer_flow",
    "broken_forgot_close",
    "fixed_forgot_close",
    "echo_server",
    "chat_server",
    "port_checker",
    "http_server",
    "tcp_proxy",
]

# Wall-clock budget per example. Everything but the daisy chain runs in well
# under a second; the chain of 100,000 tasks takes about 5 s on the 2-core
# development machine.
TIMEOUT = {"daisy_chain": 60}
DEFAULT_TIMEOUT = 30


def _run(name: str) -> subprocess.CompletedProcess[str]:
    # The default backend and no debug mode, whatever the surrounding run uses.
    env = {k: v for k, v in os.environ.items() if k not in ("GOCHAN_BACKEND", "GOCHAN_DEBUG")}
    return subprocess.run(
        [sys.executable, f"examples/{name}.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT.get(name, DEFAULT_TIMEOUT),
        env=env,
    )


@pytest.mark.parametrize("name", GO_EXAMPLES)
def test_example_prints_expected_output(name: str, as_documented: Callable[[str], str]) -> None:
    proc = _run(name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert as_documented(proc.stdout) == (EXPECTED / f"{name}.txt").read_text()


def _listed(text: str) -> list[str]:
    """The examples linked from the Go-classics table: [NAME.py](NAME.py)."""
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"^\| \[(\w+)\.py\]\(\1\.py\) \|", section, flags=re.MULTILINE)


def test_every_listed_example_is_checked() -> None:
    readme = EXAMPLES / "README.md"
    assert SECTION in readme.read_text(), f"no {SECTION!r} section in examples/README.md"
    for source in [readme]:
        listed = _listed(source.read_text())
        assert len(listed) == len(set(listed)), f"{source.name} lists an example twice"
        assert sorted(listed) == sorted(GO_EXAMPLES), source.name
        for name in listed:
            assert (EXAMPLES / f"{name}.py").is_file(), name
            assert (EXPECTED / f"{name}.txt").is_file(), f"{name} has no expected output"


def test_no_stray_expected_files() -> None:
    stray = {p.stem for p in EXPECTED.glob("*.txt")} - set(GO_EXAMPLES)
    assert not stray, f"expected files without an example in GO_EXAMPLES: {sorted(stray)}"


def test_no_example_shadows_a_module() -> None:
    # python examples/NAME.py puts examples/ first on sys.path: a file named
    # like a stdlib module (select.py) breaks every import of it.
    shadowed = set(GO_EXAMPLES) & set(sys.stdlib_module_names)
    assert not shadowed
