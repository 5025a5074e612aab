"""The field types of the kinds the server models, and a check of a body against them.

A type is ``"string"``, ``"integer"``, ``"boolean"``, ``"object"`` (any map),
a ``{"string": ...}``-valued map (``("map", t)``), a list (``("list", t)``)
or a struct (a dict of field name to type). Fields a struct does not name
are not checked (the server keeps what it does not model). ``None`` (JSON
``null``) is accepted everywhere, as Go's decoder leaves the zero value.

`type_causes` returns one ``FieldValueTypeInvalid`` cause per mismatch, its
field path spelt as ``field.Path`` spells it (``spec.containers[0].image``,
``data[key]``), so a bad value is refused with 422 ``Invalid`` before it is
stored: a stored ``"image": 5`` would break ``kubectl describe pods`` for
the whole list. Every write is checked (the burst fault's too), so the
check runs in two passes: `_ok` decides, visiting only the fields a body
sets and spelling no path; only a body it refuses is walked again for the
causes.
"""

from __future__ import annotations

import json
from typing import Any

from .status import JSON

Type = Any

S, INT, B, OBJ = "string", "integer", "boolean", "object"
STRINGS: Type = ("list", S)
STRING_MAP: Type = ("map", S)

OBJECT_META: Type = {
    "name": S,
    "generateName": S,
    "namespace": S,
    "uid": S,
    "resourceVersion": S,
    "generation": INT,
    "creationTimestamp": S,
    "deletionTimestamp": S,
    "deletionGracePeriodSeconds": INT,
    "labels": STRING_MAP,
    "annotations": STRING_MAP,
    "finalizers": STRINGS,
    "ownerReferences": (
        "list",
        {
            "apiVersion": S,
            "kind": S,
            "name": S,
            "uid": S,
            "controller": B,
            "blockOwnerDeletion": B,
        },
    ),
    "managedFields": ("list", OBJ),
}

CONTAINER: Type = {
    "name": S,
    "image": S,
    "command": STRINGS,
    "args": STRINGS,
    "workingDir": S,
    "imagePullPolicy": S,
    "terminationMessagePath": S,
    "terminationMessagePolicy": S,
    "stdin": B,
    "tty": B,
    "env": ("list", {"name": S, "value": S, "valueFrom": OBJ}),
    "ports": (
        "list",
        {"name": S, "containerPort": INT, "hostPort": INT, "protocol": S, "hostIP": S},
    ),
    "resources": {"limits": STRING_MAP, "requests": STRING_MAP},
}

POD_SPEC: Type = {
    "containers": ("list", CONTAINER),
    "initContainers": ("list", CONTAINER),
    "restartPolicy": S,
    "terminationGracePeriodSeconds": INT,
    "activeDeadlineSeconds": INT,
    "dnsPolicy": S,
    "nodeSelector": STRING_MAP,
    "serviceAccountName": S,
    "nodeName": S,
    "hostNetwork": B,
    "schedulerName": S,
    "priority": INT,
    "priorityClassName": S,
    "preemptionPolicy": S,
    "enableServiceLinks": B,
    "securityContext": OBJ,
}

CONTAINER_STATUS: Type = {
    "name": S,
    "ready": B,
    "started": B,
    "restartCount": INT,
    "image": S,
    "imageID": S,
    "containerID": S,
    "state": OBJ,
    "lastState": OBJ,
}

POD_STATUS: Type = {
    "phase": S,
    "reason": S,
    "message": S,
    "podIP": S,
    "hostIP": S,
    "nominatedNodeName": S,
    "qosClass": S,
    "startTime": S,
    "conditions": (
        "list",
        {"type": S, "status": S, "reason": S, "message": S, "lastTransitionTime": S},
    ),
    "containerStatuses": ("list", CONTAINER_STATUS),
    "initContainerStatuses": ("list", CONTAINER_STATUS),
}

POD: Type = {"metadata": OBJECT_META, "spec": POD_SPEC, "status": POD_STATUS}
CONFIGMAP: Type = {
    "metadata": OBJECT_META,
    "data": STRING_MAP,
    "binaryData": STRING_MAP,  # []byte: base64 in JSON
    "immutable": B,
}
LEASE: Type = {
    "metadata": OBJECT_META,
    "spec": {
        "holderIdentity": S,
        "leaseDurationSeconds": INT,
        "acquireTime": S,
        "renewTime": S,
        "leaseTransitions": INT,
        "strategy": S,
        "preferredHolder": S,
    },
}
NAMESPACE: Type = {
    "metadata": OBJECT_META,
    "spec": {"finalizers": STRINGS},
    "status": {"phase": S},
}
OBJECT_REFERENCE: Type = {
    "kind": S,
    "namespace": S,
    "name": S,
    "uid": S,
    "apiVersion": S,
    "resourceVersion": S,
    "fieldPath": S,
}
EVENT: Type = {
    "metadata": OBJECT_META,
    "involvedObject": OBJECT_REFERENCE,
    "reason": S,
    "message": S,
    "source": {"component": S, "host": S},
    "firstTimestamp": S,
    "lastTimestamp": S,
    "eventTime": S,
    "count": INT,
    "type": S,
    "action": S,
    "reportingComponent": S,
    "reportingInstance": S,
}

_PY = {S: str, INT: int, B: bool}
_EXPECT = {S: "string", INT: "integer", B: "boolean", OBJ: "object"}


def _show(value: Any) -> str:
    """A value as ``field.Invalid`` shows it: strings quoted, numbers bare, the rest JSON."""
    if isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"))
        return text if len(text) <= 64 else text[:61] + "..."
    return json.dumps(value)


def _type_name(t: Type) -> str:
    if isinstance(t, str):
        return _EXPECT[t]
    if isinstance(t, tuple):
        return "array" if t[0] == "list" else "object"
    return "object"


def _walk(value: Any, t: Type, path: str, out: list[tuple[str, str, str]]) -> None:
    if value is None:
        return
    ok: bool
    if isinstance(t, str):
        if t == OBJ:
            ok = isinstance(value, dict)
        elif t == INT:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, _PY[t])
    elif isinstance(t, tuple):
        ok = isinstance(value, list if t[0] == "list" else dict)
    else:
        ok = isinstance(value, dict)
    if not ok:
        out.append(
            (
                "FieldValueTypeInvalid",
                path,
                f"Invalid value: {_show(value)}: must be of type {_type_name(t)}",
            )
        )
        return
    if isinstance(t, tuple):
        if t[0] == "list":
            for i, v in enumerate(value):
                _walk(v, t[1], f"{path}[{i}]", out)
        else:
            for k, v in value.items():
                _walk(v, t[1], f"{path}[{k}]", out)
    elif isinstance(t, dict):
        for k, sub in t.items():
            if k in value:
                _walk(value[k], sub, f"{path}.{k}" if path else k, out)


def _ok(value: Any, t: Type) -> bool:
    """True if `_walk` would find nothing: the same rules, with no field path spelt
    out and the value's own fields visited rather than every field the type names
    (most bodies are valid, and set few of them)."""
    if value is None:
        return True
    if t.__class__ is str:
        if t == S:
            return isinstance(value, str)
        if t == OBJ:
            return isinstance(value, dict)
        if t == INT:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, bool)
    if t.__class__ is tuple:
        if t[0] == "list":
            if not isinstance(value, list):
                return False
            items: Any = value
        elif not isinstance(value, dict):
            return False
        else:
            items = value.values()
        sub = t[1]
        if sub is S:  # lists and maps of strings, the usual ones: no call per item
            return all(v is None or isinstance(v, str) for v in items)
        return all(_ok(v, sub) for v in items)
    if not isinstance(value, dict):
        return False
    for k, v in value.items():
        sub = t.get(k)
        if sub is None or v is None:
            continue
        if sub is S:
            if not isinstance(v, str):
                return False
        elif sub is STRING_MAP:  # labels, annotations, data: inline too
            if not isinstance(v, dict):
                return False
            for x in v.values():
                if x is not None and not isinstance(x, str):
                    return False
        elif not _ok(v, sub):
            return False
    return True


def type_causes(obj: JSON, schema: Type) -> list[tuple[str, str, str]]:
    """(reason, field, message) for every value whose JSON type the kind does not allow."""
    if _ok(obj, schema):
        return []
    out: list[tuple[str, str, str]] = []
    _walk(obj, schema, "", out)
    return out
