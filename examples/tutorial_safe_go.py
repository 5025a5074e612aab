"""Tutorial: a panic-safe goroutine launcher with defer and recover.

The Go original::

    func SafeGo(name string, f func()) {
        go func() {
            defer func() {
                if r := recover(); r != nil {
                    log.Printf("goroutine %s panicked: %v", name, r)
                }
            }()
            f()
        }()
    }

In Go, and in gochan, a panic (any exception) that escapes a task ends the
whole program. ``safe_go`` wraps the task's function in a ``@gochan.func``
frame whose deferred handler calls ``recover()``: the panic stops there,
is logged, and the task ends normally while the others carry on.

What to look at: the deferred handler still runs for a task that does not
panic (``recover()`` then returns ``None``); ``recover`` returns the
``Panic``'s value for ``panic("...")`` and the exception object for any
other exception; cancellation is never recovered (it is not an
``Exception``), so ``run`` can still stop a safe task. The last part shows
what happens without ``safe_go``. For restarts, backoff and reports, use a
``gochan.Supervisor`` instead (see flaky_workers.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import gochan
from gochan import defer, panic, recover


def safe_go(name: str, fn: Callable[..., Any], *args: Any) -> gochan.Task:
    @gochan.func
    def guarded() -> None:
        def handler() -> None:
            r = recover()
            if r is not None:
                print(f"  [safe_go] task {name!r} panicked: {r!r}; the program goes on")

        defer(handler)
        fn(*args)

    t = gochan.go(guarded)
    t.name = name
    return t


def fetch(url: str, out: gochan.Chan[str]) -> None:
    gochan.sleep(0.1)
    if "bad" in url:
        panic(f"cannot parse {url}")
    out.send(f"fetched {url}")


def divide(a: int, b: int, out: gochan.Chan[str]) -> None:
    out.send(f"{a} / {b} = {a / b}")  # ZeroDivisionError when b == 0


def main() -> None:
    out = gochan.Chan[str](10)
    tasks = [
        safe_go("fetch-1", fetch, "https://example.com/a", out),
        safe_go("fetch-2", fetch, "https://bad/url", out),
        safe_go("divide-1", divide, 6, 3, out),
        safe_go("divide-2", divide, 1, 0, out),
    ]
    for t in tasks:
        t.join()  # a recovered task ends normally: join() returns None
    out.close()
    print("results:", sorted(out))
    print("tasks still alive:", gochan.num_goroutine() - 1)

    print("without safe_go, the panic is fatal:")
    try:
        gochan.go(divide, 1, 0, out).name = "divide-3"
        gochan.sleep(1)  # the task's exception is re-raised here, in main
    except ZeroDivisionError as e:
        print(f"  main got {e!r}")
        print("  note:", re.sub(r"goroutine \d+", "goroutine N", e.__notes__[0]))


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
