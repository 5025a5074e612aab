"""Choose the K8s-watch example's transport: ``stdlib``, ``green``, ``httpx`` or ``official``.

All four have one face (`KubeClient`): ``list``, ``get``, ``create``,
``update``, ``patch``, ``delete``, ``watch`` (a stream whose ``events``
channel carries dict events and one final `StreamEnd`) and ``close``, with
the same errors (`APIStatusError`, `TransportError`, `StreamDecodeError`),
so the reflector, the reconciler and the lease lock run on any of them.

==========  ==========================================  ==============================
name        requests / watch stream                     backend
==========  ==========================================  ==============================
stdlib      ``http.client`` in `gochan.blocking` /      any (``builtin`` by default)
            a reader thread per watch
httpx       ``httpx.AsyncClient`` through               ``uvloop`` (else ``asyncio``)
            `gochan.await_` / a task on the loop
official    the ``kubernetes`` package's CoreV1Api /   any (``builtin`` by default)
            CoordinationV1Api in `gochan.blocking` /
            a reader thread per watch
green       HTTP/1.1 on non-blocking sockets with      any (``builtin`` by default);
            `gochan.wait_readable` in the calling      plain ``http://`` only
            task / a green task per watch
==========  ==========================================  ==============================

>>> sorted(TRANSPORTS)
['green', 'httpx', 'official', 'stdlib']
>>> default_backend("official")
'builtin'
"""

from __future__ import annotations

import importlib.util
from typing import Any, Protocol

import gochan

from .store import JSON
from .transport import Client, Resource, WatchItem, from_kubeconfig, in_cluster

TRANSPORTS: dict[str, str] = {
    "stdlib": "http.client in blocking(), a reader thread per watch (builtin backend)",
    "httpx": "httpx.AsyncClient through await_, watches as loop tasks (uvloop/asyncio backend)",
    "official": "the kubernetes package's generated APIs in blocking(), a reader thread per watch",
    "green": "HTTP/1.1 on non-blocking sockets parked in wait_readable, a green task per watch "
    "(any backend; http:// only)",
}
# Backends each transport can run on; the first is the default.
BACKENDS: dict[str, tuple[str, ...]] = {
    "stdlib": ("builtin", "asyncio", "uvloop", "trio"),
    "httpx": ("uvloop", "asyncio"),
    "official": ("builtin", "asyncio", "uvloop", "trio"),
    "green": ("builtin", "asyncio", "uvloop", "trio"),
}


class KubeStream(Protocol):
    """A watch in progress (what `reflector.EventStream` reads)."""

    events: gochan.Chan[WatchItem]

    def close(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


class KubeClient(Protocol):
    """The face every transport has (see `transport.Client` for each method)."""

    url: str
    timeout: float

    def list(self, resource: Resource, namespace: str | None = None, **params: Any) -> JSON: ...

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> JSON: ...

    def create(self, resource: Resource, obj: JSON, namespace: str | None = None) -> JSON: ...

    def update(self, resource: Resource, obj: JSON, namespace: str | None = None) -> JSON: ...

    def patch(
        self, resource: Resource, name: str, patch: JSON, namespace: str | None = None
    ) -> JSON: ...

    def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        preconditions: JSON | None = None,
    ) -> JSON: ...

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        read_timeout: float = 120.0,
        buffer: int = 1024,
        **params: Any,
    ) -> KubeStream: ...

    def close(self, timeout: float = 5.0) -> None: ...


def default_backend(transport: str) -> str:
    """The gochan backend a transport runs best on (uvloop when it is installed)."""
    choices = _choices(transport)
    if choices[0] == "uvloop" and importlib.util.find_spec("uvloop") is None:
        return "asyncio"
    return choices[0]


def check_backend(transport: str, backend: str) -> None:
    """ValueError if ``transport`` cannot run on ``backend``."""
    choices = _choices(transport)
    if backend not in choices:
        raise ValueError(
            f"the {transport} transport needs one of the backends {', '.join(choices)}, "
            f"not {backend!r}"
        )


def _choices(transport: str) -> tuple[str, ...]:
    try:
        return BACKENDS[transport]
    except KeyError:
        raise ValueError(
            f"unknown transport {transport!r}; known: {', '.join(TRANSPORTS)}"
        ) from None


def make_transport(
    name: str,
    server: str | None = None,
    token: str | None = None,
    timeout: float = 10.0,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    in_cluster_config: bool = False,
    max_connections: int = 64,
) -> Any:
    """A client of transport ``name`` for ``server`` (else the kubeconfig, else in-cluster).

    ``timeout`` is every request's client-side read timeout (watches set
    their own); ``max_connections`` bounds the connections (httpx, green) or
    the urllib3 pool (official). Call it inside `gochan.run` for ``httpx``.
    The result has `KubeClient`'s face.
    """
    _choices(name)
    if name == "official":
        from .transport_official import OfficialClient

        if server:
            return OfficialClient.for_server(
                server, token=token, timeout=timeout, pool_size=max_connections
            )
        if in_cluster_config:
            return OfficialClient.in_cluster(timeout=timeout, pool_size=max_connections)
        return OfficialClient.from_kubeconfig(
            kubeconfig, context, timeout=timeout, pool_size=max_connections
        )
    if server:
        base = Client(server, token=token, timeout=timeout)
    elif in_cluster_config:
        base = in_cluster()
        base.timeout = timeout
    else:
        base = from_kubeconfig(kubeconfig, context)
        base.timeout = timeout
    if name == "stdlib":
        base.max_idle = max(base.max_idle, max_connections)
        return base
    if name == "green":
        from .transport_green import GreenClient

        return GreenClient(
            base.url, token=base.token, timeout=timeout, max_connections=max_connections
        )
    from .transport_httpx import HttpxClient

    return HttpxClient(
        base.url,
        token=base.token,
        timeout=timeout,
        ssl_context=base.ssl_context,
        max_connections=max_connections,
    )


__all__ = [
    "BACKENDS",
    "TRANSPORTS",
    "KubeClient",
    "KubeStream",
    "check_backend",
    "default_backend",
    "make_transport",
]
