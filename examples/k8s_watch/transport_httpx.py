"""The Kubernetes REST client on httpx, for green tasks on an asyncio backend.

The same face as every transport (`transport.Client`), on an asyncio
library: every request is one ``httpx.AsyncClient`` call handed to the event
loop with `gochan.await_`. The green task that asks parks, the loop does the
I/O for all of them at once, and there is no thread pool in the way: N
green workers have N requests in the air, up to ``max_connections``. This is
the way to use any asyncio library (aiohttp, kubernetes_asyncio...) from
green tasks.

A WATCH is opened through ``await_`` too (the answer's head within
``header_timeout``, an ``asyncio.wait_for``); its body is then read by an
asyncio task on the loop, which decodes it (`transport.EventDecoder`) and
hands each event to the green side through a gochan channel
(``await events.asend(event)``, the channels' async face). How a stream
ends is in `transport`'s table; httpx's errors map onto it: a
``ReadTimeout`` is the client read timeout, a connection closed inside the
body a torn stream, any other protocol error bad framing.

Needs ``backend="asyncio"`` or ``"uvloop"`` (``await_`` has no loop on the
builtin backend).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable
from typing import Any

import httpx

import gochan

from . import kubeconfig
from .transport import (
    HEADER_TIMEOUT,
    JSON,
    TIMEOUT,
    ClientBase,
    EventDecoder,
    Resource,
    RestVerbs,
    StreamDecodeError,
    StreamEnd,
    TransportError,
    WatchItem,
    decode_answer,
    status_error,
)
from .transport import query as query_string


class _Auth(httpx.Auth):
    """The ``Authorization`` header from a callable, per request (a refreshed token)."""

    def __init__(self, value: Callable[[], str | None]) -> None:
        self.value = value

    def auth_flow(self, request: httpx.Request) -> Any:
        if v := self.value():
            request.headers["Authorization"] = v
        yield request


class HttpxClient(ClientBase, RestVerbs):
    """A Kubernetes REST client: ``httpx.AsyncClient`` calls through `gochan.await_`.

    ``timeout`` bounds each request (connect, write, each read, the wait for
    a pooled connection); ``header_timeout`` a watch until its answer's
    head. ``authorization``, ``token`` and ``ssl_context`` as for
    `transport_green.GreenClient`. Create it inside `gochan.run` (an asyncio
    backend) and close it there.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        authorization: str | Callable[[], str | None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = TIMEOUT,
        header_timeout: float = HEADER_TIMEOUT,
        max_connections: int = 256,
        user_agent: str = "gochan-k8s-watch/0.2 (httpx)",
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {url!r}")
        super().__init__(url, timeout, header_timeout)
        headers = {"Accept": "application/json", "User-Agent": user_agent}
        if token and authorization is None:
            authorization = f"Bearer {token}"
        if isinstance(authorization, str):
            headers["Authorization"] = authorization
        self._client = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            auth=_Auth(authorization) if callable(authorization) else None,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            verify=ssl_context if ssl_context is not None else True,
            trust_env=False,
        )

    @classmethod
    def from_config(cls, cfg: kubeconfig.Configuration, **options: Any) -> HttpxClient:
        """A client for a ``kubernetes`` Configuration: its host, TLS and credentials."""
        auth: Any = kubeconfig.authorization(cfg)
        if cfg.refresh_api_key_hook is not None:
            auth = lambda: kubeconfig.authorization(cfg)  # refreshed per request
        return cls(cfg.host, authorization=auth, ssl_context=kubeconfig.ssl_context(cfg), **options)

    # -- one request (a coroutine on the loop) ---------------------------------------------

    async def request_async(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JSON:
        """One request on the loop; the JSON answer, or an exception."""
        self.stats.count(method)
        data = None if body is None else json.dumps(body).encode()
        what = f"{method} {path}"
        try:
            resp = await self._client.request(
                method,
                path,
                params=query_string(query) if query else None,
                content=data,
                headers={"Content-Type": content_type} if data is not None else None,
            )
        except httpx.HTTPError as e:
            self.stats.errors += 1
            raise self._failure(what, e) from e
        if resp.status_code >= 400:
            self.stats.errors += 1
        return decode_answer(what, resp.status_code, resp.headers.get("Retry-After"), resp.content)

    def _failure(self, what: str, e: Exception) -> TransportError:
        if self.closed:
            return TransportError(f"{what}: the client is closed")
        if isinstance(e, httpx.TimeoutException):
            return TransportError(
                f"{what}: {type(e).__name__} after {self.timeout:g} s (client timeout)"
            )
        return TransportError(f"{what}: {type(e).__name__}: {e}")

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JSON:
        """`request_async` on the loop; only the calling task waits."""
        if self.closed:
            raise TransportError(f"{method} {path}: the client is closed")
        result: JSON = gochan.await_(
            self.request_async(method, path, query=query, body=body, content_type=content_type)
        )
        return result

    # -- watches -----------------------------------------------------------------------------

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        read_timeout: float = 120.0,
        buffer: int = 1024,
        **params: Any,
    ) -> HttpxWatch:
        """Open a watch; returns once the answer's head is in (see the module doc)."""
        params["watch"] = "true"
        stream = HttpxWatch(self, read_timeout, buffer)
        self._register(stream)
        try:
            resp = gochan.await_(self._open(resource.path(namespace), params, read_timeout))
        except BaseException:
            self._forget(stream)
            raise
        stream.start(resp)
        return stream

    async def _open(self, path: str, params: dict[str, Any], read_timeout: float) -> httpx.Response:
        what = f"WATCH {path}"
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        request = self._client.build_request("GET", path, params=query_string(params))
        request.extensions["timeout"] = timeout.as_dict()
        try:
            resp = await asyncio.wait_for(
                self._client.send(request, stream=True), self.header_timeout
            )
        except TimeoutError:
            self.stats.errors += 1
            raise TransportError(
                f"{what}: no answer within {self.header_timeout:g} s (header timeout)"
            ) from None
        except httpx.HTTPError as e:
            self.stats.errors += 1
            raise self._failure(what, e) from e
        if resp.status_code != 200:
            self.stats.errors += 1
            try:
                raw = await resp.aread()
            except httpx.HTTPError:
                raw = b""
            finally:
                await resp.aclose()
            raise status_error(resp.status_code, resp.headers.get("Retry-After"), raw)
        return resp

    def close(self, timeout: float = 5.0) -> None:
        """Close every stream and the connection pool, aborting requests in flight
        (call it from a green task)."""
        self._close_streams(timeout)
        gochan.await_(self._client.aclose())


class HttpxWatch:
    """One watch, its body read by an asyncio task into ``events``.

    `close()` cancels the task from any thread without blocking (no
    `StreamEnd` follows); `join()` waits for it from a green task.
    """

    def __init__(self, client: HttpxClient, read_timeout: float, buffer: int) -> None:
        self.client = client
        self.read_timeout = read_timeout
        self.events: gochan.Chan[WatchItem] = gochan.Chan(buffer)
        self.received = 0
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<HttpxWatch {state} received={self.received}>"

    def start(self, resp: httpx.Response) -> None:
        async def spawn() -> None:
            if self.closed:  # close() came first, with no task to cancel
                await resp.aclose()
                self._finish()
                return
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(self._read(resp), name=f"watch {resp.url.path}")
            self._task.add_done_callback(lambda _: self._finish())  # even if never started

        gochan.await_(spawn())

    async def _read(self, resp: httpx.Response) -> None:
        error: BaseException | None = None
        decoder = EventDecoder()
        try:
            async for chunk in resp.aiter_raw():
                for event in decoder.feed(chunk):
                    self.received += 1
                    await self.events.asend(event)
            decoder.end()
        except (StreamDecodeError, TransportError) as e:
            error = e
        except httpx.ReadTimeout:
            error = TransportError(f"no data for {self.read_timeout:g} s (client read timeout)")
        except httpx.RemoteProtocolError as e:
            # h11 says "peer closed connection without sending complete message
            # body" when the connection ends inside the body; anything else it
            # refuses is broken framing.
            if "peer closed" in str(e):
                error = TransportError(f"torn stream: {e}")
            else:
                error = StreamDecodeError(f"bad framing in the stream: {e}")
        except httpx.HTTPError as e:
            error = TransportError(f"torn stream: {type(e).__name__}: {e}")
        except BaseException:  # cancelled by close(), or a bug: no StreamEnd
            self._finish()
            raise
        finally:
            await resp.aclose()
        try:
            if not self.closed:
                await self.events.asend(StreamEnd(error))
        finally:
            self._finish()

    def _finish(self) -> None:
        if not self.events.closed:
            self.events.close()
        self.client._forget(self)

    def close(self) -> None:
        """Stop reading (from any thread, without blocking)."""
        if self.closed:
            return
        self.closed = True
        task, loop = self._task, self._loop
        if task is not None and loop is not None and not task.done():
            loop.call_soon_threadsafe(task.cancel)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the loop task to end (from a green task)."""
        task = self._task
        if task is None or task.done():
            return

        async def wait() -> None:
            await asyncio.wait({task}, timeout=timeout)

        gochan.await_(wait())

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()


__all__ = ["HttpxClient", "HttpxWatch"]
