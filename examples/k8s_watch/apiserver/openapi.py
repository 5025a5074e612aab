"""OpenAPI v3 schemas of the kinds the server models, for ``kubectl explain``.

Derived from the field types in `schema.py` (the same ones every write is
checked against), with a short description per field: each kind is one
schema in ``components.schemas`` named as the apiserver names it
(``io.k8s.api.core.v1.Pod``), tagged with ``x-kubernetes-group-version-kind``;
its structs are inline objects. Fields the server does not model are not in
the schemas, and ``kubectl apply`` still sends them: it leaves validation to
the server, which says (in these documents' paths) that it takes
``fieldValidation``.
"""

from __future__ import annotations

import re
from typing import Any

from . import schema as sch
from .status import JSON

DESCRIPTIONS = {
    "apiVersion": "APIVersion defines the versioned schema of this representation of an object.",
    "kind": "Kind is a string value representing the REST resource this object represents.",
    "metadata": "Standard object's metadata.",
    "spec": "The desired behavior of the object.",
    "status": "The most recently observed status of the object.",
    "name": "Name of the object (or of the item), unique within its scope.",
    "namespace": "The namespace the object lives in.",
    "labels": "Map of string keys and values that can be used to organize and select objects.",
    "annotations": "Unstructured key value map stored with a resource.",
    "uid": "UID is the unique in time and space value for this object.",
    "resourceVersion": "An opaque value that represents the internal version of this object.",
    "managedFields": "Which field managers own which fields (server-side apply).",
    "containers": "List of containers belonging to the pod.",
    "initContainers": "List of initialization containers belonging to the pod.",
    "image": "Container image name.",
    "command": "Entrypoint array.",
    "args": "Arguments to the entrypoint.",
    "env": "List of environment variables to set in the container.",
    "ports": "List of ports to expose from the container.",
    "containerPort": "Number of port to expose on the pod's IP address.",
    "resources": "Compute resources required by this container.",
    "restartPolicy": "Restart policy for all containers within the pod.",
    "nodeName": "The node the pod is scheduled on.",
    "phase": "The phase of the object in its lifecycle.",
    "data": "Data contains the configuration data.",
    "binaryData": "BinaryData contains the binary data (base64 in JSON).",
    "immutable": "If true, the data cannot be updated.",
    "holderIdentity": "The identity of the holder of the current lease.",
    "leaseDurationSeconds": "How long candidates wait before they may take the lease.",
    "renewTime": "When the current holder last renewed the lease.",
    "finalizers": "Must be empty before the object is deleted from the registry.",
    "involvedObject": "The object this event is about.",
    "reason": "A short, machine understandable string.",
    "message": "A human-readable description.",
}
_SCALARS: dict[str, JSON] = {
    sch.S: {"type": "string"},
    sch.INT: {"type": "integer", "format": "int64"},
    sch.B: {"type": "boolean"},
    sch.OBJ: {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
}


def _words(field: str) -> str:
    """``imagePullPolicy`` -> ``Image pull policy.`` (a field without a description)."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", field).lower()
    return words[:1].upper() + words[1:] + "."


def to_schema(t: Any, field: str = "") -> JSON:
    """A `schema.py` type as an OpenAPI v3 schema."""
    if isinstance(t, str):
        out: JSON = dict(_SCALARS[t])
    elif isinstance(t, tuple):
        key = "items" if t[0] == "list" else "additionalProperties"
        out = {"type": "array" if t[0] == "list" else "object", key: to_schema(t[1])}
    else:
        out = {"type": "object", "properties": {k: to_schema(v, k) for k, v in t.items()}}
    if field:
        out["description"] = DESCRIPTIONS.get(field) or _words(field)
    return out


def kind_schema(kind: str, group: str, version: str, t: Any) -> tuple[str, JSON]:
    """A kind's schema and its component name (``io.k8s.api.core.v1.Pod``)."""
    prefix = f"io.k8s.api.{group.split('.')[0] if group else 'core'}.{version}"
    out = to_schema(t)
    out["description"] = f"{kind}, as the embedded apiserver models it."
    out["properties"] = {
        "apiVersion": {"type": "string", "description": DESCRIPTIONS["apiVersion"]},
        "kind": {"type": "string", "description": DESCRIPTIONS["kind"]},
        **out["properties"],
    }
    out["x-kubernetes-group-version-kind"] = [{"group": group, "kind": kind, "version": version}]
    return f"{prefix}.{kind}", out
