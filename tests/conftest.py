"""Shared test guards.

Every test must leave the process as it found it: no extra threads (a live
foreign thread rightly suppresses deadlock reports in later tests) and no
green tasks left alive on the main thread's implicit scheduler.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from gochan._runtime.offload import POOL
from gochan._runtime.scheduler import install, peek_scheduler


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    POOL.shutdown()  # blocking()'s idle workers would linger for seconds
    leaked_threads = [t for t in threading.enumerate() if t not in before]
    s = peek_scheduler()
    leaked_tasks = [] if s is None else [t for t in s.tasks.values() if t is not s.main]
    install(None)  # the next test starts without an implicit scheduler
    assert not leaked_threads, f"test left threads running: {leaked_threads}"
    assert not leaked_tasks, f"test left green tasks alive: {leaked_tasks}"
