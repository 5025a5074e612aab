"""A signal (Ctrl-C) that arrives while the scheduler waits must surface in
the blocked task as KeyboardInterrupt and leave the scheduler usable: the
interrupted wait is withdrawn, so no later send is lost to it."""

from __future__ import annotations

import signal
import threading
import time

import gochan
from gochan import Chan, go


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def test_keyboard_interrupt_while_parked() -> None:
    old = signal.signal(signal.SIGUSR1, _raise_interrupt)
    main_ident = threading.get_ident()

    def interrupter(main_task: gochan.Task) -> None:
        # Wait until main is observably parked, then signal it. (While this
        # thread lives, the scheduler cannot call it a deadlock and waits.)
        while main_task.state != "chan receive":
            time.sleep(0.001)
        signal.pthread_kill(main_ident, signal.SIGUSR1)

    def main() -> list[object]:
        ch = Chan[int]()
        seen: list[object] = []
        th = threading.Thread(target=interrupter, args=(gochan.current(),))
        th.start()
        try:
            ch.recv()
        except KeyboardInterrupt:
            seen.append("interrupted")
        th.join()
        seen.append(len(ch._recvq))  # the interrupted wait left no waiter
        go(ch.send, 5)
        seen.append(ch.recv())  # the value reaches us, not a ghost waiter
        other = Chan[int]()
        t = go(other.recv)
        gochan.gosched()
        other.send(1)
        seen.append(t.join())
        return seen

    try:
        assert gochan.run(main) == ["interrupted", 0, 5, 1]
    finally:
        signal.signal(signal.SIGUSR1, old)
