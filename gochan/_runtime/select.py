"""select: Go's select statement (runtime/select.go), in three passes.

Pass 1 (``_poll``): with LOCK held, find every case that can proceed now
and pick one uniformly at random (Go's spec), or take ``default``.
Pass 2 (``_enqueue``): no case is ready, so park one Waiter per case on its
channel, all sharing one SelectGroup.
Pass 3 (after ``park``): the group's winner says which case fired; the
other waiters were already unlinked when the group was claimed, so nothing
is left queued on the other channels.
"""

from __future__ import annotations

import random
from collections import deque
from types import MethodType
from typing import TYPE_CHECKING, Any, Final, cast

from . import waitreason as wr
from .chan import BLOCKED, Chan
from .errors import SEND_ON_CLOSED, Panic
from .gosched import poll_failed
from .nilchan import _NilChan, nilchan
from .task import wake_peer
from .threads import current_task, peek_scheduler
from .waiter import LOCK, LoopGroup, SelectGroup, Waiter, push_waiter

if TYPE_CHECKING:
    from .task import Task
    from .waiter import Parker

# Final: a compiled build reads these as C constants (see chan.py).
_take: Final = LOCK.take  # see lock.py
_wait_take: Final = LOCK.wait_take
_give: Final = LOCK.give

DEFAULT: Final = -1
RECV: Final = 0
RECV_OK: Final = 1
SEND: Final = 2

# A case is a bound method of a channel; its function says which operation
# it is. When chan.py is compiled by mypyc, ``ch.recv`` is a builtin method
# with no ``__func__``; it is then known by its name, and by ``__self__``
# being a Chan (interpreted code cannot subclass a compiled Chan, so the
# name and the class pin the method down as the function does here).
_Method: Final[Any] = type(nilchan.recv)
_NATIVE: Final = _Method is not MethodType
_KINDS: Final[dict[Any, int]] = (
    {"recv": RECV, "recv_ok": RECV_OK, "send": SEND}
    if _NATIVE
    else {
        Chan.recv: RECV,
        Chan.recv_ok: RECV_OK,
        Chan.send: SEND,
        _NilChan.recv: RECV,
        _NilChan.recv_ok: RECV_OK,
        _NilChan.send: SEND,
    }
)


# Compiled, reading ``__name__`` allocates a string per case. A builtin
# method's hash is its object's hash xor a hash of its C function (CPython's
# meth_hash), so ``hash(c) ^ hash(c.__self__)`` names the C function with no
# allocation: _HKINDS maps those numbers to the operations, taken from a
# probe channel (and checked on a second one: where the identity does not
# hold, the table stays empty and every case goes by its name).
def _hash_kinds() -> dict[int, int]:
    if not _NATIVE:
        return {}
    table: dict[int, int] = {}
    check: dict[int, int] = {}
    for probe, into in ((Chan(), table), (Chan(), check), (nilchan, table), (nilchan, check)):
        into[hash(probe.recv) ^ hash(probe)] = RECV
        into[hash(probe.recv_ok) ^ hash(probe)] = RECV_OK
        into[hash(probe.send) ^ hash(probe)] = SEND
    return table if table == check and len(table) >= 3 else {}


_HKINDS: Final[dict[int, int]] = _hash_kinds()


def _kind(c: Any) -> int:
    """Which channel operation ``c`` is (RECV, RECV_OK, SEND), else -2.
    select_start inlines this in its first pass."""
    if type(c) is not _Method:
        return -2
    if not _NATIVE:
        return _KINDS.get(c.__func__, -2)
    o = c.__self__
    if not isinstance(o, Chan):
        return -2
    kind = _HKINDS.get(hash(c) ^ hash(o), -2)
    # A miss is either not a channel operation or meth_hash's -1 -> -2
    # adjustment (one object in 2**64): the name settles it.
    return kind if kind >= 0 else _KINDS.get(c.__name__, -2)


class _Default:
    """The ``default`` case marker of ``select``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "default"


default: Final[Any] = _Default()
"""Pass as a ``select`` case: chosen when no other case is ready."""

# The choice among ready cases when no scheduler runs on this thread (a
# coroutine's aselect in a plain asyncio/trio program): creating one just for
# its rng would leave an implicit scheduler behind.
_FALLBACK_RNG: Final = random.Random()

_CASE_HELP = "expected ch.recv, ch.recv_ok, (ch.send, value) or default"


def _bad_case(i: int, c: object, why: str = "") -> TypeError:
    return TypeError(f"select case {i} is {c!r}{why}; {_CASE_HELP}")


def _is_case(c: Any) -> bool:
    if type(c) is tuple:
        return len(c) == 2 and _kind(c[0]) == SEND
    return c is default or _kind(c) >= 0


def _parse_error(cases: tuple[Any, ...]) -> Exception:
    """The error for the first malformed case (or duplicate default)."""
    dflt = -1
    for i, c in enumerate(cases):
        if (  # cases passed as one argument (not a send case)
            isinstance(c, (list, tuple))
            and c
            and (type(c) is not tuple or _kind(c[0]) != SEND)
            and all(_is_case(x) for x in c)
        ):
            return _bad_case(i, c, " (a sequence of cases: write select(*cases))")
        if type(c) is tuple:
            if len(c) != 2:
                return _bad_case(i, c, " (a send case is a pair)")
            if _kind(c[0]) != SEND:
                return _bad_case(i, c, " (a send case pairs ch.send with the value)")
        elif c is default:
            if dflt >= 0:
                return ValueError(f"select has two default cases (at {dflt} and {i}); keep one")
            dflt = i
        else:
            kind = _kind(c)
            if kind < 0 or kind == SEND:
                hint = " (did you call it? pass ch.recv, not ch.recv())" if not callable(c) else ""
                return _bad_case(i, c, hint)
    raise AssertionError("no malformed case found")  # pragma: no cover


def select(*cases: Any) -> tuple[int, Any]:
    """Wait on several channel operations; run exactly one. Go's ``select``.

    Cases: ``ch.recv`` (value: what was received, None if closed),
    ``ch.recv_ok`` (value: ``(v, ok)``), ``(ch.send, v)`` (value: None) and
    ``default`` (taken when nothing else is ready). Returns ``(index,
    value)``. Among ready cases the choice is uniformly random; with no
    ready case and no default it blocks. ``select()`` blocks forever.

    >>> import gochan
    >>> def main():
    ...     a, b = gochan.Chan[str](1), gochan.Chan[str](1)
    ...     b.send("hi")
    ...     return gochan.select(a.recv, b.recv, gochan.default)
    >>> gochan.run(main)
    (1, 'hi')
    """
    r = select_start(cases, None)
    if type(r) is tuple:
        return r
    assert type(r) is _Cases
    g = r.group
    task = cast("Task", g.task)  # a task's select: its group's party is the task
    task.sched.park(wr.SELECT if cases else wr.SELECT_NO_CASES, r, g)
    return r.outcome()


def select_start(cases: tuple[Any, ...], parker: Parker | None) -> tuple[int, Any] | _Cases:
    """Passes 1 and 2 of ``select``: the chosen ``(index, value)`` if a case
    can proceed now (or ``default``); else the parked ``_Cases``, whose
    waiters stand for ``parker`` (None: the running task), for the caller to
    wait on and then read with ``outcome()``.

    Pass 1 only looks: it notes the ready cases' indexes and builds nothing
    else, because in a loop over ``select`` some case is usually ready. The
    full decode into ``ops`` happens only when the select has to park.
    """
    first = -1  # the first ready case
    first_kind = -2  # ... its operation
    first_ch: Chan[Any] = nilchan  # ... and its channel (typed: native calls when compiled)
    more: list[int] | None = None  # every ready case, once there are two
    dflt = -1
    ch: Chan[Any]  # (typed: a compiled build reads its fields directly)
    try:
        _take()
    except IndexError:
        _wait_take()
    try:
        for i, c in enumerate(cases):
            # _kind(c), inlined
            if not _NATIVE:
                kind = _KINDS.get(getattr(c, "__func__", None), -2)
            elif type(c) is _Method:
                o = c.__self__
                if isinstance(o, Chan):
                    kind = _HKINDS.get(hash(c) ^ hash(o), -2)
                    if kind < 0:
                        kind = _KINDS.get(c.__name__, -2)
                else:
                    kind = -2
            else:
                kind = -2
            if RECV <= kind <= RECV_OK:
                ch = c.__self__
                ready_now = ch._sendq or ch._buf or ch._closed
            elif type(c) is tuple and len(c) == 2:
                f = c[0]
                kind = _kind(f)
                if kind != SEND:
                    raise _parse_error(cases)
                ch = f.__self__
                ready_now = ch._closed or ch._recvq or len(ch._buf) < ch._cap
            elif c is default and dflt < 0:
                dflt = i
                ready_now = False
            else:
                raise _parse_error(cases)
            if ready_now:
                if first < 0:
                    first, first_kind, first_ch = i, kind, ch
                elif more is None:
                    more = [first, i]
                else:
                    more.append(i)
        if first >= 0:
            # A uniform choice among the ready cases (nilchan is never ready:
            # its queues stay empty and it is never closed).
            i, kind, ch = first, first_kind, first_ch
            if more is not None:
                s = peek_scheduler()
                rng = _FALLBACK_RNG if s is None else s.rng
                i = more[rng.randrange(len(more))]
                c = cases[i]
                if type(c) is tuple:
                    kind, ch = SEND, c[0].__self__
                else:
                    kind, ch = _kind(c), c.__self__
            # peer is BLOCKED (the case was not ready after all) only when
            # the waiters that made it look ready were all refused (a
            # coroutine whose loop is gone, waiter.LoopGroup): start again.
            if kind == SEND:
                peer = ch._try_send(cases[i][1])
                result: Any = None
            else:
                r = ch._try_recv()
                if r is BLOCKED:
                    peer = BLOCKED
                else:
                    value, ok, peer = r
                    result = (value, ok) if kind == RECV_OK else value
        elif dflt >= 0:
            pass  # default: returned below, once LOCK is released
        else:
            # Pass 2: decode every case and park on each.
            who: Task | Parker
            if parker is None:
                who = current_task()
                g = SelectGroup(who)
            else:
                who = parker
                g = LoopGroup(who)
            ops: list[tuple[int, Chan[Any], Any]] = []
            for i, c in enumerate(cases):
                if type(c) is tuple:
                    kind, ch, v = SEND, c[0].__self__, c[1]
                else:
                    kind, ch, v = _kind(c), c.__self__, None
                ops.append((kind, ch, v))
                if ch is nilchan:
                    continue
                w = Waiter(who, v, g, i)
                g.waiters.append(w)
                q = ch._sendq if kind == SEND else ch._recvq
                if q and q[-1].group is g:
                    _join_shuffled(q, w, g)
                else:
                    push_waiter(q, w)
    finally:
        _give(None)
    if first >= 0:
        if peer is BLOCKED:
            return select_start(cases, parker)  # the refused waiters are gone now
        if peer is not None:
            wake_peer(peer)
        return i, result
    if dflt >= 0:
        if parker is None:  # a task's select (not a coroutine's): a failed poll
            poll_failed()
        return dflt, None
    return _Cases(ops, g)


def _join_shuffled(q: deque[Waiter], w: Waiter, g: SelectGroup) -> None:
    """Queue ``w`` among the waiters its select already has at the tail of
    ``q`` (several cases on one channel), at a uniformly random place: an
    insertion shuffle, so the peer that dequeues the first of them picks a
    uniformly random case, as Go does (runtime TestPseudoRandomSend).
    LOCK held. Only a select with two cases on one channel comes here."""
    k = 1
    while k < len(q) and q[-1 - k].group is g:
        k += 1
    s = peek_scheduler()
    j = (_FALLBACK_RNG if s is None else s.rng).randrange(k + 1)
    if j == k:
        push_waiter(q, w)
    else:
        q.insert(len(q) - k + j, w)
        w.queue = q


class _Cases:
    """A parked select: its cases (shown by dump()) and its group."""

    __slots__ = ("group", "ops")

    def __init__(self, ops: list[tuple[int, Chan[Any], Any]], group: SelectGroup) -> None:
        self.ops = ops
        self.group = group

    def outcome(self) -> tuple[int, Any]:
        """Pass 3, once the group has fired: which case won, with its value."""
        won = self.group.winner
        assert won is not None
        kind = self.ops[won.index][0]
        if kind == SEND:
            if not won.ok:
                raise Panic(SEND_ON_CLOSED)
            return won.index, None
        return won.index, ((won.value, won.ok) if kind == RECV_OK else won.value)

    def __repr__(self) -> str:
        names = {RECV: "recv", RECV_OK: "recv_ok", SEND: "send"}
        parts = [f"{names[k]} {ch!r}" for k, ch, _ in self.ops if k != DEFAULT]
        return "select(" + ", ".join(parts) + ")"
