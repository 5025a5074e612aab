"""The listening sockets: every address a host name resolves to, on one port.

``gochan.net.listen`` listens on one address; ``localhost`` may resolve to
``127.0.0.1`` and ``::1``, and a client may try either, so the server
listens on each, with the port the first one got (``port=0``: any free
port). Each listener gets an accept loop of its own in the server
(`ServerCore._accept`); closing a listener wakes its loop with
``ErrClosed``, and connections still queued in the kernel are reset, as
when a real server goes away.

>>> import gochan
>>> def main() -> tuple[int, bool]:
...     lns = listen_all("127.0.0.1", 0)
...     port = lns[0].addr.port
...     for ln in lns:
...         ln.close()
...     return len(lns), port > 0
>>> gochan.run(main)
(1, True)
"""

from __future__ import annotations

import contextlib
import socket

from gochan import net


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen_all(host: str, port: int) -> list[net.Listener]:
    """Listeners on every address ``host`` resolves to, all on one port."""
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )
    listeners: list[net.Listener] = []
    seen: set[str] = set()
    try:
        for family, _, _, _, addr in infos:
            ip = str(addr[0])  # an IP string: the families asked for are IPv4 and IPv6
            if ip in seen:
                continue
            seen.add(ip)
            network = "tcp6" if family == socket.AF_INET6 else "tcp4"
            p = listeners[0].addr.port if listeners else port
            listeners.append(net.listen(network, _address(ip, p)))
    except BaseException:
        for ln in listeners:
            with contextlib.suppress(OSError):
                ln.close()
        raise
    if not listeners:  # pragma: no cover - getaddrinfo raises instead
        raise OSError(f"no address to listen on for {host!r}")
    return listeners
