"""defer / panic / recover: Go's rules, Python's edge cases, and green tasks.

The Go references are the spec ("Defer statements", "Handling panics") and
the Go blog's "Defer, Panic, and Recover", whose example program is ported
line for line below.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

import pytest

import gochan
from gochan import Cancelled, Chan, Panic, defer, func, go, panic, recover, run

# -- the Go blog's program ---------------------------------------------------------


def test_go_blog_defer_panic_recover_program(capsys: pytest.CaptureFixture[str]) -> None:
    # package main
    # func main() { f(); fmt.Println("Returned normally from f.") }
    # func f() {
    #     defer func() {
    #         if r := recover(); r != nil { fmt.Println("Recovered in f", r) }
    #     }()
    #     fmt.Println("Calling g.")
    #     g(0)
    #     fmt.Println("Returned normally from g.")
    # }
    # func g(i int) {
    #     if i > 3 { fmt.Println("Panicking!"); panic(fmt.Sprintf("%v", i)) }
    #     defer fmt.Println("Defer in g", i)
    #     fmt.Println("Printing in g", i)
    #     g(i + 1)
    # }
    @func
    def f() -> None:
        def handler() -> None:
            r = recover()
            if r is not None:
                print("Recovered in f", r)

        defer(handler)
        print("Calling g.")
        g(0)
        print("Returned normally from g.")

    @func
    def g(i: int) -> None:
        if i > 3:
            print("Panicking!")
            panic(f"{i}")
        defer(print, "Defer in g", i)
        print("Printing in g", i)
        g(i + 1)

    f()
    print("Returned normally from f.")
    assert capsys.readouterr().out.splitlines() == [
        "Calling g.",
        "Printing in g 0",
        "Printing in g 1",
        "Printing in g 2",
        "Printing in g 3",
        "Panicking!",
        "Defer in g 3",
        "Defer in g 2",
        "Defer in g 1",
        "Defer in g 0",
        "Recovered in f 4",
        "Returned normally from f.",
    ]


def test_go_blog_without_the_recover_the_panic_reaches_the_caller(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @func
    def g(i: int) -> None:
        if i > 3:
            panic(f"{i}")
        defer(print, "Defer in g", i)
        g(i + 1)

    with pytest.raises(Panic) as ei:
        g(0)
    assert ei.value.value == "4"
    assert capsys.readouterr().out.splitlines() == [f"Defer in g {i}" for i in (3, 2, 1, 0)]


# -- the blog's three rules -------------------------------------------------------


def test_rule1_arguments_are_evaluated_when_defer_runs() -> None:
    out: list[int] = []

    @func
    def a() -> None:
        i = 0
        defer(out.append, i)
        i += 1

    a()
    assert out == [0]


def test_rule2_deferred_calls_run_last_in_first_out() -> None:
    out: list[int] = []

    @func
    def b() -> None:
        for i in range(4):
            defer(out.append, i)

    b()
    assert out == [3, 2, 1, 0]


def test_rule3_named_results_become_an_enclosing_variable() -> None:
    # Go: func c() (i int) { defer func() { i++ }(); return 1 } returns 2.
    # A Python return value is not a variable a deferred call could change;
    # the documented equivalent keeps the result in the enclosing scope.
    def c() -> int:
        i = 0

        @func
        def body() -> None:
            nonlocal i

            def incr() -> None:
                nonlocal i
                i += 1

            defer(incr)
            i = 1

        body()
        return i

    assert c() == 2


# -- when deferred calls run -----------------------------------------------------


def test_defers_run_on_normal_return_and_keep_the_result() -> None:
    out: list[str] = []

    @func
    def f(x: int) -> int:
        defer(out.append, "deferred")
        out.append("body")
        return x * 2

    assert f(21) == 42
    assert out == ["body", "deferred"]


def test_function_without_defers_returns_and_raises_normally() -> None:
    @func
    def f(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x

    assert f(3) == 3
    with pytest.raises(ValueError, match="negative"):
        f(-1)


def test_defers_run_when_an_exception_escapes() -> None:
    out: list[str] = []

    @func
    def f() -> None:
        defer(out.append, "first deferred")
        defer(out.append, "second deferred")
        raise KeyError("k")

    with pytest.raises(KeyError):
        f()
    assert out == ["second deferred", "first deferred"]


def test_defers_run_on_cancellation_and_cancellation_is_never_recovered() -> None:
    out: list[Any] = []

    @func
    def worker() -> None:
        defer(out.append, "cleanup")
        defer(lambda: out.append(("recover() gave", recover())))
        gochan.sleep(3600)

    def main() -> None:
        t = go(worker)
        gochan.gosched()
        t.cancel()
        with pytest.raises(Cancelled):
            t.join()
        assert t.cancelled()

    run(main, clock="virtual")
    assert out == [("recover() gave", None), "cleanup"]


def test_defers_run_when_run_shuts_down_leftover_tasks() -> None:
    out: list[str] = []

    @func
    def worker() -> None:
        defer(out.append, "deferred in a task cancelled by run()")
        Chan[int]().recv()

    def main() -> None:
        go(worker)
        gochan.gosched()

    run(main)
    assert out == ["deferred in a task cancelled by run()"]


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3)], ids=repr)
def test_base_exceptions_are_not_recovered_but_defers_run(exc: BaseException) -> None:
    seen: list[Any] = []

    @func
    def f() -> None:
        defer(lambda: seen.append(recover()))
        raise exc

    with pytest.raises(type(exc)):
        f()
    assert seen == [None]


def test_a_deferred_call_that_blocks_during_cancellation_is_cancelled_again() -> None:
    out: list[str] = []

    @func
    def worker() -> None:
        defer(out.append, "still runs")
        defer(gochan.sleep, 10)  # blocks while cancelled: raises Cancelled again
        gochan.sleep(3600)

    def main() -> None:
        t = go(worker)
        gochan.gosched()
        t.cancel()
        with pytest.raises(Cancelled):
            t.join()

    run(main, clock="virtual")
    assert out == ["still runs"]


# -- recover ----------------------------------------------------------------------


def test_recover_returns_panic_value_and_function_returns_none() -> None:
    got: list[Any] = []

    @func
    def f() -> int:
        defer(lambda: got.append(recover()))
        panic({"code": 7})

    assert f() is None
    assert got == [{"code": 7}]


def test_recover_returns_the_exception_itself_for_other_exceptions() -> None:
    got: list[Any] = []

    @func
    def f() -> int:
        defer(lambda: got.append(recover()))
        return 1 // 0

    assert f() is None
    assert isinstance(got[0], ZeroDivisionError)


def test_recovering_code_gets_the_traceback_from_sys_exception() -> None:
    seen: dict[str, Any] = {}

    def raise_here() -> None:
        panic("deep")

    @func
    def f() -> None:
        def handler() -> None:
            exc = sys.exception()
            seen["value"] = recover()
            seen["exc"] = exc

        defer(handler)
        raise_here()

    f()
    exc = seen["exc"]
    assert seen["value"] == "deep" and isinstance(exc, Panic) and exc.value == "deep"
    names = [fs.name for fs in traceback.extract_tb(exc.__traceback__)]
    assert "raise_here" in names and names[-1] == "panic"


def test_runtime_errors_are_panics_and_recover_with_gos_message() -> None:
    got: list[Any] = []

    @func
    def f() -> None:
        defer(lambda: got.append(recover()))
        ch = Chan[int]()
        ch.close()
        ch.close()

    f()
    assert got == ["close of closed channel"]


def test_recover_outside_a_deferred_call_returns_none() -> None:
    assert recover() is None

    @func
    def f() -> Any:
        return recover()  # the function body, not a deferred call

    assert f() is None


def test_recover_during_a_normal_return_returns_none() -> None:
    got: list[Any] = ["unset"]

    @func
    def f() -> int:
        defer(lambda: got.__setitem__(0, recover()))
        return 5

    assert f() == 5
    assert got == [None]


def test_defer_recover_itself_does_not_recover_as_in_go() -> None:
    # Go: `defer recover()` does not stop a panic: recover is not called *by*
    # a deferred function, it *is* the deferred call.
    @func
    def f() -> None:
        defer(recover)
        panic("still panicking")

    with pytest.raises(Panic, match="still panicking"):
        f()


def test_recover_in_a_helper_of_the_deferred_function_does_not_recover() -> None:
    got: list[Any] = []

    def helper() -> None:
        got.append(recover())

    @func
    def f() -> None:
        defer(lambda: helper())
        panic("not stopped by a helper")

    with pytest.raises(Panic):
        f()
    assert got == [None]


def test_a_deferred_func_function_recovers_in_its_own_body() -> None:
    got: list[Any] = []

    @func
    def handler() -> None:
        defer(got.append, "handler's own defer")
        got.append(recover())

    @func
    def f() -> None:
        defer(handler)
        panic("caught by a deferred @func function")

    assert f() is None
    assert got == ["caught by a deferred @func function", "handler's own defer"]


def test_a_func_function_called_by_a_deferred_function_cannot_recover() -> None:
    got: list[Any] = []

    @func
    def inner() -> None:
        got.append(recover())

    @func
    def f() -> None:
        defer(lambda: inner())
        panic("too deep to recover")

    with pytest.raises(Panic):
        f()
    assert got == [None]


def test_recover_twice_returns_none_the_second_time() -> None:
    got: list[Any] = []

    @func
    def f() -> None:
        defer(lambda: got.append(recover()))
        defer(lambda: got.append(recover()))
        panic("once")

    f()
    assert got == ["once", None]


def test_recover_stops_only_its_own_frames_panic() -> None:
    got: list[Any] = []

    @func
    def inner() -> None:
        panic("inner")

    @func
    def outer() -> str:
        defer(lambda: got.append(recover()))
        inner()
        return "unreachable"

    assert outer() is None
    assert got == ["inner"]


def test_a_recovered_task_ends_normally_and_is_not_fatal() -> None:
    @func
    def worker() -> int:
        defer(recover_quietly)
        panic("contained")

    def recover_quietly() -> None:
        recover()

    def main() -> Any:
        return go(worker).join()

    assert run(main) is None


# -- a deferred call that raises replaces the panic --------------------------------


def test_deferred_raise_replaces_the_panic_and_chains_the_first() -> None:
    out: list[str] = []

    @func
    def f() -> None:
        defer(out.append, "runs after the replacement")
        defer(lambda: [][1])
        raise KeyError("first")

    with pytest.raises(IndexError) as ei:
        f()
    assert isinstance(ei.value.__context__, KeyError)
    assert out == ["runs after the replacement"]


def test_two_replacements_chain_in_order() -> None:
    @func
    def f() -> None:
        defer(lambda: 1 // 0)
        defer(lambda: [][1])
        raise KeyError("first")

    with pytest.raises(ZeroDivisionError) as ei:
        f()
    mid = ei.value.__context__
    assert isinstance(mid, IndexError) and isinstance(mid.__context__, KeyError)


def test_a_later_deferred_call_recovers_the_replacement() -> None:
    got: list[Any] = []

    @func
    def f() -> None:
        defer(lambda: got.append(recover()))
        defer(panic, "second")
        panic("first")

    assert f() is None
    assert got == ["second"]


def test_a_panic_in_a_deferred_call_after_a_normal_return_propagates() -> None:
    @func
    def f() -> int:
        defer(panic, "from a deferred call")
        return 1

    with pytest.raises(Panic, match="from a deferred call"):
        f()


def test_a_panic_after_a_recovery_propagates() -> None:
    got: list[Any] = []

    @func
    def f() -> None:
        defer(panic, "raised after the recovery")  # runs last
        defer(lambda: got.append(recover()))
        panic("recovered")

    with pytest.raises(Panic, match="raised after the recovery"):
        f()
    assert got == ["recovered"]


def test_unrecovered_panic_traceback_shows_origin_and_deferred_calls() -> None:
    def cleanup() -> None:
        pass

    @func
    def f() -> None:
        defer(cleanup)
        defer(print, end="")
        raise ValueError("origin")

    with pytest.raises(ValueError) as ei:
        f()
    frames = traceback.extract_tb(ei.value.__traceback__)
    assert frames[-1].line == 'raise ValueError("origin")'
    assert ei.value.__notes__ == [
        "gochan: test_unrecovered_panic_traceback_shows_origin_and_deferred_calls.<locals>.f() "
        "ran its deferred calls, last deferred first: print(), "
        "test_unrecovered_panic_traceback_shows_origin_and_deferred_calls.<locals>.cleanup()"
    ]


def test_the_note_marks_which_deferred_call_raised() -> None:
    @func
    def f() -> None:
        defer(print, end="")
        defer(panic, "replacement")

    with pytest.raises(Panic) as ei:
        f()
    (note,) = ei.value.__notes__
    assert note.endswith("last deferred first: panic() (raised), print()")


def test_no_note_without_defers() -> None:
    @func
    def f() -> None:
        raise ValueError("plain")

    with pytest.raises(ValueError) as ei:
        f()
    assert not hasattr(ei.value, "__notes__")


# -- panic ------------------------------------------------------------------------------


def test_panic_raises_exceptions_as_they_are() -> None:
    err = OSError("disk")
    with pytest.raises(OSError) as ei:
        panic(err)
    assert ei.value is err


def test_panic_wraps_other_values() -> None:
    with pytest.raises(Panic) as ei:
        panic(42)
    assert ei.value.value == 42 and str(ei.value) == "42"


def test_panic_none_is_a_runtime_error_that_recover_sees() -> None:
    got: list[Any] = []

    @func
    def f() -> None:
        defer(lambda: got.append(recover()))
        panic(None)

    f()
    assert got == ["panic called with nil argument"]


# -- where defer may be called ------------------------------------------------


def test_defer_outside_func_raises_runtime_error_saying_what_to_do() -> None:
    def plain() -> None:
        defer(print)

    with pytest.raises(RuntimeError, match=r"outside a @gochan.func function \(in .*plain\(\)\)"):
        plain()
    with pytest.raises(RuntimeError, match="decorate the function that calls defer"):
        defer(print)


def test_defer_in_a_nested_function_or_lambda_is_rejected() -> None:
    @func
    def f() -> None:
        def nested() -> None:
            defer(print)

        nested()

    with pytest.raises(RuntimeError, match=r"defer\(\) called in .*nested\(\), not directly"):
        f()

    @func
    def g() -> None:
        (lambda: defer(print))()

    with pytest.raises(RuntimeError, match=r"decorate .*<lambda>\(\) with @gochan.func too"):
        g()


def test_defer_in_a_deferred_plain_function_is_rejected() -> None:
    @func
    def f() -> None:
        defer(lambda: defer(print))

    with pytest.raises(RuntimeError, match="not directly in the body"):
        f()


def test_defer_needs_a_callable() -> None:
    @func
    def f() -> None:
        defer(print("called too early"))  # type: ignore[func-returns-value]

    with pytest.raises(TypeError, match=r"defer\(f, arg\) rather than defer\(f\(arg\)\)"):
        f()


def test_defer_passes_keyword_arguments() -> None:
    out: list[str] = []

    @func
    def f() -> None:
        defer(out.append, "x")
        defer(print, "y", end="", file=sys.stderr)

    f()
    assert out == ["x"]


# -- what @func decorates ------------------------------------------------------


class Account:
    def __init__(self) -> None:
        self.log: list[str] = []

    @func
    def method(self, x: int) -> int:
        defer(self.log.append, f"method {x}")
        return x + 1

    @func
    @staticmethod
    def static_below(out: list[str]) -> str:
        defer(out.append, "static_below")
        return "s1"

    @staticmethod
    @func
    def static_above(out: list[str]) -> str:
        defer(out.append, "static_above")
        return "s2"

    @func
    @classmethod
    def class_below(cls, out: list[str]) -> str:
        defer(out.append, "class_below")
        return cls.__name__

    @classmethod
    @func
    def class_above(cls, out: list[str]) -> str:
        defer(out.append, "class_above")
        return cls.__name__


def test_methods_static_and_class_methods_in_both_orders() -> None:
    a = Account()
    assert a.method(1) == 2 and a.log == ["method 1"]
    out: list[str] = []
    assert Account.static_below(out) == "s1" and a.static_above(out) == "s2"
    assert Account.class_below(out) == "Account" and a.class_above(out) == "Account"
    assert out == ["static_below", "static_above", "class_below", "class_above"]


def test_nested_and_recursive_func_calls_keep_separate_frames() -> None:
    out: list[str] = []

    @func
    def rec(n: int) -> None:
        defer(out.append, f"exit {n}")
        if n:
            rec(n - 1)
        out.append(f"body {n}")

    rec(2)
    assert out == ["body 0", "exit 0", "body 1", "exit 1", "body 2", "exit 2"]


def test_func_keeps_name_doc_and_signature() -> None:
    @func
    def documented(a: int, b: str = "x") -> str:
        """The docstring."""
        return b * a

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "The docstring."
    assert str(inspect.signature(documented)) == "(a: 'int', b: 'str' = 'x') -> 'str'"
    assert documented(2) == "xx"


def _logged(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


def test_func_on_top_of_a_functools_wraps_decorator() -> None:
    out: list[str] = []

    @func
    @_logged
    def f() -> None:
        defer(out.append, "through a decorator")

    f()
    assert out == ["through a decorator"]


def test_a_functools_wraps_decorator_on_top_of_func() -> None:
    out: list[str] = []

    @_logged
    @func
    def f() -> None:
        defer(out.append, "under a decorator")
        panic("x")

    with pytest.raises(Panic):
        f()
    assert out == ["under a decorator"]


def test_func_on_a_c_level_wrapper_such_as_lru_cache() -> None:
    out: list[int] = []

    @func
    @functools.lru_cache(maxsize=None)  # noqa: UP033 - the C wrapper is the point
    def square(x: int) -> int:
        defer(out.append, x)
        return x * x

    assert square(3) == 9 and square(3) == 9
    assert out == [3]  # the second call is served by the cache


def test_generators_and_async_functions_are_rejected() -> None:
    def gen() -> Any:
        yield 1

    async def coro() -> None:
        pass

    async def agen() -> Any:
        yield 1

    for fn, kind in [(gen, "generator"), (coro, "async function"), (agen, "async generator")]:
        with pytest.raises(TypeError, match=f"cannot decorate {kind}.*try/finally"):
            func(fn)


def test_non_functions_are_rejected() -> None:
    with pytest.raises(TypeError, match="has no __code__"):
        func(functools.partial(print))
    with pytest.raises(TypeError, match="decorates functions and methods"):
        func(42)  # type: ignore[call-overload]


# -- many green tasks, reused greenlets, threads ----------------------------------------


def test_interleaving_tasks_keep_their_own_defers() -> None:
    out: dict[int, list[str]] = {}

    @func
    def worker(n: int) -> None:
        mine = out.setdefault(n, [])
        for step in range(3):
            defer(mine.append, f"defer {step}")
            gochan.sleep(0.1 * ((n * 7 + step) % 5 + 1))  # interleave with the others
        if n % 2:
            defer(lambda: mine.append(f"recovered {recover()}"))
            panic(n)

    def main() -> None:
        tasks = [go(worker, n) for n in range(20)]
        for t in tasks:
            t.join()

    run(main, clock="virtual")
    for n in range(20):
        tail = ["defer 2", "defer 1", "defer 0"]
        assert out[n] == ([f"recovered {n}", *tail] if n % 2 else tail)


def test_reused_task_greenlets_carry_no_defer_state() -> None:
    results: list[Any] = []

    @func
    def panics_and_recovers(i: int) -> None:
        defer(lambda: results.append(("recovered", recover())))
        panic(i)

    @func
    def plain(i: int) -> int:
        defer(lambda: results.append(("normal", recover())))
        return i

    def main() -> None:
        for i in range(50):  # each task reuses the greenlet the previous one ran on
            go(panics_and_recovers if i % 2 == 0 else plain, i).join()

    run(main)
    assert results == [("recovered", i) if i % 2 == 0 else ("normal", None) for i in range(50)]


def test_func_works_in_several_os_threads_at_once() -> None:
    barrier = threading.Barrier(4)
    out: dict[int, list[Any]] = {}

    @func
    def work(n: int) -> None:
        out[n] = []
        defer(lambda: out[n].append(recover()))
        defer(out[n].append, "cleanup")
        barrier.wait()  # all four threads are inside their @func frame now
        panic(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {n: ["cleanup", n] for n in range(4)}


def test_panic_is_noreturn_for_type_checkers() -> None:
    assert inspect.signature(panic).return_annotation in ("NoReturn", "typing.NoReturn")
