"""Port of golang.org/x/sync errgroup/errgroup_test.go, plus gochan's own promises.

Go's ``g.Go(func() error { return err })`` becomes a task that raises ``err``
(or returns, for a nil error); ``errgroup.WithContext(ctx)`` becomes
``ErrGroup(ctx)`` with the derived context at ``g.ctx``. Go's zero ``Group``
has no context; gochan's always has one, which no Go test can observe.

Beyond Go: the first exception is re-raised by ``wait()`` and the later ones
are named in its ``__notes__`` and kept, in order, in ``g.errors``; ``g.ctx``
is cancelled with the first exception as its cause; ``set_limit`` while tasks
are active panics with Go's message; ``with ErrGroup() as g:`` waits at the
end of the block (and stops the tasks when the block raises); a member task
that is cancelled (by ``run()`` shutting down, or ``Task.cancel()``) did not
fail. Examples (ExampleGroup_*) and BenchmarkGo are not ported: the doc page
and bench/ cover them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import gochan
from gochan import Chan, ErrGroup, Panic, default, go, gosched, run, select
from gochan.context import Canceled, Context, background, cause, with_cancel


def vrun(main: Callable[[], Any]) -> Any:
    return run(main, clock="virtual")


def is_done(ctx: Context) -> bool:
    i, _ = select(ctx.done().recv, default)
    return i == 0


def returns(err: Exception | None) -> Callable[[], None]:
    """Go's ``func() error { return err }``."""

    def fn() -> None:
        if err is not None:
            raise err

    return fn


def wait_outcome(g: ErrGroup) -> Exception | None:
    """What Go's ``g.Wait()`` would return."""
    try:
        g.wait()
    except Exception as e:
        return e
    return None


# Go: TestZeroGroup
@pytest.mark.parametrize("pattern", ["", "n", "e", "en", "ene"])
def test_zero_group(pattern: str) -> None:
    def main() -> None:
        errs = [
            RuntimeError(f"errgroup_test: {i}") if c == "e" else None for i, c in enumerate(pattern)
        ]
        g = ErrGroup()
        first: Exception | None = None
        for err in errs:
            g.go(returns(err))
            if first is None and err is not None:
                first = err
            assert wait_outcome(g) is first  # wait() may be called again and again
        if not errs:
            assert wait_outcome(g) is None

    vrun(main)


# Go: TestWithContext
@pytest.mark.parametrize("pattern", ["", "n", "e", "en"])
def test_with_context(pattern: str) -> None:
    def main() -> None:
        doom = RuntimeError("group_test: doomed")
        errs = [doom if c == "e" else None for c in pattern]
        g = ErrGroup(background())
        for err in errs:
            g.go(returns(err))
        assert wait_outcome(g) is (doom if "e" in pattern else None)
        assert is_done(g.ctx), "ctx.done() was not closed"

    vrun(main)


# Go: TestTryGo
def test_try_go() -> None:
    def main() -> None:
        g = ErrGroup()
        n = 42
        g.set_limit(42)
        ch = Chan[None]()

        def fn() -> None:
            ch.send(None)

        def drain(k: int) -> None:
            for _ in range(k):
                ch.recv()

        for i in range(n):
            assert g.try_go(fn), f"try_go should succeed, failed at call {i}"
        assert not g.try_go(fn), "try_go is expected to fail"
        go(drain, n)
        g.wait()

        assert g.try_go(fn), "try_go should succeed after all tasks finished"
        go(drain, 1)
        g.wait()

        g.set_limit(1)  # switch limit
        assert g.try_go(fn)
        assert not g.try_go(fn)
        go(drain, 1)
        g.wait()

        g.set_limit(0)  # block all calls
        for _ in range(1 << 10):
            assert not g.try_go(fn)
        g.wait()

    vrun(main)


# Go: TestGoLimit
def test_go_limit() -> None:
    limit = 10

    def main() -> int:
        g = ErrGroup()
        g.set_limit(limit)
        active = peak = 0

        def member() -> None:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            if active > limit:
                raise AssertionError(f"saw {active} active tasks; want <= {limit}")
            gosched()  # give the other tasks a chance to raise `active`
            active -= 1

        for _ in range((1 << 10) + 1):
            g.go(member)  # waits for a free slot once `limit` are active
        g.wait()
        return peak

    assert vrun(main) == limit  # never more, and the limit is really used


# Go: TestCancelCause
@pytest.mark.parametrize("pattern", ["", "n", "e", "en"])
def test_cancel_cause(pattern: str) -> None:
    def main() -> None:
        doom = RuntimeError("group_test: doomed")
        g = ErrGroup(background())
        for c in pattern:
            assert g.try_go(returns(doom if c == "e" else None))
        want = doom if "e" in pattern else None
        assert wait_outcome(g) is want
        if want is None:
            assert isinstance(cause(g.ctx), Canceled)
        else:
            assert cause(g.ctx) is want

    vrun(main)


# ---------------------------------------------------------------------------
# gochan's promises beyond Go's tests
# ---------------------------------------------------------------------------


def test_first_error_is_reraised_and_the_others_are_in_notes_and_errors() -> None:
    def main() -> tuple[ErrGroup, list[Exception]]:
        errs = [ValueError("one"), KeyError("two"), OSError("three")]
        g = ErrGroup()

        def fail_at(t: float, e: Exception) -> None:
            gochan.sleep(t)  # the virtual clock orders the failures
            raise e

        g.go(fail_at, 3, errs[2])
        g.go(fail_at, 1, errs[0])
        g.go(lambda: None)
        g.go(fail_at, 2, errs[1])
        with pytest.raises(ValueError) as ei:
            g.wait()
        assert ei.value is errs[0]
        with pytest.raises(ValueError) as again:
            g.wait()  # a second wait raises the same, without repeating the notes
        assert again.value is errs[0]
        return g, errs

    g, errs = vrun(main)
    assert g.errors == errs
    notes = getattr(errs[0], "__notes__", [])
    assert len(notes) == 2
    assert "KeyError" in notes[0] and "two" in notes[0]
    assert "OSError" in notes[1] and "three" in notes[1]
    assert not hasattr(errs[1], "__notes__") and not hasattr(errs[2], "__notes__")


def test_ctx_is_cancelled_on_the_first_error_with_it_as_cause() -> None:
    def main() -> None:
        boom = RuntimeError("boom")
        g = ErrGroup()
        seen: list[Any] = []

        def sibling() -> None:
            g.ctx.done().recv()  # stops early because a sibling failed
            seen.append((gochan.monotonic(), g.ctx.err(), cause(g.ctx)))

        def failing() -> None:
            gochan.sleep(5)
            raise boom

        t0 = gochan.monotonic()
        g.go(sibling)
        g.go(sibling)
        g.go(failing)
        with pytest.raises(RuntimeError) as ei:
            g.wait()
        assert ei.value is boom
        assert len(seen) == 2
        for at, err, why in seen:
            assert at == t0 + 5  # as soon as the error happened
            assert isinstance(err, Canceled)
            assert why is boom

    vrun(main)


def test_wait_cancels_ctx_even_without_errors() -> None:
    def main() -> None:
        g = ErrGroup()
        finished = Chan[int](3)
        for i in range(3):
            g.go(finished.send, i)
        assert sorted(finished.recv() for _ in range(3)) == [0, 1, 2]
        gosched()  # the members have returned
        assert g.ctx.err() is None  # nobody failed and nobody waited yet
        g.wait()
        assert isinstance(g.ctx.err(), Canceled)
        assert g.errors == []

    vrun(main)


def test_parent_ctx_cancellation_reaches_the_group() -> None:
    def main() -> None:
        parent, cancel = with_cancel(background())
        g = ErrGroup(parent)
        g.go(lambda: g.ctx.done().recv())
        cancel()
        g.wait()  # the member ended because the parent was cancelled: not an error
        assert isinstance(g.ctx.err(), Canceled)

    vrun(main)


def test_set_limit_while_active_panics_with_gos_message() -> None:
    def main() -> None:
        g = ErrGroup()
        release = Chan[None]()
        g.go(release.recv)
        with pytest.raises(Panic) as ei:
            g.set_limit(3)
        assert str(ei.value) == (
            "errgroup: modify limit while 1 goroutines in the group are still active"
        )
        release.close()
        g.wait()
        g.set_limit(3)  # fine once nothing is active

    vrun(main)


def test_misuse_fails_at_once() -> None:
    def main() -> None:
        g = ErrGroup()
        with pytest.raises(TypeError):
            g.go(42)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            g.try_go(None)  # type: ignore[arg-type]
        g.set_limit(0)
        with pytest.raises(ValueError):
            g.go(lambda: None)  # Go would block forever
        g.set_limit(-1)  # no limit
        assert all(g.try_go(lambda: None) for _ in range(100))
        g.wait()

    vrun(main)


def test_go_returns_the_task() -> None:
    def main() -> None:
        g = ErrGroup()
        t = g.go(lambda x: x * 2, 21)
        assert isinstance(t, gochan.Task)
        g.wait()
        assert t.done()

    vrun(main)


def test_with_block_waits_and_reraises() -> None:
    def main() -> None:
        out: list[int] = []
        with ErrGroup() as g:
            for i in range(3):
                g.go(lambda i=i: (gochan.sleep(i), out.append(i)))
        assert out == [0, 1, 2]  # the block waited for every member

        boom = RuntimeError("member failed")
        with pytest.raises(RuntimeError) as ei, ErrGroup() as g2:
            g2.go(returns(boom))
        assert ei.value is boom

    vrun(main)


def test_with_block_raising_stops_the_members_and_propagates() -> None:
    def main() -> None:
        body_error = ValueError("the body failed")
        member_error = KeyError("a member failed too")
        stopped: list[Any] = []

        def member() -> None:
            g.ctx.done().recv()
            stopped.append(cause(g.ctx))

        def failing_member() -> None:
            g.ctx.done().recv()
            raise member_error

        with pytest.raises(ValueError) as ei, ErrGroup() as g:
            g.go(member)
            g.go(failing_member)
            gosched()  # both members are waiting on g.ctx
            raise body_error
        assert ei.value is body_error  # the body's exception, not a member's
        assert stopped == [body_error]  # the members were stopped, and waited for
        assert g.errors == [member_error]  # a member's failure is kept, not lost
        assert isinstance(g.ctx.err(), Canceled) and cause(g.ctx) is body_error

    vrun(main)


def test_member_cancelled_by_run_shutdown_is_not_an_error() -> None:
    groups: list[ErrGroup] = []
    unwound: list[str] = []

    def member() -> None:
        try:
            Chan[int]().recv()  # blocks until run() cancels it
        finally:
            unwound.append("member")

    def main() -> str:
        g = ErrGroup()
        groups.append(g)
        g.go(member)
        gosched()
        return "main done"  # without waiting: run() cancels the member

    assert vrun(main) == "main done"
    g = groups[0]
    assert unwound == ["member"]
    assert g.errors == []
    assert g.ctx.err() is None  # a cancelled member did not fail the group
    assert "0 active, 0 errors" in repr(g)


def test_member_cancelled_by_task_cancel_is_not_an_error() -> None:
    def main() -> None:
        g = ErrGroup()
        t = g.go(Chan[int]().recv)
        gosched()
        assert t.cancel()
        g.wait()  # returns normally
        assert t.cancelled()
        assert g.errors == []
        assert cause(g.ctx) is not None and isinstance(cause(g.ctx), Canceled)

    vrun(main)
