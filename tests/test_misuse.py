"""Misuse gets the documented exception with a message that says what to do
(issue 17, item 8): async functions, coroutine objects and generator
functions handed to run()/go(), run() nested in a run, the default message
of Cancelled, non-callables and non-awaitables, unknown backend names, a
blocking call made from a coroutine, the wording of dump(), and the
opt-in goroutine dump on a signal."""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import pytest

from gochan import Chan, go, run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def _afn() -> int:
    return 1


def _genfn() -> Iterator[int]:
    yield 1


async def _agenfn() -> AsyncIterator[int]:
    yield 1


def _in_thread(fn: Callable[[], Any]) -> Any:
    """``fn()`` on a fresh thread (its own implicit-mode scheduler); its
    result, or re-raise what it raised."""
    out: list[Any] = []

    def body() -> None:
        try:
            out.append((True, fn()))
        except BaseException as e:  # re-raised on the test's thread
            out.append((False, e))

    th = threading.Thread(target=body)
    th.start()
    th.join()
    ok, value = out[0]
    if not ok:
        raise value
    return value


# -- 1. async functions and coroutine objects ----------------------------------


def test_run_of_an_async_function_says_its_body_never_ran_and_closes_it() -> None:
    made: list[Coroutine[Any, Any, int]] = []

    def amain() -> Coroutine[Any, Any, int]:
        made.append(_afn())
        return made[0]

    with pytest.raises(TypeError) as ei:
        run(amain)
    msg = str(ei.value)
    assert "main function" in msg and "returned a coroutine, so its body never ran" in msg
    assert "gochan.await_(" in msg and "gochan.run_async(main)" in msg
    assert inspect.getcoroutinestate(made[0]) == inspect.CORO_CLOSED  # no "never awaited"


def test_run_of_a_coroutine_object_points_at_await_and_run_async() -> None:
    coro = _afn()
    with pytest.raises(TypeError, match=r"run\(\) needs a callable, got <coroutine") as ei:
        run(coro)  # type: ignore[arg-type]
    assert "gochan.await_(coro)" in str(ei.value)
    assert "gochan.run_async(main)" in str(ei.value)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


def test_go_of_an_async_function_crashes_the_task_with_advice() -> None:
    def main() -> None:
        go(_afn)
        Chan[int]().recv()

    with pytest.raises(TypeError, match="task '_afn' returned a coroutine, so its body never ran"):
        run(main)


def test_go_of_a_coroutine_object_is_refused_at_the_call() -> None:
    coro = _afn()

    def main() -> None:
        with pytest.raises(TypeError, match="a coroutine object is async code"):
            go(coro)  # type: ignore[arg-type]

    run(main)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


# -- 2. generator functions ----------------------------------------------------


def test_go_of_a_generator_function_says_the_body_never_ran() -> None:
    ran: list[int] = []

    def gen() -> Iterator[int]:
        ran.append(1)
        yield 1

    def main() -> None:
        go(gen)
        Chan[int]().recv()

    with pytest.raises(TypeError) as ei:
        run(main)
    msg = str(ei.value)
    assert "task 'test_go_of_a_generator_function_says_the_body_never_ran.<locals>.gen'" in msg
    assert "returned a generator, so its body never ran" in msg
    assert "list(gen())" in msg
    assert ran == []


def test_go_of_an_async_generator_function_says_the_body_never_ran() -> None:
    def main() -> None:
        go(_agenfn).join()

    with pytest.raises(TypeError, match="returned an async generator, so its body never ran"):
        run(main)


def test_run_of_a_generator_function_says_the_body_never_ran() -> None:
    with pytest.raises(TypeError, match="main function '_genfn' returned a generator"):
        run(_genfn)


def test_a_task_may_return_other_iterators() -> None:
    def main() -> list[int]:
        return list(go(lambda: iter([1, 2])).join())

    assert run(main) == [1, 2]
