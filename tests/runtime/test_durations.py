"""NaN and infinite durations, in every API that takes a duration, a timeout
or a deadline (docs/time.md, "NaN and infinite durations").

The rule, checked here API by API on the virtual clock:

* NaN raises ``ValueError`` at the call, naming the API, and leaves the run
  as it was (later sleeps still work).
* Zero and negative durations (``-inf`` too) keep Go's meaning: "now" (or
  the API's own refusal: ``Ticker`` needs a positive period, ``tick`` gives
  ``nilchan``, a workqueue delay must be >= 0).
* ``math.inf`` and anything beyond Go's largest ``time.Duration`` (``1e300``)
  mean "never": the wait lasts until something else ends it (the other
  ``select`` case, ``stop()``, a cancel, a shutdown), a thread off-load can
  still be waited for meanwhile, and the virtual clock never jumps past the
  other event (it stays finite, far below ``1e12``). With nothing else to
  wake anyone, a wait on "never" alone is a ``Deadlock``.
* A large finite duration (``1e9`` s, ~32 years) works: it fires exactly then.
* Outside ``run()`` (implicit mode, real clock), a never-timer or a far one
  does not make the scheduler's wait overflow (``OverflowError`` from the
  platform's ``time_t`` or epoll's int milliseconds).

Hypothesis then feeds arbitrary floats to every timed API: each is refused
with a clear error or behaves as the rule says, never a crash or a hang.
"""

from __future__ import annotations

import math
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gochan
from gochan import Chan, Deadlock, Supervisor, context, go, gosched, nilchan, run, workqueue
from gochan._runtime.duration import MAX_DURATION, MAX_WAIT, seconds, wait_timeout
from gochan.testing import VirtualClockFixture, wait_all_blocked

NAN, INF = math.nan, math.inf
# The longest finite duration (Go's largest, ~9.2e9 s): the bail-out timer
# that ends a "never" wait comes no earlier than any finite one.
BAIL = MAX_DURATION
# The virtual clock must never get anywhere near this.
ABSURD = 1e12
NEVER_VALUES = [INF, 1e300, MAX_DURATION * 2, 10**400]
NOW_VALUES = [0, 0.0, -1, -1e300, -INF]


def vrun(main: Callable[[], Any]) -> Any:
    return run(main, clock="virtual")


def noop() -> None:
    pass


# What starting an API gives: a channel ready once it fired, and a cleanup.
Started = tuple[Chan[Any], Callable[[], object]]


# ---------------------------------------------------------------------------
# Every API that takes a duration: how to start it, and what "done" means
# ---------------------------------------------------------------------------


def in_task(call: Callable[[], object]) -> Started:
    """Run a blocking ``call()`` in a task that reports on the returned
    channel when it ends (returned, or timed out). The task runs at once, up
    to its first block: a ``ValueError`` the call raises on entry is raised
    here, in the caller, as if the call had been made here."""
    done: Chan[None] = Chan(1)
    refused: list[ValueError] = []

    def body() -> None:
        try:
            call()
        except ValueError as e:
            refused.append(e)
            return
        except TimeoutError:
            pass
        done.send(None)

    t = go(body)
    gosched()  # t runs up to its first block (or its end)
    if refused:
        raise refused[0]
    return done, t.cancel


def start_sleep(d: float) -> Started:
    return in_task(lambda: gochan.sleep(d))


def start_after(d: float) -> Started:
    return gochan.after(d), noop


def start_timer(d: float) -> Started:
    t = gochan.Timer(d)
    return t.c, t.stop


def start_timer_reset(d: float) -> Started:
    t = gochan.Timer(5)
    assert t.reset(d)  # it had not fired
    return t.c, t.stop


def start_after_func(d: float) -> Started:
    done: Chan[None] = Chan(1)
    t = gochan.after_func(d, lambda: done.send(None))
    return done, t.stop


def start_ticker(d: float) -> Started:
    t = gochan.Ticker(d)
    return t.c, t.stop


def start_ticker_reset(d: float) -> Started:
    t = gochan.Ticker(5)
    try:
        t.reset(d)
    except ValueError:
        t.stop()
        raise
    return t.c, t.stop


def start_tick(d: float) -> Started:
    return gochan.tick(d), noop  # (a tick cannot be stopped; the run's end drops it)


def start_join(d: float) -> Started:
    target = go(nilchan.recv)  # never ends by itself
    try:
        done, cancel = in_task(lambda: target.join(d))
    except ValueError:
        target.cancel()
        raise
    return done, lambda: (cancel(), target.cancel())


def start_supervisor_join(d: float) -> Started:
    sup = Supervisor("sup", jitter=0)
    sup.add(nilchan.recv, name="forever")
    sup.start()
    try:
        done, cancel = in_task(lambda: sup.join(d))
    except ValueError:
        sup.stop()
        raise

    def cleanup() -> None:
        cancel()
        sup.stop()

    return done, cleanup


def ctx_starter(
    make: Callable[[context.Context, float], tuple[context.Context, Callable[[], None]]],
) -> Callable[[float], Started]:
    def start(d: float) -> Started:
        ctx, cancel = make(context.background(), d)
        return ctx.done(), cancel

    return start


def start_add_after(d: float) -> Started:
    q: workqueue.Queue[str] = workqueue.Queue()
    q.add_after("key", d)
    return queue_getter(q)


def queue_getter(q: workqueue.Queue[str]) -> Started:
    done, cancel = in_task(lambda: q.get())

    def cleanup() -> None:
        q.shut_down()
        cancel()

    return done, cleanup


def limited(limiter: workqueue.RateLimiter) -> Started:
    q: workqueue.Queue[str] = workqueue.Queue(rate_limiter=limiter)
    q.add_rate_limited("key")
    return queue_getter(q)


def start_exp_base(d: float) -> Started:
    return limited(workqueue.ItemExponentialFailureRateLimiter(base=d, max=INF))


def start_exp_max(d: float) -> Started:
    return limited(workqueue.ItemExponentialFailureRateLimiter(base=INF, max=d))


def start_fast(d: float) -> Started:
    return limited(workqueue.ItemFastSlowRateLimiter(fast=d, slow=1, max_fast_attempts=1))


def start_slow(d: float) -> Started:
    return limited(workqueue.ItemFastSlowRateLimiter(fast=1, slow=d, max_fast_attempts=0))


def start_max_wait(d: float) -> Started:
    never = workqueue.ItemExponentialFailureRateLimiter(base=INF, max=INF)
    return limited(workqueue.WithMaxWaitRateLimiter(never, max_wait=d))


def start_backoff(d: float) -> Started:
    """A child that panics once: its restart comes ``d`` seconds later."""
    done: Chan[None] = Chan(1)
    runs: list[float] = []

    def child() -> None:
        runs.append(gochan.monotonic())
        if len(runs) == 1:
            gochan.panic("once")
        done.send(None)

    sup = Supervisor("sup", backoff=d, backoff_max=INF, jitter=0)
    sup.add(child, restart="transient")
    sup.start()
    return done, sup.stop


@dataclass(frozen=True)
class Api:
    """One API that takes a duration. ``start(d)`` arms it in the calling
    task and returns a channel that is ready once it fired (or timed out),
    and a cleanup that ends it. ``nonpositive``: what zero and negative
    durations do ("now"; "refused" with ``refusal`` in the message;
    "negative refused": zero is now, less is refused; "nilchan")."""

    name: str  # as the NaN error names it
    start: Callable[[float], Started]
    nonpositive: str = "now"
    refusal: str = ""

    def __str__(self) -> str:
        return self.name


APIS = [
    Api("sleep()", start_sleep),
    Api("after()", start_after),
    Api("Timer()", start_timer),
    Api("Timer.reset()", start_timer_reset),
    Api("after_func()", start_after_func),
    Api("Ticker()", start_ticker, "refused", "must be positive"),
    Api("Ticker.reset()", start_ticker_reset, "refused", "must be positive"),
    Api("tick()", start_tick, "nilchan"),
    Api("Task.join()", start_join),
    Api("Supervisor.join()", start_supervisor_join),
    Api("with_timeout()", ctx_starter(context.with_timeout)),
    Api(
        "with_timeout_cause()",
        ctx_starter(lambda p, d: context.with_timeout_cause(p, d, KeyError("why"))),
    ),
    # Deadlines are times on the clock, which starts at 0.0: same outcomes.
    Api("with_deadline()", ctx_starter(context.with_deadline)),
    Api(
        "with_deadline_cause()",
        ctx_starter(lambda p, d: context.with_deadline_cause(p, d, KeyError("why"))),
    ),
    Api("add_after()", start_add_after, "negative refused", "needs a delay >= 0"),
    Api(
        "ItemExponentialFailureRateLimiter(base=)",
        start_exp_base,
        "negative refused",
        "needs a delay >= 0",
    ),
    Api(
        "ItemExponentialFailureRateLimiter(max=)",
        start_exp_max,
        "negative refused",
        "needs a delay >= 0",
    ),
    Api("ItemFastSlowRateLimiter(fast=)", start_fast, "negative refused", "needs a delay >= 0"),
    Api("ItemFastSlowRateLimiter(slow=)", start_slow, "negative refused", "needs a delay >= 0"),
    Api(
        "WithMaxWaitRateLimiter(max_wait=)",
        start_max_wait,
        "negative refused",
        "needs a delay >= 0",
    ),
    Api("Supervisor(backoff=)", start_backoff, "negative refused", "need backoff >= 0"),
]


# ---------------------------------------------------------------------------
# The driver: what happened, and what should have
# ---------------------------------------------------------------------------


def observe(api: Api, d: float) -> tuple[Any, ...]:
    """Arm ``api`` with ``d`` in a virtual run and report what happened:
    ("refused", message), ("nilchan",), ("at", time) or ("never",)."""

    def main() -> tuple[Any, ...]:
        try:
            done, cleanup = api.start(d)
        except ValueError as e:
            gochan.sleep(1)  # a refusal leaves the run usable
            assert gochan.monotonic() == 1.0
            return ("refused", str(e))
        if done is nilchan:
            return ("nilchan",)
        i, _ = gochan.select(done.recv, gochan.after(BAIL).recv)
        now = gochan.monotonic()
        assert math.isfinite(now) and now <= BAIL
        if i == 1:  # d == BAIL: both due at once, and select chose the bail
            wait_all_blocked()
            i = gochan.select(done.recv, gochan.default)[0]
        if i == 0:
            cleanup()
            return ("at", now)
        # Never so far. With no timer left but the never one, the scheduler
        # still waits for other work (a thread off-load) without overflowing
        # its wait or jumping the clock, and the never one stays unfired.
        assert gochan.blocking(lambda: 42) == 42
        assert gochan.select(done.recv, gochan.default)[0] == 1
        assert gochan.monotonic() == BAIL
        cleanup()
        gochan.sleep(1)  # a never timer leaves later timers alone
        assert gochan.monotonic() == BAIL + 1
        return ("never",)

    result: tuple[Any, ...] = vrun(main)
    return result


def expected(api: Api, d: float) -> tuple[Any, ...]:
    """What the rule says ``api`` does with ``d`` (a number that is no float
    counts as its float value; one too big for a float is infinite)."""
    try:
        x = float(d)
    except OverflowError:
        x = INF if d > 0 else -INF
    if x != x:
        return ("refused", f"{api.name} got NaN")
    if x > MAX_DURATION:
        return ("never",)
    if x <= 0:
        kind = api.nonpositive
        if kind == "nilchan":
            return ("nilchan",)
        if kind == "refused" or (kind == "negative refused" and x < 0):
            return ("refused", api.refusal)
        return ("at", 0.0)
    return ("at", x)


def check(api: Api, d: float) -> None:
    got, want = observe(api, d), expected(api, d)
    if want[0] == "refused":
        assert got[0] == "refused", (api.name, d, got)
        assert want[1] in got[1], (api.name, d, got)
    else:
        assert got == want, (api.name, d)


@pytest.mark.parametrize("api", APIS, ids=str)
def test_nan_is_refused_at_the_call_naming_the_api(api: Api) -> None:
    got = observe(api, NAN)
    assert got[0] == "refused", got
    assert got[1].startswith(f"{api.name} got NaN"), got[1]


@pytest.mark.parametrize("d", NEVER_VALUES, ids=["inf", "1e300", "2max", "10**400"])
@pytest.mark.parametrize("api", APIS, ids=str)
def test_inf_and_beyond_go_range_mean_never(api: Api, d: float) -> None:
    check(api, d)


@pytest.mark.parametrize("d", [1e9, 1.5, MAX_DURATION], ids=["1e9", "1.5", "max"])
@pytest.mark.parametrize("api", APIS, ids=str)
def test_large_finite_durations_fire_on_time(api: Api, d: float) -> None:
    check(api, d)


@pytest.mark.parametrize("d", NOW_VALUES, ids=["0", "0.0", "-1", "-1e300", "-inf"])
@pytest.mark.parametrize("api", APIS, ids=str)
def test_zero_and_negative_keep_go_semantics(api: Api, d: float) -> None:
    check(api, d)


# ---------------------------------------------------------------------------
# Never, with nothing else to wake anyone: a deadlock
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [INF, 1e300], ids=["inf", "1e300"])
@pytest.mark.parametrize("api", APIS, ids=str)
def test_waiting_only_on_never_is_a_deadlock(api: Api, d: float) -> None:
    """A never-timer is no pending timer: the scheduler reports the
    deadlock (Go would sleep ~292 years) instead of jumping to infinity."""

    def main() -> float:
        done, cleanup = api.start(d)
        with pytest.raises(Deadlock, match="all goroutines are asleep"):
            done.recv()
        cleanup()
        return gochan.monotonic()

    assert vrun(main) == 0.0


def test_a_never_context_reports_no_deadline() -> None:
    def main() -> list[object]:
        bg = context.background()
        out: list[object] = []
        for t in (INF, 1e300, MAX_DURATION + 1):
            ctx, cancel = context.with_deadline(bg, t)
            out.append(ctx.deadline())
            cancel()
            assert isinstance(ctx.err(), context.Canceled)  # still cancellable
        parent, cancel_parent = context.with_timeout(bg, 5)
        ctx, cancel = context.with_timeout(parent, INF)
        out.append(ctx.deadline())  # the parent's
        cancel_parent()
        assert isinstance(ctx.err(), context.Canceled)  # children go with their parent
        cancel()
        return out

    assert vrun(main) == [None, None, None, 5.0]


def test_a_never_timer_stays_out_of_the_heap() -> None:
    """Armed, stoppable and resettable, but never in the scheduler's heap."""

    def main() -> list[object]:
        s = gochan._runtime.threads.get_scheduler()
        t = gochan.Timer(INF)
        tk = gochan.Ticker(1e300)
        out: list[object] = [len(s.timers.heap), repr(t)]
        out.append(t.reset(INF))  # True: it was still pending
        out.append(t.reset(2))  # True again, now finite
        out.append(len(s.timers.heap))
        out.append(t.c.recv())
        tk.reset(3)
        out.append(tk.c.recv())
        tk.stop()
        out.append(t.stop())  # False: its value was received
        return out

    assert vrun(main) == [0, "<Timer active when=inf>", True, True, 1, 2.0, 5.0, False]


# ---------------------------------------------------------------------------
# I/O timeouts (pending work: never a deadlock, and on builtin the virtual
# clock does not jump over them)
# ---------------------------------------------------------------------------


def pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def settle() -> None:
    """Let a new waiter reach its fd registration (see tests/runtime/test_io.py)."""
    gosched()
    backend = os.environ.get("GOCHAN_BACKEND") or "builtin"
    if backend == "trio":
        import trio.testing

        gochan.await_(trio.testing.wait_all_tasks_blocked())
    elif backend != "builtin":
        import asyncio

        gochan.await_(asyncio.sleep(0))


def fill(a: socket.socket) -> None:
    try:
        while True:
            a.send(b"x" * 65536)
    except BlockingIOError:
        pass


def drain(b: socket.socket) -> None:
    try:
        while b.recv(1 << 20):
            pass
    except BlockingIOError:
        pass


@pytest.mark.parametrize("write", [False, True], ids=["wait_readable", "wait_writable"])
@pytest.mark.parametrize(
    "d", [NAN, *NEVER_VALUES, *NOW_VALUES], ids=lambda d: repr(d).replace(" ", "")
)
def test_io_timeouts(write: bool, d: float) -> None:
    wait = gochan.wait_writable if write else gochan.wait_readable
    what = "wait_writable()" if write else "wait_readable()"

    def main() -> str:
        a, b = pair()
        with a, b:
            if write:
                fill(a)
            if d != d:
                with pytest.raises(ValueError, match=rf"^{what[:-2]}\(\) got NaN"):
                    wait(a, d)
                return "refused"
            if d <= 0:
                with pytest.raises(TimeoutError):
                    wait(a, d)
                return "now"
            waiter = go(wait, a, d)
            settle()
            assert not waiter.done()
            # The other event: the fd becomes ready. No TimeoutError first.
            drain(b) if write else b.send(b"!")
            waiter.join()
            assert gochan.monotonic() == 0.0
            return "ready"

    want = "refused" if d != d else "now" if d <= 0 else "ready"
    assert vrun(main) == want


# ---------------------------------------------------------------------------
# Outside run(): the real clock, implicit mode
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [INF, 1e300, 1e9], ids=["inf", "1e300", "1e9"])
def test_far_timers_outside_run_do_not_overflow_the_wait(d: float) -> None:
    """Implicit mode, real clock: a pending never (or far) timer, while the
    thread waits for a thread off-load, used to overflow the backend's wait
    (``OverflowError`` from time_t or epoll)."""
    c = gochan.after(d)
    t = gochan.Timer(d)
    tk = gochan.Ticker(d)
    ctx, cancel = context.with_timeout(context.background(), d)
    try:
        # (The off-load takes a moment, so that the thread really waits for it.)
        assert gochan.blocking(lambda: (time.sleep(0.01), "done")[1]) == "done"
        i, _ = gochan.select(c.recv, t.c.recv, tk.c.recv, ctx.done().recv, gochan.after(0).recv)
        assert i == 4
    finally:
        t.stop()
        tk.stop()
        cancel()


def test_nan_outside_run_is_refused_and_leaves_the_thread_usable() -> None:
    for call in (
        lambda: gochan.sleep(NAN),
        lambda: gochan.after(NAN),
        lambda: gochan.Timer(NAN),
        lambda: gochan.after_func(NAN, noop),
        lambda: context.with_timeout(context.background(), NAN),
    ):
        with pytest.raises(ValueError, match="got NaN"):
            call()
    gochan.sleep(0.001)  # nothing left behind that poisons the next wait


def test_wait_timeout_is_clamped_for_every_backend() -> None:
    assert wait_timeout(None) is None
    assert wait_timeout(INF) == wait_timeout(1e300) == wait_timeout(1e9) == MAX_WAIT
    assert wait_timeout(-INF) == wait_timeout(-1) == 0.0
    assert wait_timeout(0.25) == 0.25


def test_a_far_timer_is_waited_for_in_turns_while_work_is_pending() -> None:
    """Virtual clock with pending work (a thread off-load): the clock does
    not jump, and the hub waits for the work with a timeout sized for the
    far timer, clamped (it used to reach epoll as 1e9 s)."""

    def main() -> float:
        t = gochan.Timer(1e9)
        assert gochan.blocking(lambda: (time.sleep(0.01), 7)[1]) == 7
        assert t.stop()  # still pending
        return gochan.monotonic()

    assert vrun(main) == 0.0


# ---------------------------------------------------------------------------
# Settings that are durations (not timed waits of their own)
# ---------------------------------------------------------------------------


SETTINGS: list[tuple[str, Callable[[Any], object]]] = [
    ("Supervisor(period=)", lambda d: Supervisor(period=d)),
    ("Supervisor(backoff_max=)", lambda d: Supervisor(backoff=0, backoff_max=d)),
    ("Queue(unfinished_work_update_period=)", lambda d: queue_with_period(d)),
    ("wait_all_blocked()", lambda d: wait_all_blocked(d)),
]


def queue_with_period(d: float) -> None:
    q: workqueue.Queue[str] = workqueue.Queue(
        metrics_provider=workqueue.MetricsProvider(), unfinished_work_update_period=d
    )
    q.add("k")
    assert q.get() == ("k", False)
    gochan.sleep(10)  # a never period ticks never, and holds up nothing
    q.done("k")
    q.shut_down()


@pytest.mark.parametrize("name, make", SETTINGS, ids=[n for n, _ in SETTINGS])
def test_duration_settings(name: str, make: Callable[[Any], object]) -> None:
    def main() -> None:
        with pytest.raises(ValueError, match="^" + re.escape(f"{name} got NaN")):
            make(NAN)
        with pytest.raises(TypeError, match="duration in seconds"):
            make("1")
        for d in (INF, 1e300, 10**400, 1e9):
            make(d)  # accepted: "never" (or long)
        assert gochan.monotonic() < ABSURD

    vrun(main)


@pytest.mark.parametrize("period", [INF, 1e300])
def test_an_infinite_period_never_forgets_a_restart(period: float) -> None:
    runs: list[float] = []

    def main() -> None:
        def child() -> None:
            runs.append(gochan.monotonic())
            gochan.sleep(1e9)
            gochan.panic("again")

        sup = Supervisor("sup", max_restarts=1, period=period, backoff=0, jitter=0)
        sup.add(child)
        sup.serve()

    gave_up = re.escape("1 restart(s) within inf s")
    with pytest.raises(gochan.supervisor.TooManyRestarts, match=gave_up):
        vrun(main)
    assert runs == [0.0, 1e9]


def test_backoff_growth_past_any_float_is_never_not_overflow() -> None:
    """``backoff_factor ** n`` past a float raised OverflowError; a factor
    of inf on a zero backoff made 0 * inf = NaN."""
    sup = Supervisor(backoff=1, backoff_factor=2, backoff_max=INF, jitter=0.5)
    assert sup._delay(2000) == INF
    sup = Supervisor(backoff=0, backoff_factor=INF, backoff_max=INF)
    assert sup._delay(1) == sup._delay(3) == 0.0
    sup = Supervisor(backoff=1, backoff_factor=INF, backoff_max=INF, jitter=1)
    assert sup._delay(2) == INF


def test_virtual_clock_fixture_start_must_be_finite() -> None:
    for bad in (NAN, INF, -INF, 1e300):
        with pytest.raises(ValueError, match="start="):
            VirtualClockFixture(start=bad)
    with pytest.raises(TypeError, match="start="):
        VirtualClockFixture(start="0")  # type: ignore[arg-type]
    assert VirtualClockFixture(start=5).now() == 5.0


# ---------------------------------------------------------------------------
# Sub-nanosecond tickers, and the validator itself
# ---------------------------------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("period", [1e-12, 5e-324, 1e-9])
def test_a_ticker_below_the_clock_resolution_still_moves_on(period: float) -> None:
    """Tick deadlines are whole nanoseconds: a shorter period (or one below
    a float step of a large clock) used to re-arm at ``now`` for ever."""

    def main() -> list[bool]:
        out = []
        for start in (0.0, 1e9):
            gochan.sleep(start - gochan.monotonic())
            t = gochan.Ticker(period)
            ticks = [float(t.c.recv() or 0) for _ in range(3)]
            t.stop()
            out.append(ticks == sorted(set(ticks)) and ticks[0] >= start)
        return out

    assert vrun(main) == [True, True]


def test_the_validator() -> None:
    from decimal import Decimal
    from fractions import Fraction

    assert seconds(3, "x()") == 3.0
    assert seconds(Fraction(1, 4), "x()") == 0.25
    assert seconds(Decimal("1e400"), "x()") == INF
    assert seconds(Fraction(10**400), "x()") == INF  # float() overflows: never
    assert seconds(-(10**400), "x()") == -INF
    assert seconds(MAX_DURATION, "x()") == MAX_DURATION
    assert seconds(math.nextafter(MAX_DURATION, INF), "x()") == INF
    for bad in ("1", None, True, [1], 1j):
        with pytest.raises(TypeError, match=r"^x\(\) takes a duration in seconds"):
            seconds(bad, "x()")
    with pytest.raises(ValueError, match=r"^x\(\) got NaN seconds"):
        seconds(Decimal("NaN"), "x()")


# ---------------------------------------------------------------------------
# Hypothesis: any float, into every API
# ---------------------------------------------------------------------------

ANY_DURATION = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e10, max_value=1e10),
    st.sampled_from([MAX_DURATION, math.nextafter(MAX_DURATION, INF), 5e-324, -0.0]),
    st.integers(min_value=-(10**400), max_value=10**400),
)


@pytest.mark.parametrize("api", APIS, ids=str)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=ANY_DURATION)
def test_any_duration_is_refused_clearly_or_obeys_the_rule(api: Api, d: float) -> None:
    check(api, d)
