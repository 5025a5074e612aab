"""The Kubernetes REST client on the official ``kubernetes`` package, for green tasks.

The same face as every transport (`transport.Client`), but every call goes
through the official client's generated APIs: ``CoreV1Api`` for pods and
configmaps, ``CoordinationV1Api`` for leases (``list_namespaced_pod``,
``replace_namespaced_config_map``, ``read_namespaced_lease``...), with its
configuration, authentication and TLS (`kubeconfig.load`).

* Every call passes ``_preload_content=False`` and decodes the body with
  `transport.decode_answer` into plain dicts: the typed models cost about
  12x more per object and the reflector wants dicts anyway.
* Every call passes ``_request_timeout=(connect, read)``: a client-side
  read timeout is always set.
* Calls block (urllib3), so each one runs in `gochan.blocking`: the green
  task that asks parks, a pool thread waits on the socket.
* A WATCH is the same list call with ``watch=True``, made and then read by a
  thread of its own (a busy blocking pool cannot delay a watch). The calling
  task waits for the answer's head (``header_timeout``, after which the
  socket's timeout becomes the watch's ``read_timeout``); the thread then
  decodes the body (`transport.EventDecoder`) into ``events``.
  ``watch.Watch().stream`` is not used: it retries a 410 once with the same
  expired resourceVersion instead of letting the reflector relist.
* **Aborting.** A thread blocked in urllib3 cannot be interrupted, but its
  socket can be shut down. The client's urllib3 pools make connections of
  their own class, which tell the call they serve (a per-thread record,
  `_Call`) which socket it uses; ``close()`` of a stream, of the client, or a
  cancelled watch call shuts that socket down, and the blocked call returns
  at once, even while it waits for an answer that will never come.
"""

from __future__ import annotations

import contextlib
import functools
import re
import socket
import threading
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

import gochan

from . import kubeconfig
from .transport import (
    HEADER_TIMEOUT,
    JSON,
    TIMEOUT,
    ClientBase,
    Resource,
    StreamDecodeError,
    TransportError,
    WatchStream,
    decode_answer,
    status_error,
)

# The generated method names use the kind in snake case: list_namespaced_config_map.
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")
# Query parameters as the reflector spells them -> the generated keyword names.
_PARAMS = {"continue": "_continue", "continue_": "_continue"}


def _snake(name: str) -> str:
    return _PARAMS.get(name) or _SNAKE.sub("_", name).lower()


def _kwargs(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, str) and v in ("true", "false") and k in ("watch", "allowWatchBookmarks"):
            v = v == "true"
        out[_snake(k)] = v
    return out


# ---- aborting a call blocked in urllib3 ---------------------------------------------------------

_calls = threading.local()  # .current: the _Call this thread is making


class _Call:
    """One call on one thread, and the socket under it once it has one."""

    __slots__ = ("aborted", "lock", "sock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.aborted = False

    def attach(self, sock: socket.socket | None) -> None:
        with self.lock:
            self.sock = sock
            aborted = self.aborted
        if aborted:
            _shut(sock)

    def abort(self) -> None:
        """Make the call return now (from any thread): shut its socket down."""
        with self.lock:
            self.aborted = True
            sock = self.sock
        _shut(sock)

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on this thread, as this call."""
        _calls.current = self
        try:
            return fn(*args, **kwargs)
        finally:
            _calls.current = None


def _shut(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _Tracked:
    """urllib3's connection, telling the thread's `_Call` which socket it sends on."""

    sock: socket.socket | None

    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)  # type: ignore[misc]
        call: _Call | None = getattr(_calls, "current", None)
        if call is not None:
            call.attach(self.sock)


class _HTTPConnection(_Tracked, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_Tracked, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


# ---- the client ---------------------------------------------------------------------------------


class OfficialClient(ClientBase):
    """A Kubernetes REST client over the official package's generated APIs.

    ``timeout`` is the connect and read timeout of every request;
    ``header_timeout`` bounds a watch until its answer's head, and the watch
    has its own ``read_timeout``. ``pool_size`` is urllib3's connection pool
    (the official default, 4, would make most of the workers' requests wait
    for a connection).
    """

    def __init__(
        self,
        configuration: kubeconfig.Configuration,
        *,
        timeout: float = TIMEOUT,
        header_timeout: float = HEADER_TIMEOUT,
        pool_size: int = 64,
    ) -> None:
        super().__init__(configuration.host, timeout, header_timeout)
        configuration.connection_pool_maxsize = pool_size
        # urllib3 retries GETs on read errors and 429s by default: a read
        # timeout or a Retry-After must reach the caller, which has its own
        # backoff. A refused connection is retried once.
        configuration.retries = urllib3.Retry(
            total=1,
            connect=1,
            read=0,
            status=0,
            other=0,
            redirect=0,
            respect_retry_after_header=False,
        )
        self.configuration = configuration
        self.api_client = k8s.ApiClient(configuration)
        self.api_client.rest_client.pool_manager.pool_classes_by_scheme = {
            "http": _HTTPPool,
            "https": _HTTPSPool,
        }
        self.core = k8s.CoreV1Api(self.api_client)
        self.coordination = k8s.CoordinationV1Api(self.api_client)
        self._calls: set[_Call] = set()  # requests in flight: close() aborts them

    @classmethod
    def for_server(cls, url: str, *, token: str | None = None, **options: Any) -> OfficialClient:
        """A client for ``url`` with an optional bearer token (the embedded apiserver)."""
        return cls(kubeconfig.load(url, token), **options)

    # -- the generated method for a (verb, resource) ----------------------------------------

    def method(
        self, verb: str, resource: Resource, namespace: str | None
    ) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The generated API method and its leading arguments.

        ``("list", PODS, "default")`` is ``CoreV1Api.list_namespaced_pod``
        with ``("default",)``; ``("list", PODS, None)`` is
        ``list_pod_for_all_namespaces`` with ``()``.
        """
        if resource.group == "":
            api: Any = self.core
        elif resource.group == "coordination.k8s.io":
            api = self.coordination
        else:
            raise ValueError(f"no generated API for {resource.api_version} in this example")
        kind = _snake(resource.kind)
        if verb == "list" and not namespace:
            return getattr(api, f"list_{kind}_for_all_namespaces"), ()
        return getattr(api, f"{verb}_namespaced_{kind}"), (namespace or "default",)

    # -- one request (runs on a pool thread) ---------------------------------------------------

    def call_sync(self, verb: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> JSON:
        """One generated-API call on this thread; the JSON answer, or an exception."""
        call = _Call()
        with self._lock:
            if self.closed:
                raise TransportError(f"{verb}: the client is closed")
            self._calls.add(call)
            self.stats.count(verb)
        try:
            resp = call.run(
                fn,
                *args,
                _preload_content=False,
                _request_timeout=(self.timeout, self.timeout),
                **kwargs,
            )
            raw = resp.data
            resp.release_conn()
        except ApiException as e:
            self._count_error()
            raise _api_error(e) from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            self._count_error()
            raise _transport_error(f"{verb} {fn.__name__}", e, self.timeout, self.closed) from e
        finally:
            with self._lock:
                self._calls.discard(call)
        return decode_answer(fn.__name__, resp.status, resp.headers.get("Retry-After"), raw)

    def _count_error(self) -> None:
        with self._lock:
            self.stats.errors += 1

    def _call(
        self, verb: str, resource: Resource, namespace: str | None, *a: Any, **kw: Any
    ) -> JSON:
        fn, lead = self.method(verb, resource, namespace)
        result: JSON = gochan.blocking(self.call_sync, verb, fn, *a, *lead, **kw)
        return result

    # -- the green face ----------------------------------------------------------------------

    def list(self, resource: Resource, namespace: str | None = None, **params: Any) -> JSON:
        """One LIST page (``limit=``, ``continue_=``, ``resourceVersion=``...)."""
        return self._call("list", resource, namespace, **_kwargs(params))

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> JSON:
        return self._call("read", resource, namespace, name)

    def create(self, resource: Resource, obj: JSON, namespace: str | None = None) -> JSON:
        return self._call("create", resource, namespace, body=obj)

    def update(self, resource: Resource, obj: JSON, namespace: str | None = None) -> JSON:
        """PUT: with ``metadata.resourceVersion`` set, a stale object gets 409 Conflict."""
        return self._call("replace", resource, namespace, obj["metadata"]["name"], body=obj)

    def patch(
        self, resource: Resource, name: str, patch: JSON, namespace: str | None = None
    ) -> JSON:
        return self._call(
            "patch",
            resource,
            namespace,
            name,
            body=patch,
            _content_type="application/merge-patch+json",
        )

    def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        preconditions: JSON | None = None,
    ) -> JSON:
        extra = {"body": {"preconditions": preconditions}} if preconditions else {}
        return self._call("delete", resource, namespace, name, **extra)

    # -- watches -----------------------------------------------------------------------------

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        read_timeout: float = 120.0,
        buffer: int = 1024,
        **params: Any,
    ) -> OfficialWatch:
        """Open a watch; returns once the answer's head is in (see the module doc)."""
        fn, lead = self.method("list", resource, namespace)
        kwargs = _kwargs(params)
        kwargs["watch"] = True
        stream = OfficialWatch(self, read_timeout, buffer)
        self._register(stream)
        try:
            stream.open(resource.plural, functools.partial(fn, *lead, **kwargs))
        except BaseException:
            stream.close()
            self._forget(stream)
            raise
        return stream

    def close(self, timeout: float = 5.0) -> None:
        """Abort the requests in flight, close every stream and wait (``timeout``) for
        their threads; close the connection pools."""
        self._close_streams(timeout)
        with self._lock:
            calls = list(self._calls)
        for call in calls:
            call.abort()
        self.api_client.close()


def _api_error(e: ApiException) -> Exception:
    headers = e.headers or {}
    body = e.body
    raw = body.encode() if isinstance(body, str) else (body or b"")
    if not e.status:  # the client's own failure (an SSL error), not an answer
        return TransportError(f"{e.reason}")
    return status_error(int(e.status), headers.get("Retry-After"), raw)


def _transport_error(what: str, e: BaseException, timeout: float, closed: bool) -> TransportError:
    if closed:
        return TransportError(f"{what}: the client is closed")
    if isinstance(e, urllib3.exceptions.ReadTimeoutError | TimeoutError) or (
        isinstance(e, urllib3.exceptions.MaxRetryError)
        and isinstance(e.reason, urllib3.exceptions.ReadTimeoutError)
    ):
        return TransportError(f"{what}: no data for {timeout:g} s (client read timeout)")
    return TransportError(f"{what}: {type(e).__name__}: {e}")


class OfficialWatch(WatchStream):
    """One watch of the official client: made and read by a thread of its own."""

    def __init__(self, client: OfficialClient, read_timeout: float, buffer: int) -> None:
        super().__init__(client, read_timeout, buffer)
        self._official = client
        self._call = _Call()
        self._opened: gochan.Chan[BaseException | None] = gochan.Chan(1)
        self._thread: threading.Thread | None = None

    def open(self, name: str, request: Callable[..., Any]) -> None:
        """Start the thread; wait (this task only) for the answer's head, or raise."""
        self._thread = threading.Thread(
            target=self._run, args=(request,), name=f"watch-{name}-{id(self):x}", daemon=True
        )
        self._thread.start()
        error = self._opened.recv()
        if error is not None:
            raise error

    def _run(self, request: Callable[..., Any]) -> None:
        client = self._official
        try:
            resp = self._call.run(
                request,
                _preload_content=False,
                _request_timeout=(client.timeout, client.header_timeout),
            )
            sock = resp.connection.sock if resp.connection is not None else None
            if sock is not None:
                sock.settimeout(self.read_timeout)  # the head is in: now each read's bound
        except BaseException as e:
            client._count_error()
            self._opened.send(self._open_error(e))
            return
        self._opened.send(None)
        try:
            self.finish(self._body(resp))
        finally:
            with contextlib.suppress(Exception):
                resp.release_conn()

    def _open_error(self, e: BaseException) -> BaseException:
        if isinstance(e, ApiException):
            return _api_error(e)
        if self.closed:
            return TransportError("WATCH: closed before the answer")
        if isinstance(e, urllib3.exceptions.HTTPError | OSError):
            if isinstance(e, urllib3.exceptions.ReadTimeoutError) or (
                isinstance(e, urllib3.exceptions.MaxRetryError)
                and isinstance(e.reason, urllib3.exceptions.ReadTimeoutError)
            ):
                t = self._official.header_timeout
                return TransportError(f"WATCH: no answer within {t:g} s (header timeout)")
            return TransportError(f"WATCH: {type(e).__name__}: {e}")
        return e

    def _body(self, resp: Any) -> BaseException | None:
        """Read the body into events; what ended it (None: its end, or closed)."""
        try:
            for chunk in resp.stream(amt=None, decode_content=False):
                if not self.deliver(chunk):
                    return None
        except StreamDecodeError as e:
            return e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            if self.closed:
                return None
            if isinstance(e, urllib3.exceptions.ReadTimeoutError):
                return TransportError(f"no data for {self.read_timeout:g} s (client read timeout)")
            # urllib3 wraps a bad chunk size line: ProtocolError("...", InvalidChunkLength)
            if any(isinstance(a, urllib3.exceptions.InvalidChunkLength) for a in (e, *e.args)):
                return StreamDecodeError(f"bad framing in the stream: {e}")
            return TransportError(f"torn stream: {e}")
        return None

    def _abort(self) -> None:
        self._call.abort()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread (from a task: through `gochan.blocking`)."""
        t = self._thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            gochan.blocking(t.join, timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


__all__ = ["OfficialClient", "OfficialWatch"]
