"""Port of Go's close tests from src/net/net_test.go and unixsock_test.go.

Ported: TestCloseRead (reads after CloseRead see end of stream),
TestCloseWrite (the peer reads EOF, our writes fail, our reads still work),
TestConnClose and TestListenerClose (every later call fails with ErrClosed;
a closed listener refuses dials), TestCloseUnblocksRead (the peer closing
ends a blocked read with EOF), TestListenCloseListen (the address can be
listened on again), TestCloseUnblocksReadUDP's TCP analogue through our own
close, and TestUnixConnLocalAndRemoteNames. Not ported: the UDP and
packet-conn variants, and TestConnCloseAfterClose's second error (a second
close is a no-op in gochan, as the API says).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

import gochan
from gochan import Chan, go, net
from gochan.net import Conn, ErrClosed, Listener


@pytest.fixture(autouse=True)
def no_fd_leak() -> Any:
    gochan.run(lambda: [x.close() for x in pair()])  # process-wide fds, first
    before = set(os.listdir("/proc/self/fd"))
    yield
    assert set(os.listdir("/proc/self/fd")) <= before


def pair(network: str = "tcp", address: str = "127.0.0.1:0") -> tuple[Listener, Conn, Conn]:
    ln = net.listen(network, address)
    got: Chan[Conn] = Chan(1)
    go(lambda: got.send(ln.accept()))
    c = net.dial(network, str(ln.addr))
    return ln, c, got.recv()


@pytest.mark.parametrize("network", ["tcp", "unix"])
def test_close_read(network: str, tmp_path: Path) -> None:
    def main() -> bytes:
        ln, c, s = pair(network, str(tmp_path / "s") if network == "unix" else "127.0.0.1:0")
        with ln, c, s:
            c.close_read()
            return c.read(1)

    assert gochan.run(main) == b""


@pytest.mark.parametrize("network", ["tcp", "unix"])
def test_close_write(network: str, tmp_path: Path) -> None:
    def main() -> bytes:
        ln, c, s = pair(network, str(tmp_path / "s") if network == "unix" else "127.0.0.1:0")
        with ln, c, s:
            c.write(b"request")
            c.close_write()
            assert s.read(100) == b"request"
            assert s.read(100) == b""  # EOF after the close_write
            s.write(b"reply")  # the other direction still works
            with pytest.raises(BrokenPipeError):
                c.write(b"more")
            return c.read(100)

    assert gochan.run(main) == b"reply"


def test_conn_close() -> None:
    def main() -> None:
        ln, c, s = pair()
        with ln, s:
            c.close()
            for call in (lambda: c.read(1), lambda: c.write(b"x"), c.close_write):
                with pytest.raises(ErrClosed, match="use of closed network connection"):
                    call()
            c.close()  # again: a no-op

    gochan.run(main)


def test_listener_close() -> None:
    def main() -> None:
        ln = net.listen("tcp", "127.0.0.1:0")
        addr = str(ln.addr)
        ln.close()
        with pytest.raises(ErrClosed):
            ln.accept()
        with pytest.raises(ConnectionRefusedError):
            net.dial("tcp", addr)

    gochan.run(main)


def test_close_unblocks_read() -> None:
    """The peer's close ends a blocked read with end of stream."""

    def main() -> bytes:
        ln, c, s = pair()
        with ln, c:
            reader = go(c.read, 10)
            gochan.gosched()
            s.close()
            return reader.join()  # type: ignore[no-any-return]

    assert gochan.run(main) == b""


def test_own_close_unblocks_read() -> None:
    def main() -> None:
        ln, c, s = pair()
        with ln, s:
            reader = go(c.read, 10)
            gochan.gosched()
            c.close()
            with pytest.raises(ErrClosed):
                reader.join()

    gochan.run(main)


def test_listen_close_listen() -> None:
    def main() -> None:
        for _ in range(3):
            ln = net.listen("tcp", "127.0.0.1:0")
            addr = str(ln.addr)
            ln.close()
            with net.listen("tcp", addr) as again:
                assert str(again.addr) == addr

    gochan.run(main)


def test_unix_conn_local_and_remote_names(tmp_path: Path) -> None:
    path = str(tmp_path / "names.sock")

    def main() -> tuple[str, str, str, str]:
        ln, c, s = pair("unix", path)
        with ln, c, s:
            return str(c.local_addr), str(c.remote_addr), str(s.local_addr), str(s.remote_addr)

    assert gochan.run(main) == ("", path, path, "")
    assert not os.path.exists(path)  # removed with the listener


def test_unix_listener_on_an_existing_path(tmp_path: Path) -> None:
    path = tmp_path / "taken.sock"
    path.write_text("")

    def main() -> None:
        with pytest.raises(OSError, match="address already in use"):
            net.listen("unix", str(path))

    gochan.run(main)
    assert path.exists()  # not ours: left alone
    assert socket.AF_UNIX  # (the platform has Unix sockets)
