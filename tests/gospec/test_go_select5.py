"""Port of Go's test/chan/select5.go: every shape of a simple select.

Go's select5 is a program generator: it enumerates every combination of
a real receive or send on a one-slot channel, optional ``default`` before
or after it, and optional never-ready cases (a dummy channel nobody uses,
the nil channel), and checks that the real operation happens and nothing
else does. Here the enumeration is done with ``itertools`` at test time:
every subset of the never-ready cases, every position of the real case
among them and every position of ``default`` (or none) are run, and each
select must return the real case's index and value and leave the dummy
channel untouched. Go's generator stays on one goroutine; the last test
adds the blocking variant (the real case becomes ready only after the
select has parked), which needs no default.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from typing import Any

import pytest

from gochan import Chan, default, go, nilchan, run, select

NEVER_READY = ("dummy_send", "dummy_recv", "dummy_recv_ok", "nil_send", "nil_recv", "nil_recv_ok")
REAL = "real"
DEFAULT = "default"


def layouts(*, real: bool, dflt: str) -> Iterator[tuple[str, ...]]:
    """Every ordering of cases: a subset of NEVER_READY in fixed order, the
    real case (if ``real``) at every position, and default (``dflt`` is
    "never", "maybe" or "always") at every position."""
    for k in range(len(NEVER_READY) + 1):
        for subset in combinations(NEVER_READY, k):
            with_real = []
            if real:
                for pos in range(k + 1):
                    names = list(subset)
                    names.insert(pos, REAL)
                    with_real.append(names)
            else:
                with_real.append(list(subset))
            for names in with_real:
                if dflt in ("never", "maybe"):
                    yield tuple(names)
                if dflt in ("maybe", "always"):
                    for pos in range(len(names) + 1):
                        yield (*names[:pos], DEFAULT, *names[pos:])


def never_ready_case(name: str, dummy: Chan[int]) -> Any:
    return {
        "dummy_send": (dummy.send, -1),
        "dummy_recv": dummy.recv,
        "dummy_recv_ok": dummy.recv_ok,
        "nil_send": (nilchan.send, -1),
        "nil_recv": nilchan.recv,
        "nil_recv_ok": nilchan.recv_ok,
    }[name]


def build(layout: tuple[str, ...], real_case: Any, dummy: Chan[int]) -> list[Any]:
    cases = []
    for name in layout:
        if name == REAL:
            cases.append(real_case)
        elif name == DEFAULT:
            cases.append(default)
        else:
            cases.append(never_ready_case(name, dummy))
    return cases


def dummy_untouched(dummy: Chan[int]) -> bool:
    return select((dummy.send, 0), dummy.recv, default) == (2, None)


def test_layout_counts() -> None:
    # Guard the enumerator itself. With k of the 6 never-ready cases there
    # are k+1 places for the real case and k+2 for default (or none):
    # sum C(6,k)*(k+1)*(k+3) = 1632; without default, sum C(6,k)*(k+1) = 256;
    # no real case but always a default gives the same 256.
    assert sum(1 for _ in layouts(real=True, dflt="maybe")) == 1632
    assert sum(1 for _ in layouts(real=True, dflt="never")) == 256
    assert sum(1 for _ in layouts(real=False, dflt="always")) == 256
    assert len(set(layouts(real=True, dflt="maybe"))) == 1632


@pytest.mark.parametrize("form", ["recv", "recv_ok"])
def test_recv(form: str) -> None:
    def main() -> int:
        c, dummy = Chan[int](1), Chan[int]()
        n = 0
        # The plain operation first, as Go's generator also emits it.
        n += 1
        c.send(n)
        if form == "recv":
            assert c.recv() == n
        else:
            assert c.recv_ok() == (n, True)
        for layout in layouts(real=True, dflt="maybe"):
            n += 1
            c.send(n)
            real = c.recv if form == "recv" else c.recv_ok
            got = select(*build(layout, real, dummy))
            want = (layout.index(REAL), n if form == "recv" else (n, True))
            assert got == want, f"layout {layout}: got {got}, want {want}"
            assert len(c) == 0, layout
        assert dummy_untouched(dummy)
        return n

    assert run(main, seed=5) == 1633


def test_send() -> None:
    def main() -> int:
        c, dummy = Chan[int](1), Chan[int]()
        n = 1
        c.send(n)
        assert c.recv() == n
        for layout in layouts(real=True, dflt="maybe"):
            n += 1
            got = select(*build(layout, (c.send, n), dummy))
            assert got == (layout.index(REAL), None), f"layout {layout}: got {got}"
            assert c.recv() == n, layout
        assert dummy_untouched(dummy)
        return n

    assert run(main, seed=5) == 1633


def test_evaluation_order_of_case_operands() -> None:
    # Go's recvOrder/sendOrder: channel operands and send values are each
    # evaluated exactly once, in source order, before the select chooses.
    # In Python that is argument evaluation; what the runtime adds is that
    # it calls none of them again (a receive case is the bound method, not
    # a call of it).
    order: list[int] = []

    def fc(ch: Chan[int], o: int) -> Chan[int]:
        order.append(o)
        return ch

    def fn(v: int, o: int) -> int:
        order.append(o)
        return v

    def main() -> None:
        c, dummy = Chan[int](1), Chan[int]()
        for n, layout in enumerate(layouts(real=True, dflt="maybe")):
            order.clear()
            cases: list[Any] = []
            o = 0
            for name in layout:
                if name == REAL:
                    o += 2
                    cases.append((fc(c, o - 1).send, fn(n, o)))
                elif name == DEFAULT:
                    cases.append(default)
                elif name.endswith("send"):
                    ch = dummy if name.startswith("dummy") else nilchan
                    o += 2
                    cases.append((fc(ch, o - 1).send, fn(-1, o)))
                else:
                    ch = dummy if name.startswith("dummy") else nilchan
                    o += 1
                    recv = fc(ch, o).recv if name.endswith("recv") else fc(ch, o).recv_ok
                    cases.append(recv)
            assert order == list(range(1, o + 1)), layout
            select(*cases)
            assert order == list(range(1, o + 1)), f"select evaluated something: {layout}"
            assert c.recv() == n

    run(main)


def test_nonblock() -> None:
    # Only never-ready cases plus default: default must be chosen, and no
    # received value may appear.
    def main() -> int:
        dummy = Chan[int]()
        count = 0
        for layout in layouts(real=False, dflt="always"):
            got = select(*build(layout, None, dummy))
            assert got == (layout.index(DEFAULT), None), f"layout {layout}: got {got}"
            count += 1
        assert dummy_untouched(dummy)
        return count

    assert run(main, seed=5) == 256


@pytest.mark.parametrize("form", ["recv", "recv_ok", "send"])
def test_blocking_select_wakes_on_the_real_case(form: str) -> None:
    # No default: the select parks on every case, a helper then makes the
    # real case ready, and the select must wake on it and only on it.
    def main() -> int:
        c, dummy = Chan[int](), Chan[int]()
        count = 0
        for n, layout in enumerate(layouts(real=True, dflt="never")):
            if form == "send":
                real: Any = (c.send, n)
                helper = go(c.recv)
            else:
                real = c.recv if form == "recv" else c.recv_ok
                helper = go(c.send, n)
            # The helper has not run yet (go() returns at once), so nothing
            # is ready and the select parks; the helper then completes it.
            got = select(*build(layout, real, dummy))
            value = {"recv": n, "recv_ok": (n, True), "send": None}[form]
            assert got == (layout.index(REAL), value), f"layout {layout}: got {got}"
            assert helper.join() == (n if form == "send" else None)
            count += 1
        assert dummy_untouched(dummy)
        return count

    assert run(main, seed=5) == 256
