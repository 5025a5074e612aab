"""gochan.net.tls: TLS client and server over gochan.net connections.

Every test runs under the backend that ``GOCHAN_BACKEND`` names (builtin,
asyncio, uvloop, trio): run the file once per backend. Certificates come
from a throwaway CA made by trustme when the module loads. What it proves:

* Round trips: ``dial``/``listen``, ``client``/``server`` over a TCP and a
  Unix connection; what was negotiated (version, cipher, certificates,
  ALPN); the handshake runs lazily on first use, once even when a reader
  and a writer start together.
* Certificate checks on by default: an untrusted CA (the system's store)
  and a wrong host name fail with ``ssl.SSLCertVerificationError`` naming
  the reason, the server sees the client's alert, and ``dial`` closes the
  connection it made.
* Deadlines bound the handshake (client and server side, a peer that never
  answers), on the virtual clock, at their exact instants; ``dial``'s
  timeout covers connect and handshake; a failed handshake sticks. Read
  deadlines revive like Conn's; a timed-out write breaks the stream for
  good (Go's rule).
* Close: from another task and from another OS thread, a handshake and a
  read blocked in the poller wake with ``ErrClosed``; the peer of a
  connection closed after the handshake reads a clean end of stream
  (close_notify); close waits for a peer that does not read only up to
  ``CLOSE_NOTIFY_TIMEOUT`` or the earlier write deadline.
* Large payloads both ways at once through one connection per side (a
  reader and a writer task each), byte for byte.
* End of stream: close_notify (``close_write``, half-close both ways) and a
  bare TCP close both read as ``b""``; writes after ``close_write`` fail.
* The socket face (``makefile``, ``recv_into``, ``send``, ``shutdown``) and
  ``serve()`` with TLS connections, including a client that is refused.

Synchronisation is by channels, task joins and task states, never sleeps;
each test checks that it leaves no file descriptor open.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

import gochan
from gochan import Chan, context, go, gosched, monotonic, net
from gochan.net import Conn, ErrClosed, Listener, tls
from gochan.net.tls import TLSConn

CLOSED = "use of closed network connection"
HOST = "gochan.test"

CA = trustme.CA()
_CERT = CA.issue_cert(HOST, "localhost", "127.0.0.1")


def server_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _CERT.configure_cert(ctx)
    return ctx


def client_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    CA.configure_trust(ctx)
    return ctx


SERVER_CTX = server_ctx()
CLIENT_CTX = client_ctx()


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module")
def warm() -> None:
    """One TLS round trip before the first fd count: a backend's first run
    may open process-wide descriptors that stay (uvloop: libuv's signal
    pipe)."""

    def main() -> None:
        ln, c, s = tls_pair()
        for x in (c, s, ln):
            x.close()

    gochan.run(main)


@pytest.fixture(autouse=True)
def no_fd_leak(warm: None) -> Iterator[None]:
    before = _open_fds()
    yield
    leaked = _open_fds() - before
    assert not leaked, f"file descriptors left open: {sorted(leaked)}"


def run(main: Callable[[], Any], virtual: bool = False) -> Any:
    return gochan.run(main, clock="virtual") if virtual else gochan.run(main)


def connected(network: str = "tcp", address: str = "127.0.0.1:0") -> tuple[Listener, Conn, Conn]:
    """A listener and a plain connection through it: (listener, client, server)."""
    ln = net.listen(network, address)
    got: Chan[Conn] = Chan(1)
    go(lambda: got.send(ln.accept()))
    client = net.dial(network, str(ln.addr))
    server = got.recv()
    assert server is not None
    return ln, client, server


def tls_pair(
    network: str = "tcp", address: str = "127.0.0.1:0"
) -> tuple[Listener, TLSConn, TLSConn]:
    """(listener, client, server), TLS on both ends, handshake done."""
    ln, c, s = connected(network, address)
    client = tls.client(c, CLIENT_CTX, server_hostname=HOST)
    server = tls.server(s, SERVER_CTX)
    hs = go(server.handshake)
    client.handshake()
    hs.join()
    return ln, client, server


def wait_parked(t: gochan.Task, state: str = "IO wait") -> None:
    """Yield until task ``t`` is parked in ``state`` (it parks on its first run)."""
    for _ in range(1000):
        if t.state == state:
            return
        gosched()
    raise AssertionError(f"{t!r} never reached [{state}]")


def serve_read(ln: tls.TLSListener) -> bytes:
    """Accept one connection, read from it, close it."""
    with ln.accept() as conn:
        return conn.read(100)


def serve_write(ln: tls.TLSListener, data: bytes) -> None:
    """Accept one connection, write to it, close it."""
    with ln.accept() as conn:
        conn.write(data)


def read_exactly(conn: TLSConn, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.read(n - len(buf))
        if not chunk:
            raise EOFError(f"end of stream after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


# ---------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------


def test_dial_listen_round_trip_and_what_was_negotiated() -> None:
    def handler(conn: TLSConn) -> None:
        msg = conn.read(100)
        conn.write(msg.upper())

    def main() -> dict[str, Any]:
        ln = tls.listen("tcp", "127.0.0.1:0", SERVER_CTX)
        server = go(net.serve, ln, handler)
        port = ln.addr.port
        with tls.dial("tcp", f"localhost:{port}", CLIENT_CTX) as c:
            before = c.handshake_complete  # dial shakes hands
            c.write(b"hello tls")
            got = {
                "reply": c.read(100),
                "eof": c.read(100),  # the handler returned: close_notify
                "handshake": before,
                "version": c.version,
                "cipher": c.cipher,
                "san": c.peer_certificate["subjectAltName"] if c.peer_certificate else None,
                "der": (c.peer_certificate_der or b"")[:1],
                "alpn": c.alpn_protocol,
                "remote": c.remote_addr == ln.addr,
                "net_conn": isinstance(c.net_conn, Conn),
                "repr": repr(c),
            }
        got["closed_repr"] = repr(c)
        ln.close()
        server.join()
        return got

    got = run(main)
    assert got["reply"] == b"HELLO TLS" and got["eof"] == b""
    assert got["handshake"] is True
    assert got["version"] in ("TLSv1.2", "TLSv1.3")
    assert isinstance(got["cipher"], str) and got["cipher"]
    assert got["san"] == (("DNS", HOST), ("DNS", "localhost"), ("IP Address", "127.0.0.1"))
    assert got["der"] == b"\x30"  # a DER SEQUENCE
    assert got["alpn"] is None
    assert got["remote"] and got["net_conn"]
    assert got["repr"].startswith("<gochan.net.tls.TLSConn client tls 127.0.0.1:")
    assert got["repr"].endswith(f" {got['version']}>")
    assert got["closed_repr"].endswith(" closed>")


def test_client_and_server_wrap_connections_lazily() -> None:
    def main() -> tuple[bool, bool, Any, bytes, bool, Any]:
        ln, c, s = connected()
        client = tls.client(c, CLIENT_CTX, server_hostname=HOST)
        server = tls.server(s, SERVER_CTX)
        with ln, client, server:
            before = client.handshake_complete, client.version
            r = go(server.read, 100)  # the server's read shakes hands
            client.write(b"lazy")  # and so does the client's write
            return (
                before[0],
                client.handshake_complete,
                before[1],
                r.join(),
                server.handshake_complete,
                server.peer_certificate,  # the client sent none
            )

    assert run(main) == (False, True, None, b"lazy", True, None)


def test_round_trip_over_a_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "tls.sock")

    def main() -> bytes:
        ln, c, s = tls_pair("unix", path)
        with ln, c, s:
            c.write(b"over unix")
            return s.read(100)

    assert run(main) == b"over unix"


def test_dial_unix_needs_a_server_hostname(tmp_path: Path) -> None:
    path = str(tmp_path / "tls.sock")

    def main() -> bytes:
        with tls.listen("unix", path, SERVER_CTX) as ln:
            accepted = go(serve_read, ln)
            with pytest.raises(ValueError, match="needs server_hostname"):
                tls.dial("unix", path, CLIENT_CTX)
            with tls.dial("unix", path, CLIENT_CTX, server_hostname=HOST) as c:
                c.write(b"named")
                return accepted.join()  # type: ignore[no-any-return]

    assert run(main) == b"named"


def test_one_handshake_for_a_reader_and_a_writer_starting_together() -> None:
    def main() -> tuple[bytes, bytes]:
        ln, c, s = connected()
        client = tls.client(c, CLIENT_CTX, server_hostname=HOST)
        server = tls.server(s, SERVER_CTX)
        with ln, client, server:
            reader = go(client.read, 100)
            writer = go(client.write, b"from the writer")
            echo = go(lambda: server.write(server.read(100)[::-1]))
            writer.join()
            echo.join()
            return reader.join(), b"done"

    assert run(main) == (b"retirw eht morf", b"done")


def test_alpn() -> None:
    def main() -> tuple[str | None, str | None]:
        sctx, cctx = server_ctx(), client_ctx()
        sctx.set_alpn_protocols(["h2", "http/1.1"])
        cctx.set_alpn_protocols(["http/1.1"])
        ln, c, s = connected()
        client = tls.client(c, cctx, server_hostname=HOST)
        server = tls.server(s, sctx)
        with ln, client, server:
            hs = go(server.handshake)
            client.handshake()
            hs.join()
            return client.alpn_protocol, server.alpn_protocol

    assert run(main) == ("http/1.1", "http/1.1")


# ---------------------------------------------------------------------------
# Certificate checks
# ---------------------------------------------------------------------------


def _refused(
    ctx: ssl.SSLContext | None, hostname: str
) -> tuple[ssl.SSLCertVerificationError, BaseException]:
    """Dial a TLS server with ``ctx`` (None: the default) expecting
    ``hostname``; return the client's error and what the server saw."""

    def main() -> tuple[ssl.SSLCertVerificationError, BaseException]:
        with tls.listen("tcp", "127.0.0.1:0", SERVER_CTX) as ln:

            def serve_one() -> BaseException:
                with ln.accept() as conn:
                    try:
                        conn.handshake()
                    except (OSError, ssl.SSLError) as e:
                        return e
                    raise AssertionError("the server's handshake succeeded")

            server = go(serve_one)
            with pytest.raises(ssl.SSLCertVerificationError) as e:
                tls.dial("tcp", str(ln.addr), ctx, server_hostname=hostname)
            return e.value, server.join()

    result: tuple[ssl.SSLCertVerificationError, BaseException] = run(main)
    return result


def test_an_untrusted_certificate_is_refused_by_default() -> None:
    err, seen = _refused(None, HOST)  # the system's CAs do not know ours
    assert err.verify_message == "unable to get local issuer certificate"
    assert "CERTIFICATE_VERIFY_FAILED" in str(err)
    assert any(n.startswith("during the TLS handshake, tls 127.0.0.1:") for n in err.__notes__)
    assert isinstance(seen, ssl.SSLError) and "UNKNOWN_CA" in str(seen)  # the client's alert


def test_a_wrong_host_name_is_refused() -> None:
    err, seen = _refused(CLIENT_CTX, "wrong.example")
    assert err.verify_message == "Hostname mismatch, certificate is not valid for 'wrong.example'."
    assert isinstance(seen, ssl.SSLError) and "BAD_CERTIFICATE" in str(seen)


def test_the_host_name_comes_from_the_dialled_address() -> None:
    def main() -> tuple[str, bytes]:
        with tls.listen("tcp", "127.0.0.1:0", SERVER_CTX) as ln:
            port = ln.addr.port
            go(serve_write, ln, b"ok")
            with tls.dial("tcp", f"127.0.0.1:{port}", CLIENT_CTX) as c:  # an IP SAN
                got = c.read(2)
            # "localhost" is in the certificate too; the IPv6 loopback is not
            # tried: resolve to the listening IPv4 address only.
            go(serve_write, ln, b"ok")
            with tls.dial("tcp4", f"localhost:{port}", CLIENT_CTX) as c:
                got += c.read(2)
            return str(c.remote_addr.host), got

    assert run(main) == ("127.0.0.1", b"okok")


def test_a_failed_dial_closes_its_connection_and_the_error_sticks() -> None:
    def main() -> tuple[bool, bool]:
        with net.listen("tcp", "127.0.0.1:0") as ln:
            accepted = go(ln.accept)
            client = tls.client(
                net.dial("tcp", str(ln.addr)), CLIENT_CTX, server_hostname="wrong.example"
            )
            server = tls.server(accepted.join(), SERVER_CTX)
            with client, server:
                hs = go(server.handshake)
                with pytest.raises(ssl.SSLCertVerificationError) as first:
                    client.handshake()
                with pytest.raises(ssl.SSLError):
                    hs.join()
                with pytest.raises(ssl.SSLCertVerificationError) as again:
                    client.read(1)
                with pytest.raises(ssl.SSLCertVerificationError):
                    client.write(b"x")
                return again.value is first.value, client.handshake_complete

    assert run(main) == (True, False)


def test_argument_errors() -> None:
    def main() -> None:
        ln, c, s = connected()
        with ln, c, s:
            with pytest.raises(ValueError, match=r"tls.client\(\) needs server_hostname"):
                tls.client(c)
            with pytest.raises(ValueError, match="client context"):
                tls.server(s, CLIENT_CTX)
            with pytest.raises(ValueError, match="client context"):
                tls.listen("tcp", "127.0.0.1:0", CLIENT_CTX)
            with pytest.raises(TypeError, match="SSLContext"):
                tls.server(s, "cert.pem")  # type: ignore[arg-type]
            with socket.socket() as sock, pytest.raises(TypeError, match=r"gochan\.net\.Conn"):
                tls.server(sock, SERVER_CTX)  # type: ignore[arg-type]
            insecure = ssl.create_default_context()
            insecure.check_hostname = False
            insecure.verify_mode = ssl.CERT_NONE
            tc = tls.client(c, insecure)  # no name needed without the check
            with pytest.raises(ValueError, match="n=-1"):
                tc.read(-1)
            with pytest.raises(ValueError, match="takes no flags"):
                tc.recv(1, socket.MSG_PEEK)
            with pytest.raises(ValueError, match="how=7"):
                tc.shutdown(7)
            with pytest.raises(ValueError, match="NaN"):
                tc.set_deadline(float("nan"))
            with pytest.raises(ValueError, match="NaN"):
                tls.dial("tcp", str(ln.addr), CLIENT_CTX, timeout=float("nan"))

    run(main)


def test_a_client_that_does_not_check_sees_the_certificate_unverified() -> None:
    def main() -> tuple[Any, bool]:
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        ln, c, s = connected()
        client = tls.client(c, insecure)
        server = tls.server(s, SERVER_CTX)
        with ln, client, server:
            hs = go(server.handshake)
            client.handshake()
            hs.join()
            return client.peer_certificate, client.peer_certificate_der is not None

    assert run(main) == ({}, True)


# ---------------------------------------------------------------------------
# Deadlines
# ---------------------------------------------------------------------------


def test_a_handshake_deadline_with_a_server_that_never_answers() -> None:
    def main() -> tuple[float, str, bool, float]:
        ln, c, s = connected()  # s: a server that never speaks TLS
        with ln, s:
            client = tls.client(c, CLIENT_CTX, server_hostname=HOST)
            with client:
                client.set_deadline(monotonic() + 5)
                with pytest.raises(TimeoutError) as e:
                    client.handshake()
                at = monotonic()
                client.set_deadline(None)  # the conn revives, the TLS session does not
                with pytest.raises(TimeoutError) as again:
                    client.read(1)
                hello = s.read(1)  # the ClientHello did go out
                return (
                    at,
                    str(e.value),
                    again.value is e.value,
                    monotonic() if hello == b"\x16" else -1,
                )

    at, msg, same, later = run(main, virtual=True)
    assert at == 5.0 and later == 5.0
    assert msg.startswith("read tcp 127.0.0.1:") and msg.endswith(": i/o timeout")
    assert same


def test_a_server_handshake_deadline_with_a_client_that_never_speaks() -> None:
    def main() -> tuple[float, list[str]]:
        ln, c, s = connected()
        with ln, c:
            server = tls.server(s, SERVER_CTX)
            with server:
                server.set_read_deadline(monotonic() + 3)
                with pytest.raises(TimeoutError) as e:
                    server.read(10)  # handshakes first: waits for the ClientHello
                return monotonic(), e.value.__notes__

    at, notes = run(main, virtual=True)
    assert at == 3.0
    assert notes[-1].startswith("during the TLS handshake, tls 127.0.0.1:")


def test_dial_timeout_covers_the_handshake() -> None:
    # On the real clock (1 s of wall time): on uvloop the virtual clock can
    # jump past a loopback connect that has completed, so the connect, not
    # the handshake, would time out (a gochan.net issue outside TLS).
    def main() -> str:
        with net.listen("tcp", "127.0.0.1:0") as ln:
            held = go(ln.accept)  # accepted, never answered
            with pytest.raises(TimeoutError) as e:
                tls.dial("tcp", str(ln.addr), CLIENT_CTX, timeout=1)
            with held.join():
                pass
            return str(e.value)

    msg = run(main)
    assert msg.startswith("read tcp 127.0.0.1:") and msg.endswith(": i/o timeout")


def test_dial_timeout_is_cleared_after_the_handshake() -> None:
    # (On the real clock: uvloop's virtual clock can jump past a connect
    # that has completed, a gochan.net issue outside TLS.)
    def main() -> tuple[float | None, float | None, bytes]:
        with tls.listen("tcp", "127.0.0.1:0", SERVER_CTX) as ln:
            server = go(serve_write, ln, b"hi")
            with tls.dial("tcp", str(ln.addr), CLIENT_CTX, timeout=60, server_hostname=HOST) as c:
                pd = c.net_conn._fd.pd
                got = pd.rd, pd.wd, c.read(10)
            server.join()
            return got

    assert run(main) == (None, None, b"hi")


def test_a_read_deadline_passes_and_the_connection_revives() -> None:
    def main() -> tuple[float, bytes]:
        ln, c, s = tls_pair()
        with ln, c, s:
            s.set_read_deadline(monotonic() + 5)
            with pytest.raises(TimeoutError, match=r"read tcp .*: i/o timeout"):
                s.read(100)
            at = monotonic()
            c.write(b"after the deadline")
            with pytest.raises(TimeoutError):
                s.read(100)  # it sticks
            s.set_read_deadline(None)
            return at, s.read(100)

    assert run(main, virtual=True) == (5.0, b"after the deadline")


def test_a_write_deadline_breaks_the_stream_for_good() -> None:
    def main() -> tuple[float, list[str], bool]:
        ln, c, s = tls_pair()
        with ln, c, s:
            c.set_write_deadline(monotonic() + 4)
            with pytest.raises(TimeoutError, match=r"write tcp .*: i/o timeout") as e:
                c.write(b"x" * (1 << 26))  # 64 MiB: the buffers fill up
            at = monotonic()
            c.set_write_deadline(None)
            with pytest.raises(TimeoutError) as again:
                c.write(b"y")
            return at, e.value.__notes__, again.value is e.value

    at, notes, same = run(main, virtual=True)
    assert at == 4.0 and same
    assert notes[-1].endswith(f"of {1 << 26} bytes were written")


# ---------------------------------------------------------------------------
# Close
# ---------------------------------------------------------------------------


def _closer(how: str, conn: TLSConn) -> None:
    """Close ``conn`` from another task or from another OS thread."""
    if how == "task":
        go(conn.close).join()
    else:
        th = threading.Thread(target=conn.close)
        th.start()
        th.join()


@pytest.mark.parametrize("how", ["task", "thread"])
def test_close_wakes_a_blocked_handshake(how: str) -> None:
    def main() -> tuple[str, bool]:
        ln, c, s = connected()  # the server never answers
        with ln, s:
            client = tls.client(c, CLIENT_CTX, server_hostname=HOST)
            hs = go(client.handshake)
            wait_parked(hs)
            _closer(how, client)
            with pytest.raises(ErrClosed) as e:
                hs.join()
            with pytest.raises(ErrClosed):
                client.read(1)
            return str(e.value), client.closed and client.fileno() == -1

    assert run(main) == (CLOSED, True)


@pytest.mark.parametrize("how", ["task", "thread"])
def test_close_wakes_a_blocked_read_and_the_peer_reads_end_of_stream(how: str) -> None:
    def main() -> tuple[str, bytes, bool]:
        ln, c, s = tls_pair()
        with ln, c:
            reader = go(s.read, 10)
            wait_parked(reader)
            _closer(how, s)  # close_notify, then the socket
            with pytest.raises(ErrClosed) as e:
                reader.join()
            eof = c.read(10)
            with pytest.raises(ErrClosed):
                s.write(b"x")
            s.close()  # idempotent
            return str(e.value), eof, s.closed

    assert run(main) == (CLOSED, b"", True)


def test_close_wakes_a_blocked_write_without_waiting_to_send_close_notify() -> None:
    def main() -> tuple[float, list[str]]:
        ln, c, s = tls_pair()
        with ln, s:
            writer = go(c.write, b"x" * (1 << 26))
            wait_parked(writer)
            c.close()  # a write is under way: no close_notify, no wait
            at = monotonic()
            with pytest.raises(ErrClosed) as e:
                writer.join()
            return at, e.value.__notes__

    at, notes = run(main, virtual=True)
    assert at == 0.0
    assert any("bytes were written" in n for n in notes)


def test_close_waits_for_a_peer_that_does_not_read_only_so_long() -> None:
    def main() -> tuple[float, float]:
        ln, c, s = tls_pair()
        with ln, s:
            # Fill the socket's buffers under TLS, so that close_notify cannot go out.
            raw = c.net_conn
            raw.set_write_deadline(monotonic() + 1)
            with pytest.raises(TimeoutError):
                raw.write(b"\0" * (1 << 26))
            raw.set_write_deadline(None)
            start = monotonic()
            c.close()
            first = monotonic() - start
            ln2, c2, s2 = tls_pair()
            with ln2, s2:
                raw = c2.net_conn
                raw.set_write_deadline(monotonic() + 1)
                with pytest.raises(TimeoutError):
                    raw.write(b"\0" * (1 << 26))
                c2.set_write_deadline(monotonic() + 2)  # earlier than the bound
                start = monotonic()
                c2.close()
                return first, monotonic() - start

    assert run(main, virtual=True) == (tls.CLOSE_NOTIFY_TIMEOUT, 2.0)


def test_calls_after_close_fail_with_err_closed() -> None:
    def main() -> list[str]:
        ln, c, s = tls_pair()
        with ln, s:
            c.close()
            msgs = []
            for call in (
                lambda: c.read(1),
                lambda: c.write(b"x"),
                c.handshake,
                c.close_write,
                lambda: c.set_deadline(None),
            ):
                with pytest.raises(ErrClosed) as e:
                    call()
                msgs.append(str(e.value))
            return msgs

    assert run(main) == [CLOSED] * 5


# ---------------------------------------------------------------------------
# Payloads, end of stream
# ---------------------------------------------------------------------------


def test_large_payloads_both_ways_at_once() -> None:
    size = 8 << 20
    up = os.urandom(size)
    down = os.urandom(size)

    def main() -> tuple[str, str]:
        ln, c, s = tls_pair()
        with ln, c, s:
            writers = [go(c.write, up), go(s.write, memoryview(down))]
            at_server = go(read_exactly, s, size)
            at_client = read_exactly(c, size)
            for w in writers:
                assert w.join() == size
            got_up: bytes = at_server.join()
            return hashlib.sha256(got_up).hexdigest(), hashlib.sha256(at_client).hexdigest()

    assert run(main) == (hashlib.sha256(up).hexdigest(), hashlib.sha256(down).hexdigest())


def test_close_write_is_a_half_close_both_ways() -> None:
    def main() -> list[bytes]:
        ln, c, s = tls_pair()
        with ln, c, s:
            c.write(b"request")
            c.close_write()  # close_notify: the server reads end of stream
            got = [s.read(100), s.read(100)]
            s.write(b"response")  # the other half still works
            s.close_write()
            got += [c.read(100), c.read(100), c.read(100)]
            with pytest.raises(BrokenPipeError, match="close_write"):
                c.write(b"more")
            c.close_write()  # again: nothing to do
            return got

    assert run(main) == [b"request", b"", b"response", b"", b""]


def test_a_bare_tcp_close_reads_as_end_of_stream() -> None:
    def main() -> tuple[bytes, bytes]:
        ln, c, s = tls_pair()
        with ln, c, s:
            # (The server's end: the client's has unread session tickets
            # under TLS 1.3, and closing it would send a reset.)
            s.write(b"last words")
            s.net_conn.close()  # no close_notify
            return c.read(100), c.read(100)

    assert run(main) == (b"last words", b"")


def test_the_socket_face() -> None:
    def main() -> tuple[bytes, bytes, int, bytes, bytes]:
        ln, c, s = tls_pair()
        with ln, c, s:
            f = c.makefile("rwb")
            f.write(b"line one\nline two\n")
            f.flush()
            rf = s.makefile("rb")
            one = rf.readline() + rf.readline()
            c.send(b"line two\n")
            buf = bytearray(4)
            n = s.recv_into(buf)
            rest = s.recv(100)
            sent = s.send(b"x" * (1 << 20))  # one part of it
            c.sendall(b"!")
            s.shutdown(socket.SHUT_WR)
            got = read_exactly(c, sent)
            return one, bytes(buf[:n]) + rest, sent, got[:1] + c.read(1), s.read(1)

    one, two, sent, x, bang = run(main)
    assert one == b"line one\nline two\n" and two == b"line two\n"
    assert 0 < sent < 1 << 20
    assert x == b"x" and bang == b"!"


# ---------------------------------------------------------------------------
# serve()
# ---------------------------------------------------------------------------


def test_serve_with_tls_connections(caplog: pytest.LogCaptureFixture) -> None:
    def handler(conn: TLSConn) -> None:
        conn.write(conn.read(100)[::-1])

    def main() -> tuple[list[bytes], bool]:
        ctx, cancel = context.with_cancel(context.background())
        ln = tls.listen("tcp", "127.0.0.1:0", SERVER_CTX)
        server = go(net.serve, ln, handler, ctx)
        addr = str(ln.addr)

        def ask(msg: bytes) -> bytes:
            with tls.dial("tcp", addr, CLIENT_CTX, server_hostname=HOST) as c:
                c.write(msg)
                return c.read(100)

        clients = [go(ask, b"client %d" % i) for i in range(5)]
        with pytest.raises(ssl.SSLCertVerificationError):
            tls.dial("tcp", addr)  # untrusted: the server logs and goes on
        replies = [t.join() for t in clients]
        replies.append(ask(b"after"))
        cancel()
        server.join()
        return replies, ln.closed

    with caplog.at_level(logging.ERROR, logger="gochan.net"):
        replies, closed = run(main)
    assert replies == [b"%d tneilc" % i for i in range(5)] + [b"retfa"]
    assert closed
    [rec] = [r for r in caplog.records if r.name == "gochan.net"]
    assert rec.getMessage().startswith("handler for connection from 127.0.0.1:")
    assert rec.exc_info is not None and isinstance(rec.exc_info[1], ssl.SSLError)


def test_a_tls_listener() -> None:
    def main() -> tuple[str, bool, str]:
        ln = tls.new_listener(net.listen("tcp", "127.0.0.1:0"), SERVER_CTX)
        with ln:
            rep = repr(ln)
            ln.set_deadline(monotonic() + 1)
            with pytest.raises(TimeoutError):
                ln.accept()
            assert isinstance(ln.net_listener, Listener) and ln.fileno() >= 0
            ln.set_deadline(None)
            acceptor = go(ln.accept)
            wait_parked(acceptor)
        with pytest.raises(ErrClosed) as e:
            acceptor.join()
        return rep, ln.closed, str(e.value)

    rep, closed, msg = run(main, virtual=True)
    assert rep.startswith("<gochan.net.tls.TLSListener tcp 127.0.0.1:")
    assert closed and msg == CLOSED
