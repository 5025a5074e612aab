"""Connections and listeners: Go's ``netFD``, ``Conn`` and ``Listener``.

A ``_FD`` is one non-blocking socket with its poll descriptor (``PollDesc``
in the runtime's io.py: deadlines and eviction) and Go's reference count.
Every call that touches the socket holds a reference; ``close`` marks the
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
and go round again.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, Self, SupportsFloat, TypeVar

from .._runtime.duration import NEVER, instant, seconds
from .._runtime.io import POLL_CLOSING, PollDesc
from .._runtime.timers import monotonic
from ..sync import Mutex
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


class _FD:
    """A non-blocking socket, its PollDesc and its reference count."""

    __slots__ = ("_closing", "_mu", "_refs", "fd", "pd", "rlock", "sock", "unlink", "wlock")

    def __init__(self, sock: socket.socket, unlink: str | None = None) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.fd = sock.fileno()
        self.pd = PollDesc(self.fd)
        self._mu = threading.Lock()  # guards _refs and _closing; any thread
        self._refs = 0
        self._closing = False
        self.rlock = Mutex()
        self.wlock = Mutex()
        self.unlink = unlink  # a Unix socket file to remove with the socket

    @property
    def closed(self) -> bool:
        return self._closing

    def incref(self) -> bool:
        """Take a reference for a call; False if the fd is closing."""
        with self._mu:
            if self._closing:
                return False
            self._refs += 1
            return True

    def decref(self) -> None:
        with self._mu:
            self._refs -= 1
            last = self._closing and self._refs == 0
        if last:
            self._destroy()

    def close(self) -> None:
        """Evict the parked calls; close the socket once no call is in it."""
        with self._mu:
            if self._closing:
                return  # idempotent
            self._closing = True
            last = self._refs == 0
        self.pd.evict()
        if last:
            self._destroy()

    def _destroy(self) -> None:
        self.sock.close()
        if self.unlink:
            with contextlib.suppress(OSError):
                os.unlink(self.unlink)

    def io(self, write: bool, call: Callable[[], T], fail: Callable[[int], OSError]) -> T:
        """Run ``call`` (a non-blocking system call) as Go's netFD does:
        holding a reference and the direction's lock, waiting whenever it
        would block; ``fail(status)`` makes the error for a poll status."""
        if not self.incref():
            raise fail(POLL_CLOSING)
        try:
            with self.wlock if write else self.rlock:
                pd = self.pd
                st = pd.prepare(write)
                while not st:
                    try:
                        return call()
                    except (BlockingIOError, InterruptedError):
                        pass
                    st = pd.wait(write)
                raise fail(st)
        finally:
            self.decref()


def _deadline(t: object, what: str) -> float | None:
    """A deadline argument: None, or a time on gochan.monotonic()."""
    if t is None:
        return None
    d = instant(t, monotonic(), what)
    return None if d == NEVER else d


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

    def _fail(self, op: str) -> Callable[[int], OSError]:
        def fail(status: int) -> OSError:
            if status == POLL_CLOSING:
                e: OSError = ErrClosed()
                e.add_note(f"{op} {self._where()}")
                return e
            return TimeoutError(f"{op} {self._where()}: i/o timeout")

        return fail

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
        the connection is closed before or during the call.
        """
        n = byte_count(n, "Conn.read()")
        sock = self._fd.sock
        return self._fd.io(False, lambda: sock.recv(n), self._fail("read"))

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """``socket.recv``, blocking this task only (``read`` with flags)."""
        bufsize = byte_count(bufsize, "Conn.recv()")
        sock = self._fd.sock
        return self._fd.io(False, lambda: sock.recv(bufsize, flags), self._fail("read"))

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """``socket.recv_into``, blocking this task only."""
        nbytes = into_count(nbytes, "Conn.recv_into()")
        sock = self._fd.sock
        return self._fd.io(False, lambda: sock.recv_into(buffer, nbytes, flags), self._fail("read"))

    # -- writing --------------------------------------------------------------

    def write(self, data: Any) -> int:
        """Write all of ``data`` (any bytes-like object), waiting as long as
        the peer is slow; return its length. A short write is retried; if the
        call fails midway (deadline, close, reset), the error's note says how
        much was written. A system error keeps its type and reads as Go's
        (``"write tcp 127.0.0.1:…->127.0.0.1:…: write: broken pipe"``)."""
        view = memoryview(data).cast("B")
        total = len(view)
        sent = 0
        sock = self._fd.sock

        def send() -> int:
            nonlocal sent
            while sent < total:
                sent += sock.send(view[sent:])  # BlockingIOError: wait, come back
            return total

        try:
            return self._fd.io(True, send, self._fail("write"))
        except OSError as e:
            err = e
            if not isinstance(e, (ErrClosed, TimeoutError)):  # the system's: Go's prefix
                err = _socket_error(e, f"write {self._where()}: write")
            if sent:
                err.add_note(f"{sent} of {total} bytes were written")
            if err is e:
                raise
            raise err from e

    def sendall(self, data: Any) -> None:
        """``socket.sendall``: ``write`` without the count."""
        self.write(data)

    def send(self, data: Any) -> int:
        """``socket.send``: wait until some of ``data`` can be sent, send what
        fits, return how much."""
        sock = self._fd.sock
        return self._fd.io(True, lambda: sock.send(data), self._fail("write"))

    # -- halves, deadlines ----------------------------------------------------

    def shutdown(self, how: int) -> None:
        """``socket.shutdown``: ``SHUT_WR`` sends end of stream to the peer."""
        how = shutdown_how(how, "Conn.shutdown()")
        if not self._fd.incref():
            raise self._fail("shutdown")(POLL_CLOSING)
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

        s = self._fd.io(False, call, self._fail("accept"))
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
        err = sock.connect_ex(target)  # type: ignore[arg-type]
        while err in _IN_PROGRESS:
            st = fd.pd.wait(True)
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
