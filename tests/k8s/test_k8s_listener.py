"""The apiserver's listeners (examples/k8s_watch/apiserver/listener.py, and the accept
loops in core.py): every address a host name resolves to on one port, a taken port
fails cleanly, and closing never loses a connection the kernel had accepted: each
one is served or closed (reset), none is left hanging or to the garbage collector.
"""

from __future__ import annotations

import contextlib
import doctest
import gc
import socket
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import gochan
from gochan import net

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import listener as listener_mod  # noqa: E402
from examples.k8s_watch.apiserver import serve  # noqa: E402
from examples.k8s_watch.apiserver.client import request  # noqa: E402
from examples.k8s_watch.apiserver.listener import listen_all  # noqa: E402

TIMEOUT = 10.0


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _ends(c: socket.socket) -> bool:
    """True once the peer has closed the connection (FIN or reset), nothing unread."""
    c.settimeout(TIMEOUT)
    try:
        return c.recv(1) == b""
    except ConnectionResetError:
        return True


def test_localhost_listens_on_one_port_for_every_address() -> None:
    def main() -> list[tuple[str, int]]:
        lns = listen_all("localhost", 0)
        try:
            return [(ln.addr.host, ln.addr.port) for ln in lns]
        finally:
            for ln in lns:
                ln.close()

    got = gochan.run(main)
    infos = {a[4][0] for a in socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)}
    assert {ip for ip, _ in got} == infos  # each address once
    assert len({port for _, port in got}) == 1 and got[0][1] > 0


@pytest.fixture
def both_loopbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """``localhost`` resolves to 127.0.0.1 and ::1 (as on most hosts; not every
    /etc/hosts lists both)."""
    real = socket.getaddrinfo

    def fake(host: Any, *args: Any, **kw: Any) -> Any:
        if host != "localhost":
            return real(host, *args, **kw)
        return real("127.0.0.1", *args, **kw) + real("::1", *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_a_server_on_localhost_answers_on_ipv4_and_ipv6(both_loopbacks: None) -> None:
    with serve("localhost") as srv:
        assert [ln.addr.host for ln in srv._listeners] == ["127.0.0.1", "::1"]
        for host in ("127.0.0.1", "[::1]"):
            r = request(f"http://{host}:{srv.port}", "GET", "/version")
            assert r.status == 200 and r.json()["major"] == "1", host
        assert srv.counters["connections"] == 2
    with pytest.raises(ConnectionRefusedError):  # closed: both refuse
        socket.create_connection(("::1", srv.port), timeout=5)


def test_a_taken_port_fails_to_open_and_leaks_nothing() -> None:
    busy = socket.create_server(("127.0.0.1", 0))
    try:
        port = busy.getsockname()[1]
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            with pytest.raises(OSError):
                gochan.run(lambda: listen_all("127.0.0.1", port))
            with pytest.raises(OSError):  # the server: start() raises, its thread is gone
                serve("127.0.0.1", port)
            gc.collect()
    finally:
        busy.close()


def test_connections_after_close_are_refused() -> None:
    def main() -> int:
        lns = listen_all("127.0.0.1", 0)
        for ln in lns:
            ln.close()
        return lns[0].addr.port

    port = gochan.run(main)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    srv = serve()
    port = srv.port
    srv.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_close_never_loses_an_accepted_connection() -> None:
    """Connections the kernel completed, accepted or not yet, when the server closes:
    every client sees its connection end (EOF or reset), none hangs, and no socket is
    left to the garbage collector."""
    n = 20
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        srv = serve()
        clients = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(n)]
        try:
            # Some are accepted (and idle), the rest may still queue in the kernel.
            srv.close()
            for c in clients:
                assert _ends(c)
            assert not srv._conns
        finally:
            for c in clients:
                c.close()
        gc.collect()
    assert srv.counters["connections"] <= n


def test_a_listener_closed_under_a_waiting_accept_ends_the_loop() -> None:
    """Closing a listener wakes its accept loop with ErrClosed (the loop ends, no task
    outlives the run); a connection queued in the kernel meanwhile is reset."""

    def main() -> bool:
        (ln,) = listen_all("127.0.0.1", 0)
        port = ln.addr.port
        ended: gochan.Chan[None] = gochan.Chan()

        def loop() -> None:
            with contextlib.suppress(net.ErrClosed):
                while True:
                    ln.accept().close()
            ended.close()

        gochan.go(loop)
        gochan.gosched()
        ln.close()
        ended.recv()
        return port > 0

    assert gochan.run(main)


def test_module_doctests() -> None:
    result = doctest.testmod(listener_mod)
    assert result.attempted > 0 and result.failed == 0
