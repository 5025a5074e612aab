"""Network addresses: ``Addr``, Go's host:port syntax, and name resolution.

Go's rules: an address is ``"host:port"``, an IPv6 host in brackets
(``"[::1]:80"``); an empty host means every local address to ``listen``
and the local system to ``dial``; the port is a number or a service name
(``"http"``). A name is resolved with ``getaddrinfo`` on a worker thread
(``gochan.blocking``): it may block on DNS, and only the calling task waits.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from dataclasses import dataclass

from .._runtime.offload import blocking_until

NETWORKS = ("tcp", "tcp4", "tcp6", "unix")

# The address family each network allows (AF_UNSPEC: either).
FAMILY = {"tcp": socket.AF_UNSPEC, "tcp4": socket.AF_INET, "tcp6": socket.AF_INET6}

SockAddr = tuple[int, object]  # (family, the sockaddr connect/bind take)


@dataclass(frozen=True, slots=True)
class Addr:
    """A network endpoint: ``network`` (``"tcp"`` or ``"unix"``), ``host``
    and ``port`` for TCP, ``path`` for a Unix socket. ``str()`` is Go's
    form.

    >>> str(Addr("tcp", "127.0.0.1", 8080)), str(Addr("tcp", "::1", 80))
    ('127.0.0.1:8080', '[::1]:80')
    >>> str(Addr("unix", path="/tmp/echo.sock"))
    '/tmp/echo.sock'
    """

    network: str
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        if self.network == "unix":
            return self.path
        return join_host_port(self.host, self.port)

    def __repr__(self) -> str:
        if self.network == "unix":
            return f"Addr({self.network!r}, path={self.path!r})"
        return f"Addr({self.network!r}, {self.host!r}, {self.port})"


def join_host_port(host: str, port: int | str) -> str:
    """``"host:port"``, with an IPv6 host in brackets (Go's ``JoinHostPort``).

    >>> join_host_port("::1", 80), join_host_port("example.com", "http")
    ('[::1]:80', 'example.com:http')
    """
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def split_host_port(address: str) -> tuple[str, str]:
    """``(host, port)`` from ``"host:port"``, ``"[ipv6]:port"`` or
    ``":port"`` (Go's ``SplitHostPort``); ``ValueError`` saying what is
    wrong otherwise.

    >>> split_host_port("[::1]:0"), split_host_port(":8080")
    (('::1', '0'), ('', '8080'))
    >>> split_host_port("localhost")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: address 'localhost': missing port in address (write 'host:port', ...)
    """
    hint = " (write 'host:port', '[::1]:port' or ':port')"
    if not isinstance(address, str):
        raise TypeError(f"a network address is a str like '127.0.0.1:8080', got {address!r}")
    i = address.rfind(":")
    if i < 0:
        raise ValueError(f"address {address!r}: missing port in address{hint}")
    host, port = address[:i], address[i + 1 :]
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"address {address!r}: missing ']' in address{hint}")
        host = host[1:-1]
        if "[" in host or "]" in host:
            raise ValueError(f"address {address!r}: unexpected bracket in address{hint}")
    elif ":" in host:
        raise ValueError(f"address {address!r}: too many colons in address{hint}")
    elif "[" in host or "]" in host:
        raise ValueError(f"address {address!r}: unexpected bracket in address{hint}")
    return host, port


def check_network(network: object, what: str) -> str:
    if network not in NETWORKS:
        raise ValueError(
            f"{what}: unknown network {network!r}; use one of {', '.join(map(repr, NETWORKS))}"
        )
    return str(network)


def to_addr(family: int, sockaddr: object) -> Addr:
    """The Addr of a socket address as the socket module gives it."""
    if family == socket.AF_UNIX:
        path = sockaddr if isinstance(sockaddr, str) else ""
        if isinstance(sockaddr, bytes):  # an abstract socket
            path = "@" + sockaddr[1:].decode(errors="replace")
        if path.startswith("\0"):
            path = "@" + path[1:]
        return Addr("unix", path=path)
    assert isinstance(sockaddr, tuple)
    host, port = sockaddr[0], sockaddr[1]
    if family == socket.AF_INET6 and len(sockaddr) > 3 and sockaddr[3] and "%" not in host:
        with contextlib.suppress(OSError):
            host = f"{host}%{socket.if_indextoname(sockaddr[3])}"
    return Addr("tcp", host, port)


def unix_sockaddr(path: str) -> str:
    """A path, or ``"@name"`` for a Linux abstract socket (Go's syntax)."""
    return "\0" + path[1:] if path.startswith("@") else path


def _port(port: str, network: str, what: str) -> int | None:
    """The port as a number, None for a service name to look up."""
    if port.isascii() and port.isdigit():
        n = int(port)
        if n > 65535:
            raise ValueError(f"{what}: invalid port {port!r} (0 to 65535)")
        return n
    if not port:
        raise ValueError(f"{what}: missing port (write 'host:port')")
    if port.lstrip("+-").isdigit():  # a sign, or digits other than 0-9: no service name
        raise ValueError(f"{what}: invalid port {port!r} (0 to 65535, or a service name)")
    return None


def resolve(
    network: str, address: str, passive: bool, what: str, deadline: float | None = None
) -> list[SockAddr]:
    """The socket addresses to try for ``address`` on a TCP ``network``, in
    order: an IP literal at once, a name (or a service name as the port)
    through ``getaddrinfo`` on a worker thread. ``passive``: for listen (an
    empty host is every local address; for dial, the local system).

    The lookup is abandoned at ``deadline`` (on ``gochan.monotonic()``) with
    ``TimeoutError``, and as soon as the task is cancelled, even while the
    resolver's thread is still stuck (it finishes on its own; its answer is
    dropped): Go's dial timeout includes name resolution."""
    host, port = split_host_port(address)
    family = FAMILY[network]
    num = _port(port, network, what)
    if not host:
        if passive:
            if network == "tcp4" or (network == "tcp" and not socket.has_ipv6):
                host = "0.0.0.0"
            else:
                host = "::"
        else:
            host = "::1" if network == "tcp6" else "127.0.0.1"
    literal = host.partition("%")[0]
    try:
        ip = ipaddress.ip_address(literal)
    except ValueError:
        ip = None
    if ip is not None and num is not None:
        fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        if family not in (socket.AF_UNSPEC, fam):
            raise OSError(f"{what}: address {host}: no suitable address for network {network!r}")
        if fam == socket.AF_INET:
            return [(fam, (literal, num))]
        if "%" not in host:  # a zoned IPv6 literal needs getaddrinfo for its scope id
            return [(fam, (host, num, 0, 0))]
    try:
        infos = blocking_until(
            deadline,
            socket.getaddrinfo,
            host,
            num if num is not None else port,
            family,
            socket.SOCK_STREAM,
            0,
            socket.AI_PASSIVE if passive else 0,
        )
    except socket.gaierror as e:
        raise socket.gaierror(e.errno, f"{what}: lookup {host}: {e.strerror}") from e
    except TimeoutError:
        err = TimeoutError(f"{what}: i/o timeout")
        err.add_note(f"while looking up {host!r}")
        raise err from None
    out: list[SockAddr] = []
    for fam, _, _, _, sa in infos:
        if fam in (socket.AF_INET, socket.AF_INET6) and (fam, sa) not in out:
            out.append((fam, sa))
    if not out:
        raise OSError(f"{what}: no suitable address found for {host!r}")
    return out
