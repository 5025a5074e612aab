"""TLS for green tasks: Go's ``crypto/tls`` over the stdlib ``ssl`` module.

``client(conn)`` and ``server(conn, ctx)`` wrap a ``net.Conn``;
``dial(network, address)`` connects and shakes hands, and
``listen(network, address, ctx)`` accepts connections that are TLS on the
server side. A ``TLSConn`` has the face of a ``Conn`` (``read``, ``write``,
deadlines, ``close``, addresses, the socket methods) and says what was
negotiated (``version``, ``cipher``, ``peer_certificate``). Certificates are
checked by default: a client with no ``ctx`` uses
``ssl.create_default_context()`` and the host name of the address it dials.

How it works. The TLS state machine is an ``ssl.SSLObject`` between two
memory buffers (``ssl.MemoryBIO``), as in asyncio and trio: it never touches
the socket. Whenever it wants bytes from the peer (``SSLWantReadError``) we
``read`` the wrapped ``Conn``; whatever it produced for the peer we
``write`` to the ``Conn``. So every wait is a ``Conn`` wait: parked on the
socket's poll descriptor, bounded by the ``Conn``'s deadlines, and woken with
``ErrClosed`` by ``close`` from any task or OS thread, during the handshake as
during a read.

Locks (Go's ``tls.Conn`` has the same three). ``_hs_mu`` runs one handshake
at a time; ``_in_mu`` serialises reads; ``_out_mu`` serialises everything
that takes bytes out of the outgoing buffer *and* writes them to the socket:
TLS records must reach the peer in the order they were made, and taking and
writing under one lock keeps them in order whichever task made them (a read
can make records too: a TLS 1.3 key update answer). The ``SSLObject`` itself
is touched only under ``_ssl_lock``, a thread lock held for one non-blocking
call at a time, never across a wait: OpenSSL objects are not thread-safe.

Errors that leave the TLS stream in an unknown state stick, as in Go: a
failed handshake (refused certificate, deadline, close) fails every later
call with the same error, and so does a failed write (the record may be
half sent); set a new deadline and the *connection* works, but not the TLS
session. A read that times out is harmless: nothing was consumed, and a
later deadline lets reads go on.

>>> import gochan, ssl, trustme
>>> from gochan import net
>>> from gochan.net import tls
>>> ca = trustme.CA()
>>> server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
>>> ca.issue_cert("localhost").configure_cert(server_ctx)
>>> client_ctx = ssl.create_default_context()
>>> ca.configure_trust(client_ctx)
>>> def main():
...     ln = tls.listen("tcp", "127.0.0.1:0", server_ctx)
...     gochan.go(net.serve, ln, lambda conn: conn.write(conn.read(100)))
...     with tls.dial("tcp", f"localhost:{ln.addr.port}", client_ctx) as c:
...         c.write(b"secret")
...         got = c.read(100), c.version
...     ln.close()
...     return got
>>> gochan.run(main)
(b'secret', 'TLSv1.3')
"""

from __future__ import annotations

import contextlib
import errno
import ssl
import threading
from collections.abc import Callable
from typing import Any, SupportsFloat, TypeVar

from .._runtime.duration import NEVER, seconds
from .._runtime.timers import monotonic
from ..sync import Mutex
from ._addr import Addr, split_host_port
from ._args import byte_count, into_count, shutdown_how
from ._conn import ClosesOnExit, Conn, ErrClosed, Listener, make_file
from ._conn import dial as net_dial
from ._conn import listen as net_listen

_T = TypeVar("_T")

__all__ = [
    "CLOSE_NOTIFY_TIMEOUT",
    "TLSConn",
    "TLSListener",
    "client",
    "dial",
    "listen",
    "new_listener",
    "server",
]

#: ``close()`` waits at most this long (seconds) to send the close_notify
#: alert to a peer that does not read, as Go's ``tls.Conn.Close`` does.
CLOSE_NOTIFY_TIMEOUT = 5.0

# Plaintext encrypted per step of write(): four full TLS records (16 KiB of
# plaintext each), then written to the socket in one call.
_WRITE_CHUNK = 4 * 16384
# Ciphertext asked of the socket when the TLS state machine wants more.
_READ_SIZE = 65536

_default_ctx: ssl.SSLContext | None = None


def _default_client_context() -> ssl.SSLContext:
    """``ssl.create_default_context()``, made once (it loads the system CAs)."""
    global _default_ctx
    if _default_ctx is None:
        _default_ctx = ssl.create_default_context()
    return _default_ctx


class TLSConn(ClosesOnExit):
    """A TLS connection over a ``net.Conn`` (Go's ``tls.Conn``), from
    ``client``, ``server``, ``dial`` or ``TLSListener.accept``.

    ``read``, ``write``, the deadlines, ``close`` and the socket methods
    behave as on ``Conn``, with plaintext. The handshake happens on the first
    ``read`` or ``write``, or explicitly with ``handshake()``; the deadlines
    bound it as they bound reads and writes. ``close()`` sends the
    close_notify alert (when the handshake is done and no write is under
    way; waiting at most ``CLOSE_NOTIFY_TIMEOUT`` seconds and never past the
    write deadline), then closes the ``Conn``: whoever is blocked in a
    read, write or handshake wakes with ``ErrClosed``.

    At the end of the stream ``read`` returns ``b""``, whether the peer sent
    close_notify or just closed its socket (as Go, and ``ssl``'s
    ``suppress_ragged_eofs``): protocols that care about truncation frame
    their messages (HTTP's Content-Length).

    >>> import gochan, ssl, trustme
    >>> from gochan import net
    >>> from gochan.net import tls
    >>> ca = trustme.CA()
    >>> server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    >>> ca.issue_cert("example.test").configure_cert(server_ctx)
    >>> client_ctx = ssl.create_default_context()
    >>> ca.configure_trust(client_ctx)
    >>> def serve_one(ln):
    ...     with tls.server(ln.accept(), server_ctx) as conn:
    ...         conn.write(conn.read(5).upper())
    >>> def main():
    ...     with net.listen("tcp", "127.0.0.1:0") as ln:
    ...         gochan.go(serve_one, ln)
    ...         conn = net.dial("tcp", str(ln.addr))
    ...         with tls.client(conn, client_ctx, server_hostname="example.test") as c:
    ...             c.handshake()
    ...             c.write(b"hello")
    ...             return c.read(5), c.read(5), c.peer_certificate["subjectAltName"]
    >>> gochan.run(main)
    (b'HELLO', b'', (('DNS', 'example.test'),))
    """

    __slots__ = (
        "_conn",
        "_handshake_done",
        "_handshake_err",
        "_hs_mu",
        "_in_mu",
        "_incoming",
        "_out_mu",
        "_outgoing",
        "_server_side",
        "_ssl",
        "_ssl_lock",
        "_write_closed",
        "_write_err",
    )

    def __init__(
        self,
        conn: Conn,
        ctx: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None = None,
    ) -> None:
        """Use ``client()`` or ``server()``."""
        if not isinstance(conn, Conn):
            raise TypeError(f"TLS wraps a gochan.net.Conn, got {conn!r}")
        if not isinstance(ctx, ssl.SSLContext):
            raise TypeError(f"ctx must be an ssl.SSLContext, got {ctx!r}")
        self._conn = conn
        self._server_side = server_side
        self._incoming = ssl.MemoryBIO()  # ciphertext from the peer
        self._outgoing = ssl.MemoryBIO()  # ciphertext for the peer
        self._ssl = ctx.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=server_side,
            server_hostname=server_hostname,
        )
        self._ssl_lock = threading.Lock()  # the SSLObject and its BIOs; any thread
        self._hs_mu = Mutex()  # one handshake at a time
        self._in_mu = Mutex()  # reads, one at a time
        self._out_mu = Mutex()  # take from _outgoing and write to the socket, in order
        self._handshake_done = False
        self._handshake_err: BaseException | None = None  # sticky, as in Go
        self._write_err: OSError | None = None  # sticky: the stream may be cut mid-record
        self._write_closed = False  # close_notify sent: no more writes

    def __repr__(self) -> str:
        side = "server" if self._server_side else "client"
        if self._conn.closed:
            state = " closed"
        elif self._handshake_done:
            state = f" {self.version}"
        else:
            state = " before handshake"
        return f"<gochan.net.tls.TLSConn {side} {self._where()}{state}>"

    def _where(self) -> str:
        return f"tls {self._conn.local_addr}->{self._conn.remote_addr}"

    def _check_open(self, op: str) -> None:
        if self._conn.closed:
            e = ErrClosed()
            e.add_note(f"{op} {self._where()}")
            raise e

    # -- the handshake --------------------------------------------------------

    def handshake(self) -> None:
        """Run the TLS handshake if it has not run yet (``read`` and
        ``write`` call it first). It is bounded by the connection's
        deadlines; ``close`` from another task or thread stops it with
        ``ErrClosed``. A certificate that fails the checks raises
        ``ssl.SSLCertVerificationError`` (its ``verify_message`` says why).
        If it fails, every later call raises the same error."""
        self._check_open("handshake")
        if self._handshake_done:
            return
        with self._hs_mu:
            if self._handshake_err is not None:
                raise self._handshake_err
            if self._handshake_done:
                return
            try:
                self._handshake_locked()
            except Exception as e:
                e.add_note(f"during the TLS handshake, {self._where()}")
                self._handshake_err = e
                raise
            except BaseException:  # a cancel: the stream may be cut mid-flight
                self._handshake_err = ConnectionAbortedError(
                    errno.ECONNABORTED,
                    f"handshake {self._where()}: an earlier handshake was interrupted",
                )
                raise

    def _handshake_locked(self) -> None:
        while True:
            try:
                with self._ssl_lock:
                    self._ssl.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            except ssl.SSLError:
                # Tell the peer why (the alert is in the outgoing buffer),
                # as far as that goes without waiting on it.
                with contextlib.suppress(OSError):
                    self._flush()
                raise
            self._flush()
            if done:
                self._handshake_done = True
                return
            self._fill()

    def _fill(self) -> None:
        """Move ciphertext from the socket to the TLS state machine; at end
        of stream tell it so. Waits on the socket with the read deadline."""
        data = self._conn.read(_READ_SIZE)
        with self._ssl_lock:
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()

    def _flush(self) -> None:
        """Write whatever the TLS state machine made for the peer."""
        with self._out_mu:
            self._flush_locked()

    def _flush_locked(self) -> None:  # _out_mu held
        with self._ssl_lock:
            data = self._outgoing.read()
        if data:
            self._conn.write(data)

    # -- reading --------------------------------------------------------------

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of plaintext, as soon as some are there; ``b""``
        at end of stream. Errors as ``Conn.read`` (``TimeoutError``,
        ``ErrClosed``), plus ``ssl.SSLError`` for a broken TLS stream."""
        n = byte_count(n, "TLSConn.read()")
        return self._read(n, None)  # type: ignore[return-value]

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """``socket.recv``: ``read`` (TLS takes no flags)."""
        _no_flags(flags, "recv")
        return self._read(byte_count(bufsize, "TLSConn.recv()"), None)  # type: ignore[return-value]

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """``socket.recv_into``: read into ``buffer``, return how much."""
        _no_flags(flags, "recv_into")
        nbytes = into_count(nbytes, "TLSConn.recv_into()")
        view = memoryview(buffer).cast("B")
        if nbytes > len(view):
            raise ValueError("TLSConn.recv_into(): buffer too small for requested bytes")
        if nbytes == 0:
            nbytes = len(view)
        return self._read(nbytes, view)  # type: ignore[return-value]

    def _read(self, n: int, buffer: memoryview | None) -> bytes | int:
        self._check_open("read")
        self.handshake()
        if n == 0:
            return b"" if buffer is None else 0
        with self._in_mu:
            while True:
                try:
                    with self._ssl_lock:
                        if buffer is None:
                            return self._ssl.read(n)
                        return self._ssl.read(n, buffer)
                except ssl.SSLWantReadError:
                    pass
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    # close_notify, or the socket's end of stream without
                    # it (see the class docstring): end of stream either way.
                    return b"" if buffer is None else 0
                if self._outgoing.pending:
                    self._flush()  # something to answer (a key update)
                self._fill()

    # -- writing --------------------------------------------------------------

    def write(self, data: Any) -> int:
        """Write all of ``data`` (any bytes-like object), waiting as long as
        the peer is slow; return its length. If it fails midway (deadline,
        close, reset), the error's note says how much was written, and every
        later write raises the same error (the TLS stream may end inside a
        record: Go's rule)."""
        view = memoryview(data).cast("B")
        total = len(view)
        self._check_open("write")
        self.handshake()
        sent = 0
        with self._out_mu:
            self._check_writable()
            try:
                while sent < total:
                    chunk = view[sent : sent + _WRITE_CHUNK]
                    with self._ssl_lock:
                        self._ssl.write(chunk)  # all of it: the buffer grows
                        out = self._outgoing.read()
                    self._conn.write(out)
                    sent += len(chunk)
            except OSError as e:
                if sent:
                    e.add_note(f"{sent} of {total} bytes were written")
                self._write_err = e
                raise
        return total

    def _check_writable(self) -> None:  # _out_mu held
        if self._write_err is not None:
            raise self._write_err
        if self._write_closed:
            raise BrokenPipeError(
                errno.EPIPE, f"write {self._where()}: the writing half was shut down (close_write)"
            )

    def sendall(self, data: Any) -> None:
        """``socket.sendall``: ``write`` without the count."""
        self.write(data)

    def send(self, data: Any) -> int:
        """``socket.send``: write the first part of ``data`` (up to 64 KiB),
        return how much."""
        view = memoryview(data).cast("B")
        return self.write(view[:_WRITE_CHUNK])

    # -- closing --------------------------------------------------------------

    def close(self) -> None:
        """Send close_notify if it can go at once or soon, then close the
        connection: tasks blocked in it wake with ``ErrClosed``, and so does
        every later call. Idempotent; any task or OS thread may call it.

        The alert is skipped before the handshake is done and while a write
        is under way (closing is then how the write is stopped, as in Go),
        and waits for a peer that does not read only up to the write deadline
        and ``CLOSE_NOTIFY_TIMEOUT``; its errors are not raised: the
        connection is closed either way."""
        if self._conn.closed:
            return
        if self._handshake_done and self._out_mu.try_lock():
            try:
                if self._write_err is None and not self._write_closed:
                    bound = monotonic() + CLOSE_NOTIFY_TIMEOUT
                    wd = self._conn._fd.pd.wd
                    with contextlib.suppress(OSError):  # closed meanwhile, timed out, reset
                        self._conn.set_write_deadline(bound if wd is None else min(wd, bound))
                        self._close_notify_locked()
            finally:
                self._out_mu.unlock()
        self._conn.close()

    def close_write(self) -> None:
        """Send close_notify: the peer reads end of stream, this side can
        still read (Go's ``CloseWrite``; the socket stays open both ways).
        Later writes raise ``BrokenPipeError``. Shakes hands first if that
        has not happened yet."""
        self._check_open("close_write")
        self.handshake()
        with self._out_mu:
            if self._write_closed:
                return
            self._check_writable()
            self._close_notify_locked()

    def _close_notify_locked(self) -> None:  # _out_mu held
        self._write_closed = True
        with self._ssl_lock:
            # Ours goes out; the peer's close_notify is not awaited (as Go).
            with contextlib.suppress(ssl.SSLWantReadError):
                self._ssl.unwrap()
            data = self._outgoing.read()
        self._conn.write(data)

    def shutdown(self, how: int) -> None:
        """``socket.shutdown``: ``SHUT_WR`` is ``close_write()``, ``SHUT_RD``
        shuts the socket's reading half, ``SHUT_RDWR`` both."""
        how = shutdown_how(how, "TLSConn.shutdown()")
        if how != 0:
            self.close_write()
        if how != 1:
            self._conn.close_read()

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._conn.closed

    # -- the connection under it ----------------------------------------------

    @property
    def net_conn(self) -> Conn:
        """The ``net.Conn`` under TLS (Go's ``NetConn``): reading or writing
        it directly corrupts the TLS stream."""
        return self._conn

    @property
    def local_addr(self) -> Addr:
        """This end's address."""
        return self._conn.local_addr

    @property
    def remote_addr(self) -> Addr:
        """The peer's address."""
        return self._conn.remote_addr

    def fileno(self) -> int:
        """The socket's file descriptor; -1 once closed."""
        return self._conn.fileno()

    def set_deadline(self, t: SupportsFloat | None) -> None:
        """Set the read and write deadlines, as ``Conn.set_deadline``; they
        bound the handshake too."""
        self._conn.set_deadline(t)

    def set_read_deadline(self, t: SupportsFloat | None) -> None:
        """Set the read deadline only (see ``Conn.set_deadline``)."""
        self._conn.set_read_deadline(t)

    def set_write_deadline(self, t: SupportsFloat | None) -> None:
        """Set the write deadline only. A write that times out breaks the
        TLS stream for good (see ``write``)."""
        self._conn.set_write_deadline(t)

    def makefile(
        self,
        mode: str = "r",
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> Any:
        """A file object on the connection, as ``socket.makefile``."""
        return make_file(self, mode, buffering, encoding, errors, newline)

    # -- what was negotiated (None before the handshake) ----------------------

    @property
    def handshake_complete(self) -> bool:
        """True once the handshake has succeeded."""
        return self._handshake_done

    def _negotiated(self, ask: Callable[[ssl.SSLObject], _T]) -> _T | None:
        """``ask(the SSL object)`` once the handshake has succeeded, else None."""
        if not self._handshake_done:
            return None
        with self._ssl_lock:
            return ask(self._ssl)

    @property
    def version(self) -> str | None:
        """The protocol version, as ``"TLSv1.3"``."""
        return self._negotiated(ssl.SSLObject.version)

    @property
    def cipher(self) -> str | None:
        """The cipher suite's name, as ``"TLS_AES_256_GCM_SHA384"``."""
        c = self._negotiated(ssl.SSLObject.cipher)
        return None if c is None else c[0]

    @property
    def alpn_protocol(self) -> str | None:
        """The protocol agreed by ALPN (``ctx.set_alpn_protocols``), if any."""
        return self._negotiated(ssl.SSLObject.selected_alpn_protocol)

    @property
    def peer_certificate(self) -> dict[str, Any] | None:
        """The peer's certificate as ``ssl.SSLSocket.getpeercert()`` gives it:
        None if the peer sent none; an empty dict if it was not verified
        (``ctx.verify_mode`` is ``CERT_NONE``: see ``peer_certificate_der``)."""
        return self._negotiated(lambda o: o.getpeercert())

    @property
    def peer_certificate_der(self) -> bytes | None:
        """The peer's certificate in DER form, verified or not; None if none."""
        return self._negotiated(lambda o: o.getpeercert(binary_form=True))


def _no_flags(flags: int, what: str) -> None:
    if flags:
        raise ValueError(f"TLSConn.{what}() takes no flags (got {flags}): TLS reads whole records")


def client(
    conn: Conn,
    ctx: ssl.SSLContext | None = None,
    *,
    server_hostname: str | None = None,
) -> TLSConn:
    """The client side of TLS over ``conn`` (Go's ``tls.Client``). The
    handshake happens on first use or ``handshake()``.

    ``ctx`` defaults to ``ssl.create_default_context()``: the system's CAs,
    and the server's certificate must name ``server_hostname`` (a DNS name
    or an IP address). That name is also sent to the server (SNI, unless an
    IP address). It is required unless ``ctx.check_hostname`` is False.
    """
    ctx = ctx or _default_client_context()
    server_hostname = _check_hostname(ctx, server_hostname, "tls.client()")
    return TLSConn(conn, ctx, server_side=False, server_hostname=server_hostname)


def _check_hostname(ctx: ssl.SSLContext, server_hostname: str | None, what: str) -> str | None:
    if server_hostname:
        return server_hostname
    if isinstance(ctx, ssl.SSLContext) and ctx.check_hostname:
        raise ValueError(
            f"{what} needs server_hostname to check the server's certificate; "
            "pass the name the certificate must carry (or a ctx with check_hostname=False)"
        )
    return None


def server(conn: Conn, ctx: ssl.SSLContext) -> TLSConn:
    """The server side of TLS over ``conn`` (Go's ``tls.Server``); ``ctx``
    carries the certificate (``ctx.load_cert_chain``). The handshake happens
    on first use or ``handshake()``."""
    _check_server_ctx(ctx, "tls.server()")
    return TLSConn(conn, ctx, server_side=True)


def _check_server_ctx(ctx: object, what: str) -> None:
    if not isinstance(ctx, ssl.SSLContext):
        raise TypeError(
            f"{what} needs an ssl.SSLContext with the server's certificate, got {ctx!r}"
        )
    if ctx.protocol == ssl.PROTOCOL_TLS_CLIENT:
        raise ValueError(
            f"{what} got a client context (PROTOCOL_TLS_CLIENT); make a server one with "
            "ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) and load_cert_chain()"
        )


def dial(
    network: str,
    address: str,
    ctx: ssl.SSLContext | None = None,
    timeout: SupportsFloat | None = None,
    *,
    server_hostname: str | None = None,
) -> TLSConn:
    """Connect as ``net.dial`` does and shake hands (Go's ``tls.Dial``).

    The server's certificate is checked against ``server_hostname``, by
    default the host of ``address`` (give it for ``"unix"``). ``timeout``
    (seconds) bounds the connect and the handshake together with
    ``TimeoutError``. If the handshake fails, the connection is closed.

    >>> import gochan, ssl, trustme
    >>> from gochan import net
    >>> from gochan.net import tls
    >>> ca = trustme.CA()
    >>> server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    >>> ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    >>> def serve_one(ln):
    ...     with tls.server(ln.accept(), server_ctx) as conn:
    ...         conn.handshake()                      # fails: the client refuses
    >>> def main():
    ...     with net.listen("tcp", "127.0.0.1:0") as ln:
    ...         server = gochan.go(serve_one, ln)
    ...         try:
    ...             tls.dial("tcp", str(ln.addr), timeout=5)  # the system CAs: untrusted
    ...         except ssl.SSLCertVerificationError as e:
    ...             refused = e.verify_message
    ...         try:
    ...             server.join()
    ...         except ssl.SSLError as e:
    ...             return refused, e.reason
    >>> gochan.run(main)
    ('unable to get local issuer certificate', 'TLSV1_ALERT_UNKNOWN_CA')
    """
    secs = None if timeout is None else seconds(timeout, "tls.dial()")
    deadline = None
    if secs is not None and secs != NEVER:
        deadline = monotonic() + secs
    if server_hostname is None and network != "unix":
        server_hostname = split_host_port(address)[0]
    ctx = ctx or _default_client_context()
    server_hostname = _check_hostname(ctx, server_hostname, "tls.dial()")
    conn = net_dial(network, address, timeout=secs)
    try:
        tc = client(conn, ctx, server_hostname=server_hostname)
        if deadline is not None:
            conn.set_deadline(deadline)
        tc.handshake()
        if deadline is not None:
            conn.set_deadline(None)
    except BaseException:
        conn.close()
        raise
    return tc


class TLSListener(ClosesOnExit):
    """A listener whose ``accept`` returns server-side ``TLSConn``s (Go's
    ``tls.NewListener``). ``accept`` does not shake hands: that happens in
    the task that first reads or writes the connection, so one slow client
    holds up nobody else. Works with ``net.serve``."""

    __slots__ = ("_ctx", "_ln")

    def __init__(self, ln: Listener, ctx: ssl.SSLContext) -> None:
        """Use ``listen()`` or ``new_listener()``."""
        _check_server_ctx(ctx, "tls.new_listener()")
        self._ln = ln
        self._ctx = ctx

    def __repr__(self) -> str:
        state = " closed" if self._ln.closed else ""
        return f"<gochan.net.tls.TLSListener {self._ln.addr.network} {self._ln.addr}{state}>"

    def accept(self) -> TLSConn:
        """Wait for the next connection; as ``net.Listener.accept``."""
        conn = self._ln.accept()
        try:
            return TLSConn(conn, self._ctx, server_side=True)
        except BaseException:
            conn.close()
            raise

    @property
    def addr(self) -> Addr:
        """The address it listens on."""
        return self._ln.addr

    @property
    def net_listener(self) -> Listener:
        """The ``net.Listener`` under it."""
        return self._ln

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._ln.closed

    def close(self) -> None:
        """Close it; a blocked ``accept`` wakes with ``ErrClosed``."""
        self._ln.close()

    def fileno(self) -> int:
        """The socket's file descriptor; -1 once closed."""
        return self._ln.fileno()

    def set_deadline(self, t: SupportsFloat | None) -> None:
        """Bound ``accept``, as ``net.Listener.set_deadline``."""
        self._ln.set_deadline(t)


def new_listener(ln: Listener, ctx: ssl.SSLContext) -> TLSListener:
    """TLS on the server side for every connection ``ln`` accepts (Go's
    ``tls.NewListener``)."""
    return TLSListener(ln, ctx)


def listen(network: str, address: str, ctx: ssl.SSLContext) -> TLSListener:
    """Listen as ``net.listen`` does; connections accepted are TLS, with the
    certificate in ``ctx`` (Go's ``tls.Listen``)."""
    _check_server_ctx(ctx, "tls.listen()")
    return TLSListener(net_listen(network, address), ctx)
