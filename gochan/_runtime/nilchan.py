"""nilchan: Go's nil channel. Every send and receive blocks forever (a
coroutine's until it is cancelled); ``select`` never picks it;
``close()`` raises ``Panic("close of nil channel")``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from . import waitreason as wr
from .chan import Chan
from .chan_async import forever, forever_iter
from .errors import CLOSE_OF_NIL, Panic
from .threads import current_task
from .waiter import SelectGroup


class _NilChan(Chan[Any]):
    """Go's nil channel: every send and receive blocks forever."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(0)

    def __repr__(self) -> str:
        return "nilchan"

    def send(self, v: Any) -> None:
        _block_forever(wr.CHAN_SEND_NIL)

    def recv_ok(self) -> tuple[Any, bool]:
        _block_forever(wr.CHAN_RECV_NIL)
        raise AssertionError("unreachable")  # pragma: no cover

    def recv(self) -> Any:
        _block_forever(wr.CHAN_RECV_NIL)

    def _recv(self) -> Any:
        _block_forever(wr.CHAN_RECV_NIL)

    def close(self) -> None:
        raise Panic(CLOSE_OF_NIL)

    async def asend(self, v: Any) -> None:
        await forever()

    async def arecv(self) -> Any:
        await forever()

    async def arecv_ok(self) -> tuple[Any, bool]:
        await forever()
        raise AssertionError("unreachable")  # pragma: no cover

    def __aiter__(self) -> AsyncIterator[Any]:
        return forever_iter()

    def offer(self, v: Any) -> bool:
        return False

    def drain(self) -> bool:
        return False


def _block_forever(reason: str) -> None:
    task = current_task()
    g = SelectGroup(task)  # no waiters: only withdraw() can end this wait
    task.sched.park(reason, nilchan, g)
    raise AssertionError("a nil-channel wait resumed without an exception")  # pragma: no cover


nilchan: Final[Chan[Any]] = _NilChan()
"""Go's nil channel: send and receive block forever; select never picks it;
``close()`` raises ``Panic("close of nil channel")``."""
