"""Connections and listeners: Go's ``netFD``, ``Conn`` and ``Listener``.

A ``_FD`` is one non-blocking socket with its poll descriptor (``PollDesc``
in the runtime's io.py: deadlines, eviction, readiness) and Go's reference
count (held in one list with the direction tokens, see ``_FD``). Every
call that touches the socket holds a reference; ``close`` marks the
fd closing, evicts whoever is parked on it, and the socket is closed by
whoever drops the last reference: ``close`` itself when no call is in
flight, else the last call as it leaves. So a call can never act on an fd
number that was closed and handed to a new file meanwhile.

Calls of one direction are serialised (Go's fdMutex read and write locks):
two tasks writing to one connection never interleave their bytes, and at
most one task per direction waits in the poller. A task queued behind the
lock when the connection closes gets the lock as the evicted one leaves,
sees the fd closing and fails too: nobody hangs.

The shape of every call is Go's: check the descriptor (closing? deadline
passed?), try the system call, and if it would block, wait for readiness
and go round again. ``Conn.read`` and ``Conn.write`` inline the common case
(no deadline, not closing, not known to be empty or full): take the token,
make the system call, put the token back.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import socket
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, NoReturn, Protocol, Self, SupportsFloat, TypeVar

from .._runtime import waitreason as wr
from .._runtime.duration import NEVER, instant, seconds
from .._runtime.io import POLL_CLOSING, PollDesc
from .._runtime.sema import enqueue, grant, wait_grant
from .._runtime.task import ready
from .._runtime.threads import current_task
from .._runtime.timers import monotonic
from .._runtime.waiter import LOCK, Waiter
from .._runtime.waitreason import IO_WAIT
from ._addr import Addr, check_network, resolve, to_addr, unix_sockaddr
from ._args import buffer_size, byte_count, into_count, shutdown_how

T = TypeVar("T")

_IN_PROGRESS = (errno.EINPROGRESS, errno.EALREADY, errno.EINTR)


class ErrClosed(OSError):
    """A call on a connection or listener that was closed, before it began or
    while it was blocked (Go's ``net.ErrClosed``). The note names the call.

    >>> import gochan
    >>> from gochan import net
    >>> def main():
    ...     ln = net.listen("tcp", "127.0.0.1:0")
    ...     ln.close()
    ...     try:
    ...         ln.accept()
    ...     except net.ErrClosed as e:
    ...         return str(e)
    >>> gochan.run(main)
    'use of closed network connection'
    """

    def __init__(self, msg: str = "use of closed network connection") -> None:
        super().__init__(msg)


# The tokens of _FD.st: a direction's right to make its calls (Go's fdMutex
# read and write locks). A token in the list: that direction is free.
_R: Final = "r"
_W: Final = "w"


class _FD:
    """A non-blocking socket, its PollDesc, its per-direction locks and its
    reference count (Go's ``netFD`` and ``fdMutex``).

    Everything an uncontended call needs is one list, ``st``, changed by
    single C calls that are atomic under the GIL (as Go's fdMutex is one
    atomic word): a call takes its direction's token out (``remove``, which
    fails if another call of that direction holds it) and puts it back; any
    other call that touches the socket (``shutdown``) adds a ``None`` for as
    long as it runs. So "no call in flight" is "both tokens in, no None",
    and no lock is taken on the way in or out. ``closing`` is set before
    anything else by ``close``; a call checks it after taking its token, so
    either the call sees it and does not touch the socket, or ``close``
    sees the token gone and leaves the socket to the call, whose release
    closes it (sequentially consistent under the GIL: Dekker's argument).

    A call that finds its token taken queues in ``rq``/``wq`` (made on
    first contention, under LOCK) and parks; a releaser that sees the queue
    hands the token straight to its head, so queued tasks go in order. A
    queued task enqueues itself *before* it looks at the token once more,
    and a releaser puts the token back *before* it looks at the queue: one
    of them sees the other, and no hand-off is lost.
    """

    __slots__ = ("closing", "destroyed", "fd", "pd", "rq", "sock", "st", "unlink", "wq")

    def __init__(self, sock: socket.socket, unlink: str | None = None) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.fd = sock.fileno()
        self.pd = PollDesc(self.fd)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            self.pd.sticky = False  # a short read empties it (see PollDesc.sticky)
        self.st: list[str | None] = [_R, _W]
        self.rq: deque[Waiter] | None = None  # tasks queued for the read token
        self.wq: deque[Waiter] | None = None  # ... for the write token
        self.closing = False
        self.destroyed = False
        self.unlink = unlink  # a Unix socket file to remove with the socket

    @property
    def closed(self) -> bool:
        return self.closing

    def incref(self) -> bool:
        """Take a reference for a call; False if the fd is closing."""
        self.st.append(None)
        if self.closing:
            self.decref()
            return False
        return True

    def decref(self) -> None:
        self.st.remove(None)
        if self.closing:
            self._maybe_destroy()

    def acquire(self, write: bool) -> None:
        """Take the direction's token, queueing behind its holder if need be."""
        tok = _W if write else _R
        st = self.st
        try:
            st.remove(tok)
            return
        except ValueError:
            pass
        cur = current_task()
        with LOCK:
            q = self.wq if write else self.rq
            if q is None:
                q = deque()
                if write:
                    self.wq = q
                else:
                    self.rq = q
            w = enqueue(q, cur)
            try:
                st.remove(tok)  # released meanwhile: no need to wait
            except ValueError:
                pass
            else:
                w.withdraw()
                return

        def abandon(granted: bool) -> None:
            if granted:  # handed to us, but we will not use it: pass it on
                self.release(write)

        wait_grant(w, wr.SYNC_MUTEX_LOCK, self, abandon)  # granted: the token is ours

    def release(self, write: bool) -> None:
        """Put the direction's token back (or hand it to the next in line)."""
        self.st.append(_W if write else _R)
        if (self.wq if write else self.rq) or self.closing:
            self._released(write)

    def _released(self, write: bool) -> None:
        """After a token went back: a queued task gets it; a closing fd with
        no call left in it is destroyed."""
        q = self.wq if write else self.rq
        if q:
            t = None
            with LOCK:
                if q:
                    try:
                        self.st.remove(_W if write else _R)
                    except ValueError:
                        pass  # taken meanwhile: its holder hands it on
                    else:
                        t = grant(q)
            if t is not None:
                ready(t)
                return
        if self.closing:
            self._maybe_destroy()

    def close(self) -> None:
        """Evict the parked calls; close the socket once no call is in it.
        Idempotent; any thread."""
        if self.closing:
            return
        self.closing = True
        self.pd.evict()
        self._maybe_destroy()

    def _maybe_destroy(self) -> None:
        st = self.st
        if _R in st and _W in st and None not in st:  # no call in flight
            with LOCK:
                if self.destroyed:
                    return
                self.destroyed = True
            self._destroy()

    def _destroy(self) -> None:
        self.pd.unlink(self._close)  # (closed at once, or on a loop's thread: see unlink)

    def _close(self) -> None:
        self.sock.close()
        if self.unlink:
            with contextlib.suppress(OSError):
                os.unlink(self.unlink)

    def io(
        self, write: bool, call: Callable[..., T], args: tuple[Any, ...], owner: Any, op: str
    ) -> T:
        """Run ``call(*args)`` (a non-blocking system call) as Go's netFD
        does: holding the direction's token, waiting whenever it would
        block. ``owner._error(status, op)`` makes the error for a status."""
        tok = _W if write else _R
        st = self.st
        try:
            st.remove(tok)
        except ValueError:
            self.acquire(write)
        try:
            return self.io_held(write, call, args, owner, op)
        finally:
            st.append(tok)
            if (self.wq if write else self.rq) or self.closing:
                self._released(write)

    def io_held(
        self, write: bool, call: Callable[..., T], args: tuple[Any, ...], owner: Any, op: str
    ) -> T:
        """``io`` with the direction's token held: check the descriptor,
        try the call if the fd may be ready, wait, go round again."""
        pd = self.pd
        status = pd.status(write)
        while not status:
            seq = pd.wseq if write else pd.rseq
            if seq != (pd.wseen if write else pd.rseen):
                try:
                    return call(*args)
                except (BlockingIOError, InterruptedError):
                    if write:
                        pd.wseen = seq
                    else:
                        pd.rseen = seq
            status = pd.wait(write, seq)
        raise owner._error(status, op)

    def write_held(self, data: Any, sent: int, owner: Any) -> int:
        """All of ``data`` from byte ``sent`` on, the write token held."""
        view = memoryview(data).cast("B")
        total = len(view)
        sock = self.sock
        pd = self.pd
        try:
            status = pd.status(True)
            while not status:
                seq = pd.wseq
                if seq != pd.wseen:
                    try:
                        while sent < total:
                            sent += sock.send(view[sent:])
                        return total
                    except (BlockingIOError, InterruptedError):
                        pd.wseen = seq
                status = pd.wait(True, seq)
            raise owner._error(status, "write")
        except OSError as e:
            _raise_system_error(e, owner, "write", sent, total)


def _deadline(t: object, what: str) -> float | None:
    """A deadline argument: None, or a time on gochan.monotonic()."""
    if t is None:
        return None
    d = instant(t, monotonic(), what)
    return None if d == NEVER else d


def _raise_system_error(e: OSError, conn: Any, op: str, sent: int, total: int) -> NoReturn:
    """Raise ``e``, a read's or write's error, as Go words it: a system
    error (reset, broken pipe) with the connection and the call in front,
    keeping its type; ``ErrClosed`` and ``TimeoutError`` as they are. For a
    write that got some bytes out, a note says how many."""
    err = e
    if not isinstance(e, (ErrClosed, TimeoutError)):
        err = _socket_error(e, f"{op} {conn._where()}: {op}")
    if sent:
        err.add_note(f"{sent} of {total} bytes were written")
    if err is e:
        raise e
    raise err from e


def _socket_error(e: OSError, op: str) -> OSError:
    """``e`` with Go's prefix: ``"dial tcp 10.0.0.1:80: connect: connection refused"``."""
    err = OSError(e.errno, f"{op}: {(e.strerror or str(e)).lower()}")
    err.__cause__ = e
    return err


class ClosesOnExit:
    """``with x:`` closes ``x`` when the block ends (Conn, Listener and the
    TLS ones)."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Endpoint(ClosesOnExit):
    """What Conn and Listener share: the fd, close, deadlines, ``with``."""

    __slots__ = ("_fd", "_network")

    _fd: _FD
    _network: str

    def _where(self) -> str:
        raise NotImplementedError

    def _error(self, status: int, op: str) -> OSError:
        """The error of a call ``op`` that ended with poll status ``status``."""
        if status == POLL_CLOSING:
            e: OSError = ErrClosed()
            e.add_note(f"{op} {self._where()}")
            return e
        return TimeoutError(f"{op} {self._where()}: i/o timeout")

    def close(self) -> None:
        """Close it; every task blocked in it wakes with ``ErrClosed``, and so
        does every later call. Idempotent; any task or OS thread may call it."""
        self._fd.close()

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._fd.closed

    def fileno(self) -> int:
        """The socket's file descriptor; -1 once closed."""
        return -1 if self._fd.closed else self._fd.fd

    def _set_deadline(self, t: object, read: bool, write: bool, what: str) -> None:
        d = _deadline(t, what)
        if self._fd.closed:
            e = ErrClosed()
            e.add_note(f"{what} on {self._where()}")
            raise e
        self._fd.pd.set_deadline(d, read, write)


class Conn(_Endpoint):
    """A stream connection (Go's ``net.Conn``), from ``dial`` or
    ``Listener.accept``. Calls block the calling task only.

    ``read(n)`` returns up to ``n`` bytes, ``b""`` at end of stream;
    ``write(data)`` writes all of ``data`` or raises. Deadlines are absolute
    times on ``gochan.monotonic()`` and stick until changed (Go's rules):
    a passed deadline fails the call in progress and every later one with
    ``TimeoutError``; setting a later one (or None) lets calls work again.
    The socket face (``recv``, ``recv_into``, ``send``, ``sendall``,
    ``makefile``, ``fileno``, ``shutdown``) serves libraries written for
    blocking sockets.

    >>> import gochan
    >>> from gochan import net
    >>> def client(addr):
    ...     with net.dial("tcp", addr) as c:
    ...         c.write(b"hi")
    >>> def main():
    ...     with net.listen("tcp", "127.0.0.1:0") as ln:
    ...         gochan.go(client, str(ln.addr))
    ...         with ln.accept() as conn:
    ...             return conn.read(2)
    >>> gochan.run(main)
    b'hi'
    """

    __slots__ = ("_local", "_remote")

    def __init__(self, fd: _FD, network: str) -> None:
        self._fd = fd
        self._network = "unix" if network == "unix" else "tcp"
        sock = fd.sock
        family = sock.family
        if family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Go does
        self._local = to_addr(family, sock.getsockname())
        try:
            self._remote = to_addr(family, sock.getpeername())
        except OSError:  # reset already
            self._remote = Addr(self._network)

    def __repr__(self) -> str:
        state = " closed" if self._fd.closed else ""
        return f"<gochan.net.Conn {self._where()}{state}>"

    def _where(self) -> str:
        return f"{self._network} {self._local}->{self._remote}"

    @property
    def local_addr(self) -> Addr:
        """This end's address."""
        return self._local

    @property
    def remote_addr(self) -> Addr:
        """The peer's address."""
        return self._remote

    # -- reading --------------------------------------------------------------

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes, as soon as some are there; ``b""`` at end of stream.

        ``TimeoutError`` once the read deadline has passed, ``ErrClosed`` if
        the connection is closed before or during the call. ``read(0)``
        returns ``b""`` at once (as Go's ``Read`` of an empty buffer). A
        system error keeps its type and reads as Go's
        (``"read tcp 127.0.0.1:…->127.0.0.1:…: read: connection reset by peer"``).
        """
        n = byte_count(n, "Conn.read()")
        fd = self._fd
        if not n:
            if fd.closing:
                raise self._error(POLL_CLOSING, "read")
            return b""
        st = fd.st
        try:
            st.remove(_R)  # the read token (see _FD): one C call, atomic under the GIL
        except ValueError:  # another task is reading: queue behind it
            try:
                return fd.io(False, fd.sock.recv, (n,), self, "read")
            except OSError as e:
                _raise_system_error(e, self, "read", 0, 0)
        try:
            pd = fd.pd
            while True:
                # Fast path (Go's read with prepareRead an atomic check): not
                # closing (checked after taking the token, see _FD), no read
                # deadline (else io_held, which reads the clock), and the fd
                # not known to be empty: recv at once.
                if fd.closing or pd.rd is not None:
                    return fd.io_held(False, fd.sock.recv, (n,), self, "read")
                seq = pd.rseq
                if seq != pd.rseen:
                    try:
                        data = fd.sock.recv(n)
                    except BlockingIOError:
                        pd.rseen = seq  # empty: the next try waits for a report first
                    else:
                        if 0 < len(data) < n and not pd.sticky:
                            # A short read took all there was (TCP's recv
                            # returns what is queued, up to n; see sticky):
                            # the next read waits for the poller's next
                            # report, with no recv that would fail first.
                            # seq was read before recv: a report that came
                            # meanwhile has moved rseq, so nothing is missed.
                            pd.rseen = seq
                        return data
                # pd.wait(False, seq), with the park made here: see PollDesc.arm
                rec = pd.arm(False, seq)
                if isinstance(rec, int):
                    status = rec
                else:
                    try:
                        rec.task.sched.park(IO_WAIT, rec, rec)
                    finally:
                        status = pd.disarm(rec)
                if status:
                    raise self._error(status, "read")
        except OSError as e:
            _raise_system_error(e, self, "read", 0, 0)
        finally:
            st.append(_R)
            if fd.rq or fd.closing:
                fd._released(False)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """``socket.recv``, blocking this task only (``read`` with flags)."""
        bufsize = byte_count(bufsize, "Conn.recv()")
        return self._fd.io(False, self._fd.sock.recv, (bufsize, flags), self, "read")

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """``socket.recv_into``, blocking this task only."""
        nbytes = into_count(nbytes, "Conn.recv_into()")
        return self._fd.io(False, self._fd.sock.recv_into, (buffer, nbytes, flags), self, "read")

    # -- writing --------------------------------------------------------------

    def write(self, data: Any) -> int:
        """Write all of ``data`` (any bytes-like object), waiting as long as
        the peer is slow; return its length. A short write is retried; if the
        call fails midway (deadline, close, reset), the error's note says how
        much was written. A system error keeps its type and reads as Go's
        (``"write tcp 127.0.0.1:…->127.0.0.1:…: write: broken pipe"``)."""
        fd = self._fd
        st = fd.st
        try:
            st.remove(_W)  # the write token: writers never interleave their bytes
        except ValueError:  # another task is writing: queue behind it
            fd.acquire(True)
        sent = 0
        try:
            pd = fd.pd
            # Fast path: bytes, not closing, no write deadline, the fd not
            # known to be full: one send, done if it took everything.
            if type(data) is bytes and not fd.closing and pd.wd is None:
                seq = pd.wseq
                if seq != pd.wseen:
                    try:
                        sent = fd.sock.send(data)
                    except BlockingIOError:
                        pd.wseen = seq
                    except OSError as e:
                        _raise_system_error(e, self, "write", 0, len(data))
                    else:
                        if sent == len(data):
                            return sent
                        pd.wseen = seq  # a short send: the buffer is full
            return fd.write_held(data, sent, self)
        finally:
            st.append(_W)
            if fd.wq or fd.closing:
                fd._released(True)

    def sendall(self, data: Any) -> None:
        """``socket.sendall``: ``write`` without the count."""
        self.write(data)

    def send(self, data: Any) -> int:
        """``socket.send``: wait until some of ``data`` can be sent, send what
        fits, return how much."""
        return self._fd.io(True, self._fd.sock.send, (data,), self, "write")

    # -- halves, deadlines ----------------------------------------------------

    def shutdown(self, how: int) -> None:
        """``socket.shutdown``: ``SHUT_WR`` sends end of stream to the peer."""
        how = shutdown_how(how, "Conn.shutdown()")
        if not self._fd.incref():
            raise self._error(POLL_CLOSING, "shutdown")
        try:
            self._fd.sock.shutdown(how)
        finally:
            self._fd.decref()

    def close_read(self) -> None:
        """Shut down the reading half (Go's ``CloseRead``)."""
        self.shutdown(socket.SHUT_RD)

    def close_write(self) -> None:
        """Shut down the writing half: the peer reads end of stream (Go's
        ``CloseWrite``)."""
        self.shutdown(socket.SHUT_WR)

    def set_deadline(self, t: SupportsFloat | None) -> None:
        """Set the read and write deadlines: ``t`` on ``gochan.monotonic()``,
        None for none. A call blocked now re-arms with it. NaN raises
        ``ValueError``; ``math.inf`` is no deadline.

        >>> import gochan
        >>> from gochan import net
        >>> def main():
        ...     with net.listen("tcp", "127.0.0.1:0") as ln, net.dial("tcp", str(ln.addr)) as c:
        ...         c.set_deadline(gochan.monotonic() + 5)
        ...         try:
        ...             c.read(1)                  # nobody writes
        ...         except TimeoutError:
        ...             return gochan.monotonic()
        >>> gochan.run(main, clock="virtual")
        5.0
        """
        self._set_deadline(t, True, True, "Conn.set_deadline()")

    def set_read_deadline(self, t: SupportsFloat | None) -> None:
        """Set the read deadline only (see ``set_deadline``)."""
        self._set_deadline(t, True, False, "Conn.set_read_deadline()")

    def set_write_deadline(self, t: SupportsFloat | None) -> None:
        """Set the write deadline only (see ``set_deadline``)."""
        self._set_deadline(t, False, True, "Conn.set_write_deadline()")

    # -- files ----------------------------------------------------------------

    def makefile(
        self,
        mode: str = "r",
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> Any:
        """A file object on the connection, as ``socket.makefile``: its reads
        and writes block this task only. Closing the file leaves the
        connection open."""
        return make_file(self, mode, buffering, encoding, errors, newline)


class Stream(Protocol):
    """What ``make_file`` needs of a connection (Conn and tls.TLSConn)."""

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int: ...
    def send(self, data: Any) -> int: ...
    def fileno(self) -> int: ...


def make_file(
    conn: Stream,
    mode: str,
    buffering: int | None,
    encoding: str | None,
    errors: str | None,
    newline: str | None,
) -> Any:
    """``socket.makefile`` for a connection: buffered binary or text files
    over its ``recv_into`` and ``send``."""
    if not set(mode) <= {"r", "w", "b"}:
        raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
    reading, writing = "r" in mode, "w" in mode
    if not (reading or writing):
        raise ValueError(f"invalid mode {mode!r}: read ('r'), write ('w') or both")
    buffering = buffer_size(buffering, "makefile()")
    raw = _ConnIO(conn, reading, writing)
    binary = "b" in mode
    if buffering is None:
        buffering = -1
    if buffering < 0:
        buffering = io.DEFAULT_BUFFER_SIZE
    if buffering == 0:
        if not binary:
            raise ValueError("unbuffered streams must be binary")
        return raw
    buf: io.BufferedIOBase
    if reading and writing:
        buf = io.BufferedRWPair(raw, raw, buffering)
    elif reading:
        buf = io.BufferedReader(raw, buffering)
    else:
        buf = io.BufferedWriter(raw, buffering)
    if binary:
        return buf
    text = io.TextIOWrapper(buf, encoding, errors, newline)  # type: ignore[type-var]
    text.mode = mode  # type: ignore[misc]
    return text


class _ConnIO(io.RawIOBase):
    """The raw file under ``Conn.makefile`` (``socket.SocketIO`` for a Conn)."""

    def __init__(self, conn: Stream, reading: bool, writing: bool) -> None:
        super().__init__()
        self._conn = conn
        self._reading = reading
        self._writing = writing

    def readinto(self, b: Any) -> int:
        return self._conn.recv_into(b)

    def write(self, b: Any) -> int:
        return self._conn.send(b)

    def readable(self) -> bool:
        return self._reading

    def writable(self) -> bool:
        return self._writing

    def fileno(self) -> int:
        return self._conn.fileno()


class Listener(_Endpoint):
    """A listening socket (Go's ``net.Listener``), from ``listen``.

    ``accept()`` blocks the calling task until a connection arrives;
    ``close()`` wakes it with ``ErrClosed``. ``set_deadline`` bounds
    ``accept`` as a read deadline bounds ``read``.

    >>> import gochan
    >>> from gochan import net
    >>> def main():
    ...     with net.listen("tcp", "127.0.0.1:0") as ln:
    ...         return ln.addr.host, ln.addr.port > 0
    >>> gochan.run(main)
    ('127.0.0.1', True)
    """

    __slots__ = ("_addr",)

    def __init__(self, fd: _FD, network: str) -> None:
        self._fd = fd
        self._network = network
        self._addr = to_addr(fd.sock.family, fd.sock.getsockname())

    def __repr__(self) -> str:
        state = " closed" if self._fd.closed else ""
        return f"<gochan.net.Listener {self._where()}{state}>"

    def _where(self) -> str:
        return f"{self._addr.network} {self._addr}"

    @property
    def addr(self) -> Addr:
        """The address it listens on (the port chosen for ``:0``)."""
        return self._addr

    def accept(self) -> Conn:
        """Wait for the next connection and return it.

        ``ErrClosed`` if the listener is closed before or while waiting,
        ``TimeoutError`` once its deadline has passed.
        """
        lsock = self._fd.sock

        def call() -> socket.socket:
            while True:
                try:
                    s, _ = lsock.accept()
                    return s
                except ConnectionAbortedError:
                    continue  # the peer gave up in the queue: take the next (as Go)

        s = self._fd.io(False, call, (), self, "accept")
        try:
            return Conn(_FD(s), self._network)
        except BaseException:
            s.close()
            raise

    def set_deadline(self, t: SupportsFloat | None) -> None:
        """Bound ``accept``: ``t`` on ``gochan.monotonic()``, None for none."""
        self._set_deadline(t, True, True, "Listener.set_deadline()")


def listen(network: str, address: str) -> Listener:
    """Listen on ``address``: ``"host:port"`` for ``"tcp"``, ``"tcp4"``,
    ``"tcp6"`` (``":0"`` for every local address and a free port; ``"tcp"``
    with an empty host takes both IPv4 and IPv6 where it can), a path for
    ``"unix"`` (``"@name"`` for a Linux abstract socket). The socket file of
    a Unix listener is removed when the listener closes.

    >>> import gochan
    >>> from gochan import net
    >>> def main():
    ...     with net.listen("tcp4", ":0") as ln:
    ...         return ln.addr.host
    >>> gochan.run(main)
    '0.0.0.0'
    """
    check_network(network, "listen()")
    op = f"listen {network} {address}"
    unlink = None
    family: int
    target: object
    if network == "unix":
        family, target = socket.AF_UNIX, unix_sockaddr(address)
        unlink = None if address.startswith("@") else address
    else:
        family, target = resolve(network, address, passive=True, what=op)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family != socket.AF_UNIX:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, network == "tcp6")
        try:
            sock.bind(target)  # type: ignore[arg-type]
            sock.listen(socket.SOMAXCONN)
        except OSError as e:
            raise _socket_error(e, f"{op}: bind") from e
        return Listener(_FD(sock, unlink), network)
    except BaseException:
        sock.close()
        raise


def dial(network: str, address: str, timeout: SupportsFloat | None = None) -> Conn:
    """Connect to ``address`` on ``network`` (as for ``listen``; an empty
    host is this machine). A name is resolved on a worker thread; each
    address it resolves to is tried in turn.

    ``timeout`` (seconds on ``gochan.monotonic()``) bounds the whole dial,
    name lookup included, with ``TimeoutError``: None or ``math.inf`` is no
    bound, zero or less fails at once, NaN raises ``ValueError``. A lookup
    cut short by the timeout or by cancelling the task is abandoned: its
    thread finishes on its own and its answer is dropped. A refused
    connection raises ``ConnectionRefusedError``, an unknown name
    ``socket.gaierror``.

    >>> import gochan
    >>> from gochan import net
    >>> def main():
    ...     with net.listen("tcp", "127.0.0.1:0") as ln:
    ...         with net.dial("tcp", str(ln.addr), timeout=5) as c:
    ...             return c.remote_addr == ln.addr
    >>> gochan.run(main)
    True
    """
    check_network(network, "dial()")
    secs = None if timeout is None else seconds(timeout, "dial()")
    op = f"dial {network} {address}"
    deadline = None
    if secs is not None and secs != NEVER:
        if secs <= 0:
            raise TimeoutError(f"{op}: i/o timeout")
        deadline = monotonic() + secs
    if network == "unix":
        targets: list[tuple[int, object]] = [(socket.AF_UNIX, unix_sockaddr(address))]
    else:
        targets = resolve(network, address, passive=False, what=op, deadline=deadline)
    first: OSError | None = None
    for family, target in targets:
        if deadline is not None and monotonic() >= deadline:
            raise TimeoutError(f"{op}: i/o timeout")
        try:
            return _connect(network, family, target, deadline, op)
        except TimeoutError:
            raise
        except OSError as e:
            first = first or e
    assert first is not None
    raise first


def _connect(network: str, family: int, target: object, deadline: float | None, op: str) -> Conn:
    """Connect a new non-blocking socket to ``target``, waiting for the
    handshake in the poller (Go's netFD.connect)."""
    fd = _FD(socket.socket(family, socket.SOCK_STREAM))
    sock = fd.sock
    ok = False
    try:
        fd.pd.set_deadline(deadline, read=False, write=True)
        pd = fd.pd
        seq = pd.wseq
        err = sock.connect_ex(target)  # type: ignore[arg-type]
        while err in _IN_PROGRESS:
            st = pd.wait(True, seq)
            seq = pd.wseq  # (before the check: a report meanwhile is not missed)
            if st:
                raise TimeoutError(f"{op}: i/o timeout")
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == 0:
                try:
                    sock.getpeername()
                except OSError as e:
                    if e.errno != errno.ENOTCONN:
                        raise
                    err = errno.EINPROGRESS  # spurious wakeup: still connecting
        if err not in (0, errno.EISCONN):
            raise OSError(err, f"{op}: connect: {os.strerror(err).lower()}")
        fd.pd.set_deadline(None)
        conn = Conn(fd, network)
        ok = True
        return conn
    finally:
        if not ok:
            fd.close()
