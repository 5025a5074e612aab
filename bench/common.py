"""Shared pieces of the benchmark suite: the system list, the Impl and
Workload records, and helpers that every workload module uses.

Every workload function has the signature ``fn(loops, n) -> seconds``: it
does its own setup, times only the steady-state loop with
``time.perf_counter`` and tears down afterwards, so event-loop creation,
thread start-up and task spawning are not counted. ``loops`` is pyperf's
calibrated loop count; ``n`` is the per-loop item count for sized workloads
(W2) and is ignored by the others. Nothing here imports pyperf, gevent, trio
or uvloop at module level: a worker process imports only the system it
measures.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

# Measured systems, in table order. "greenlet" is the floor for gochan's
# design (bare greenlet switches, no scheduler); "gochan" and the floor are
# never counted as peers.
SYSTEMS: tuple[str, ...] = (
    "gochan",
    "greenlet",
    "gevent",
    "trio",
    "asyncio",
    "uvloop",
    "threading",
)
FLOOR = "greenlet"
NOT_PEERS = frozenset({"gochan", FLOOR})

# The third-party module each system needs (stdlib systems need none).
REQUIRES: dict[str, str] = {
    "gochan": "gochan",
    "greenlet": "greenlet",
    "gevent": "gevent",
    "trio": "trio",
    "uvloop": "uvloop",
}

# Systems the stdlib-only smoke mode runs (the main .venv has no peers).
SMOKE_SYSTEMS: tuple[str, ...] = ("gochan", "greenlet", "asyncio", "threading")

TimeFn = Callable[[int, int], float]


@dataclass(frozen=True)
class Impl:
    """One system's implementation of a workload, or why it has none."""

    label: str  # the primitive used, as printed in the table
    fn: TimeFn | None = None
    na: str = ""  # reason when fn is None

    @staticmethod
    def missing(reason: str) -> Impl:
        return Impl(label="n/a", fn=None, na=reason)


@dataclass(frozen=True)
class Workload:
    key: str  # "W1"
    name: str  # "pingpong": the pyperf benchmark is "W1-pingpong/<system>"
    title: str
    unit: str  # what one reported value is: "round trip", "item", "select"
    description: str
    impls: dict[str, Impl]
    sized: bool = False  # True: fn(loops, n) moves loops * n items

    def bench_name(self, system: str) -> str:
        return f"{self.key}-{self.name}/{system}"


def available(system: str) -> str | None:
    """None if ``system`` can run here, else why not (checked without
    importing it, so the manager process stays light)."""
    mod = REQUIRES.get(system)
    if mod is not None and importlib.util.find_spec(mod) is None:
        return f"{mod} is not installed in this environment"
    return None


# A fixed pseudo-random case sequence for W5, cycled with a mask so the
# random number generator never runs inside the timed loop.
SEQ_MASK = 4095
SELECT_SEQ: list[int] = [random.Random(20240601).randrange(4) for _ in range(SEQ_MASK + 1)]


def run_async(system: str, coro: Callable[..., Coroutine[Any, Any, float]], *args: Any) -> float:
    """Run ``coro(*args)`` on a fresh asyncio (or uvloop) event loop."""
    if system == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro(*args))
    with asyncio.Runner() as runner:
        return runner.run(coro(*args))
