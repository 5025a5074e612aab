"""The REST layer: route a request, check it, run it against the store.

`handle` answers everything except the stream itself, without waiting: it
returns a `Response`, a `WatchPlan` (the connection turns it into a
`Watcher`), `HOLD` (an injected "accept and never answer") or, for the few
requests that must wait on the loop (a fault action, a list at a
resourceVersion the store has not reached yet), a `Later` that `finish`
calls (in the connection's task). Every failure is an `APIError` rendered as a ``Status``; an
unexpected exception becomes a 500 ``InternalError`` Status, so a bad
request never kills a connection.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import apply as ssa
from . import faults as flt
from . import params
from . import patch as patches
from . import resources as res
from . import status as st
from .resources import Resource, rfc3339
from .selectors import SelectorError, parse_field_selector, parse_label_selector
from .sharding import ShardSelectorError, parse_shard_selector
from .status import JSON, APIError
from .store import dumps, parse_rv, with_kind
from .watch import WatchPlan
from .wire import Request

if TYPE_CHECKING:
    from .core import ServerCore
    from .server import APIServer

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass
class Response:
    code: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    after: Callable[[], None] | None = None  # run (in a task of its own) once the answer is out
    stall: bool = False  # an injected fault: send the headers, hold the body back


class _Hold:
    """An injected fault: read the request, never answer it."""


HOLD = _Hold()


@dataclass
class Later:
    """The answer has to wait (in the connection's task): `finish` calls ``run()`` (errors
    mapped as by `handle`)."""

    run: Callable[[], Response]


Result = Response | WatchPlan | _Hold | Later


def json_response(obj: Any, code: int = 200) -> Response:
    return Response(code, dumps(obj))


def error_response(err: APIError) -> Response:
    headers = []
    if err.retry_after:
        headers.append(("Retry-After", str(err.retry_after)))
    return Response(err.code, dumps(err.status), headers=headers)


def text_response(text: str, code: int = 200) -> Response:
    return Response(code, text.encode(), "text/plain; charset=utf-8")


# ---- rendering -----------------------------------------------------------------------------


def list_bytes(
    resource: Resource,
    items: list[bytes],
    rv: int,
    cont: str,
    remaining: int | None,
    shard_selector: str = "",
) -> bytes:
    meta: JSON = {"resourceVersion": str(rv)}
    if cont:
        meta["continue"] = cont
    if remaining:
        meta["remainingItemCount"] = remaining
    if shard_selector:  # meta/v1 ShardInfo: the list is a filtered subset
        meta["shardInfo"] = {"selector": shard_selector}
    head = (
        f'{{"kind":"{resource.kind}List","apiVersion":"{resource.api_version}","metadata":'.encode()
        + dumps(meta)
        + b',"items":['
    )
    return head + b",".join(items) + b"]}"


def make_table(
    resource: Resource,
    objects: list[JSON],
    meta: JSON | None,
    api_version: str,
    now: float,
    include_object: str = "Metadata",
) -> JSON:
    rows = []
    for obj in objects:
        row: JSON = {"cells": resource.row(obj, now)}
        if include_object == "Object":
            row["object"] = {"kind": resource.kind, "apiVersion": resource.api_version, **obj}
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata", {}),
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": meta or {},
        "columnDefinitions": resource.columns,
        "rows": rows,
    }


# ---- routing -------------------------------------------------------------------------------


@dataclass
class Route:
    resource: Resource
    namespace: str | None  # None: all namespaces
    name: str | None
    subresource: str
    force_watch: bool


def _route(path: str) -> Route | JSON | None:
    """A resource route, a discovery document, or None (404)."""
    parts = [p for p in path.split("/") if p]
    if parts[0] == "api":
        if len(parts) == 1:
            return {}  # /api: filled in by the caller (needs the address)
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) == 1:
            return res.api_group_list()
        group = parts[1]
        if len(parts) == 2:
            return res.api_group(group)
        version, rest = parts[2], parts[3:]
    if (group, version) not in res.BY_GROUP_VERSION:
        return None
    if not rest:
        return res.api_resource_list(group, version)
    force_watch = rest[0] == "watch"
    if force_watch:
        rest = rest[1:]
    if not rest:
        return None
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource = res.lookup(group, version, rest[0])
    if resource is None:
        return None
    if not resource.namespaced:  # /api/v1/namespaces[/{name}]: no subresources modelled
        if namespace is not None or len(rest) > 2:
            return None
        return Route(resource, "", rest[1] if len(rest) > 1 else None, "", force_watch)
    if len(rest) > 3 or (namespace is None and len(rest) > 1):
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    if sub and (sub != "status" or not resource.has_status or force_watch):
        return None
    return Route(resource, namespace, name, sub, force_watch)


def handle(server: APIServer, req: Request) -> Result:
    """The answer to ``req``, at once; a `Later` if it has to wait (see `finish`)."""
    try:
        return _handle(server, req)
    except Exception as e:
        return _failed(server, e)


def finish(server: ServerCore, later: Later) -> Response:
    """Wait for a `Later` answer; failures become a ``Status`` as in `handle`."""
    try:
        return later.run()
    except Exception as e:
        return _failed(server, e)


def _failed(server: ServerCore, e: Exception) -> Response:
    if isinstance(e, APIError):
        return error_response(e)
    if isinstance(e, (SelectorError, ShardSelectorError)):
        return error_response(st.bad_request(str(e)))
    if isinstance(e, RecursionError):  # a body the decoder took, nested too deep for the rest
        return error_response(st.bad_request("the object is nested too deeply: exceeded max depth"))
    server.counters["internal_errors"] += 1  # a bug: never let it kill the connection
    return error_response(st.internal(f"{type(e).__name__}: {e}"))


def _handle(server: APIServer, req: Request) -> Result:
    path = req.path
    if len(path) > 1:
        path = path.rstrip("/")
    method = req.method
    server.counters["requests"] += 1
    if path.startswith(("/api/", "/apis/")) or path in ("/api", "/apis"):  # the usual, first
        route = _route(path)
        if route is None:
            raise st.path_not_found()
        if not isinstance(route, Route):
            if method != "GET":
                raise st.method_not_allowed()
            if path == "/api":
                return json_response(res.api_versions(f"{server.host}:{server.port}"))
            params.negotiate(req.header("accept"))
            return json_response(route)
        return _resource(server, req, route)
    if path in ("/healthz", "/livez", "/readyz") or path.startswith(
        ("/healthz/", "/livez/", "/readyz/")
    ):
        if method not in ("GET", "HEAD"):
            raise st.method_not_allowed()
        return text_response("ok")
    if path == "/version":
        if method != "GET":
            raise st.method_not_allowed()
        return json_response(res.VERSION_INFO)
    if path.startswith("/debug/"):
        return _debug(server, req, path)
    if path == "/openapi/v3" or path.startswith("/openapi/v3/"):
        if method != "GET":
            raise st.method_not_allowed()
        doc = (
            res.openapi_v3_root()
            if path == "/openapi/v3"
            else res.openapi_v3_doc(path[len("/openapi/v3/") :])
        )
        if doc is None:
            raise st.path_not_found()
        return json_response(doc)
    raise st.path_not_found()


def _fault_action(server: APIServer, body: Any) -> Later:
    def run() -> Response:
        return json_response(flt.dispatch(server, body))

    return Later(run)


def _debug(server: APIServer, req: Request, path: str) -> Result:
    if path == "/debug/faults":
        if req.method == "GET":
            return json_response(server.faults.describe())
        if req.method == "DELETE":
            return _fault_action(server, {"action": "clear"})
        if req.method == "POST":
            body = params.json_body(req)
            if isinstance(body, dict) and body.get("action") == "restart":
                try:
                    args = flt.restart_args(body)
                except ValueError as e:
                    raise st.bad_request(str(e)) from None
                return Response(
                    200,
                    dumps({"action": "restart", "result": None}),
                    headers=[("Connection", "close")],
                    after=lambda: server.restart_green(**args),
                )
            return _fault_action(server, body)
        raise st.method_not_allowed()
    if path == "/debug/stats":
        if req.method != "GET":
            raise st.method_not_allowed()
        return json_response(server.stats())
    raise st.path_not_found()


_REQUEST_FAULTS = frozenset({"never_answer", "http_error", "stall"})
_SUB_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch"}
_NAMED_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_ALL_NS_VERBS = {"GET": "list"}
_NS_VERBS = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}
_CLUSTER_VERBS = {"GET": "list", "POST": "create"}  # namespaces: no deletecollection


def _verb(method: str, route: Route, watch: bool) -> str:
    if route.subresource:
        verbs = _SUB_VERBS
    elif route.name is not None:
        verbs = _NAMED_VERBS
    elif route.namespace is None:
        verbs = _ALL_NS_VERBS
    elif not route.resource.namespaced:
        verbs = _CLUSTER_VERBS
    else:
        verbs = _NS_VERBS
    verb = verbs.get(method)
    if verb is None:
        raise st.method_not_allowed()
    if watch and method == "GET" and not route.subresource:
        return "watch"
    return verb


def _resource(server: APIServer, req: Request, route: Route) -> Result:
    resource = route.resource
    ns = route.namespace
    if ns and not _DNS_LABEL.match(ns):
        raise st.not_found("namespaces", ns)
    watch = route.force_watch or (
        req.method == "GET" and bool(req.query) and bool(params.bool_param(req, "watch"))
    )
    verb = _verb(req.method, route, watch)
    table = params.negotiate(req.header("accept")) if req.method == "GET" else None
    fault = server.faults.take(verb, resource.plural, _REQUEST_FAULTS)
    if fault is not None and fault.kind == "never_answer":
        return HOLD
    if fault is not None and fault.kind == "http_error":
        raise st.http_error(fault.code, fault.retry_after)
    stall = fault is not None and fault.kind == "stall"
    force_conflict = verb in flt.WRITE_VERBS and (
        server.faults.take(verb, resource.plural, frozenset({"conflict"})) is not None
    )
    server.counters[f"verb_{verb}"] += 1
    plural = f"{resource.plural}/{route.subresource}" if route.subresource else resource.plural
    server.audit[(resource.group, plural, verb)] += 1
    store = server.store
    if verb in ("list", "watch"):
        opts = params.list_options(req, watch)
        labels = parse_label_selector(opts.label_selector)
        field_sel = opts.field_selector
        if route.name is not None:
            field_sel = f"metadata.name={route.name}" + (f",{field_sel}" if field_sel else "")
        fields = parse_field_selector(field_sel, resource.supports_field)
        shard = parse_shard_selector(opts.shard_selector)
        rv = parse_rv(opts.rv) if opts.rv else None
        if verb == "watch":
            return WatchPlan(
                resource=resource,
                namespace=ns,
                labels=labels,
                fields=fields,
                shard=shard,
                rv=None if rv == 0 and opts.send_initial is None else rv,
                send_initial=opts.send_initial,
                bookmarks=opts.bookmarks,
                timeout=float(opts.timeout)
                if opts.timeout is not None and opts.timeout > 0
                else None,
                table=table,
                stall=stall,
            )
        if opts.cont and opts.rv:
            raise st.bad_request("specifying resource version is not allowed when using continue")
        exact = opts.rv_match == "Exact"

        def listed() -> Response:
            result = store.list_page(
                resource,
                ns,
                labels=labels,
                fields=fields,
                shard=shard,
                limit=opts.limit,
                continue_token=opts.cont,
                rv=rv,
                exact=exact,
            )
            response: Response
            if table is not None:
                meta: JSON = {"resourceVersion": str(result.rv)}
                if result.continue_token:
                    meta["continue"] = result.continue_token
                if result.remaining:
                    meta["remainingItemCount"] = result.remaining
                if not shard.empty:
                    meta["shardInfo"] = {"selector": shard.text}
                response = json_response(
                    make_table(
                        resource,
                        result.objects,
                        meta,
                        table,
                        server.clock.now(),
                        req.param("includeObject") or "Metadata",
                    )
                )
            else:
                response = Response(
                    200,
                    list_bytes(
                        resource,
                        result.items,
                        result.rv,
                        result.continue_token,
                        result.remaining,
                        shard.text,
                    ),
                )
            response.stall = stall
            return response

        if rv and rv > store.rv:  # a revision not reached yet: wait a little for it
            wanted = rv

            def when_reached() -> Response:
                if not server.wait_for_rv(wanted):
                    raise st.too_large_rv(wanted, store.rv)
                return listed()

            return Later(when_reached)
        return listed()
    assert ns is not None or verb == "get"
    if verb == "get":
        if ns is None or route.name is None:
            raise st.method_not_allowed()
        if table is not None:
            obj = store.get(resource, ns, route.name)
            return json_response(
                make_table(
                    resource,
                    [obj],
                    {"resourceVersion": obj["metadata"]["resourceVersion"]},
                    table,
                    server.clock.now(),
                    req.param("includeObject") or "Metadata",
                )
            )
        return Response(200, store.get_json(resource, ns, route.name))
    assert ns is not None
    if verb == "create":
        dry = params.dry_run(req, verb)
        body = params.object_body(req, resource, ns)
        obj = store.create(resource, ns, body, dry_run=dry)
        return Response(201, with_kind(resource, dumps(obj)))
    if verb == "deletecollection":
        opts = params.list_options(req, False)
        labels = parse_label_selector(opts.label_selector)
        fields = parse_field_selector(opts.field_selector, resource.supports_field)
        dry = params.dry_run(req, verb, params.json_body(req, allow_empty=True))
        deleted = store.delete_collection(resource, ns, labels, fields, dry_run=dry)
        return Response(200, list_bytes(resource, [dumps(o) for o in deleted], store.rv, "", None))
    assert route.name is not None
    name = route.name
    if verb == "update":
        dry = params.dry_run(req, verb)
        body = params.object_body(req, resource, ns)
        obj = store.update(
            resource,
            ns,
            name,
            body,
            subresource=route.subresource,
            force_conflict=force_conflict,
            dry_run=dry,
            manager=ssa.manager_of(req),
        )
        return Response(200, with_kind(resource, dumps(obj)))
    if verb == "patch":
        dry = params.dry_run(req, verb)
        ctype = req.header("content-type").split(";")[0].strip().lower()
        if ctype == ssa.MEDIA_TYPE and not route.subresource:  # server-side apply (apply.py)
            config, manager, force = ssa.parse(req, resource.api_version, resource.kind, name)
            now = rfc3339(server.clock.now())
            obj, created = store.server_side_apply(
                resource,
                ns,
                name,
                lambda live: ssa.apply(
                    live,
                    config,
                    manager=manager,
                    api_version=resource.api_version,
                    force=force,
                    now=now,
                    has_status=resource.has_status,
                ),
                force_conflict=force_conflict,
                dry_run=dry,
            )
            return Response(201 if created else 200, with_kind(resource, dumps(obj)))
        if ctype not in patches.ACCEPTED:
            raise st.unsupported_media_type(patches.ACCEPTED)
        try:
            patch_body = params.decode_json(req.body) if req.body.strip() else None
        except ValueError as e:
            raise st.bad_request(f"error decoding patch: {e}") from None
        if patch_body is None:
            raise st.bad_request("the body of the request was empty")
        obj = store.patch(
            resource,
            ns,
            name,
            ctype,
            patch_body,
            subresource=route.subresource,
            force_conflict=force_conflict,
            dry_run=dry,
            manager=ssa.manager_of(req),
        )
        return Response(200, with_kind(resource, dumps(obj)))
    if verb == "delete":
        options = params.json_body(req, allow_empty=True) or {}
        if not isinstance(options, dict):
            raise st.bad_request("the body must be a DeleteOptions object")
        pre = options.get("preconditions") or {}
        if not isinstance(pre, dict):
            raise st.bad_request("preconditions must be an object")
        dry = params.dry_run(req, verb, options)
        obj = store.delete(
            resource,
            ns,
            name,
            uid=pre.get("uid"),
            resource_version=pre.get("resourceVersion"),
            force_conflict=force_conflict,
            dry_run=dry,
        )
        if resource.return_deleted_object:
            return Response(200, with_kind(resource, dumps(obj)))
        details = {"name": name, "kind": resource.plural, "uid": obj["metadata"].get("uid")}
        if resource.group:
            details["group"] = resource.group
        return json_response(st.status(200, "", "", details, success=True))
    raise st.method_not_allowed()  # pragma: no cover
