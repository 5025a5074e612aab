"""The hub with nothing to run (the blocking half of Go's ``findRunnable``):
wait in the backend until the next timer, a wakeup or I/O; jump a virtual
clock to the next timer; and when nothing at all can wake a task, ask the
deadlock detector (deadlock.py).

``wait_for_work(s)`` is called by the hub (``Scheduler._hub_loop``) only,
with ``s.runq`` empty, and returns once it is not (or once the main task
was readied with the deadlock report).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .backends import loop_blocked
from .deadlock import deadlock_check, report_deadlock
from .duration import MAX_DURATION, wait_timeout
from .fdwait import any_fd_ready
from .greenlets import FREE_MAX, trim_free

if TYPE_CHECKING:
    from .scheduler import Scheduler

# How long an idle scheduler waits before re-checking for deadlock while
# some other thread is alive (it could still wake us; we cannot be told
# when a thread that never used gochan exits).
RECHECK_MIN: Final = 0.005
RECHECK_MAX: Final = 0.25


def wait_for_work(s: Scheduler) -> None:
    """Block the thread until a task is runnable; report deadlocks."""
    if len(s._free) > FREE_MAX:
        trim_free(s)
    err = loop_blocked(s)  # a coroutine's blocking call: never wait, say so
    if err is not None:
        s.interrupt(s.main, err)
    runq, clock, timers = s.runq, s.clock, s.timers
    recheck = RECHECK_MIN
    suspected = False
    while not runq:
        if s.exit_parked is not None:  # the interpreter is exiting (threads.park_daemon_threads)
            break
        if s.deadlock_pending:
            s.deadlock_pending = False
            report_deadlock(s)
            break
        deadline = timers.next_deadline()
        timeout: float | None
        loop_turn = False
        if clock.virtual and not s.pending:
            # Virtual time moves only when both sides are asleep: no
            # runnable task and nothing runnable on the backend's loop.
            # It then jumps to the earliest timer of either side.
            b = s.backend
            if b.poll and not b.loop_idle():
                loop_turn = True  # let the loop run, then look again
            else:
                ld = b.loop_deadline() if b.poll else None
                if ld is not None and ld - clock.now() > MAX_DURATION:
                    ld = None  # a loop timer due never (asyncio.sleep(inf))
                if ld is not None and (deadline is None or ld < deadline):
                    deadline = ld
                if deadline is not None:
                    if s.polling and _poll_io(s):
                        continue  # a socket was ready: time stands still
                    clock.advance_to(deadline)
                    timers.run(clock.now())
                    if b.poll or s.polling:  # the loop fires what is due at the new time
                        b.wait(0, s.incoming)
                        if s.incoming:
                            s._drain_incoming()
                    continue
        if loop_turn:
            # A loop whose time is virtual is run a round at a time; one
            # on its own clock (uvloop) wakes the hub when its work is done.
            timeout = 0 if s.backend.virtual else None
        elif deadline is not None:
            timeout = deadline - clock.now()
        elif s.pending or s.polling:
            timeout = None  # the work (or the socket) wakes us when it is done
        elif s.busy():
            # Loop work could still wake a task, but a loop can also go
            # quiet without a word (an asyncio task awaiting a future
            # nobody will complete): look again now and then. A deadlock
            # needs two idle looks in a row, so this one clears suspicion.
            suspected = False
            timeout, recheck = recheck, min(recheck * 2, RECHECK_MAX)
        elif deadlock_check(s, confirmed=suspected):
            if suspected:  # reported by deadlock_check
                break
            # Confirm after a short pause: a thread that has just been
            # started may not be counted anywhere yet.
            suspected, timeout = True, RECHECK_MIN
        else:
            suspected = False
            timeout, recheck = recheck, min(recheck * 2, RECHECK_MAX)
        s.backend.wait(wait_timeout(timeout), s.incoming)
        if s.incoming:
            s._drain_incoming()
        if timers.heap:
            timers.run(clock.now())
    s.idle = False


def _poll_io(s: Scheduler) -> bool:
    """Virtual clock, sockets watched (``polling``), nothing runnable:
    look at the fds once without waiting; True if a task became
    runnable. Time must not jump past a deadline while data that would
    have beaten it is already waiting in a socket."""
    b = s.backend
    b.wait(0, s.incoming)
    if s.incoming:
        s._drain_incoming()
    # A loop backend may only have queued the callbacks of ready fds
    # (asyncio runs them in its next turn): not idle, so no jump yet.
    if s.runq or (b.poll and not b.loop_idle()):
        return True
    # The loop's turn may also have ended before it polled its fds at
    # all (uvloop runs call_soon callbacks, the hub's wake among them,
    # before its poll phase): ask the kernel. A ready fd is reported by
    # the backend on a later turn; until then time stands still.
    return any_fd_ready(s.polling)
