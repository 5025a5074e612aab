"""Every number gochan.net takes, against every awkward value (api.md, "Edges").

Table-driven: each API (byte counts of ``read``/``recv``/``recv_into`` on
``Conn`` and ``TLSConn``, every deadline setter, ``dial``/``tls.dial``
timeouts, ports in addresses, ``makefile``'s buffering, ``shutdown``'s
``how``) is tried with NaN, ±inf, 0, negative, huge (``1e300``,
``10**400``, ``-10**400``), a fraction, a bool, a str and None, and each
pair has one expected outcome: it works (and what it then does: reads what
is there, never expires, fails at once as a passed deadline), or it raises
``TypeError``/``ValueError`` with a message that says what to pass.

Runs under the backend ``GOCHAN_BACKEND`` names, on the virtual clock.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Callable
from typing import Any

import pytest
import test_net
import test_net_tls

import gochan
from gochan import Chan, go, monotonic, net
from gochan.net import tls

HUGE = 10**400
VALUES: dict[str, Any] = {
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "zero": 0,
    "negative": -1,
    "fraction": 1.5,
    "1e300": 1e300,
    "huge": HUGE,
    "-huge": -HUGE,
    "bool": True,
    "str": "5",
    "None": None,
}

# -- byte counts --------------------------------------------------------------

NOT_A_COUNT = "takes a number of bytes"
NOT_POSITIVE = "ask for a positive number of bytes"
BYTE_COUNT: dict[str, tuple[type[Exception], str] | str] = {
    "nan": (TypeError, NOT_A_COUNT),
    "inf": (TypeError, NOT_A_COUNT),
    "-inf": (TypeError, NOT_A_COUNT),
    "zero": "empty",  # b"" (0) at once, data or not
    "negative": (ValueError, NOT_POSITIVE),
    "fraction": (TypeError, NOT_A_COUNT),
    "1e300": (TypeError, NOT_A_COUNT),
    "huge": "all",  # what is there, without a 10**400-byte buffer
    "-huge": (ValueError, NOT_POSITIVE),
    "bool": (TypeError, NOT_A_COUNT),
    "str": (TypeError, NOT_A_COUNT),
    "None": (TypeError, NOT_A_COUNT),
}
READERS = ["read", "recv", "recv_into"]


def _read(conn: Any, how: str, n: Any) -> bytes:
    if how == "recv_into":
        buf = bytearray(8)
        got = conn.recv_into(buf, n)
        return bytes(buf[:got])
    return conn.read(n) if how == "read" else conn.recv(n)  # type: ignore[no-any-return]


@pytest.mark.parametrize("value", list(VALUES))
@pytest.mark.parametrize("how", READERS)
@pytest.mark.parametrize("kind", ["net", "tls"])
def test_byte_counts(kind: str, how: str, value: str) -> None:
    expect = BYTE_COUNT[value]
    if how == "recv_into" and value == "zero":
        expect = "all"  # nbytes=0: the whole buffer, as socket.recv_into
    if how == "recv_into" and value == "huge":
        expect = (ValueError, "buffer too small")  # as socket.recv_into

    def main() -> None:
        pair = test_net_tls.tls_pair() if kind == "tls" else test_net.connected()
        ln, c, s = pair
        with ln, c, s:
            c.write(b"hello")
            if isinstance(expect, tuple):
                err, match = expect
                with pytest.raises(err, match=match):
                    _read(s, how, VALUES[value])
                assert s.read(5) == b"hello"  # nothing was consumed
            elif expect == "empty":
                assert _read(s, how, VALUES[value]) == b""
                assert s.read(5) == b"hello"
            else:
                assert _read(s, how, VALUES[value]) == b"hello"

    gochan.run(main)


# -- deadlines ----------------------------------------------------------------

NOW = 10.0  # the virtual time at which the deadline is set
DEADLINE: dict[str, tuple[type[Exception], str] | str] = {
    "nan": (ValueError, "got NaN as a deadline"),
    "inf": "never",
    "-inf": "past",
    "zero": "past",
    "negative": "past",
    "fraction": "past",  # 1.5 < NOW
    "1e300": "never",
    "huge": "never",
    "-huge": "past",
    "bool": (TypeError, r"takes a time on gochan\.monotonic\(\)"),
    "str": (TypeError, r"takes a time on gochan\.monotonic\(\)"),
    "None": "never",  # cleared
}
SETTERS = [
    "Conn.set_deadline",
    "Conn.set_read_deadline",
    "Listener.set_deadline",
    "TLSConn.set_deadline",
    "TLSConn.set_read_deadline",
    "TLSListener.set_deadline",
]


@pytest.mark.parametrize("value", list(VALUES))
@pytest.mark.parametrize("setter", SETTERS)
def test_deadlines(setter: str, value: str) -> None:
    expect = DEADLINE[value]
    kind, name = setter.split(".")
    tls_side = kind.startswith("TLS")

    def main() -> None:
        if tls_side:
            base = net.listen("tcp", "127.0.0.1:0")
            ln: Any = tls.new_listener(base, test_net_tls.SERVER_CTX)
            got: Chan[Any] = Chan(1)
            go(lambda: got.send(ln.accept()))
            c: Any = tls.client(
                net.dial("tcp", str(ln.addr)),
                test_net_tls.CLIENT_CTX,
                server_hostname=test_net_tls.HOST,
            )
            s = got.recv()
            hs = go(s.handshake)
            c.handshake()
            hs.join()
        else:
            ln, c, s = test_net.connected()
        with ln, c, s:
            gochan.sleep(NOW)
            target = ln if kind.endswith("Listener") else s
            call: Callable[[], Any]
            if kind.endswith("Listener"):
                call = ln.accept
                ready = go(net.dial, "tcp", str(ln.addr))  # a connection is waiting
            else:
                c.write(b"x")  # data is waiting

                def call() -> Any:
                    return s.read(1)

            if isinstance(expect, tuple):
                err, match = expect
                with pytest.raises(err, match=match):
                    getattr(target, name)(VALUES[value])
                result = call()  # the old (no) deadline stands
            elif expect == "past":
                getattr(target, name)(VALUES[value])
                with pytest.raises(TimeoutError, match="i/o timeout"):
                    call()
                assert monotonic() == NOW
                getattr(target, name)(None)
                result = call()  # moved: it works again
            else:
                getattr(target, name)(VALUES[value])
                result = call()
            if kind.endswith("Listener"):
                result.close()
                ready.join().close()
            else:
                assert result == b"x"

    gochan.run(main, clock="virtual")


# -- dial timeouts ------------------------------------------------------------

TIMEOUT: dict[str, tuple[type[Exception], str] | str] = {
    "nan": (ValueError, r"got NaN seconds"),
    "inf": "ok",
    "-inf": (TimeoutError, "i/o timeout"),
    "zero": (TimeoutError, "i/o timeout"),
    "negative": (TimeoutError, "i/o timeout"),
    "fraction": "ok",
    "1e300": "ok",
    "huge": "ok",
    "-huge": (TimeoutError, "i/o timeout"),
    "bool": (TypeError, r"takes a duration in seconds"),
    "str": (TypeError, r"takes a duration in seconds"),
    "None": "ok",
}


@pytest.mark.parametrize("value", list(VALUES))
@pytest.mark.parametrize("api", ["dial", "tls.dial"])
def test_dial_timeouts(api: str, value: str) -> None:
    expect = TIMEOUT[value]

    def main() -> None:
        ln: Any = net.listen("tcp", "127.0.0.1:0")
        if api == "tls.dial":
            ln = tls.new_listener(ln, test_net_tls.SERVER_CTX)
        with ln:
            server = go(test_net_tls.serve_write, ln, b"hi") if api == "tls.dial" else None
            plain = go(ln.accept) if api == "dial" else None

            def dial() -> Any:
                if api == "dial":
                    return net.dial("tcp", str(ln.addr), timeout=VALUES[value])
                return tls.dial(
                    "tcp",
                    str(ln.addr),
                    test_net_tls.CLIENT_CTX,
                    timeout=VALUES[value],
                    server_hostname=test_net_tls.HOST,
                )

            if isinstance(expect, tuple):
                err, match = expect
                with pytest.raises(err, match=match):
                    dial()
                ln.close()  # ends the server's accept
                for t in (server, plain):
                    if t is not None:
                        with pytest.raises(net.ErrClosed):
                            t.join()
                return
            with dial() as c:
                if server is not None:
                    assert c.read(2) == b"hi"
                    server.join()
                else:
                    assert plain is not None
                    plain.join().close()

    gochan.run(main, clock="virtual")


# -- ports ----------------------------------------------------------------------

PORTS = [
    ("70000", ValueError, r"invalid port '70000' \(0 to 65535\)"),
    ("99999999999999999999", ValueError, "invalid port"),
    ("-1", ValueError, r"invalid port '-1' \(0 to 65535, or a service name\)"),
    ("+80", ValueError, "invalid port"),
    ("\u0668\u0660", ValueError, "invalid port"),  # Arabic-Indic digits
    ("", ValueError, "missing port"),
    ("nosuchservice", OSError, "lookup"),
]


@pytest.mark.parametrize(("port", "err", "match"), PORTS, ids=[p[0] or "empty" for p in PORTS])
@pytest.mark.parametrize("api", ["dial", "listen"])
def test_ports(api: str, port: str, err: type[Exception], match: str) -> None:
    def main() -> None:
        with pytest.raises(err, match=match):
            getattr(net, api)("tcp", f"127.0.0.1:{port}")

    gochan.run(main)


def test_port_zero_listens_on_a_real_port_and_service_names_work() -> None:
    def main() -> None:
        with net.listen("tcp", "127.0.0.1:0") as ln:
            assert 0 < ln.addr.port < 65536
            assert str(ln.addr) == f"127.0.0.1:{ln.addr.port}"
        with pytest.raises(ConnectionRefusedError):
            net.dial("tcp", "127.0.0.1:0")  # nobody listens on port 0
        with pytest.raises(OSError):  # a service name: resolved, then refused or bound
            net.dial("tcp", "127.0.0.1:tcpmux", timeout=5)

    gochan.run(main)


# -- makefile buffering, shutdown how ------------------------------------------------

BUFFERING: dict[str, tuple[type[Exception], str] | str] = {
    "nan": (TypeError, "takes buffering as an int"),
    "inf": (TypeError, "takes buffering as an int"),
    "-inf": (TypeError, "takes buffering as an int"),
    "zero": "raw",
    "negative": "default",
    "fraction": (TypeError, "takes buffering as an int"),
    "1e300": (TypeError, "takes buffering as an int"),
    "huge": (ValueError, "too large"),
    "-huge": "default",
    "bool": (TypeError, "takes buffering as an int"),
    "str": (TypeError, "takes buffering as an int"),
    "None": "default",
}


@pytest.mark.parametrize("value", list(VALUES))
def test_makefile_buffering(value: str) -> None:
    expect = BUFFERING[value]

    def main() -> None:
        ln, c, s = test_net.connected()
        with ln, c, s:
            c.write(b"line\n")
            if isinstance(expect, tuple):
                err, match = expect
                with pytest.raises(err, match=match):
                    s.makefile("rb", VALUES[value])
                return
            with s.makefile("rb", VALUES[value]) as f:
                assert f.readline() == b"line\n"

    gochan.run(main)


HOW: dict[str, bool] = {"nan": False, "inf": False, "-inf": False, "zero": True}
HOW.update({k: False for k in VALUES if k not in HOW})


@pytest.mark.parametrize("value", [*VALUES, "1.0", "5", "SHUT_WR"])
@pytest.mark.parametrize("kind", ["net", "tls"])
def test_shutdown_how(kind: str, value: str) -> None:
    v: Any = {"1.0": 1.0, "5": 5, "SHUT_WR": socket.SHUT_WR}.get(value, VALUES.get(value))
    ok = HOW.get(value, value == "SHUT_WR")

    def main() -> None:
        ln, c, s = test_net_tls.tls_pair() if kind == "tls" else test_net.connected()
        with ln, c, s:
            if ok:
                c.shutdown(v)
            else:
                with pytest.raises(ValueError, match=r"use socket\.SHUT_RD, SHUT_WR or SHUT_RDWR"):
                    c.shutdown(v)

    gochan.run(main)
