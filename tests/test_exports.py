"""Every name of api.md is exported from ``gochan`` with ``gochan`` as its
public home."""

from __future__ import annotations

import gochan

API_NAMES = {
    # Tasks
    "go", "run", "gosched", "current", "num_goroutine", "Task", "Deadlock",
    # Channels
    "Chan", "nilchan", "Panic",
    # select
    "select", "default",
    # Time
    "sleep", "after", "tick", "Timer", "after_func", "Ticker", "monotonic",
    # defer / panic / recover, supervision
    "func", "defer", "panic", "recover", "Supervisor",
    # sync, context, errgroup
    "WaitGroup", "Mutex", "RWMutex", "Once", "Cond", "Semaphore", "context", "ErrGroup",
    # Threads and I/O
    "blocking", "await_",
    # Debugging
    "dump",
}  # fmt: skip

CONTEXT_NAMES = {
    "background", "with_cancel", "with_timeout", "with_deadline", "with_value",
    "Canceled", "DeadlineExceeded",
}  # fmt: skip


def test_every_api_name_is_exported() -> None:
    missing = sorted(n for n in API_NAMES if not hasattr(gochan, n))
    assert not missing, f"api.md names missing from gochan: {missing}"
    assert set(gochan.__all__) >= API_NAMES


def test_context_module_names() -> None:
    missing = sorted(n for n in CONTEXT_NAMES if not hasattr(gochan.context, n))
    assert not missing, f"api.md names missing from gochan.context: {missing}"


def test_public_home_is_gochan() -> None:
    for name in ("Chan", "Task", "Timer", "Ticker", "Panic", "Deadlock", "go", "run", "select",
                 "Mutex", "WaitGroup", "ErrGroup", "Supervisor", "func", "blocking", "await_"):
        assert getattr(gochan, name).__module__ == "gochan", name


def test_task_handle_attributes() -> None:
    def main() -> None:
        t = gochan.current()
        assert isinstance(t.id, int) and t.name == "main" and not t.done()
        for attr in ("id", "name", "done", "result", "join"):
            assert hasattr(t, attr)

    gochan.run(main)


def test_deadlock_is_runtime_error_and_panic_is_exception() -> None:
    assert issubclass(gochan.Deadlock, RuntimeError)
    assert issubclass(gochan.Panic, Exception)
    assert gochan.Panic("x").value == "x"
