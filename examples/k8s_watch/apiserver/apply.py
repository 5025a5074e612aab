"""Server-side apply: field ownership, ``managedFields``, conflicts.

``PATCH`` with ``application/apply-patch+yaml`` and ``fieldManager=``
(``kubectl apply --server-side``) merges the applied configuration into the
object (or creates it), as structured-merge-diff does, at the level the
server models objects: structs and maps merge field by field; lists named
in `ASSOCIATIVE` merge item by item on their keys (containers and env by
``name``, container ports by ``containerPort`` + ``protocol``...);
``metadata.finalizers`` is a set; every other list is atomic (replaced whole).

Each manager's fields are kept in ``metadata.managedFields`` in the real
``FieldsV1`` form (``{"f:data": {"f:a": {}}}``, ``k:{"name":"c"}`` for list
items, ``"."`` for a node owned besides its children). An apply sets the
manager's fields to those its configuration sets; a field another manager
owns that the apply changes is a 409 ``Conflict`` (the real message and
``FieldManagerConflict`` causes) unless ``force=true``, which moves it; a
field the manager applied before, left out now and owned by nobody else, is
removed. Other writes (``PUT``, patches) to an object that has
``managedFields`` are recorded as ``Update`` operations (the writer takes the
fields it changed, from whoever had them). Tracking starts at the first
apply, as the apiserver's "skip non-applied" manager has it: objects written
otherwise have no ``managedFields`` until then, and the first apply gives
their existing fields to ``before-first-apply``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import status as st
from .patch import clone
from .status import JSON, APIError

if TYPE_CHECKING:
    from .wire import Request

MEDIA_TYPE = "application/apply-patch+yaml"
BEFORE_FIRST_APPLY = "before-first-apply"

Path = tuple[str, ...]  # FieldsV1 keys: "f:name", 'k:{"name":"c"}', 'v:"x"'
Key = tuple[str, str, str]  # (manager, operation, subresource)

# Lists merged item by item, by these key fields (with their defaults).
ASSOCIATIVE: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "ports": ("containerPort", "protocol"),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "imagePullSecrets": ("name",),
    "ownerReferences": ("uid",),
    "conditions": ("type",),
}
KEY_DEFAULTS = {"protocol": "TCP"}
SETS = {("f:metadata", "f:finalizers")}
# Never in a manager's fields (the apiserver's stripMeta set).
_META = "name namespace creationTimestamp selfLink uid generation managedFields resourceVersion"
STRIP = {("f:apiVersion",), ("f:kind",), ("f:metadata",)} | {
    ("f:metadata", f"f:{f}") for f in _META.split()
}
_NODE = object()  # a struct, map or list with members: not a value of its own
_ITEM = object()  # an item of an associative list: a member, compared through its fields


class KeyError_(ValueError):
    """A list item without one of its list's key fields."""


def _key(item: Any, keys: tuple[str, ...], where: str, i: int) -> str:
    if not isinstance(item, dict):
        raise KeyError_(f"{where}: element {i}: associative list item is not an object")
    key = {}
    for k in keys:
        v = item.get(k, KEY_DEFAULTS.get(k))
        if v is None:
            raise KeyError_(
                f"{where}: element {i}: associative list with keys has an element that omits key "
                f'field "{k}" (and doesn\'t have default value)'
            )
        key[k] = v
    return "k:" + json.dumps(key, sort_keys=True, separators=(",", ":"))


def _list_kind(name: str, prefix: Path, items: list[Any]) -> str:
    if prefix in SETS:
        return "set"
    if name in ASSOCIATIVE:
        return "assoc"
    return "atomic"


def walk(value: Any, prefix: Path = (), out: dict[Path, Any] | None = None) -> dict[Path, Any]:
    """Every node of ``value`` by path: a leaf's value, or `_NODE` / `_ITEM`."""
    if out is None:
        out = {}
    if isinstance(value, dict) and value:
        if prefix:
            out[prefix] = _NODE
        for k, v in value.items():
            if v is not None:
                walk(v, (*prefix, f"f:{k}"), out)
    elif isinstance(value, list) and value and prefix:
        name = prefix[-1][2:]
        kind = _list_kind(name, prefix, value)
        if kind == "atomic":
            out[prefix] = clone(value)
            return out
        out[prefix] = _NODE
        for i, item in enumerate(value):
            if kind == "set":
                out[(*prefix, "v:" + json.dumps(item, separators=(",", ":")))] = True
            else:
                path = (*prefix, _key(item, ASSOCIATIVE[name], _show(prefix), i))
                out[path] = _ITEM
                for k, v in item.items():
                    if v is not None:
                        walk(v, (*path, f"f:{k}"), out)
    elif prefix:
        out[prefix] = value
    return out


def members(nodes: dict[Path, Any]) -> set[Path]:
    """An applied configuration's fields (structured-merge-diff's ``ToFieldSet``): its
    leaves and list items, not the structs and maps that hold them."""
    return {p for p, v in nodes.items() if v is not _NODE} - STRIP


@dataclass
class Comparison:
    added: set[Path]
    removed: set[Path]
    modified: set[Path]


def compare(old: dict[Path, Any], new: dict[Path, Any]) -> Comparison:
    both = old.keys() & new.keys()
    modified = set()
    for p in both:
        a, b = old[p], new[p]
        if (a is _NODE or a is _ITEM or b is _NODE or b is _ITEM) and a is b:
            continue
        if a is not b and (a != b or type(a) is not type(b)):
            modified.add(p)
    return Comparison(set(new) - set(old), set(old) - set(new), modified)


# ---- FieldsV1 ----------------------------------------------------------------------------------


def to_fields_v1(paths: set[Path]) -> JSON:
    tree: JSON = {}
    owned: set[int] = set()
    for path in sorted(paths):
        node = tree
        for el in path:
            node = node.setdefault(el, {})
        owned.add(id(node))

    def render(node: JSON) -> JSON:
        out: JSON = {".": {}} if node and id(node) in owned else {}
        for k in sorted(node):
            out[k] = render(node[k])
        return out

    return render(tree)


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    if prefix and (not tree or "." in tree):
        out.add(prefix)
    for k, v in tree.items():
        if k != ".":
            out |= from_fields_v1(v, (*prefix, k))
    return out


def _show(path: Path) -> str:
    """A path as structured-merge-diff prints it: ``.spec.containers[name="c"].image``."""
    out = ""
    for el in path:
        kind, rest = el[:2], el[2:]
        if kind == "f:":
            out += "." + rest
        elif kind == "k:":
            fields = json.loads(rest)
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in fields.items()) + "]"
        else:
            out += f"[={rest}]"
    return out


# ---- managers ----------------------------------------------------------------------------------


@dataclass
class Entry:
    api_version: str
    time: str
    fields: set[Path]


def read_managers(md: JSON) -> dict[Key, Entry]:
    out: dict[Key, Entry] = {}
    for e in md.get("managedFields") or []:
        if not isinstance(e, dict):
            continue
        key = (str(e.get("manager", "")), str(e.get("operation", "")), e.get("subresource") or "")
        fields = from_fields_v1(e.get("fieldsV1") or {})
        out[key] = Entry(str(e.get("apiVersion", "")), str(e.get("time", "")), fields)
    return out


def write_managers(managers: dict[Key, Entry]) -> list[JSON]:
    entries = []
    for (manager, operation, sub), e in managers.items():
        if not e.fields:
            continue
        entry: JSON = {
            "manager": manager,
            "operation": operation,
            "apiVersion": e.api_version,
            "time": e.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(e.fields),
        }
        if sub:
            entry["subresource"] = sub
        entries.append(entry)
    entries.sort(key=lambda e: (e["operation"], e["time"], e["manager"], e.get("subresource", "")))
    return entries


def _printed(key: Key, entry: Entry) -> str:
    manager, operation, sub = key
    out = json.dumps(manager)
    if sub:
        out += f" with subresource {json.dumps(sub)}"
    if operation == "Update":
        out += f" using {entry.api_version}"
    return out


def conflict_error(conflicts: list[tuple[Key, Entry, Path]]) -> APIError:
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {_printed(k, e)}",
            "field": _show(p),
        }
        for k, e, p in conflicts
    ]
    if len(conflicts) == 1:
        k, e, p = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {_printed(k, e)}: {_show(p)}"
    else:
        lines = []
        for key in sorted({k for k, _, _ in conflicts}):
            entry = next(e for k, e, _ in conflicts if k == key)
            lines.append(f"conflicts with {_printed(key, entry)}:")
            lines += [f"- {_show(p)}" for k, _, p in conflicts if k == key]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return APIError(st.status(409, "Conflict", message, {"causes": causes}))


# ---- merging -------------------------------------------------------------------------------------


def merge(live: Any, config: Any, prefix: Path = ()) -> Any:
    """``config`` merged into ``live`` (a new value; neither is changed)."""
    if isinstance(live, dict) and isinstance(config, dict):
        out = dict(live)
        for k, v in config.items():
            if v is None:
                continue
            out[k] = merge(live.get(k), v, (*prefix, f"f:{k}"))
        return out
    if isinstance(live, list) and isinstance(config, list) and prefix:
        name = prefix[-1][2:]
        kind = _list_kind(name, prefix, config)
        if kind == "set":
            return [*live, *(x for x in config if x not in live)]
        if kind == "assoc":
            keys, where = ASSOCIATIVE[name], _show(prefix)
            items = list(live)
            index = {_key(x, keys, where, i): i for i, x in enumerate(live)}
            for i, item in enumerate(config):
                k = _key(item, keys, where, i)
                if k in index:
                    items[index[k]] = merge(items[index[k]], item, (*prefix, k))
                else:
                    index[k] = len(items)
                    items.append(clone(item))
            return items
    return clone(config)


def _matches(item: Any, kind: str, want: Any) -> bool:
    if kind == "v:":
        return bool(item == want)
    return isinstance(item, dict) and all(
        item.get(k, KEY_DEFAULTS.get(k)) == v for k, v in want.items()
    )


def remove(obj: Any, path: Path) -> None:
    """Drop the field or list item at ``path`` (and maps left empty by it)."""
    parents: list[tuple[Any, Any]] = []
    node = obj
    for el in path:
        kind, rest = el[:2], el[2:]
        if kind == "f:" and isinstance(node, dict) and rest in node:
            parents.append((node, rest))
            node = node[rest]
        elif kind in ("k:", "v:") and isinstance(node, list):
            want = json.loads(rest)
            idx = next((i for i, x in enumerate(node) if _matches(x, kind, want)), None)
            if idx is None:
                return
            parents.append((node, idx))
            node = node[idx]
        else:
            return
    container, at = parents.pop()
    del container[at]
    while parents and container in ({}, []):
        container, at = parents.pop()
        if isinstance(container, dict) and at == "metadata":
            break
        del container[at]


# ---- the two operations --------------------------------------------------------------------------


def _scope(obj: JSON, has_status: bool, subresource: str) -> dict[Path, Any]:
    """The nodes a write to the main resource (or ``/status``) owns: without the
    metadata the apiserver never tracks, and without ``status`` when it is a
    subresource of its own (the reset fields)."""
    body = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
    md = body.get("metadata")
    if isinstance(md, dict):
        body["metadata"] = {k: v for k, v in md.items() if k != "managedFields"}
    if subresource == "status":
        body = {"status": body.get("status")}
    elif has_status:
        body.pop("status", None)
    return walk(body)


def apply(
    live: JSON | None,
    config: JSON,
    *,
    manager: str,
    api_version: str,
    force: bool,
    now: str,
    has_status: bool,
) -> JSON:
    """The object after ``manager`` applies ``config`` to ``live`` (None: it does not
    exist yet), with its ``managedFields``; a 409 on conflicts unless ``force``."""
    if (config.get("metadata") or {}).get("managedFields") is not None:
        raise st.bad_request("metadata.managedFields must be nil")
    config = {k: v for k, v in config.items() if k not in ("kind", "apiVersion")}
    if has_status:
        config.pop("status", None)
    base: JSON = {k: v for k, v in (live or {}).items()}
    managers = read_managers(base.get("metadata") or {}) if live is not None else {}
    try:
        live_nodes = _scope(base, has_status, "")
        if live is not None and not managers:
            managers[(BEFORE_FIRST_APPLY, "Update", "")] = Entry(
                api_version, now, members_all(live_nodes)
            )
        applied = members(walk(config))
        merged = clone(merge(base, config))  # pruned in place below: share nothing with live
    except KeyError_ as e:
        raise st.bad_request(str(e)) from None
    key = (manager, "Apply", "")
    previous = managers.get(key)
    managers[key] = Entry(api_version, previous.time if previous else now, applied)
    others = {k: m for k, m in managers.items() if k != key}
    for path in sorted((previous.fields if previous else set()) - applied, key=len, reverse=True):
        if not any(path in m.fields for m in others.values()):
            remove(merged, path)
    cmp = compare(live_nodes, _scope(merged, has_status, ""))
    changed = cmp.modified | cmp.added
    conflicts = [(k, m, p) for k, m in sorted(others.items()) for p in sorted(m.fields & changed)]
    if conflicts and not force:
        raise conflict_error(conflicts)
    for m in others.values():
        m.fields -= changed | cmp.removed
    if previous is None or previous.fields != applied:
        managers[key].time = now
    md = merged.setdefault("metadata", {})
    merged["metadata"] = {**md, "managedFields": write_managers(managers)}
    out: JSON = merged
    return out


def members_all(nodes: dict[Path, Any]) -> set[Path]:
    """An updater's fields: every node it set, containers included (SMD's Compare)."""
    return set(nodes) - STRIP


def record_update(
    old: JSON,
    new: JSON,
    *,
    manager: str,
    api_version: str,
    now: str,
    has_status: bool,
    subresource: str = "",
) -> None:
    """Record a non-apply write in ``new``'s ``managedFields`` (in place), if ``old`` has
    them: ``manager`` (operation ``Update``) takes every field it added or changed."""
    managers = read_managers(old.get("metadata") or {})
    md = new.get("metadata")
    if not managers or not isinstance(md, dict):
        return
    if md.get("managedFields") == []:  # an explicit reset, as the apiserver allows
        del md["managedFields"]
        return
    try:
        cmp = compare(_scope(old, has_status, subresource), _scope(new, has_status, subresource))
    except KeyError_ as e:
        raise st.bad_request(str(e)) from None
    changed = cmp.modified | cmp.added
    key = (manager, "Update", subresource)
    for k, m in managers.items():
        if k != key:
            m.fields -= changed | cmp.removed
    mine = managers.get(key)
    fields = ((mine.fields if mine else set()) - cmp.removed) | changed
    fields -= STRIP
    if mine is None or mine.fields != fields:
        managers[key] = Entry(api_version, now, fields)
    md["managedFields"] = write_managers(managers)


# ---- the request -------------------------------------------------------------------------------


def manager_of(req: Request) -> str:
    """Who writes: ``fieldManager``, else the user agent up to its first ``/``."""
    return req.param("fieldManager") or req.header("user-agent").split("/")[0]


def _patch_options_invalid(field: str, message: str) -> APIError:
    return st.invalid("PatchOptions", "", "meta.k8s.io", [("FieldValueRequired", field, message)])


def parse(req: Request, api_version: str, kind: str, name: str) -> tuple[JSON, str, bool]:
    """An apply request's configuration (YAML or JSON), field manager and ``force``."""
    import yaml  # type: ignore[import-untyped]  # the apply patch is YAML (kubectl sends JSON, a subset)

    from .params import bool_param

    manager = req.param("fieldManager") or ""
    if not manager:
        raise _patch_options_invalid("fieldManager", "Required value: is required for apply patch")
    force = bool(bool_param(req, "force"))
    try:
        config = yaml.safe_load(req.body) if req.body.strip() else None
    except yaml.YAMLError as e:
        raise st.bad_request(f"error decoding YAML: {e}") from None
    if not isinstance(config, dict):
        raise st.bad_request("the apply configuration must be an object")
    if config.get("kind") != kind or not config.get("apiVersion"):
        raise st.bad_request(
            f"the apply configuration's kind ({config.get('kind')}) must be {kind}, with an "
            "apiVersion"
        )
    if config["apiVersion"] != api_version:
        raise st.bad_request(
            "Incorrect version specified in apply patch. Specified patch version: "
            f"{config['apiVersion']}, expected: {api_version}"
        )
    md = config.get("metadata")
    if md is None:
        md = config["metadata"] = {}
    if not isinstance(md, dict):
        raise st.bad_request("metadata must be an object")
    if md.get("name") and md["name"] != name:
        raise st.bad_request(
            f"the name of the object ({md['name']}) does not match the name on the URL ({name})"
        )
    md["name"] = name
    return config, manager, force
