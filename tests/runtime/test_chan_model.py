"""Model-based tests: random channel programs checked against Go's channel semantics.

Two complementary checks, both driven by hypothesis-generated programs run under
``gochan.run(main, seed=<drawn>, debug=True)`` (debug makes every channel operation
assert its internal invariants; the seed makes select's random choices replayable, so
hypothesis' database reproduces every failure):

1. ``test_sequential_program_matches_exact_model``: the main task issues one channel
   operation at a time -- its own non-blocking operations, or a fresh helper task's
   blocking send / recv / recv_ok / select -- and after every step the channels and the
   helpers are compared with an exact, pure-Python model of Go channels: buffer contents
   (FIFO), closed flag, the number of parked senders and receivers on every channel
   (so a select leaves no trace on the channels it did not choose), which helper was
   served (blocked senders and receivers are served in arrival order) and what it
   observed (value, ok flag, ``Panic("send on closed channel")`` for a sender blocked at
   close, ``Panic("close of closed channel")``). Select choices among several ready
   cases are random; the model accepts any ready case and follows the one taken, and
   likewise the random order in which a parked select queues several cases on one
   channel.

2. ``test_concurrent_program_trace_obeys_channel_invariants``: several green tasks run
   random op lists concurrently and record what they observed; the trace must satisfy
   Go's invariants: every received value was sent successfully on that channel and is
   received exactly once; whatever was sent successfully was received or is still
   buffered; per-sender order is preserved on every channel (also in what is left
   buffered); values whose send panicked, never completed, or belonged to a select case
   that was not chosen are never seen; ``ok=False`` only after a close and only once the
   channel is drained; close twice panics. Deadlocks are legal outcomes: when
   ``Deadlock`` is raised, it must be genuine (no two parked tasks could communicate, no
   parked op is ready) and the channels' wait queues must hold exactly the parked
   operations; after the run cancels the parked tasks, no channel holds a waiter.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

import gochan
from gochan import Chan, Deadlock, Panic, default, nilchan, select

NIL = -1  # channel index standing for gochan.nilchan
SEND, RECV, RECV_OK = "send", "recv", "recv_ok"
KINDS = (SEND, RECV, RECV_OK)
SEND_ON_CLOSED = "send on closed channel"
CLOSE_OF_CLOSED = "close of closed channel"
PARK_STATE = {SEND: "chan send", RECV: "chan receive", RECV_OK: "chan receive"}

Case = tuple[str, int]  # (kind, channel index or NIL)
Outcome = tuple[Any, ...]  # ("ok", case index, value) or ("panic", message)


def _waiters(q: Any) -> list[Any]:
    """The Waiters parked in a channel wait queue, head first (the queue is an
    iterable of Waiters, or a linked list with ``head``/``next``)."""
    if not hasattr(q, "head"):
        return list(q)
    out, w = [], q.head
    while w is not None:
        out.append(w)
        w = w.next
    return out


def _settle(tasks: list[gochan.Task]) -> None:
    """Yield until none of ``tasks`` is runnable: each has run until it parked or ended.

    Everything runs on one thread, so after this every hand-off made so far has been
    observed by the task it woke."""
    for _ in range(10_000):
        if not any(t.state == "runnable" for t in tasks):
            return
        gochan.gosched()
    raise AssertionError(f"tasks never settled: {tasks}")


# ---------------------------------------------------------------------------
# 1. Exact sequential model
# ---------------------------------------------------------------------------


@dataclass
class MWaiter:
    """A parked operation in the model: helper ``hid``'s case ``case``."""

    hid: int
    case: int
    kind: str
    value: Any


@dataclass
class MChan:
    cap: int
    buf: deque[Any] = field(default_factory=deque)
    closed: bool = False
    recvq: list[MWaiter] = field(default_factory=list)
    sendq: list[MWaiter] = field(default_factory=list)

    def can_send(self) -> bool:
        return self.closed or bool(self.recvq) or len(self.buf) < self.cap

    def can_recv(self) -> bool:
        return self.closed or bool(self.sendq) or bool(self.buf)


class Model:
    """Go channel semantics (runtime/chan.go, runtime/select.go) in plain Python."""

    def __init__(self, caps: list[int]) -> None:
        self.chans = [MChan(c) for c in caps]
        self.expected: dict[int, Outcome] = {}  # helpers that have completed
        self.parked: dict[int, str] = {}  # helper -> the state dump() should show

    def ready(self, cases: list[Case]) -> list[int]:
        return [
            i
            for i, (kind, c) in enumerate(cases)
            if c != NIL and (self.chans[c].can_send() if kind == SEND else self.chans[c].can_recv())
        ]

    def _complete(self, w: MWaiter, value: Any, ok: bool) -> None:
        """A peer completed parked waiter ``w``; the helper's other cases vanish."""
        for ch in self.chans:
            ch.recvq = [x for x in ch.recvq if x.hid != w.hid]
            ch.sendq = [x for x in ch.sendq if x.hid != w.hid]
        del self.parked[w.hid]
        if w.kind == SEND:
            out: Outcome = ("ok", w.case, None) if ok else ("panic", SEND_ON_CLOSED)
        elif w.kind == RECV:
            out = ("ok", w.case, value)
        else:
            out = ("ok", w.case, (value, ok))
        self.expected[w.hid] = out

    def send(self, c: int, v: Any) -> bool:
        """Non-blocking half of a send: True if done. Raises Panic if closed."""
        ch = self.chans[c]
        if ch.closed:
            raise Panic(SEND_ON_CLOSED)
        if ch.recvq:
            self._complete(ch.recvq[0], v, True)
            return True
        if len(ch.buf) < ch.cap:
            ch.buf.append(v)
            return True
        return False

    def recv(self, c: int) -> tuple[Any, bool] | None:
        """Non-blocking half of a receive: (value, ok), or None if it would block."""
        ch = self.chans[c]
        if ch.sendq:
            w = ch.sendq[0]
            if ch.buf:  # full buffer: take the head, the sender's value joins the tail
                v = ch.buf.popleft()
                ch.buf.append(w.value)
            else:
                v = w.value
            self._complete(w, None, True)
            return v, True
        if ch.buf:
            return ch.buf.popleft(), True
        if ch.closed:
            return None, False
        return None

    def close(self, c: int) -> None:
        ch = self.chans[c]
        if ch.closed:
            raise Panic(CLOSE_OF_CLOSED)
        ch.closed = True
        while ch.recvq:
            self._complete(ch.recvq[0], None, False)
        while ch.sendq:
            self._complete(ch.sendq[0], None, False)

    def apply(self, kind: str, c: int, v: Any, index: int) -> Outcome:
        """Perform a case known to be ready; the outcome its caller must observe."""
        try:
            if kind == SEND:
                assert self.send(c, v), "model: a ready send blocked"
                return ("ok", index, None)
        except Panic as p:
            return ("panic", str(p))
        r = self.recv(c)
        assert r is not None, "model: a ready receive blocked"
        return ("ok", index, r[0] if kind == RECV else r)

    def park(self, hid: int, cases: list[Case], values: list[Any], state: str) -> None:
        for i, (kind, c) in enumerate(cases):
            if c == NIL:
                continue
            w = MWaiter(hid, i, kind, values[i])
            (self.chans[c].sendq if kind == SEND else self.chans[c].recvq).append(w)
        self.parked[hid] = state


def _check_choice(model: Model, cases: list[Case], values: list[Any], got: Outcome) -> Outcome:
    """``got`` is what a select over ready ``cases`` returned: check that it took a
    ready case, apply that case to the model and return what the model predicts."""
    ready = model.ready(cases)
    assert ready, "model: expected some ready case"
    if got[0] == "panic":
        # The chosen case was a send on a closed channel (no state change).
        closed_sends = [i for i in ready if cases[i][0] == SEND and model.chans[cases[i][1]].closed]
        assert closed_sends, f"select panicked {got} but no ready send case is closed"
        return ("panic", SEND_ON_CLOSED)
    idx = got[1]
    assert idx in ready, f"select chose case {idx} but the ready cases were {ready}"
    kind, c = cases[idx]
    return model.apply(kind, c, values[idx], idx)


SEQ_STEP_KINDS = (
    ["spawn"] * 4 + ["spawn_select"] * 3 + ["main"] * 3 + ["main_select"] * 2 + ["close"]
)


@st.composite
def sequential_programs(draw: st.DrawFn) -> tuple[list[int], list[tuple[Any, ...]], int]:
    caps = draw(st.lists(st.integers(0, 4), min_size=1, max_size=3), label="caps")
    n = len(caps)
    chan, any_chan = st.integers(0, n - 1), st.integers(NIL, n - 1)
    case = st.tuples(st.sampled_from(KINDS), any_chan)
    steps: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(0, 30), label="n_steps")):
        what = draw(st.sampled_from(SEQ_STEP_KINDS))
        if what in ("spawn", "main"):
            steps.append((what, draw(st.sampled_from(KINDS)), draw(chan)))
        elif what == "spawn_select":
            steps.append((what, draw(st.lists(case, max_size=4))))
        elif what == "main_select":
            steps.append((what, draw(st.lists(case, min_size=1, max_size=4)), draw(st.booleans())))
        else:
            steps.append((what, draw(chan)))
    return caps, steps, draw(st.integers(0, 2**32 - 1), label="seed")


def _helper(
    results: dict[int, Outcome], hid: int, chans: dict[int, Chan[Any]], op: tuple[Any, ...]
) -> None:
    """One blocking operation: a plain send/recv/recv_ok or a select without default."""
    try:
        if op[0] == "select":
            cases = [
                (chans[c].send, v) if kind == SEND else getattr(chans[c], kind)
                for (kind, c), v in zip(op[1], op[2], strict=True)
            ]
            results[hid] = ("ok", *select(*cases))
            return
        _, kind, c, v = op
        ch = chans[c]
        if kind == SEND:
            ch.send(v)
            results[hid] = ("ok", 0, None)
        else:
            results[hid] = ("ok", 0, getattr(ch, kind)())
    except Panic as p:
        results[hid] = ("panic", str(p))


def _run_sequential(caps: list[int], steps: list[tuple[Any, ...]]) -> None:
    model = Model(caps)
    real: list[Chan[Any]] = [Chan(c) for c in caps]
    chans: dict[int, Chan[Any]] = {i: ch for i, ch in enumerate(real)}
    chans[NIL] = nilchan
    helpers: dict[int, gochan.Task] = {}
    results: dict[int, Outcome] = {}
    counter = iter(range(1, 1_000_000))

    def check(where: str) -> None:
        _settle(list(helpers.values()))
        for i, (ch, m) in enumerate(zip(real, model.chans, strict=True)):
            ctx = f"after {where}: channel {i} {ch!r}"
            assert list(ch._buf) == list(m.buf), ctx
            assert len(ch) == len(m.buf), ctx
            assert ch.closed == m.closed, ctx
            for q, mq in ((ch._recvq, m.recvq), (ch._sendq, m.sendq)):
                got = [(w.task.id, w.index) for w in _waiters(q)]
                want = [(helpers[w.hid].id, w.case) for w in mq]
                if got != want and sorted(got) == sorted(want):
                    # One select's cases on one channel queue in a random
                    # order (Go's TestPseudoRandomSend): the model follows the
                    # order taken, provided only such cases traded places.
                    by_key = {(helpers[w.hid].id, w.case): w for w in mq}
                    taken = [by_key[k] for k in got]
                    if [w.hid for w in taken] == [w.hid for w in mq]:
                        mq[:] = taken
                        want = got
                assert got == want, f"{ctx}: wait queue {got} != model {want}"
        for hid, t in helpers.items():
            if hid in model.expected:
                assert results.get(hid) == model.expected[hid], f"after {where}: helper {hid}"
                assert t.done(), f"after {where}: helper {hid} finished but {t!r}"
            else:
                assert hid not in results, f"after {where}: helper {hid} got {results[hid]}"
                assert t.state == model.parked[hid], f"after {where}: helper {hid} is {t!r}"

    def start_helper(cases: list[Case], values: list[Any], op: tuple[Any, ...]) -> None:
        hid = len(helpers)
        ready = model.ready(cases)
        helpers[hid] = gochan.go(_helper, results, hid, chans, op)
        _settle([helpers[hid]])  # it ran its operation: completed it or parked
        if not ready:
            event(f"helper parked: {op[0]}")
            assert hid not in results, f"helper {op} should block, got {results[hid]}"
            state = "select" if op[0] == "select" else PARK_STATE[cases[0][0]]
            if op[0] == "select" and not cases:
                state = "select (no cases)"
            model.park(hid, cases, values, state)
        else:
            assert hid in results, f"helper {op} should not block (ready cases {ready})"
            model.expected[hid] = _check_choice(model, cases, values, results[hid])

    def main_op(kind: str, c: int) -> None:
        ch = real[c]
        if not model.ready([(kind, c)]):
            return  # would block the driver: not a sequential step
        v = next(counter)
        try:
            if kind == SEND:
                ch.send(v)
                got: Outcome = ("ok", 0, None)
            else:
                got = ("ok", 0, getattr(ch, kind)())
        except Panic as p:
            got = ("panic", str(p))
        assert got == model.apply(kind, c, v, 0), f"main {kind} on channel {c}"

    def main_select(cases: list[Case], with_default: bool) -> None:
        ready = model.ready(cases)
        if not ready and not with_default:
            return  # would block the driver
        values = [next(counter) for _ in cases]
        args: list[Any] = [
            (chans[c].send, v) if kind == SEND else getattr(chans[c], kind)
            for (kind, c), v in zip(cases, values, strict=True)
        ]
        if with_default:
            args.append(default)
        try:
            got: Outcome = ("ok", *select(*args))
        except Panic as p:
            got = ("panic", str(p))
        if not ready:
            assert got == ("ok", len(cases), None), f"select {cases} should take default"
        else:
            assert got == _check_choice(model, cases, values, got), f"select {cases}"

    def close(c: int) -> None:
        try:
            real[c].close()
            got = None
        except Panic as p:
            got = str(p)
        try:
            model.close(c)
            want = None
        except Panic as p:
            want = str(p)
        assert got == want, f"close of channel {c}"

    for n, step in enumerate(steps):
        what = step[0]
        if what == "spawn":
            _, kind, c = step
            v = next(counter)
            start_helper([(kind, c)], [v], ("op", kind, c, v))
        elif what == "spawn_select":
            cases = step[1]
            values = [next(counter) for _ in cases]
            start_helper(cases, values, ("select", cases, values))
        elif what == "main":
            main_op(step[1], step[2])
        elif what == "main_select":
            main_select(step[1], step[2])
        else:
            close(step[1])
        check(f"step {n} {step}")

    # Close everything still open: blocked receivers get (None, False), blocked
    # senders panic; then the buffers drain in FIFO order before (None, False).
    for c, m in enumerate(model.chans):
        if not m.closed:
            close(c)
    check("closing every channel")
    for c, m in enumerate(model.chans):
        want = [(v, True) for v in m.buf] + [(None, False)] * 2
        got = [real[c].recv_ok() for _ in want]
        assert got == want, f"draining channel {c}"
        m.buf.clear()
    check("draining every channel")
    # Only helpers parked on nilchan alone (or select()) can still be waiting.
    for hid, state in model.parked.items():
        assert state in ("select", "select (no cases)"), (hid, state)


@settings(max_examples=500, deadline=None)
@given(sequential_programs())
def test_sequential_program_matches_exact_model(
    program: tuple[list[int], list[tuple[Any, ...]], int],
) -> None:
    caps, steps, seed = program
    gochan.run(_run_sequential, caps, steps, seed=seed, debug=True)


# ---------------------------------------------------------------------------
# 2. Concurrent programs, checked through their trace
# ---------------------------------------------------------------------------

CONC_OP_KINDS = [SEND] * 4 + [RECV] * 2 + [RECV_OK] * 2 + ["select"] * 3 + ["close", "yield"]


@st.composite
def concurrent_programs(draw: st.DrawFn) -> tuple[list[int], list[list[tuple[Any, ...]]], int]:
    caps = draw(st.lists(st.integers(0, 4), min_size=1, max_size=3), label="caps")
    n = len(caps)
    chan, any_chan = st.integers(0, n - 1), st.integers(NIL, n - 1)
    case = st.tuples(st.sampled_from(KINDS), any_chan)
    tasks: list[list[tuple[Any, ...]]] = []
    for _ in range(draw(st.integers(1, 4), label="n_tasks")):
        ops: list[tuple[Any, ...]] = []
        for _ in range(draw(st.integers(0, 8), label="n_ops")):
            kind = draw(st.sampled_from(CONC_OP_KINDS))
            if kind == "select":
                ops.append(
                    (kind, draw(st.lists(case, min_size=1, max_size=3)), draw(st.booleans()))
                )
            elif kind == "yield":
                ops.append((kind,))
            else:
                ops.append((kind, draw(chan)))
        tasks.append(ops)
    return caps, tasks, draw(st.integers(0, 2**32 - 1), label="seed")


@dataclass
class Rec:
    """One operation of one task: what it was and what the task observed."""

    tid: int
    k: int  # position in the task's op list
    op: tuple[Any, ...]
    outcome: Outcome | None = None  # None: never completed

    def cases(self) -> list[Case]:
        """The (kind, channel) cases this op waits on."""
        if self.op[0] == "select":
            return list(self.op[1])
        if self.op[0] in KINDS:
            return [(self.op[0], self.op[1])]
        return []

    def value(self, case: int) -> tuple[int, int, int, int]:
        """The value sent by case ``case`` of this op: (sender, op index, case, channel)."""
        return (self.tid, self.k, case, self.cases()[case][1])


def _task(
    tid: int, ops: list[tuple[Any, ...]], chans: dict[int, Chan[Any]], trace: list[Rec]
) -> None:
    for k, op in enumerate(ops):
        rec = Rec(tid, k, op)
        trace.append(rec)
        kind = op[0]
        try:
            if kind == SEND:
                chans[op[1]].send(rec.value(0))
                rec.outcome = ("ok", 0, None)
            elif kind in (RECV, RECV_OK):
                rec.outcome = ("ok", 0, getattr(chans[op[1]], kind)())
            elif kind == "close":
                chans[op[1]].close()
                rec.outcome = ("ok", 0, None)
            elif kind == "yield":
                gochan.gosched()
                rec.outcome = ("ok", 0, None)
            else:
                args: list[Any] = [
                    (chans[c].send, rec.value(i)) if ck == SEND else getattr(chans[c], ck)
                    for i, (ck, c) in enumerate(op[1])
                ]
                if op[2]:
                    args.append(default)
                rec.outcome = ("ok", *select(*args))
        except Panic as p:
            rec.outcome = ("panic", str(p))


def _pending_waits(traces: list[list[Rec]]) -> list[tuple[Rec, str, int]]:
    """(op, kind, channel) for every case of every operation still parked."""
    out = []
    for trace in traces:
        if trace and trace[-1].outcome is None:
            rec = trace[-1]
            assert rec.op[0] in (*KINDS, "select"), f"non-blocking op never ended: {rec}"
            out.extend((rec, kind, c) for kind, c in rec.cases() if c != NIL)
    return out


def _check_deadlock_is_genuine(
    err: Deadlock, real: list[Chan[Any]], traces: list[list[Rec]], tasks: list[gochan.Task]
) -> None:
    """Called while every task is still parked: the report must be a real deadlock and
    the wait queues must hold exactly the parked operations."""
    text = str(err)
    assert text.startswith("all goroutines are asleep - deadlock!"), text
    waits = _pending_waits(traces)
    parked = {rec.tid for trace in traces for rec in trace[-1:] if rec.outcome is None}
    assert parked, "Deadlock reported but no task is blocked"
    for tid in parked:
        assert f"goroutine {tasks[tid].id} " in text, f"task {tid} missing from the report"
    for c, ch in enumerate(real):
        senders = [rec.tid for rec, kind, cc in waits if cc == c and kind == SEND]
        receivers = [rec.tid for rec, kind, cc in waits if cc == c and kind != SEND]
        ctx = f"channel {c} {ch!r} at deadlock, parked senders {senders} receivers {receivers}"
        assert len(ch._sendq) == len(senders), ctx
        assert len(ch._recvq) == len(receivers), ctx
        assert not (ch.closed and (senders or receivers)), ctx
        assert not (receivers and len(ch) > 0), ctx
        assert not (senders and len(ch) < ch.cap), ctx
        # Two different tasks parked on opposite ends could have communicated.
        assert not any(s != r for s in senders for r in receivers), ctx


def _check_trace(real: list[Chan[Any]], traces: list[list[Rec]]) -> None:
    recs = [rec for trace in traces for rec in trace]
    sent: dict[Any, int] = {}  # value -> channel, for every completed send
    never_sent: set[Any] = set()  # values offered by sends that did not happen
    received: list[tuple[Rec, int, Any, bool]] = []  # (receiver, channel, value, ok)
    closes: dict[int, list[Rec]] = {c: [] for c in range(len(real))}
    for rec in recs:
        cases, out = rec.cases(), rec.outcome
        chosen = out[1] if out is not None and out[0] == "ok" else None
        for i, (kind, c) in enumerate(cases):
            if kind == SEND and i == chosen:
                sent[rec.value(i)] = c
            elif kind == SEND:
                never_sent.add(rec.value(i))
        if rec.op[0] == "close":
            closes[rec.op[1]].append(rec)
        if out is None or out[0] != "ok":
            continue
        if rec.op[0] == "select":
            assert 0 <= chosen <= len(cases) - (not rec.op[2]), f"bad select index {rec}"
            if chosen == len(cases):
                assert out[2] is None, f"default carries no value: {rec}"
                continue
            assert cases[chosen][1] != NIL, f"select chose a nilchan case: {rec}"
        elif rec.op[0] not in (RECV, RECV_OK):
            continue
        kind, c = cases[chosen]
        if kind == RECV:
            received.append((rec, c, out[2], out[2] is not None))
        elif kind == RECV_OK:
            v, ok = out[2]
            assert ok or v is None, f"ok=False carries a value: {rec}"
            received.append((rec, c, v, ok))

    # Close: at most one succeeds per channel; every later close panics.
    closed = set()
    for c, recs_c in closes.items():
        oks = [r for r in recs_c if r.outcome == ("ok", 0, None)]
        assert len(oks) <= 1, f"channel {c} closed twice without a panic: {oks}"
        for r in recs_c:
            assert r.outcome in (None, ("ok", 0, None), ("panic", CLOSE_OF_CLOSED)), r
            assert r.outcome != ("panic", CLOSE_OF_CLOSED) or oks, f"close panic, never closed: {r}"
        if oks:
            closed.add(c)
    for c, ch in enumerate(real):
        assert ch.closed == (c in closed), f"channel {c}: closed flag"

    # Panicking operations: only sends on a channel that was closed.
    for rec in recs:
        if rec.outcome is not None and rec.outcome[0] == "panic" and rec.op[0] != "close":
            assert rec.outcome == ("panic", SEND_ON_CLOSED), rec
            assert any(k == SEND and c in closed for k, c in rec.cases()), f"bogus panic: {rec}"

    # Exactly-once delivery, on the right channel.
    seen: dict[Any, Rec] = {}
    for rec, c, v, ok in received:
        if not ok:
            assert c in closed, f"ok=False on channel {c} that was never closed: {rec}"
            continue
        assert v not in never_sent, f"received {v} whose send never happened: {rec}"
        assert sent.get(v) == c, f"received {v} on channel {c}, not sent there: {rec}"
        assert v not in seen, f"{v} received twice: {seen[v]} and {rec}"
        seen[v] = rec
    for c, ch in enumerate(real):
        for v in ch._buf:
            assert sent.get(v) == c and v not in seen, f"channel {c} buffers bogus {v}"
    buffered = {v for ch in real for v in ch._buf}
    lost = set(sent) - set(seen) - buffered
    assert not lost, f"sent but neither received nor buffered: {sorted(lost)}"

    # Per-sender FIFO: each receiver sees a sender's values on a channel in order,
    # and what is still buffered is the newest of them, in order.
    last: dict[tuple[int, int, int], int] = {}
    for rec, c, v, ok in received:
        if ok:
            key = (rec.tid, v[0], c)
            assert last.get(key, -1) < v[1], f"task {rec.tid} got {v} out of order on {c}"
            last[key] = v[1]
    for c, ch in enumerate(real):
        for sender in {v[0] for v in ch._buf}:
            in_buf = [v[1] for v in ch._buf if v[0] == sender]
            assert in_buf == sorted(in_buf), f"channel {c} buffer out of order: {ch._buf}"
            got = [v[1] for v in seen if v[0] == sender and v[3] == c]
            assert not got or max(got) < in_buf[0], f"channel {c}: received newer than buffered"

    # Drained and closed: once a receiver sees ok=False, the buffer is empty for good
    # and that receiver never gets a value from the channel again.
    for c, ch in enumerate(real):
        if any(rc == c and not ok for _, rc, _, ok in received):
            assert len(ch) == 0, f"channel {c}: ok=False while values were buffered"
    for trace in traces:
        drained: set[int] = set()
        for rec in trace:
            for r, c, _, ok in received:
                if r is rec:
                    assert ok or c in closed
                    assert not (ok and c in drained), f"value after ok=False: {rec}"
                    if not ok:
                        drained.add(c)


def _run_concurrent(caps: list[int], programs: list[list[tuple[Any, ...]]], seed: int) -> None:
    real: list[Chan[Any]] = [Chan(c) for c in caps]
    chans: dict[int, Chan[Any]] = {i: ch for i, ch in enumerate(real)}
    chans[NIL] = nilchan
    traces: list[list[Rec]] = [[] for _ in programs]

    def main() -> None:
        tasks = [gochan.go(_task, tid, ops, chans, traces[tid]) for tid, ops in enumerate(programs)]
        try:
            for t in tasks:
                t.join()
        except Deadlock as e:
            event("deadlock")
            _check_deadlock_is_genuine(e, real, traces, tasks)
        else:
            for tid, trace in enumerate(traces):
                assert len(trace) == len(programs[tid]), f"task {tid} stopped early"
                assert all(rec.outcome is not None for rec in trace)

    gochan.run(main, seed=seed, debug=True)
    # The run cancelled the parked tasks: their waiters are gone from every queue.
    for c, ch in enumerate(real):
        assert not ch._recvq and not ch._sendq, f"channel {c} kept waiters: {ch!r}"
    _check_trace(real, traces)


@settings(max_examples=600, deadline=None)
@given(concurrent_programs())
def test_concurrent_program_trace_obeys_channel_invariants(
    program: tuple[list[int], list[list[tuple[Any, ...]]], int],
) -> None:
    caps, tasks, seed = program
    _run_concurrent(caps, tasks, seed)
