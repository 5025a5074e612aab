"""What a request asks for: content negotiation, list/watch options, bodies.

Parsing and checking only, with the real server's answers for bad input:
400 ``BadRequest`` for unparsable parameters and bodies, 422 ``Invalid``
(kind ``ListOptions``) for option combinations the apiserver forbids, 406
and 415 for media types it does not speak.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import status as st
from .resources import Resource
from .status import JSON, APIError
from .wire import Request

# ---- content negotiation ------------------------------------------------------------------


def negotiate(accept: str) -> str | None:
    """None for plain JSON, or the Table apiVersion kubectl asked for; 406 otherwise."""
    if accept in ("application/json", "*/*") or not accept.strip():
        return None
    for entry in accept.split(","):
        parts = [p.strip() for p in entry.split(";")]
        media = parts[0].lower()
        params = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            params[k.strip().lower()] = v.strip()
        if media in ("application/json", "*/*", "application/*"):
            as_ = params.get("as")
            if as_ is None:
                return None
            if (
                as_ == "Table"
                and params.get("g") == "meta.k8s.io"
                and params.get("v")
                in (
                    "v1",
                    "v1beta1",
                )
            ):
                return f"meta.k8s.io/{params['v']}"
    raise st.not_acceptable(["application/json", "application/yaml"])


# ---- query options ------------------------------------------------------------------------


def bool_param(req: Request, name: str) -> bool | None:
    value = req.param(name)
    if value is None:
        return None
    if value.lower() in ("1", "true", "t", ""):
        return True
    if value.lower() in ("0", "false", "f"):
        return False
    raise st.bad_request(f'invalid boolean value "{value}" for {name}')


def _int_param(req: Request, name: str) -> int | None:
    value = req.param(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise st.bad_request(
            f'strconv.ParseInt: parsing "{value}": invalid syntax ({name})'
        ) from None


def _list_options_invalid(causes: list[tuple[str, str, str]]) -> APIError:
    return st.invalid("ListOptions", "", "meta.k8s.io", causes)


@dataclass
class ListOptions:
    watch: bool
    rv: str
    rv_match: str
    timeout: int | None
    limit: int
    cont: str
    label_selector: str
    field_selector: str
    bookmarks: bool
    send_initial: bool | None
    shard_selector: str = ""


def list_options(req: Request, force_watch: bool) -> ListOptions:
    o = ListOptions(
        watch=force_watch or bool(bool_param(req, "watch")),
        rv=req.param("resourceVersion") or "",
        rv_match=req.param("resourceVersionMatch") or "",
        timeout=_int_param(req, "timeoutSeconds"),
        limit=max(0, _int_param(req, "limit") or 0),
        cont=req.param("continue") or "",
        label_selector=req.param("labelSelector") or "",
        field_selector=req.param("fieldSelector") or "",
        bookmarks=bool(bool_param(req, "allowWatchBookmarks")),
        send_initial=bool_param(req, "sendInitialEvents"),
        shard_selector=req.param("shardSelector") or "",
    )
    causes: list[tuple[str, str, str]] = []
    not_older, exact = "NotOlderThan", "Exact"
    if o.watch:
        if o.send_initial is not None and o.rv_match != not_older:
            causes.append(
                (
                    "FieldValueForbidden",
                    "resourceVersionMatch",
                    "Forbidden: sendInitialEvents requires setting resourceVersionMatch to "
                    + not_older,
                )
            )
        if o.rv_match:
            if o.send_initial is None:
                causes.append(
                    (
                        "FieldValueForbidden",
                        "resourceVersionMatch",
                        "Forbidden: resourceVersionMatch is forbidden for watch unless "
                        "sendInitialEvents is provided",
                    )
                )
            if o.rv_match != not_older:
                causes.append(
                    (
                        "FieldValueNotSupported",
                        "resourceVersionMatch",
                        f'Unsupported value: "{o.rv_match}": supported values: "{not_older}"',
                    )
                )
    else:
        if o.rv_match:
            if not o.rv:
                causes.append(
                    (
                        "FieldValueForbidden",
                        "resourceVersionMatch",
                        "Forbidden: resourceVersionMatch is forbidden unless resourceVersion "
                        "is provided",
                    )
                )
            if o.cont:
                causes.append(
                    (
                        "FieldValueForbidden",
                        "resourceVersionMatch",
                        "Forbidden: resourceVersionMatch is forbidden when continue is provided",
                    )
                )
            if o.rv_match not in (exact, not_older):
                causes.append(
                    (
                        "FieldValueNotSupported",
                        "resourceVersionMatch",
                        f'Unsupported value: "{o.rv_match}": supported values: "{exact}", '
                        f'"{not_older}", ""',
                    )
                )
            if o.rv_match == exact and o.rv == "0":
                causes.append(
                    (
                        "FieldValueForbidden",
                        "resourceVersionMatch",
                        'Forbidden: resourceVersionMatch "exact" is forbidden for '
                        'resourceVersion "0"',
                    )
                )
        if o.send_initial is not None:
            causes.append(
                (
                    "FieldValueForbidden",
                    "sendInitialEvents",
                    "Forbidden: sendInitialEvents is forbidden for list",
                )
            )
    if causes:
        raise _list_options_invalid(causes)
    return o


# ---- bodies --------------------------------------------------------------------------------


def json_body(req: Request, allow_empty: bool = False) -> Any:
    ctype = req.header("content-type").split(";")[0].strip().lower()
    if ctype and ctype not in ("application/json", "*/*"):
        raise st.unsupported_media_type(["application/json"])
    if not req.body.strip():
        if allow_empty:
            return None
        raise st.bad_request("the body of the request was empty")
    try:
        return decode_json(req.body)
    except ValueError as e:
        raise st.bad_request(f"couldn't get version/kind; json parse error: {e}") from None


def decode_json(body: bytes) -> Any:
    """``json.loads``, with what it cannot take as a ``ValueError`` (a 400 for the caller):
    bad JSON, bad UTF-8, and nesting deeper than the decoder can recurse (Go's decoder
    stops at 10,000 levels with "exceeded max depth"; Python's recursion limit comes
    first, and its ``RecursionError`` must not become a 500)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("exceeded max depth") from None
    except UnicodeDecodeError as e:
        raise ValueError(str(e)) from None


PROTOBUF = "application/vnd.kubernetes.protobuf"


def _protobuf_body(req: Request, resource: Resource) -> JSON:
    """A protobuf body (kubectl's typed generators send one) as JSON (`protobuf.py`)."""
    try:
        from . import protobuf  # the protobuf package: only needed for these bodies
    except ImportError:  # pragma: no cover - protobuf is in the dev extra
        raise st.unsupported_media_type(["application/json"]) from None
    if resource.kind not in protobuf.KINDS:
        raise st.unsupported_media_type(["application/json"])
    return protobuf.decode(req.body, resource.kind)


def object_body(req: Request, resource: Resource, namespace: str) -> JSON:
    ctype = req.header("content-type").split(";")[0].strip().lower()
    body = _protobuf_body(req, resource) if ctype == PROTOBUF else json_body(req)
    if not isinstance(body, dict):
        raise st.bad_request(
            "couldn't get version/kind; json parse error: json: cannot unmarshal "
            f"{type(body).__name__} into Go value of type struct"
        )
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind is not None and kind != resource.kind:
        raise st.bad_request(
            f"the kind of the object in the body ({kind}) does not match the kind of the "
            f"resource ({resource.kind})"
        )
    if api_version is not None and api_version != resource.api_version:
        raise st.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({resource.api_version})"
        )
    md = body.get("metadata")
    if md is not None and not isinstance(md, dict):
        raise st.bad_request("metadata must be an object")
    body_ns = (md or {}).get("namespace")
    # A non-string is a 422 later; a cluster-scoped object's namespace is cleared.
    if body_ns and isinstance(body_ns, str) and resource.namespaced and body_ns != namespace:
        raise st.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    return body


# ---- dryRun --------------------------------------------------------------------------------

_OPTIONS_KIND = {
    "create": "CreateOptions",
    "update": "UpdateOptions",
    "patch": "PatchOptions",
    "delete": "DeleteOptions",
    "deletecollection": "DeleteOptions",
}


def _go_strings(values: list[str]) -> str:
    """A ``[]string`` as Go's ``%#v`` prints it (field.NotSupported's value)."""
    return "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"


def dry_run(req: Request, verb: str, options: Any = None) -> bool:
    """Whether a write is a dry run: ``dryRun=All`` in the query (or, for deletes, in the
    DeleteOptions body, which wins as in the real handler). Any other value is refused
    with 400 ``BadRequest`` (issue 21): a ``Status`` naming the value and the one
    supported, with ``ValidateDryRun``'s cause in its details."""
    values: Any = req.query.get("dryRun") or []
    if isinstance(options, dict) and options.get("dryRun") is not None:
        values = options["dryRun"]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise st.bad_request(
                "json: cannot unmarshal into Go struct field DeleteOptions.dryRun of type []string"
            )
    if all(v == "All" for v in values):
        return bool(values)
    message = f'Unsupported value: {_go_strings(values)}: supported values: "All"'
    details: JSON = {
        "group": "meta.k8s.io",
        "kind": _OPTIONS_KIND[verb],
        "causes": [{"reason": "FieldValueNotSupported", "message": message, "field": "dryRun"}],
    }
    raise APIError(st.status(400, "BadRequest", f"invalid dryRun: {message}", details))
