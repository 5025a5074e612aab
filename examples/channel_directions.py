"""Channel directions: say in the signature whether a function sends or receives.

The Go original (Go by Example, "Channel Directions")::

    func ping(pings chan<- string, msg string) { pings <- msg }
    func pong(pings <-chan string, pongs chan<- string) {
        msg := <-pings
        pongs <- msg
    }

Go checks ``chan<- T`` (send-only) and ``<-chan T`` (receive-only) at
compile time. gochan has no directional channel types, at run time or
otherwise: a ``Chan`` can always send and receive (docs/channels.md says
so). Two honest stand-ins, both shown here:

* **For the type checker**: annotate parameters with small ``Protocol``s
  that expose only one direction. A ``Chan`` matches both structurally, so
  callers pass the channel itself; mypy or pyright then rejects
  ``pings.recv()`` inside ``ping``. Nothing is checked at run time.
* **At run time**: pass a bound method, ``pings.send`` or ``pings.recv``,
  instead of the channel. The callee holds one operation and nothing else
  (no ``close``, no other direction), and the bound methods still work as
  ``select`` cases. This is a capability, not a type: it is the closest
  runtime equivalent, and the program below shows what it does and does
  not prevent.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Protocol, TypeVar

import gochan

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)
T_co = TypeVar("T_co", covariant=True)


class SendChan(Protocol[T_contra]):
    """Go's ``chan<- T``, for type checkers only."""

    def send(self, v: T_contra) -> None: ...
    def close(self) -> None: ...


class RecvChan(Protocol[T_co]):
    """Go's ``<-chan T``, for type checkers only."""

    def recv(self) -> T_co | None: ...
    def recv_ok(self) -> tuple[T_co | None, bool]: ...


# 1. Typed directions: the same code as Go, checked statically.
def ping(pings: SendChan[str], msg: str) -> None:
    pings.send(msg)  # pings.recv() here: a type error, not a runtime one


def pong(pings: RecvChan[str], pongs: SendChan[str]) -> None:
    msg = pings.recv()
    assert msg is not None
    pongs.send(msg)


# 2. Capabilities: hand over one bound method, not the channel.
def ping_cap(send: Callable[[str], None], msg: str) -> None:
    send(msg)


def pong_cap(recv: Callable[[], str | None], send: Callable[[str], None]) -> None:
    # A bound method is also a select case: wait for a message, or give up.
    match gochan.select(recv, gochan.after(1).recv):
        case 0, msg:
            send(f"{msg} (relayed)")
        case 1, _:
            send("nobody pinged")


def main() -> None:
    pings, pongs = gochan.Chan[str](1), gochan.Chan[str](1)
    ping(pings, "passed message")
    pong(pings, pongs)
    print(pongs.recv())

    ping_cap(pings.send, "passed capability")
    gochan.go(pong_cap, pings.recv, pongs.send)
    print(pongs.recv())

    gochan.go(pong_cap, pings.recv, pongs.send)  # nobody pings this time
    print(pongs.recv(), "at t =", gochan.monotonic())

    # What the capability prevents, and what it does not.
    send_only = pings.send
    print("can close it?", hasattr(send_only, "close"))
    print("can receive?", hasattr(send_only, "recv"))
    bound = isinstance(send_only, types.MethodType) and send_only.__self__ is pings
    print("...but the channel is one attribute away:", bound)


if __name__ == "__main__":
    gochan.run(main, clock="virtual", seed=1)
