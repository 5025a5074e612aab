"""The Kubernetes REST client on the official ``kubernetes`` package, for green tasks.

The same face as `transport.Client` (list, get, create, update, patch,
delete, watch, close), so the reflector, the reconciler and the lease lock
take either, but every call goes through the official client's generated
APIs: ``CoreV1Api`` for pods and configmaps, ``CoordinationV1Api`` for
leases (``list_namespaced_pod``, ``replace_namespaced_config_map``,
``read_namespaced_lease``...), with its configuration, authentication and
TLS (``kubernetes.config.load_kube_config`` / ``load_incluster_config``,
exec plugins included).

* Every call passes ``_preload_content=False`` and decodes the body with
  ``json.loads`` into plain dicts: the typed models cost about 12x more per
  object and the reflector wants dicts anyway.
* Every call passes ``_request_timeout=(connect, read)``: a client-side
  read timeout is always set.
* Calls block (urllib3), so each one runs in `gochan.blocking`: the green
  task that asks parks, a pool thread waits on the socket.
* A WATCH is the same list call with ``watch=True``, read by a thread of its
  own (off the scheduler's thread and outside the blocking pool, so a busy
  worker pool cannot delay a watch), which decodes each line into a dict
  event and sends it into a gochan channel (`OfficialWatchStream.events`).
  ``watch.Watch().stream`` is not used: it retries a 410 once with the same
  expired resourceVersion instead of letting the reflector relist, and with
  ``deserialize=False`` it fails with ``KeyError: 'raw_object'`` on the
  ``ERROR`` event that carries a 410.

Errors map onto `transport`'s: an ``ApiException`` becomes `APIStatusError`
(code, reason, ``Retry-After``), a urllib3 failure becomes `TransportError`
(a read timeout says "client read timeout"), and a stream cut inside a
chunk or an event, or a line that is not JSON, ends the stream with
`StreamDecodeError`.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

import gochan

from .transport import (
    JSON,
    APIStatusError,
    ClientStats,
    Resource,
    StreamDecodeError,
    StreamEnd,
    StreamRegistry,
    ThreadStream,
    TransportError,
    _status_error,
    decode_event,
    loads_json,
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


class OfficialClient(StreamRegistry["OfficialWatchStream"]):
    """A Kubernetes REST client over the official package's generated APIs.

    ``timeout`` is the connect and read timeout of every request; a watch
    has its own ``read_timeout``. ``pool_size`` is urllib3's connection pool
    (the official default, 4, would make most of the workers' requests wait
    for a connection).
    """

    def __init__(
        self,
        configuration: k8s.Configuration,
        *,
        timeout: float = 10.0,
        pool_size: int = 64,
    ) -> None:
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
        self.url = configuration.host.rstrip("/")
        self.timeout = timeout
        self.api_client = k8s.ApiClient(configuration)
        self.core = k8s.CoreV1Api(self.api_client)
        self.coordination = k8s.CoordinationV1Api(self.api_client)
        self.stats = ClientStats()
        self._lock = threading.Lock()
        self._streams: set[OfficialWatchStream] = set()
        self._closed = False

    @classmethod
    def for_server(
        cls, url: str, *, token: str | None = None, timeout: float = 10.0, pool_size: int = 64
    ) -> OfficialClient:
        """A client for ``url`` with an optional bearer token (the embedded apiserver)."""
        cfg = k8s.Configuration()
        cfg.host = url.rstrip("/")
        if token:
            cfg.api_key = {"authorization": token}
            cfg.api_key_prefix = {"authorization": "Bearer"}
        return cls(cfg, timeout=timeout, pool_size=pool_size)

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | None = None,
        context: str | None = None,
        *,
        timeout: float = 10.0,
        pool_size: int = 64,
    ) -> OfficialClient:
        """The official ``load_kube_config`` (exec and auth plugins included)."""
        from kubernetes import config

        cfg = k8s.Configuration()
        config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
        return cls(cfg, timeout=timeout, pool_size=pool_size)

    @classmethod
    def in_cluster(cls, *, timeout: float = 10.0, pool_size: int = 64) -> OfficialClient:
        """The official ``load_incluster_config`` (the pod's service account)."""
        from kubernetes import config

        cfg = k8s.Configuration()
        config.load_incluster_config(client_configuration=cfg)
        return cls(cfg, timeout=timeout, pool_size=pool_size)

    def __repr__(self) -> str:
        return f"<OfficialClient {self.url} streams={len(self._streams)}>"

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
        with self._lock:
            self.stats.requests += 1
            self.stats.by_verb[verb] = self.stats.by_verb.get(verb, 0) + 1
        try:
            resp = fn(
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
            raise _transport_error(f"{verb} {fn.__name__}", e, self.timeout) from e
        try:
            answer = loads_json(raw) if raw else {}
        except ValueError as e:
            raise TransportError(f"{fn.__name__}: bad JSON in the answer: {e}") from e
        if not isinstance(answer, dict):
            raise TransportError(f"{fn.__name__}: the answer is not an object")
        return answer

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
    ) -> OfficialWatchStream:
        """Open a watch; returns at once, its thread connects and reads."""
        fn, lead = self.method("list", resource, namespace)
        kwargs = _kwargs(params)
        kwargs["watch"] = True
        stream = self._register(
            OfficialWatchStream(self, fn, lead, kwargs, read_timeout, buffer, resource.plural)
        )
        stream.start()
        return stream

    def close(self, timeout: float = 5.0) -> None:
        """Close every stream, wait for their threads, close the connection pools."""
        with self._lock:
            self._closed = True
            streams = list(self._streams)
        for s in streams:
            s.close()
        for s in streams:
            s.join(timeout)
        self.api_client.close()


def _api_error(e: ApiException) -> APIStatusError:
    headers = e.headers or {}
    body = e.body
    raw = body.encode() if isinstance(body, str) else (body or b"")
    return _status_error(int(e.status or 500), headers.get("Retry-After"), raw)


def _transport_error(what: str, e: BaseException, read_timeout: float) -> TransportError:
    if isinstance(e, urllib3.exceptions.ReadTimeoutError | TimeoutError) or (
        isinstance(e, urllib3.exceptions.MaxRetryError)
        and isinstance(e.reason, urllib3.exceptions.ReadTimeoutError)
    ):
        return TransportError(f"{what}: no data for {read_timeout:g} s (client read timeout)")
    return TransportError(f"{what}: {type(e).__name__}: {e}")


class OfficialWatchStream(ThreadStream):
    """One watch response of the official client, read by its own thread into ``events``.

    ``events`` carries each event as a dict (``{"type", "object"}``) and then
    one `StreamEnd`, after which the thread closes the channel and ends.
    `close()` may be called from any thread at any time, without blocking.
    """

    def __init__(
        self,
        client: OfficialClient,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        read_timeout: float,
        buffer: int,
        name: str,
    ) -> None:
        super().__init__(client, read_timeout, buffer, name)
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._resp: Any = None

    def _lines(self, resp: Any) -> Iterator[bytes]:
        """The body's lines (urllib3 decodes the chunks and raises on a cut one)."""
        pending = b""
        for chunk in resp.stream(amt=None, decode_content=False):
            pending = pending + chunk if pending else chunk
            if b"\n" not in pending:
                continue
            *lines, pending = pending.split(b"\n")
            yield from lines
        if pending.strip():
            raise StreamDecodeError(f"stream ended inside an event: {pending!r:.80}")

    def _read(self) -> None:
        end = StreamEnd()
        client = self._client
        try:
            try:
                try:
                    resp = self._fn(
                        *self._args,
                        _preload_content=False,
                        _request_timeout=(client.timeout, self.read_timeout),
                        **self._kwargs,
                    )
                except ApiException as e:
                    client._count_error()
                    raise _api_error(e) from None
                with self._lock:  # close() either sees the response or we see the flag
                    self._resp = resp
                    if self._closed:
                        return
                for line in self._lines(resp):
                    if (event := decode_event(line)) is None:
                        continue
                    self.received += 1
                    if not self._hand_over(event):
                        return
            except (StreamDecodeError, APIStatusError, TransportError) as e:
                end = StreamEnd(e)
            except urllib3.exceptions.ProtocolError as e:
                if self._closed:
                    return
                end = StreamEnd(StreamDecodeError(f"torn stream: {e}"))
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as e:
                if self._closed:
                    return
                end = StreamEnd(_transport_error("WATCH", e, self.read_timeout))
            if not self._closed:
                self._hand_over(end)
        finally:
            resp = self._resp
            if resp is not None:
                with contextlib.suppress(Exception):
                    resp.close()
                    resp.release_conn()
            self.events.close()
            client._forget(self)

    def close(self) -> None:
        """Stop reading (from any thread, without blocking)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            resp = self._resp
        self._stop.close()
        if resp is not None:
            with contextlib.suppress(Exception):
                resp.shutdown()  # urllib3 2.3+: SHUT_RD wakes the reader's recv


__all__ = ["OfficialClient", "OfficialWatchStream"]
