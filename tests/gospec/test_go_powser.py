"""Port of Go's test/chan/powser1.go: power series as networks of tasks.

After Doug McIlroy's "Squinting at Power Series": a power series is a pair
of channels, a demand channel and a data channel; asking for the next
coefficient is a send on the first and a receive on the second. Every
operator (sum, product, derivative, integral, reciprocal, exponential,
substitution, reversion) is a task, or a growing graph of tasks, that
serves demands by making demands of its inputs. Reading a pair of inputs
uses a select over both demand sends and, once sent, both data receives,
switching cases off with ``nilchan``. Recursive definitions (exp, the
reciprocal, reversion) feed their own output back through a splitter that
copies one series onto two consumers reading at different rates.

The coefficients checked are Go's (ones, sums, derivative and integral of
1/(1-x), exp of it, arctan) plus tan as the reversion of arctan, 1/(1-x)
inverted, and a binomial series identity. The splitter is an independent
design: one task that buffers for the slower reader, entirely select-driven.
"""

from __future__ import annotations

import itertools
from collections import deque
from fractions import Fraction as F
from typing import Any

import gochan
from gochan import Chan, go, nilchan, run, select


class _End:
    def __repr__(self) -> str:
        return "FINIS"


FINIS: Any = _End()  # end of a finite series (Go uses a zero denominator)
_seq = itertools.count(1)  # demand tokens; their values do not matter


class PS:
    """A power series: a demand channel and a data channel."""

    __slots__ = ("dat", "req")

    def __init__(self) -> None:
        self.req = Chan[int]()
        self.dat = Chan[Any]()


def get(u: PS) -> Any:
    u.req.send(next(_seq))
    return u.dat.recv()


def put(v: Any, z: PS) -> None:
    z.req.recv()
    z.dat.send(v)


def get2(u: PS, v: PS) -> list[Any]:
    """One coefficient from each of two series, demanded concurrently."""
    series = (u, v)
    req: list[Chan[Any]] = [u.req, v.req]
    dat: list[Chan[Any]] = [nilchan, nilchan]
    out: list[Any] = [None, None]
    token = next(_seq)
    for _ in range(4):
        i, x = select((req[0].send, token), (req[1].send, token), dat[0].recv, dat[1].recv)
        if i < 2:
            req[i] = nilchan  # demand sent: now wait for its data
            dat[i] = series[i].dat
        else:
            out[i - 2] = x
            dat[i - 2] = nilchan
    return out


def copy_series(u: PS, z: PS) -> None:
    while True:
        z.req.recv()
        z.dat.send(get(u))


def split_into(src: PS, outs: tuple[PS, PS]) -> None:
    """Serve both ``outs`` with the coefficients of ``src``, each reader at
    its own pace: values already fetched for one side wait in a queue for
    the other. Demands on ``src`` are made only when a reader needs them."""

    def splitter() -> None:
        queues: tuple[deque[Any], deque[Any]] = (deque(), deque())
        waiting = [False, False]
        fetching = False
        while True:
            need = not fetching and any(waiting[k] and not queues[k] for k in (0, 1))
            cases: list[Any] = []
            for k in (0, 1):
                cases.append(nilchan.recv if waiting[k] else outs[k].req.recv)
            for k in (0, 1):
                if waiting[k] and queues[k]:
                    cases.append((outs[k].dat.send, queues[k][0]))
                else:
                    cases.append((nilchan.send, None))
            cases.append((src.req.send, next(_seq)) if need else (nilchan.send, None))
            cases.append(src.dat.recv if fetching else nilchan.recv)
            i, x = select(*cases)
            if i < 2:
                waiting[i] = True
            elif i < 4:
                queues[i - 2].popleft()
                waiting[i - 2] = False
            elif i == 4:
                fetching = True
            else:
                fetching = False
                queues[0].append(x)
                queues[1].append(x)

    go(splitter)


def split(u: PS) -> tuple[PS, PS]:
    outs = (PS(), PS())
    split_into(u, outs)
    return outs


def spawn(body: Any, *args: Any) -> PS:
    z = PS()
    go(body, *args, z)
    return z


# -- constructors -----------------------------------------------------------


def rep(c: F) -> PS:
    def body(z: PS) -> None:
        while True:
            put(c, z)

    return spawn(body)


def add(u: PS, v: PS) -> PS:
    def body(z: PS) -> None:
        while True:
            z.req.recv()
            a, b = get2(u, v)
            if a is FINIS and b is FINIS:
                z.dat.send(FINIS)
            elif a is FINIS:
                z.dat.send(b)
                copy_series(v, z)
            elif b is FINIS:
                z.dat.send(a)
                copy_series(u, z)
            else:
                z.dat.send(a + b)

    return spawn(body)


def cmul(c: F, u: PS) -> PS:
    def body(z: PS) -> None:
        while True:
            z.req.recv()
            a = get(u)
            if a is FINIS:
                z.dat.send(FINIS)
                return
            z.dat.send(c * a)

    return spawn(body)


def sub(u: PS, v: PS) -> PS:
    return add(u, cmul(F(-1), v))


def monmul(u: PS, n: int) -> PS:
    """u * x**n"""

    def body(z: PS) -> None:
        for _ in range(n):
            put(F(0), z)
        copy_series(u, z)

    return spawn(body)


def shift(c: F, u: PS) -> PS:
    """c + x*u"""

    def body(z: PS) -> None:
        put(c, z)
        copy_series(u, z)

    return spawn(body)


def mul(u: PS, v: PS) -> PS:
    """With u = u0 + x*U and v = v0 + x*V:
    u*v = u0*v0 + x*(u0*V + v0*U) + x*x*(U*V)."""

    def body(z: PS) -> None:
        z.req.recv()
        u0, v0 = get2(u, v)
        if u0 is FINIS or v0 is FINIS:
            z.dat.send(FINIS)
            return
        z.dat.send(u0 * v0)
        uu, vv = split(u), split(v)
        w = add(cmul(u0, vv[0]), cmul(v0, uu[0]))
        z.req.recv()
        z.dat.send(get(w))
        copy_series(add(w, mul(uu[1], vv[1])), z)

    return spawn(body)


def diff(u: PS) -> PS:
    def body(z: PS) -> None:
        z.req.recv()
        get(u)  # the constant term vanishes
        for i in itertools.count(1):
            a = get(u)
            if a is FINIS:
                break
            z.dat.send(i * a)
            z.req.recv()
        z.dat.send(FINIS)

    return spawn(body)


def integ(c: F, u: PS) -> PS:
    """The integral of u with constant term c."""

    def body(z: PS) -> None:
        put(c, z)
        for i in itertools.count(1):
            z.req.recv()
            a = get(u)
            if a is FINIS:
                z.dat.send(FINIS)
                return
            z.dat.send(a / i)

    return spawn(body)


def binom(c: F) -> PS:
    """(1 + x)**c"""

    def body(z: PS) -> None:
        # C(c, n+1) = C(c, n) * (c - n) / (n + 1); for a whole c it reaches 0.
        t, n = F(1), 0
        while t != 0:
            put(t, z)
            t = t * (c - n) / (n + 1)
            n += 1
        put(FINIS, z)

    return spawn(body)


def recip(u: PS) -> PS:
    """1/u. With u = u0 + x*U and 1/u = r0 + x*R: r0 = 1/u0 and
    R = -r0 * U * (r0 + x*R), a definition of R in terms of itself."""

    def body(z: PS) -> None:
        rr = (PS(), PS())
        z.req.recv()
        r0 = 1 / get(u)
        z.dat.send(r0)
        split_into(mul(cmul(-r0, u), shift(r0, rr[0])), rr)
        copy_series(rr[1], z)

    return spawn(body)


def exp(u: PS) -> PS:
    """exp(u) for u with zero constant term: z' = z * u', z(0) = 1."""
    zz = (PS(), PS())
    split_into(integ(F(1), mul(zz[0], diff(u))), zz)
    return zz[1]


def subst(u: PS, v: PS) -> PS:
    """u(v) for v with zero constant term: with u = u0 + x*U and v = x*V,
    u(v) = u0 + v*U(v) = u0 + x*(V * U(v))."""

    def body(z: PS) -> None:
        vv = split(v)
        z.req.recv()
        u0 = get(u)
        z.dat.send(u0)
        if u0 is FINIS:
            return
        if get(vv[0]) is FINIS:
            put(FINIS, z)
        else:
            copy_series(mul(vv[0], subst(u, vv[1])), z)

    return spawn(body)


def monsubst(u: PS, c0: F, n: int) -> PS:
    """u(c0 * x**n)"""

    def body(z: PS) -> None:
        c = F(1)
        while True:
            z.req.recv()
            a = get(u)
            if a is FINIS:
                z.dat.send(FINIS)
                return
            z.dat.send(a * c)
            c *= c0
            for _ in range(n - 1):
                put(F(0), z)

    return spawn(body)


def revert(u: PS) -> PS:
    """The series z with u(z) = x, for u = x*V with V(0) != 0.
    Then z*V(z) = x, so z = x / V(z) = x * recip(subst(V, z))."""

    def body(z: PS) -> None:
        zz = (PS(), PS())
        z.req.recv()
        u0 = get(u)
        assert u0 == 0, "reversion needs a zero constant term"
        # After u0 the stream u continues with V's coefficients.
        split_into(monmul(recip(subst(u, zz[0])), 1), zz)
        z.dat.send(get(zz[1]))
        copy_series(zz[1], z)

    return spawn(body)


# -- the checks ------------------------------------------------------------

N = 10


def take(u: PS, n: int = N) -> list[Any]:
    return [get(u) for _ in range(n)]


def check(build: Any, n: int = N) -> list[Any]:
    """Build a network inside a fresh run and read n coefficients.

    Before main returns, the network is left to settle until every task is
    parked (a virtual-clock sleep). That guards against a runtime bug
    reproduced (xfail) in test_go_goroutines.py: operators start new tasks
    on demand, and a task started after run()'s cancel sweep is never
    cancelled, which would hang run().
    """

    def main() -> list[Any]:
        got = take(build(), n)
        gochan.sleep(0.001)
        return got

    return run(main, clock="virtual")


ONE, TWO = F(1), F(2)


def test_ones_and_twos() -> None:
    assert check(lambda: rep(ONE), 5) == [1] * 5
    assert check(lambda: add(rep(ONE), rep(ONE)), 5) == [2] * 5
    assert check(lambda: add(rep(ONE), rep(TWO)), 5) == [3] * 5
    assert check(lambda: sub(rep(ONE), rep(TWO)), 5) == [-1] * 5
    assert check(lambda: cmul(F(-1), rep(TWO))) == [-2] * N


def test_derivative_and_integral() -> None:
    assert check(lambda: diff(rep(ONE))) == list(range(1, N + 1))  # 1 2 3 4 ...
    want = [F(0)] + [F(1, i) for i in range(1, N)]  # 0 1 1/2 1/3 ...
    assert check(lambda: integ(F(0), rep(ONE))) == want


def test_product() -> None:
    # 1/(1-x)**2 = 1 + 2x + 3x**2 + ...
    assert check(lambda: mul(rep(ONE), rep(ONE))) == list(range(1, N + 1))
    # (1+x)**1/2 squared is 1 + x, then zeros forever.
    half = F(1, 2)
    assert check(lambda: mul(binom(half), binom(half)), 6) == [1, 1, 0, 0, 0, 0]


def test_finite_series() -> None:
    assert check(lambda: binom(F(3)), 5) == [1, 3, 3, 1, FINIS]
    assert check(lambda: cmul(F(2), binom(F(2))), 4) == [2, 4, 2, FINIS]
    assert check(lambda: add(binom(F(2)), binom(F(1))), 4) == [2, 3, 1, FINIS]
    assert check(lambda: diff(binom(F(3))), 4) == [3, 6, 3, FINIS]


def test_exp() -> None:
    want = [
        F(1), F(1), F(3, 2), F(13, 6), F(73, 24), F(167, 40),
        F(4051, 720), F(37633, 5040), F(43817, 4480), F(4596553, 362880),
    ]  # fmt: skip
    assert check(lambda: exp(rep(ONE))) == want


def test_reciprocal() -> None:
    # 1 / (1/(1-x)) = 1 - x
    assert check(lambda: recip(rep(ONE)), 6) == [1, -1, 0, 0, 0, 0]
    # 1 / (1 + x)**2 = 1 - 2x + 3x**2 - 4x**3 ...
    assert check(lambda: recip(binom(F(2))), 6) == [1, -2, 3, -4, 5, -6]


def arctan() -> PS:
    # arctan = integral of 1/(1+x**2), and 1/(1+x**2) = ones(-x**2)
    return integ(F(0), monsubst(rep(ONE), F(-1), 2))


def test_arctan() -> None:
    want = [F(0) if i % 2 == 0 else F((-1) ** (i // 2), i) for i in range(N)]
    assert want[:6] == [0, 1, 0, F(-1, 3), 0, F(1, 5)]
    assert check(arctan) == want


def test_tan_is_the_reversion_of_arctan() -> None:
    want = [0, 1, 0, F(1, 3), 0, F(2, 15), 0, F(17, 315), 0, F(62, 2835)]
    assert check(lambda: revert(arctan())) == want


def test_substitution() -> None:
    # With v = x/(1-x) = 0 + x + x**2 + ...: 1/(1-v) = (1-x)/(1-2x)
    # = 1 + x + 2x**2 + 4x**3 + ...
    assert check(lambda: subst(rep(ONE), monmul(rep(ONE), 1)), 6) == [1, 1, 2, 4, 8, 16]
    # With the finite v = 2x (0, 2, end): 1/(1-2x) = 1 + 2x + 4x**2 + ...

    def two_x() -> PS:
        return cmul(TWO, monmul(binom(F(0)), 1))

    assert check(two_x, 3) == [0, 2, FINIS]
    assert check(lambda: subst(rep(ONE), two_x()), 6) == [1, 2, 4, 8, 16, 32]
