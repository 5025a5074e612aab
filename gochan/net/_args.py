"""The numbers gochan.net's calls take that are not durations: byte counts
and buffer sizes. (Durations and deadlines go through the runtime's
``seconds`` and ``instant``: NaN is a ValueError, inf never expires.)

A byte count is an int (anything with ``__index__``, not a bool), zero or
more. A read asks the socket for at most ``MAX_READ`` bytes at once: a read
returns what is there, never more than asked, so a bigger ``n``
(``10**400`` included) reads the same as ``MAX_READ`` without allocating a
buffer of that size first.
"""

from __future__ import annotations

import operator
import sys
from typing import SupportsIndex

MAX_READ = 1 << 26  # 64 MiB: more than any socket buffer holds


def byte_count(n: object, what: str) -> int:
    """``n`` as a byte count for ``what`` (``"Conn.read()"``), not above
    ``MAX_READ``; ``TypeError`` or ``ValueError`` saying what to pass.

    >>> byte_count(10, "Conn.read()"), byte_count(10**400, "Conn.read()") == MAX_READ
    (10, True)
    >>> byte_count(-1, "Conn.read()")
    Traceback (most recent call last):
    ...
    ValueError: Conn.read() got n=-1; ask for a positive number of bytes (0 returns at once)
    """
    if type(n) is int and 0 <= n <= MAX_READ:  # the usual case, without the checks below
        return n
    return min(_count(n, what, "n"), MAX_READ)


def _count(n: object, what: str, name: str) -> int:
    # (isinstance on a Protocol walks the protocol's attributes on every call: the
    # int fast paths above and below keep it off the per-read path.)
    if type(n) is int and n >= 0:
        return n
    if isinstance(n, bool) or not isinstance(n, SupportsIndex):
        raise TypeError(f"{what} takes a number of bytes (an int) as {name}, got {n!r}")
    i = operator.index(n)
    if i < 0:
        raise ValueError(
            f"{what} got {name}={i}; ask for a positive number of bytes (0 returns at once)"
        )
    return int(i)


def into_count(n: object, what: str) -> int:
    """``recv_into``'s ``nbytes``: an int, zero or more (0: the whole buffer).

    >>> into_count(0, "Conn.recv_into()")
    0
    """
    return min(_count(n, what, "nbytes"), sys.maxsize)  # (more than any buffer: refused)


def buffer_size(buffering: object, what: str) -> int | None:
    """``makefile``'s ``buffering``: None or an int (negative: the default
    size, 0: unbuffered); ``TypeError`` or ``ValueError`` saying what to pass.

    >>> buffer_size(None, "makefile()"), buffer_size(-1, "makefile()")
    (None, -1)
    """
    if buffering is None:
        return None
    if isinstance(buffering, bool) or not isinstance(buffering, SupportsIndex):
        raise TypeError(
            f"{what} takes buffering as an int (bytes; -1 for the default, 0 for none), "
            f"got {buffering!r}"
        )
    b = int(operator.index(buffering))
    if b > sys.maxsize:
        raise ValueError(
            f"{what} got buffering={b}, too large; give a buffer size in bytes, "
            "or -1 for the default"
        )
    return b


def shutdown_how(how: object, what: str) -> int:
    """``shutdown``'s ``how``: ``socket.SHUT_RD``, ``SHUT_WR`` or ``SHUT_RDWR``.

    >>> import socket
    >>> shutdown_how(socket.SHUT_WR, "Conn.shutdown()")
    1
    """
    if isinstance(how, bool) or not isinstance(how, SupportsIndex) or how not in (0, 1, 2):
        raise ValueError(f"{what} got how={how!r}; use socket.SHUT_RD, SHUT_WR or SHUT_RDWR")
    return int(operator.index(how))
