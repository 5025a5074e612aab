"""The apiserver's listener: closing it never loses an accepted connection.

``asyncio.start_server`` drops a connection accepted in the loop round
before ``Server.close()`` (the transport is built a round later and the
closed server refuses it; the socket is left to the garbage collector). The
tests here close the listener exactly in that window, on asyncio and uvloop,
and check that every accepted socket reached the owner and was closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import doctest
import gc
import socket
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import listener as listener_mod  # noqa: E402
from examples.k8s_watch.apiserver.listener import Listener, streams  # noqa: E402


def loops() -> list[tuple[str, Callable[[], asyncio.AbstractEventLoop]]]:
    out: list[tuple[str, Callable[[], asyncio.AbstractEventLoop]]] = [
        ("asyncio", asyncio.new_event_loop)
    ]
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dev dependency
        return out
    out.append(("uvloop", uvloop.new_event_loop))
    return out


LOOPS = loops()


def run(factory: Callable[[], asyncio.AbstractEventLoop], coro: object) -> object:
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)  # type: ignore[arg-type]


async def _never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    raise AssertionError("a handler ran; this test closes before any can")


@pytest.mark.parametrize(("name", "factory"), LOOPS, ids=[n for n, _ in LOOPS])
def test_close_in_the_accept_window_hands_over_every_connection(
    name: str, factory: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    n = 20
    clients: list[socket.socket] = []

    async def main() -> list[asyncio.Transport]:
        adopted: list[asyncio.Transport] = []
        lis = await Listener.open("127.0.0.1", 0, streams(_never))
        lis.on_transport = adopted.append
        for _ in range(n):  # the kernel completes each handshake, no accept yet
            clients.append(socket.create_connection(("127.0.0.1", lis.port)))
        # Let the loop accept: the reader callback takes all n in one round
        # and schedules their adoption. Close in that same window.
        while not lis._adopting:
            await asyncio.sleep(0)
        await lis.close()
        assert len(adopted) == n  # close() returned with every one handed over
        for t in adopted:
            t.abort()
        await asyncio.sleep(0)
        return adopted

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        adopted = run(factory, main())
        gc.collect()
    assert isinstance(adopted, list)
    assert len(adopted) == n
    # Every client sees its connection end (EOF or reset), none hangs.
    for c in clients:
        c.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert c.recv(1) == b""
        c.close()


@pytest.mark.parametrize(("name", "factory"), LOOPS, ids=[n for n, _ in LOOPS])
def test_connections_after_close_are_refused(
    name: str, factory: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    async def main() -> int:
        lis = await Listener.open("127.0.0.1", 0, streams(_never))
        await lis.close()
        return lis.port

    port = run(factory, main())
    assert isinstance(port, int)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_localhost_listens_on_one_port_for_every_address() -> None:
    socks = listener_mod._bind("localhost", 0, 8)
    try:
        ports = {s.getsockname()[1] for s in socks}
        assert len(ports) == 1
        assert {s.family for s in socks} <= {socket.AF_INET, socket.AF_INET6}
    finally:
        for s in socks:
            s.close()


def test_a_taken_port_fails_to_open_and_leaks_nothing() -> None:
    busy = socket.create_server(("127.0.0.1", 0))
    try:
        port = busy.getsockname()[1]

        async def main() -> None:
            await Listener.open("127.0.0.1", port, streams(_never))

        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            with pytest.raises(OSError):
                asyncio.run(main())
            gc.collect()
    finally:
        busy.close()


def test_module_doctests() -> None:
    result = doctest.testmod(listener_mod)
    assert result.attempted > 0 and result.failed == 0
