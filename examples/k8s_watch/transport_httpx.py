"""The Kubernetes REST client on httpx, for green tasks on an async backend.

The same face as `transport.Client` (list, get, create, update, patch,
delete, watch, close), so the reflector, the reconciler and the lease lock
take either. Every request is one ``httpx.AsyncClient`` call handed to the
event loop with `gochan.await_`: the green task that asks parks, the loop
does the I/O for all of them at once, and there is no thread pool in the
way. N green workers have N requests in the air, up to ``max_connections``
(a thread-pool transport stops at the pool's size).

A WATCH is an asyncio task on the loop that reads the chunked answer, splits
it into lines, decodes each one and hands it to the green side through a
gochan channel (``await events.asend(event)``, the channels' async face);
the reflector reads `HttpxWatchStream.events` exactly as it reads the
stdlib stream's. The stream ends with one `StreamEnd`, whose ``error`` says
why, mapped onto the errors the reflector already handles:

=====================================  ===========================================
httpx / the bytes say                  StreamEnd(error=...)
=====================================  ===========================================
clean last chunk                       None (a server ``timeoutSeconds``)
``RemoteProtocolError`` (a cut chunk)  `StreamDecodeError` ("torn stream")
a line that is not JSON / an object    `StreamDecodeError` ("corrupt event")
the last bytes are half an event       `StreamDecodeError` ("inside an event")
``ReadTimeout`` (silent socket)        `TransportError` ("client read timeout")
refused, reset, other ``HTTPError``    `TransportError`
an error answer to the WATCH itself    `APIStatusError` (with ``Retry-After``)
=====================================  ===========================================

Timeouts are always set: ``timeout`` for connect, write, pool waits and the
read of each request, and the watch's own ``read_timeout`` for every read of
a stream (a half-open TCP connection otherwise hangs a reader for ever).

Needs ``backend="asyncio"`` or ``"uvloop"`` (``await_`` has no loop on the
builtin backend) and ``pip install httpx``.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import httpx

import gochan

from .transport import (
    JSON,
    APIStatusError,
    ClientStats,
    Resource,
    RestVerbs,
    StreamDecodeError,
    StreamEnd,
    StreamRegistry,
    TransportError,
    WatchItem,
    _query,
    _status_error,
    decode_event,
    loads_json,
)


class HttpxClient(RestVerbs, StreamRegistry["HttpxWatchStream"]):
    """A Kubernetes REST client: `httpx.AsyncClient` calls through `gochan.await_`.

    ``timeout`` is the client-side timeout of every request (connect, read,
    write, waiting for a pooled connection); a watch has its own
    ``read_timeout``. ``max_connections`` bounds the requests in the air.
    Create it inside `gochan.run` (an async backend) and close it there.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 256,
        user_agent: str = "gochan-k8s-watch/0.1 (httpx)",
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.stats = ClientStats()
        headers = {"Accept": "application/json", "User-Agent": user_agent}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            verify=ssl_context if ssl_context is not None else True,
            trust_env=False,
        )
        self._streams: set[HttpxWatchStream] = set()
        self._closed = False
        self._lock = threading.Lock()  # the streams (StreamRegistry)

    def __repr__(self) -> str:
        return f"<HttpxClient {self.url} streams={len(self._streams)}>"

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
        self.stats.requests += 1
        self.stats.by_verb[method] = self.stats.by_verb.get(method, 0) + 1
        data = None if body is None else json.dumps(body).encode()
        try:
            resp = await self._client.request(
                method,
                path,
                params=_query(query) if query else None,
                content=data,
                headers={"Content-Type": content_type} if data is not None else None,
            )
        except httpx.TimeoutException as e:
            self.stats.errors += 1
            raise TransportError(
                f"{method} {path}: {type(e).__name__} after {self.timeout:g} s "
                "(client read timeout)"
            ) from e
        except httpx.HTTPError as e:
            self.stats.errors += 1
            raise TransportError(f"{method} {path}: {type(e).__name__}: {e}") from e
        raw = resp.content
        if resp.status_code >= 400:
            self.stats.errors += 1
            raise _status_error(resp.status_code, resp.headers.get("Retry-After"), raw)
        try:
            answer = loads_json(raw) if raw else {}
        except ValueError as e:
            raise TransportError(f"{method} {path}: bad JSON in the answer: {e}") from e
        if not isinstance(answer, dict):
            raise TransportError(f"{method} {path}: the answer is not an object")
        return answer

    # -- the green face ----------------------------------------------------------------------

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
    ) -> HttpxWatchStream:
        """Open a watch; returns at once (from a green task).

        The stream's loop task connects, reads the answer (an error answer
        ends the stream with ``StreamEnd(APIStatusError)``) and then the
        events, with ``read_timeout`` on every read.
        """
        params["watch"] = "true"
        stream = self._register(
            HttpxWatchStream(self, resource.path(namespace), _query(params), read_timeout, buffer)
        )
        stream.start()
        return stream

    def close(self, timeout: float = 5.0) -> None:
        """Close every stream and the connection pool (call it from a green task)."""
        self._closed = True
        streams = list(self._streams)
        for s in streams:
            s.close()
        for s in streams:
            s.join(timeout)
        gochan.await_(self._client.aclose())


class HttpxWatchStream:
    """One watch response, read by a task on the event loop into ``events``.

    ``events`` carries each event as a dict (``{"type", "object"}``) and then
    one `StreamEnd`, after which the loop task closes the channel. `close()`
    cancels the loop task from anywhere without blocking; `join()` waits for
    it from a green task.
    """

    def __init__(
        self,
        client: HttpxClient,
        path: str,
        query: dict[str, str],
        read_timeout: float,
        buffer: int,
    ) -> None:
        self._client = client
        self.path = path
        self.query = query
        self.read_timeout = read_timeout
        self.events: gochan.Chan[WatchItem] = gochan.Chan(buffer)
        self.received = 0
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<HttpxWatchStream {state} received={self.received}>"

    def __iter__(self) -> Iterator[WatchItem]:
        yield from self.events

    def start(self) -> None:
        async def spawn() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(self._read(), name=f"watch {self.path}")

        gochan.await_(spawn())

    async def _read(self) -> None:
        client = self._client
        end = StreamEnd()
        timeout = httpx.Timeout(client.timeout, read=self.read_timeout)
        try:
            try:
                async with client._client.stream(
                    "GET", self.path, params=self.query, timeout=timeout
                ) as resp:
                    if resp.status_code != 200:
                        raw = await resp.aread()
                        client.stats.errors += 1
                        raise _status_error(resp.status_code, resp.headers.get("Retry-After"), raw)
                    await self._events(resp)
            except httpx.TimeoutException as e:
                raise TransportError(
                    f"no data for {self.read_timeout:g} s (client read timeout)"
                ) from e
            except httpx.RemoteProtocolError as e:
                raise StreamDecodeError(f"torn stream: {e}") from e
            except httpx.HTTPError as e:
                raise TransportError(f"WATCH {self.path}: {type(e).__name__}: {e}") from e
        except (StreamDecodeError, APIStatusError, TransportError) as e:
            end = StreamEnd(e)
        except BaseException:  # cancelled by close(), or a bug: no StreamEnd
            self._finish()
            raise
        try:
            if not self._closed:
                await self.events.asend(end)
        finally:
            self._finish()

    async def _events(self, resp: httpx.Response) -> None:
        """Decode the body's lines into events and hand each one over."""
        pending = b""
        send = self.events.asend
        async for chunk in resp.aiter_raw():
            pending = pending + chunk if pending else chunk
            if b"\n" not in pending:
                continue
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if (event := decode_event(line)) is None:
                    continue
                self.received += 1
                await send(event)
        if pending.strip():
            raise StreamDecodeError(f"stream ended inside an event: {pending!r:.80}")

    def _finish(self) -> None:
        if not self.events.closed:
            self.events.close()
        self._client._forget(self)

    def close(self) -> None:
        """Stop reading (from any thread, without blocking)."""
        if self._closed:
            return
        self._closed = True
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


__all__ = ["HttpxClient", "HttpxWatchStream"]
