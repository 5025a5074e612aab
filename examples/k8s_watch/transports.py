"""Choose the K8s-watch example's transport: ``green``, ``official`` or ``httpx``.

All three have one face (`transport.Client`): ``list``, ``get``, ``create``,
``update``, ``patch``, ``delete``, ``watch`` (a stream whose ``events``
channel carries dict events and one final `transport.StreamEnd`) and
``close``, with the same errors, the same timeouts and one decoder, so the
reflector, the reconciler and the lease lock run on any of them. Each is
configured from the official ``kubernetes`` package's loader
(`kubeconfig.load`).

==========  ==========================================  ==============================
name        requests / watch stream                     backend
==========  ==========================================  ==============================
green       `gochan.net` connections + httptools in     any (``builtin`` by default)
            the calling task / a green task per watch
official    the ``kubernetes`` package's generated      any (``builtin`` by default)
            APIs in `gochan.blocking` / a thread per
            watch
httpx       ``httpx.AsyncClient`` through               ``uvloop`` (else ``asyncio``)
            `gochan.await_` / a task on the loop
==========  ==========================================  ==============================

>>> sorted(TRANSPORTS)
['green', 'httpx', 'official']
>>> default_backend("official")
'builtin'
"""

from __future__ import annotations

import importlib.util
from typing import Any

from .kubeconfig import load as load_config
from .transport import HEADER_TIMEOUT, TIMEOUT, Client

TRANSPORTS: dict[str, str] = {
    "green": "gochan.net connections and httptools, a green task per watch (any backend)",
    "official": "the kubernetes package's generated APIs in blocking(), a thread per watch",
    "httpx": "httpx.AsyncClient through await_, watches as loop tasks (uvloop/asyncio backend)",
}
# Backends each transport can run on; the first is the default.
BACKENDS: dict[str, tuple[str, ...]] = {
    "green": ("builtin", "asyncio", "uvloop", "trio"),
    "official": ("builtin", "asyncio", "uvloop", "trio"),
    "httpx": ("uvloop", "asyncio"),
}


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
    timeout: float = TIMEOUT,
    *,
    header_timeout: float = HEADER_TIMEOUT,
    kubeconfig: str | None = None,
    context: str | None = None,
    in_cluster_config: bool = False,
    max_connections: int = 64,
) -> Client:
    """A client of transport ``name`` for ``server`` (else in-cluster, else the kubeconfig).

    ``timeout`` bounds each request and ``header_timeout`` a watch until its
    answer's head; ``max_connections`` bounds the connections (green, httpx)
    or the urllib3 pool (official). Call it inside `gochan.run` (for
    ``httpx``, on an asyncio backend).
    """
    _choices(name)
    cfg = load_config(
        server, token, kubeconfig=kubeconfig, context=context, in_cluster=in_cluster_config
    )
    options: dict[str, Any] = {"timeout": timeout, "header_timeout": header_timeout}
    if name == "official":
        from .transport_official import OfficialClient

        return OfficialClient(cfg, pool_size=max_connections, **options)
    if name == "green":
        from .transport_green import GreenClient

        return GreenClient.from_config(cfg, max_connections=max_connections, **options)
    from .transport_httpx import HttpxClient

    return HttpxClient.from_config(cfg, max_connections=max_connections, **options)


__all__ = ["BACKENDS", "TRANSPORTS", "check_backend", "default_backend", "make_transport"]
