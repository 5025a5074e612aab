"""Who receives an exception that escapes a task: delivered exactly once, never lost.

The rule (docs/tasks.md, "Who receives a task's exception"; api.md "Edges"):

* a task already waiting in ``join()`` when the exception escapes receives it (every
  waiting joiner raises it); it is then not fatal and not raised anywhere else;
* otherwise it is fatal: raised in the main task at its next blocking *or yielding*
  call, the other tasks cancelled; retrieving it first with ``result()``/``join()``
  counts as its delivery, so it is not raised a second time;
* ``BaseException``s that are not ``Exception``s stay fatal even when joined.

Orderings are explicit: a task first runs when its starter blocks or yields.
"""

from __future__ import annotations

import contextlib

import pytest

import gochan
from gochan import Chan, go, gosched, run


class Boom(Exception):
    pass


class Fatal(BaseException):
    pass


def _raise(exc: BaseException) -> None:
    raise exc


def test_a_join_already_waiting_receives_it_and_nothing_is_raised_again() -> None:
    def main() -> str:
        other = go(Chan[int]().recv)  # must not be cancelled by the failure
        with pytest.raises(Boom) as ei:
            go(_raise, Boom("x")).join()
        assert "raised in goroutine" in ei.value.__notes__[0]
        assert "cancelled" not in ei.value.__notes__[0]  # not fatal
        gochan.sleep(1)
        gosched()
        assert not other.done()
        other.cancel()
        return "ok"

    assert run(main, clock="virtual") == "ok"


def test_a_task_joining_another_handles_its_exception_and_main_never_sees_it() -> None:
    def watcher() -> str:
        try:
            go(_raise, Boom("handled")).join()
        except Boom:
            return "handled"
        return "no error"

    def main() -> str:
        return str(go(watcher).join())

    assert run(main) == "handled"


def test_every_waiting_joiner_raises_it() -> None:
    def main() -> list[str]:
        seen: list[str] = []
        gate = Chan[None]()

        def bad() -> None:
            gate.recv()
            raise Boom("both")

        t = go(bad)

        def joiner(name: str) -> None:
            try:
                t.join()
            except Boom:
                seen.append(name)

        a, b = go(joiner, "a"), go(joiner, "b")
        gosched()  # t parks on the gate, a and b in t.join()
        gate.close()
        a.join()
        b.join()
        return sorted(seen)

    assert run(main) == ["a", "b"]


def test_with_nobody_joining_it_is_fatal_at_the_next_yield() -> None:
    def main() -> None:
        other = go(Chan[int]().recv)
        go(_raise, Boom("fatal"))
        with pytest.raises(Boom) as ei:
            gosched()  # a yield is a delivery point too
        assert ei.value.__notes__[0].endswith("gochan cancelled the other tasks")
        gosched()
        assert other.cancelled()

    run(main)


def test_retrieving_a_fatal_exception_with_result_counts_as_its_delivery() -> None:
    def main() -> str:
        c = Chan[str]()

        def bad() -> None:
            c.send("value")  # completes main's receive first...
            raise Boom("after")  # ...so this can only be pending for main

        t = go(bad)
        assert c.recv() == "value"
        assert t.done()
        with pytest.raises(Boom):
            t.result()  # retrieved: delivered
        gosched()  # not raised again
        gochan.sleep(0.5)
        with pytest.raises(Boom):
            t.join()  # retrieving it again is allowed
        return "ok"

    assert run(main, clock="virtual") == "ok"


def test_an_unretrieved_pending_exception_leaves_run() -> None:
    def main() -> str:
        c = Chan[str]()

        def bad() -> None:
            c.send("value")
            raise Boom("pending")

        go(bad)
        return c.recv() or ""

    with pytest.raises(Boom, match="pending"):
        run(main)


def test_a_base_exception_stays_fatal_even_when_a_task_joins_it() -> None:
    def watcher() -> None:
        with contextlib.suppress(Fatal):
            go(_raise, Fatal("stop")).join()

    def main() -> None:
        go(watcher).join()

    with pytest.raises(Fatal):
        run(main)


def test_in_implicit_mode_a_yield_raises_the_fatal_error() -> None:
    go(_raise, Boom("implicit"))
    with pytest.raises(Boom):
        gosched()
    gosched()  # delivered once


def test_in_implicit_mode_a_joined_error_is_not_raised_at_the_next_sleep() -> None:
    with pytest.raises(Boom):
        go(_raise, Boom("joined")).join()
    gochan.sleep(0.001)
    gosched()
