"""gochan.net's sockets (``io.PollDesc``) on an asyncio or uvloop loop:
the loop's ``add_reader``/``add_writer``, kept from one wait to the next.

For ``AsyncioBackend`` (aio.py) and run_async()'s hosted asyncio backend
(hosted.py) alike. A socket's direction is registered with the loop the
first time a call on it waits, and stays registered while waits keep
coming, as the builtin backend's epoll registration does: a keep-alive
connection's read -> EAGAIN -> wait -> ready -> read ... costs no
``add_reader`` and ``remove_reader`` per wait (on uvloop each was an
``epoll_ctl`` ADD and DEL, a failed DEL and an ``ioctl``).

The loop's readiness is level-triggered, so the callback reports to the
PollDesc as the builtin poller does to ``notify`` (it bumps the
direction's number and readies the parked task) and drops the
registration as soon as it fires with nobody parked in that direction: a
readable socket that nobody reads costs one callback, never a busy loop.
A parked task is always watched (its wait registers the direction if it is
not), so a report between its failed system call and its wait is never
lost: the number catches a report made before the wait; after it, the
loop reports the fd at its next look, as level-triggered readiness does.

Stale reports (asyncio's own loop only). asyncio runs an fd's callback in
the ready queue of the loop turn whose ``select`` found it, and green tasks
may run between the two (the hub is switched to from a callback of the same
turn): a task that consumed the data and parked again would be woken by a
report older than its wait. On a loop with a selector, gochan counts the
selects (``LoopState.polls``); a wait records the count when it parks, and a
report from no later select is skipped: the next select reports the fd
again if it still is ready. (uvloop runs fd callbacks straight from its
poll phase, where green tasks never run: no stale reports.)

Before its socket is closed a PollDesc lets go of every loop it is
registered with (``PollDesc.unlink`` -> ``LoopReg.release``): at once on
the loop's own thread, else on that thread, which then closes the socket
(a number must never be reused while a loop still watches it: the loop
would mistake the new file for the old one).

Measured (callgrind, instructions per keep-alive round trip of 64 B, both
ends in one process, two waits per round trip), per wait before: an
add_reader and a remove_reader (and on asyncio a loop turn more): one
connection, asyncio 284k -> 136k, uvloop 145k -> 112k (builtin 88k); 50
connections at once, asyncio 202k -> 94k, uvloop 103k -> 70k (builtin
65k). The embedded Kubernetes apiserver's keep-alive GET (server process,
bench/k8s_server_cpu.py): uvloop 179k -> 163k, asyncio 276k -> 195k
(builtin 145k).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from threading import get_ident
from typing import Any

from ..fdwait import _IOWait
from ..task import ready
from ..waiter import LOCK

_take, _give = LOCK.take, LOCK.give  # LOCK inline (see lock.py): hot paths
_wait_take = LOCK.wait_take


class LoopState:
    """What gochan keeps per event loop for the sockets registered on it:
    ``fds`` (fd -> its ``LoopReg``, while a direction is registered), the
    count of the loop's selects (``counting``: asyncio's loop), and the
    releases queued from other threads (run at the latest when the loop
    closes: ``flush``)."""

    __slots__ = ("counting", "fds", "pending", "polls")

    def __init__(self) -> None:
        self.fds: dict[int, LoopReg] = {}
        self.counting = False
        self.polls = 0
        self.pending: set[_Release] = set()

    def flush(self) -> None:
        """The loop is closed: run the releases it will never run, and
        forget its registrations (gone with it; a LoopReg refers to its
        loop, which would keep this entry of ``_states`` alive)."""
        for rel in list(self.pending):
            rel.run()
        self.fds.clear()


_states: weakref.WeakKeyDictionary[Any, LoopState] = weakref.WeakKeyDictionary()


def loop_state(loop: Any) -> LoopState:
    """``loop``'s state, made on first use; on asyncio's own loop (a
    selector), its ``select`` is wrapped to count the loop's looks."""
    st = _states.get(loop)
    if st is None:
        st = _states[loop] = LoopState()
        sel = getattr(loop, "_selector", None)
        inner = getattr(sel, "select", None)
        if isinstance(loop, asyncio.BaseEventLoop) and inner is not None:
            state = st

            def select(timeout: float | None = None) -> Any:
                state.polls += 1
                return inner(timeout)

            sel.select = select  # type: ignore[union-attr]
            st.counting = True
    return st


def flush(loop: Any) -> None:
    """After ``loop`` closed: the releases queued to it run now."""
    st = _states.get(loop)
    if st is not None:
        st.flush()


def forget_fd(loop: Any, fd: int, write: bool) -> None:
    """A one-shot wait (wait_readable, wait_writable) takes over ``fd``'s
    registration in that direction: the next PollDesc wait registers anew."""
    st = _states.get(loop)
    reg = st.fds.get(fd) if st is not None else None
    if reg is not None:
        reg.forget(write)


def asyncio_pd_attach(b: Any, pd: Any) -> None:
    """A PollDesc's first wait on ``b`` (owner thread): its registration
    with ``b.loop`` (kept in ``pd.loops``, made on first use) watches it."""
    loop = b.loop
    reg = None
    with LOCK:
        loops = pd.loops = [r for r in pd.loops or () if not r.loop.is_closed()]
        for r in loops:
            if r.loop is loop:
                reg = r
        if reg is None:
            reg = LoopReg(pd, loop, loop_state(loop))
            loops.append(reg)
    reg.b = b
    # (asyncio's own loop: the hub gets the thread in this loop turn; see
    # AsyncioBackend.fd_ready)
    fd_ready = getattr(b, "fd_ready", None)
    reg.wake = fd_ready if fd_ready and isinstance(loop, asyncio.BaseEventLoop) else ready
    b.pdstate = reg.state
    pd.owner, pd.watch, pd.stale, pd.reg = b, reg.watch, None, reg


class LoopReg:
    """A PollDesc's registration with one event loop: which directions are
    registered, the loop's callbacks, and letting go (see the module
    docstring). Owner thread only, but ``release``."""

    __slots__ = ("b", "fd", "loop", "pd", "reading", "state", "thread", "wake", "writing")

    def __init__(self, pd: Any, loop: Any, state: LoopState) -> None:
        self.pd = pd
        self.fd: int = pd.fd
        self.loop = loop
        self.state = state
        self.b: Any = None  # the backend that watches with it (pd.owner's)
        self.wake: Callable[[Any], None] = ready  # readies a parked task: its fd_ready
        self.thread = get_ident()  # the loop's
        self.reading = self.writing = False

    def watch(self, rec: _IOWait) -> None:
        """``pd.watch``: ``rec`` is parked in its direction (PollDesc.arm);
        registered in it, if it is not yet. Reports go to the PollDesc."""
        rec.reports = True
        st = self.state
        if st.counting:
            rec.ctx = st.polls  # (a report from no later select is stale)
        if rec.write:
            if not self.writing:
                self.loop.add_writer(self.fd, self.on_writable)
                self.writing = True
                st.fds[self.fd] = self
        elif not self.reading:
            self.loop.add_reader(self.fd, self.on_readable)
            self.reading = True
            st.fds[self.fd] = self

    def on_readable(self) -> None:
        """The loop's reader callback."""
        if self._report(False):
            self.loop.remove_reader(self.fd)
            self.forget(False)

    def on_writable(self) -> None:
        """The loop's writer callback."""
        if self._report(True):
            self.loop.remove_writer(self.fd)
            self.forget(True)

    def _report(self, write: bool) -> bool:
        """Report the direction ready to the PollDesc (``notify``'s
        contract): bump its number, ready its parked task. True: nobody is
        parked, or the PollDesc is no longer ours: drop the registration."""
        pd = self.pd
        if pd.owner is not self.b:  # closed, or watched elsewhere now
            return True
        r = None
        try:
            _take()
        except IndexError:  # another thread holds LOCK (a channel op, a poller)
            _wait_take()
        try:
            w = pd.wwait if write else pd.rwait
            if w is not None and not w.fired:
                if self.state.counting and w.ctx == self.state.polls:
                    return False  # stale: older than the wait (see above)
                w.fired = True
                r = w
            # (a fired record: its task is on the way back, and the report
            # saves it the wait after its next try)
            if write:
                pd.wseq += 1
            else:
                pd.rseq += 1
        finally:
            _give(None)
        if r is not None:
            self.wake(r.task)
            return False
        return w is None

    def forget(self, write: bool) -> None:
        """The direction is no longer registered (owner thread)."""
        if write:
            self.writing = False
        else:
            self.reading = False
        if not (self.reading or self.writing):
            self.state.fds.pop(self.fd, None)

    def drop(self) -> None:
        """Out of the loop in both directions (its thread)."""
        loop = self.loop
        if not loop.is_closed():
            if self.reading:
                loop.remove_reader(self.fd)
            if self.writing:
                loop.remove_writer(self.fd)
        self.forget(False)
        self.forget(True)

    def release(self, then: Callable[[], None]) -> None:
        """Before the socket is closed (any thread): out of the loop, then
        ``then()``; on another thread than the loop's, both on the loop's
        thread, soon (or here, if the loop is closed)."""
        loop = self.loop
        if self.thread == get_ident():
            self.drop()
            then()
        elif loop.is_closed() or not (self.reading or self.writing):
            then()  # (not registered: an attribute read, atomic under the GIL)
        else:
            rel = _Release(self, then)
            self.state.pending.add(rel)
            try:
                loop.call_soon_threadsafe(rel.run)
            except RuntimeError:  # closed meanwhile
                rel.run()


class _Release:
    """A release queued to the loop's thread: runs once, there or, once
    the loop is closed, wherever ``LoopState.flush`` runs."""

    __slots__ = ("done", "reg", "then")

    def __init__(self, reg: LoopReg, then: Callable[[], None]) -> None:
        self.reg = reg
        self.then = then
        self.done = False

    def run(self) -> None:
        with LOCK:
            if self.done:
                return
            self.done = True
        reg = self.reg
        reg.state.pending.discard(self)
        if reg.thread == get_ident():
            reg.drop()
        self.then()
