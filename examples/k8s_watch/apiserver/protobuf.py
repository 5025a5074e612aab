"""Protobuf request bodies (``application/vnd.kubernetes.protobuf``), decoded to JSON.

kubectl's typed generators (``kubectl create configmap x --from-literal=a=b``,
``kubectl create namespace x``) always send protobuf. The wire format is
Kubernetes' envelope: the 4 bytes ``k8s\\x00``, then a ``runtime.Unknown``
whose ``typeMeta`` names the kind and whose ``raw`` holds the object.

The message types are built at import with the ``protobuf`` package's
descriptor API (`_FILE`, `message_factory`), with the field numbers of
k8s.io/api's and apimachinery's ``generated.proto`` for the kinds the server
models in protobuf: ConfigMap, Namespace, Lease and Event (core/v1), with
ObjectMeta. `decode` turns a body into the JSON-shaped dict the JSON path
takes (Go's ``omitempty`` applied, times in RFC 3339), so every check after
decoding is the same. A body that is not a protobuf envelope, does not parse,
or sets a field the server does not decode (it would be lost) is a 400
``BadRequest`` naming what is wrong; a kind without a message type here
(pods: kubectl sends them as JSON) is a 415.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory
from google.protobuf.unknown_fields import UnknownFieldSet

from . import status as st
from .status import JSON

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_FDP = descriptor_pb2.FieldDescriptorProto
_STR, _I32, _I64, _BOOL, _BYTES, _MSG = (
    _FDP.TYPE_STRING,
    _FDP.TYPE_INT32,
    _FDP.TYPE_INT64,
    _FDP.TYPE_BOOL,
    _FDP.TYPE_BYTES,
    _FDP.TYPE_MESSAGE,
)
_MAP = "map"  # a map<string, value type> field (a nested MapEntry message)
_REPEATED = "repeated"

# message name -> [(field name, number, type, message type or map value type, label)].
# Names are the JSON names (generated.proto spells its fields so).
_MESSAGES: dict[str, list[tuple[str, int, Any, Any, str]]] = {
    "TypeMeta": [("apiVersion", 1, _STR, None, ""), ("kind", 2, _STR, None, "")],
    "Unknown": [
        ("typeMeta", 1, _MSG, "TypeMeta", ""),
        ("raw", 2, _BYTES, None, ""),
        ("contentEncoding", 3, _STR, None, ""),
        ("contentType", 4, _STR, None, ""),
    ],
    "Time": [("seconds", 1, _I64, None, ""), ("nanos", 2, _I32, None, "")],
    "MicroTime": [("seconds", 1, _I64, None, ""), ("nanos", 2, _I32, None, "")],
    "OwnerReference": [
        ("kind", 1, _STR, None, ""),
        ("name", 3, _STR, None, ""),
        ("uid", 4, _STR, None, ""),
        ("apiVersion", 5, _STR, None, ""),
        ("controller", 6, _BOOL, None, ""),
        ("blockOwnerDeletion", 7, _BOOL, None, ""),
    ],
    "FieldsV1": [("Raw", 1, _BYTES, None, "")],
    "ManagedFieldsEntry": [
        ("manager", 1, _STR, None, ""),
        ("operation", 2, _STR, None, ""),
        ("apiVersion", 3, _STR, None, ""),
        ("time", 4, _MSG, "Time", ""),
        ("fieldsType", 6, _STR, None, ""),
        ("fieldsV1", 7, _MSG, "FieldsV1", ""),
        ("subresource", 8, _STR, None, ""),
    ],
    "ObjectMeta": [
        ("name", 1, _STR, None, ""),
        ("generateName", 2, _STR, None, ""),
        ("namespace", 3, _STR, None, ""),
        ("selfLink", 4, _STR, None, ""),
        ("uid", 5, _STR, None, ""),
        ("resourceVersion", 6, _STR, None, ""),
        ("generation", 7, _I64, None, ""),
        ("creationTimestamp", 8, _MSG, "Time", ""),
        ("deletionTimestamp", 9, _MSG, "Time", ""),
        ("deletionGracePeriodSeconds", 10, _I64, None, ""),
        ("labels", 11, _MAP, _STR, ""),
        ("annotations", 12, _MAP, _STR, ""),
        ("ownerReferences", 13, _MSG, "OwnerReference", _REPEATED),
        ("finalizers", 14, _STR, None, _REPEATED),
        ("managedFields", 17, _MSG, "ManagedFieldsEntry", _REPEATED),
    ],
    "ConfigMap": [
        ("metadata", 1, _MSG, "ObjectMeta", ""),
        ("data", 2, _MAP, _STR, ""),
        ("binaryData", 3, _MAP, _BYTES, ""),
        ("immutable", 4, _BOOL, None, ""),
    ],
    "NamespaceSpec": [("finalizers", 1, _STR, None, _REPEATED)],
    "NamespaceCondition": [
        ("type", 1, _STR, None, ""),
        ("status", 2, _STR, None, ""),
        ("lastTransitionTime", 4, _MSG, "Time", ""),
        ("reason", 5, _STR, None, ""),
        ("message", 6, _STR, None, ""),
    ],
    "NamespaceStatus": [
        ("phase", 1, _STR, None, ""),
        ("conditions", 2, _MSG, "NamespaceCondition", _REPEATED),
    ],
    "Namespace": [
        ("metadata", 1, _MSG, "ObjectMeta", ""),
        ("spec", 2, _MSG, "NamespaceSpec", ""),
        ("status", 3, _MSG, "NamespaceStatus", ""),
    ],
    "LeaseSpec": [
        ("holderIdentity", 1, _STR, None, ""),
        ("leaseDurationSeconds", 2, _I32, None, ""),
        ("acquireTime", 3, _MSG, "MicroTime", ""),
        ("renewTime", 4, _MSG, "MicroTime", ""),
        ("leaseTransitions", 5, _I32, None, ""),
        ("strategy", 6, _STR, None, ""),
        ("preferredHolder", 7, _STR, None, ""),
    ],
    "Lease": [("metadata", 1, _MSG, "ObjectMeta", ""), ("spec", 2, _MSG, "LeaseSpec", "")],
    "ObjectReference": [
        ("kind", 1, _STR, None, ""),
        ("namespace", 2, _STR, None, ""),
        ("name", 3, _STR, None, ""),
        ("uid", 4, _STR, None, ""),
        ("apiVersion", 5, _STR, None, ""),
        ("resourceVersion", 6, _STR, None, ""),
        ("fieldPath", 7, _STR, None, ""),
    ],
    "EventSource": [("component", 1, _STR, None, ""), ("host", 2, _STR, None, "")],
    "EventSeries": [("count", 1, _I32, None, ""), ("lastObservedTime", 2, _MSG, "MicroTime", "")],
    "Event": [
        ("metadata", 1, _MSG, "ObjectMeta", ""),
        ("involvedObject", 2, _MSG, "ObjectReference", ""),
        ("reason", 3, _STR, None, ""),
        ("message", 4, _STR, None, ""),
        ("source", 5, _MSG, "EventSource", ""),
        ("firstTimestamp", 6, _MSG, "Time", ""),
        ("lastTimestamp", 7, _MSG, "Time", ""),
        ("count", 8, _I32, None, ""),
        ("type", 9, _STR, None, ""),
        ("eventTime", 10, _MSG, "MicroTime", ""),
        ("series", 11, _MSG, "EventSeries", ""),
        ("action", 12, _STR, None, ""),
        ("related", 13, _MSG, "ObjectReference", ""),
        ("reportingComponent", 14, _STR, None, ""),
        ("reportingInstance", 15, _STR, None, ""),
    ],
}
# Go pointer fields (a zero value that is set is kept) and fields without ``omitempty``.
_POINTERS = {
    ("ConfigMap", "immutable"),
    ("ObjectMeta", "deletionGracePeriodSeconds"),
    ("OwnerReference", "controller"),
    ("OwnerReference", "blockOwnerDeletion"),
    ("LeaseSpec", "leaseDurationSeconds"),
    ("LeaseSpec", "leaseTransitions"),
    ("LeaseSpec", "holderIdentity"),
    ("LeaseSpec", "strategy"),
    ("LeaseSpec", "preferredHolder"),
}
_ALWAYS = {("Event", "reportingComponent"), ("Event", "reportingInstance")}
KINDS = ("ConfigMap", "Namespace", "Lease", "Event")  # the objects decoded here


def _file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(name="gochan_k8s.proto", package="k8s", syntax="proto2")
    for name, fields in _MESSAGES.items():
        m = f.message_type.add(name=name)
        for fname, number, ftype, ref, label in fields:
            fd = m.field.add(name=fname, number=number, json_name=fname)
            fd.label = _FDP.LABEL_REPEATED if label == _REPEATED else _FDP.LABEL_OPTIONAL
            if ftype == _MAP:
                entry = m.nested_type.add(name=f"{fname[0].upper()}{fname[1:]}Entry")
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, type=_STR, label=_FDP.LABEL_OPTIONAL)
                entry.field.add(name="value", number=2, type=ref, label=_FDP.LABEL_OPTIONAL)
                fd.type, fd.label = _MSG, _FDP.LABEL_REPEATED
                fd.type_name = f".k8s.{name}.{entry.name}"
            else:
                fd.type = ftype
                if ftype == _MSG:
                    fd.type_name = f".k8s.{ref}"
    return f


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())
_CLASSES = {
    n: message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"k8s.{n}")) for n in _MESSAGES
}


def _repeated(fd: Any) -> bool:
    """Whether a field is repeated (``is_repeated`` since protobuf 6; ``label`` before)."""
    flag = getattr(fd, "is_repeated", None)
    return bool(flag) if flag is not None else fd.label == _FDP.LABEL_REPEATED


def _time(msg: Any, micro: bool) -> str | None:
    if msg.ByteSize() == 0:
        return None  # Go's zero time: JSON null
    t = time.gmtime(msg.seconds)
    if micro:  # MicroTime keeps microseconds; Time only seconds, as the Go decoder does
        return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{msg.nanos // 1000:06d}Z"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", t)


def _value(fd: Any, v: Any) -> Any:
    if fd.type == _BYTES:
        return base64.b64encode(v).decode()
    if fd.type != _MSG:
        return v
    name = fd.message_type.name
    if name in ("Time", "MicroTime"):
        return _time(v, name == "MicroTime")
    if name == "FieldsV1":
        return json.loads(v.Raw) if v.Raw else {}
    return to_json(v)


def to_json(msg: Any) -> JSON:
    """A decoded message as the JSON the Go types marshal to (``omitempty`` applied)."""
    kind = msg.DESCRIPTOR.name
    out: JSON = {}
    for fd, v in msg.ListFields():
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            items = {k: _value(value_fd, x) for k, x in v.items()}
            if items:
                out[fd.name] = items
        elif _repeated(fd):
            if v:
                out[fd.name] = [_value(fd, x) for x in v]
        else:
            x = _value(fd, v)
            if x not in ("", 0, False, None, {}) or (kind, fd.name) in _POINTERS:
                out[fd.name] = x
    for kind_, name in _ALWAYS:
        if kind_ == kind:
            out.setdefault(name, "")
    if kind == "Event":
        out.setdefault("eventTime", None)
    return out


def _unknown(msg: Any, path: str) -> str | None:
    """The first field (by path) that ``msg`` sets and the types here do not name."""
    for f in UnknownFieldSet(msg):
        return f"{path}: field {f.field_number}"
    for fd, v in msg.ListFields():
        if fd.type != _MSG or (fd.message_type.GetOptions().map_entry):
            continue
        items = list(v) if _repeated(fd) else [v]
        for i, item in enumerate(items):
            sub = f"{path}.{fd.name}" + (f"[{i}]" if _repeated(fd) else "")
            found = _unknown(item, sub)
            if found:
                return found
    return None


def _bad(message_: str) -> st.APIError:
    return st.bad_request(message_)


def decode(body: bytes, kind: str) -> JSON:
    """The object in a protobuf ``body`` as JSON, with ``kind``/``apiVersion`` from its
    envelope; 400 for a body that is not one, 415 for a kind not decoded here."""
    if not body.startswith(MAGIC):
        raise _bad(
            f"provided data does not appear to be a protobuf message, expected prefix {list(MAGIC)}"
        )
    envelope = _CLASSES["Unknown"]()
    try:
        envelope.ParseFromString(body[len(MAGIC) :])
    except message.DecodeError as e:
        raise _bad(f"unable to decode the protobuf envelope (runtime.Unknown): {e}") from None
    if envelope.contentEncoding or envelope.contentType not in ("", MEDIA_TYPE):
        raise _bad(
            f"unsupported protobuf content encoding {envelope.contentEncoding!r} / type "
            f"{envelope.contentType!r}"
        )
    sent = envelope.typeMeta.kind or kind
    if sent not in KINDS:
        raise st.unsupported_media_type(["application/json", "application/yaml"])
    obj = _CLASSES[sent]()
    try:
        obj.ParseFromString(envelope.raw)
    except message.DecodeError as e:
        raise _bad(f"unable to decode the protobuf body as a {sent}: {e}") from None
    lost = _unknown(obj, sent)
    if lost:
        raise _bad(
            f"the protobuf body sets {lost}, which this server does not decode; send the "
            "object as JSON"
        )
    out: JSON = {}
    if envelope.typeMeta.apiVersion:
        out["apiVersion"] = envelope.typeMeta.apiVersion
    out["kind"] = sent
    out.update(to_json(obj))
    return out


def encode(obj: JSON, kind: str, api_version: str) -> bytes:
    """A body as a Go client sends it (for tests): the envelope around a message built
    from ``obj``'s fields (times and FieldsV1 as JSON are not encoded)."""
    msg = _CLASSES[kind]()
    _fill(msg, obj)
    env = _CLASSES["Unknown"](raw=msg.SerializeToString())
    env.typeMeta.apiVersion, env.typeMeta.kind = api_version, kind
    raw: bytes = env.SerializeToString()
    return MAGIC + raw


def _fill(msg: Any, obj: JSON) -> None:
    for k, v in obj.items():
        fd = msg.DESCRIPTOR.fields_by_name[k]
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            for mk, mv in v.items():
                getattr(msg, k)[mk] = base64.b64decode(mv) if value_fd.type == _BYTES else mv
        elif fd.type == _MSG and _repeated(fd):
            for item in v:
                _fill(getattr(msg, k).add(), item)
        elif fd.type == _MSG:
            _fill(getattr(msg, k), v)
        elif _repeated(fd):
            getattr(msg, k).extend(v)
        else:
            setattr(msg, k, v)
