"""The versioned object store: one revision counter, an event log, compaction.

This plays etcd and the apiserver's watch cache at once:

- **One global revision** (``rv``), starting well above 1 and bumped by every
  write of every resource, like etcd's. An object's ``resourceVersion`` is
  the revision of its last write; a DELETED event carries the revision of
  the delete.
- **History** (MVCC): per key, every version since the compaction horizon
  plus the one live at the horizon, so a paged LIST keeps serving the
  snapshot its first page saw (``continue`` tokens carry that revision) and
  ``resourceVersionMatch=Exact`` can read the past.
- **Event log** per resource, in revision order, holding every change after
  ``horizon``. A watch from revision R replays the events after R; one from
  below the horizon gets 410 Expired.
- **Compaction** drops history and events at or below a revision (explicit,
  or automatic once more than ``max_events`` events are kept).

Invariants (checked by `check()`): ``horizon <= rv``; every event's rv is in
``(horizon, rv]`` and the log is sorted; each key's history is sorted and
ends with its live state; ``keys`` is sorted and holds exactly the keys
that have history. Everything happens under ``lock``; listeners are called
after it is released.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import random
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from . import apply as ssa
from . import status as st
from .patch import PatchError, apply_patch, clone
from .resources import NAMESPACES, RESOURCES, SEED_NAMESPACES, Resource, rfc3339
from .selectors import FieldSelector, LabelSelector
from .sharding import ShardSelector
from .status import JSON, APIError

Key = tuple[str, str]  # (namespace, name)


# Version 4 and the RFC 4122 variant, set in a random 128-bit number.
_UUID_KEEP = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID_V4 = (4 << 76) | (0x8000 << 48)


def dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def with_kind(resource: Resource, item: bytes) -> bytes:
    """Prefix an item's JSON with kind and apiVersion (items in lists go without)."""
    head = f'{{"kind":"{resource.kind}","apiVersion":"{resource.api_version}"'.encode()
    return head + (b"," + item[1:] if item != b"{}" else b"}")


@dataclass(slots=True)
class Version:
    rv: int
    obj: JSON | None  # None: deleted at rv
    _json: bytes | None = None
    _whole: bytes | None = None

    def item_json(self) -> bytes:
        """The object's JSON as an item of a list (no kind, no apiVersion)."""
        if self._json is None:
            self._json = dumps(self.obj)
        return self._json

    def whole_json(self, resource: Resource) -> bytes:
        """The object's JSON on its own: with kind and apiVersion (a GET, a watch event)."""
        if self._whole is None:
            self._whole = with_kind(resource, self.item_json())
        return self._whole


@dataclass(slots=True)
class Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    key: Key
    obj: JSON  # the object after the change; for DELETED its last state at the delete's rv
    prev: JSON | None  # the object before (None for ADDED)
    resource: Resource
    version: Version | None = None  # the stored version it made (None for DELETED)
    _wire: bytes | None = None

    def wire(self, type_: str | None = None, obj: JSON | None = None) -> bytes:
        """The event as one line of a watch stream (cached for the usual case).

        The object's JSON is the stored version's, encoded once for GETs,
        lists and every watcher alike.
        """
        if type_ is None and obj is None:
            if self._wire is None:
                ver = self.version
                whole = (
                    ver.whole_json(self.resource)
                    if ver is not None
                    else with_kind(self.resource, dumps(self.obj))
                )
                self._wire = event_line(self.type, whole)
            return self._wire
        return event_line(type_ or self.type, with_kind(self.resource, dumps(obj or self.obj)))


def event_line(type_: str, whole: bytes) -> bytes:
    """One line of a watch stream: ``whole`` is the object's JSON (with its kind)."""
    return b'{"type":"' + type_.encode() + b'","object":' + whole + b"}\n"


@dataclass
class _ResourceState:
    resource: Resource
    live: dict[Key, JSON] = field(default_factory=dict)
    history: dict[Key, list[Version]] = field(default_factory=dict)
    keys: list[Key] = field(default_factory=list)  # sorted; with `fresh`, the keys of history
    fresh: list[Key] = field(default_factory=list)  # keys new since `keys` was last sorted
    events: list[Event] = field(default_factory=list)
    event_rvs: list[int] = field(default_factory=list)

    def sorted_keys(self) -> list[Key]:
        """Every key in history, sorted (for lists and their continue tokens).

        New keys are only appended (an insertion into the sorted list moves
        all the keys after it: a cost per create that grows with the store);
        they are merged in here, by a list's read, which is much rarer.
        """
        if self.fresh:
            self.keys += self.fresh
            self.fresh.clear()
            self.keys.sort()  # two runs, the old keys and the new ones: a merge
        return self.keys


@dataclass(slots=True)
class ListResult:
    items: list[bytes]  # item JSON, without kind/apiVersion
    rv: int
    continue_token: str
    remaining: int | None
    objects: list[JSON]


def _rv_of(obj: JSON) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def parse_rv(text: str, what: str = "resourceVersion") -> int:
    try:
        value = int(text)
        if value < 0:
            raise ValueError
        return value
    except ValueError:
        raise st.bad_request(f'{what}: Invalid value: "{text}": invalid resource version') from None


def encode_continue(rv: int, key: Key) -> str:
    token = {"v": "meta.k8s.io/v1", "rv": rv, "start": f"{key[0]}/{key[1]}\x00"}
    return base64.urlsafe_b64encode(dumps(token)).rstrip(b"=").decode()


def decode_continue(token: str) -> tuple[int, Key]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("v") != "meta.k8s.io/v1":
            raise ValueError("continue key is not valid: incorrect encoded start version")
        rv, start = int(data["rv"]), str(data["start"])
        if rv < 0 or not start.endswith("\x00") or "/" not in start:
            raise ValueError("continue key is not valid: bad start key")
        ns, _, name = start[:-1].partition("/")
        return rv, (ns, name + "\x00")
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as e:
        msg = str(e) if str(e).startswith("continue key") else f"continue key is not valid: {e}"
        raise st.bad_request(msg) from None


CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)


def _uid(rng: random.Random) -> str:
    """A random (seeded) version-4 UUID, as ``str(uuid.UUID(int=n, version=4))``
    spells it, without building the UUID object (a create's hot path)."""
    n = rng.getrandbits(128) & _UUID_KEEP | _UUID_V4
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Store:
    """See the module docstring. Thread-safe; every public method takes the lock."""

    def __init__(
        self,
        *,
        now: Callable[[], float],
        initial_rv: int = 10_000,
        max_events: int | None = 100_000,
        seed: int = 0,
    ) -> None:
        self.lock = threading.RLock()
        self._now = now
        self.initial_rv = initial_rv
        self.rv = initial_rv
        self.horizon = initial_rv
        self.max_events = max_events
        self._rng = random.Random(seed)
        self._state = {r.plural: _ResourceState(r) for r in RESOURCES}
        self._seed_locked()
        self._event_rvs: deque[int] = deque()
        self._listeners: list[Callable[[set[str]], None]] = []
        self._changed: set[str] = set()
        self.writes = 0
        self.compactions = 0

    def _seed_locked(self) -> None:
        """The namespaces every cluster has, there from the start: at the current revision,
        with no event and no revision of their own (they predate every watch)."""
        s = self._state[NAMESPACES.plural]
        for name in SEED_NAMESPACES:
            obj: JSON = {
                "metadata": {
                    "name": name,
                    "uid": _uid(random.Random(f"namespace/{name}")),  # not self._rng's
                    "resourceVersion": str(self.rv),
                    "creationTimestamp": rfc3339(self._now()),
                },
                "spec": {},
            }
            assert NAMESPACES.defaults is not None
            NAMESPACES.defaults(obj)
            key = ("", name)
            s.live[key] = obj
            s.history[key] = [Version(self.rv, obj)]
            s.fresh.append(key)

    # ---- notification ----------------------------------------------------------------

    def subscribe(self, callback: Callable[[set[str]], None]) -> None:
        """``callback(plurals)`` after writes (outside the lock, coalesced per call)."""
        self._listeners.append(callback)

    def _flush(self) -> None:
        """Tell listeners what changed; call without holding the lock."""
        with self.lock:
            changed, self._changed = self._changed, set()
        if changed:
            for cb in list(self._listeners):
                cb(changed)

    # ---- reads -------------------------------------------------------------------------

    def get(self, resource: Resource, namespace: str, name: str) -> JSON:
        namespace = namespace if resource.namespaced else ""
        with self.lock:
            obj = self._state[resource.plural].live.get((namespace, name))
            if obj is None:
                raise st.not_found(resource.plural, name, resource.group)
            return clone(obj)

    def get_json(self, resource: Resource, namespace: str, name: str) -> bytes:
        namespace = namespace if resource.namespaced else ""
        with self.lock:
            s = self._state[resource.plural]
            hist = s.history.get((namespace, name))
            if not hist or hist[-1].obj is None:
                raise st.not_found(resource.plural, name, resource.group)
            return hist[-1].whole_json(resource)

    def count(self, resource: Resource) -> int:
        with self.lock:
            return len(self._state[resource.plural].live)

    def objects(self, resource: Resource, namespace: str | None = None) -> list[JSON]:
        with self.lock:
            s = self._state[resource.plural]
            return [
                clone(o)
                for k, o in sorted(s.live.items())
                if namespace is None or k[0] == namespace
            ]

    def list_page(
        self,
        resource: Resource,
        namespace: str | None,
        *,
        labels: LabelSelector,
        fields: FieldSelector,
        shard: ShardSelector | None = None,
        limit: int = 0,
        continue_token: str = "",
        rv: int | None = None,
        exact: bool = False,
    ) -> ListResult:
        """A LIST at the current revision, at ``rv`` (``exact``) or where a token left off.

        A revision above the current one is the caller's business (it waits,
        then gives 504); here it raises too_large_rv right away.
        """
        with self.lock:
            s = self._state[resource.plural]
            start: Key | None = None
            if continue_token:
                snap, start = decode_continue(continue_token)
                if snap < self.horizon:
                    raise APIError(st.status(410, "Expired", CONTINUE_EXPIRED))
            elif exact and rv is not None:
                if rv < self.horizon:
                    raise st.expired("The resourceVersion for the provided list is too old.")
                snap = rv
            else:
                snap = self.rv
            if snap > self.rv:
                raise st.too_large_rv(snap, self.rv)
            keys = s.sorted_keys()
            lo = 0
            if start is not None:
                lo = bisect.bisect_left(keys, start)
            elif namespace is not None:
                lo = bisect.bisect_left(keys, (namespace, ""))
            items: list[bytes] = []
            objects: list[JSON] = []
            last: Key | None = None
            more = False
            remaining = 0
            sharding = shard is not None and not shard.empty
            selecting = not labels.empty or not fields.empty or sharding
            current = snap == self.rv
            for i in range(lo, len(keys)):
                key = keys[i]
                if namespace is not None and key[0] != namespace:
                    break
                hist = s.history[key]
                if current:
                    ver: Version | None = hist[-1]
                else:
                    j = bisect.bisect_right(hist, snap, key=lambda v: v.rv) - 1
                    ver = hist[j] if j >= 0 else None
                if ver is None or ver.obj is None:
                    continue
                obj = ver.obj
                if selecting and not (
                    labels.matches((obj.get("metadata") or {}).get("labels"))
                    and fields.matches(resource.field_labels(obj))
                    and (shard is None or shard.matches(obj))
                ):
                    continue
                if limit and len(items) >= limit:
                    more = True
                    if selecting:
                        break
                    remaining += 1
                    continue
                items.append(ver.item_json())
                objects.append(obj)
                last = key
            token = encode_continue(snap, last) if more and last is not None else ""
            return ListResult(
                items, snap, token, remaining if more and not selecting else None, objects
            )

    def events_since(
        self, resource: Resource, after: int, max_events: int = 1000
    ) -> tuple[list[Event], int, int]:
        """(events with rv > after, up to max_events; the current rv; the horizon).

        The caller checks ``after >= horizon`` itself: older means 410.
        """
        with self.lock:
            s = self._state[resource.plural]
            i = bisect.bisect_right(s.event_rvs, after)
            return s.events[i : i + max_events], self.rv, self.horizon

    def pending(self, resource: Resource, after: int) -> int:
        """How many events of ``resource`` come after revision ``after``."""
        with self.lock:
            s = self._state[resource.plural]
            return len(s.event_rvs) - bisect.bisect_right(s.event_rvs, after)

    # ---- writes ------------------------------------------------------------------------

    def _commit(
        self, s: _ResourceState, key: Key, type_: str, obj: JSON | None, prev: JSON | None
    ) -> JSON:
        """Write one change at the next revision (lock held); returns the stored object."""
        self.rv += 1
        rv = self.rv
        self.writes += 1
        if obj is not None:
            # A fresh metadata dict: obj may share it with an older version (patches share
            # what they do not touch; stored objects are never mutated in place).
            obj["metadata"] = {**obj["metadata"], "resourceVersion": str(rv)}
            s.live[key] = obj
            event_obj = obj
        else:
            assert prev is not None
            s.live.pop(key, None)
            event_obj = {**prev, "metadata": {**prev["metadata"], "resourceVersion": str(rv)}}
        hist = s.history.get(key)
        if hist is None:
            hist = s.history[key] = []
            s.fresh.append(key)
        ver = Version(rv, obj)
        hist.append(ver)
        s.events.append(
            Event(rv, type_, key, event_obj, prev, s.resource, ver if obj is not None else None)
        )
        s.event_rvs.append(rv)
        self._event_rvs.append(rv)
        self._changed.add(s.resource.plural)
        if self.max_events is not None and len(self._event_rvs) > self.max_events * 1.1 + 10:
            self._compact_locked(self._event_rvs[len(self._event_rvs) - self.max_events - 1])
        return event_obj

    def _new_uid(self) -> str:
        return _uid(self._rng)

    def create(
        self, resource: Resource, namespace: str, obj: JSON, *, dry_run: bool = False
    ) -> JSON:
        """Create ``obj``; with ``dry_run``, validate and answer as if, storing nothing
        (no revision, no event; the answer has no ``resourceVersion``, as the real one)."""
        namespace = namespace if resource.namespaced else ""
        try:
            with self.lock:
                return clone(self._create_locked(resource, namespace, obj, dry_run=dry_run))
        finally:
            self._flush()

    def _create_locked(
        self,
        resource: Resource,
        namespace: str,
        obj: JSON,
        owned: bool = False,
        dry_run: bool = False,
    ) -> JSON:
        """Create ``obj`` (lock held); it is copied first unless ``owned``: the server's
        own fresh object (the burst fault's), never touched again, its field types
        right by construction (not checked again; the other rules are)."""
        if not owned:
            obj = clone(obj)
        md = obj.get("metadata")
        if md is None:
            md = obj["metadata"] = {}
        if not isinstance(md, dict):
            raise st.bad_request("metadata must be an object")
        name = str(md.get("name") or "")
        if not name and md.get("generateName"):
            alphabet = "bcdfghjklmnpqrstvwxz2456789"
            name = str(md["generateName"]) + "".join(self._rng.choice(alphabet) for _ in range(5))
        resource.check(obj, name, types=not owned)
        s = self._state[resource.plural]
        key = (namespace, name)
        if key in s.live:
            raise st.already_exists(resource.plural, name, resource.group)
        obj.pop("kind", None)
        obj.pop("apiVersion", None)
        new_md: JSON = {"name": name}
        if md.get("generateName"):
            new_md["generateName"] = md["generateName"]
        if resource.namespaced:
            new_md["namespace"] = namespace
        new_md["uid"] = self._new_uid()
        new_md["resourceVersion"] = ""
        new_md["creationTimestamp"] = rfc3339(self._now())
        for k, v in md.items():
            if k not in new_md and k not in (
                "namespace",
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "selfLink",
            ):
                new_md[k] = v
        out: JSON = {"metadata": new_md}
        out.update({k: v for k, v in obj.items() if k != "metadata"})
        if resource.defaults is not None:
            resource.defaults(out)
        if dry_run:
            del new_md["resourceVersion"]
            return out
        return self._commit(s, key, "ADDED", out, None)

    def update(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        obj: JSON,
        *,
        subresource: str = "",
        force_conflict: bool = False,
        dry_run: bool = False,
        manager: str | None = None,
    ) -> JSON:
        """Replace an object; ``manager`` (the field manager) is recorded in its
        ``managedFields`` if it has them (`apply.record_update`)."""
        namespace = namespace if resource.namespaced else ""
        try:
            with self.lock:
                return clone(
                    self._update_locked(
                        resource,
                        namespace,
                        name,
                        obj,
                        subresource,
                        force_conflict,
                        dry_run,
                        manager,
                    )
                )
        finally:
            self._flush()

    def _update_locked(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        obj: JSON,
        subresource: str,
        force_conflict: bool,
        dry_run: bool = False,
        manager: str | None = None,
    ) -> JSON:
        s = self._state[resource.plural]
        key = (namespace, name)
        old = s.live.get(key)
        if old is None:
            raise st.not_found(resource.plural, name, resource.group)
        md = obj.get("metadata")
        if not isinstance(md, dict):
            md = {}
        body_name = md.get("name")
        if body_name and body_name != name:
            raise st.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        want = str(md.get("resourceVersion") or "")
        if want:
            parse_rv(want, "metadata.resourceVersion")
        if force_conflict or (want and want != old["metadata"]["resourceVersion"]):
            raise st.conflict(resource.plural, name, resource.group)
        if subresource == "status":
            new = {**old, "metadata": dict(old["metadata"])}
            if "status" in obj:
                new["status"] = clone(obj["status"])
            else:
                new.pop("status", None)
        else:
            new = {k: clone(v) for k, v in obj.items() if k not in ("kind", "apiVersion")}
            new_md = {k: clone(v) for k, v in md.items() if k != "deletionTimestamp"}
            for k in ("name", "namespace", "uid", "creationTimestamp", "generateName"):
                if k in old["metadata"]:
                    new_md[k] = old["metadata"][k]
                else:
                    new_md.pop(k, None)
            ordered: JSON = {"name": name}
            ordered.update({k: v for k, v in new_md.items() if k != "name"})
            new["metadata"] = ordered
            if resource.has_status:
                if "status" in old:
                    new["status"] = clone(old["status"])
                else:
                    new.pop("status", None)
            new = {"metadata": new.pop("metadata"), **new}
        if manager is not None and old["metadata"].get("managedFields"):
            ssa.record_update(
                old,
                new,
                manager=manager,
                api_version=resource.api_version,
                now=rfc3339(self._now()),
                has_status=resource.has_status,
                subresource=subresource,
            )
        resource.check(new, name)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return old  # a no-op write: no new revision, no event (as etcd's GuaranteedUpdate)
        if dry_run:
            return new  # what the update would store, at the old revision
        return self._commit(s, key, "MODIFIED", new, old)

    def patch(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        content_type: str,
        body: object,
        *,
        subresource: str = "",
        force_conflict: bool = False,
        dry_run: bool = False,
        manager: str | None = None,
    ) -> JSON:
        namespace = namespace if resource.namespaced else ""
        try:
            with self.lock:
                s = self._state[resource.plural]
                old = s.live.get((namespace, name))
                if old is None:
                    raise st.not_found(resource.plural, name, resource.group)
                try:
                    patched = apply_patch(content_type, old, body)
                except PatchError as e:
                    raise APIError(
                        st.status(
                            422,
                            "Invalid",
                            f"the server rejected our request due to an error in our request: {e}",
                        )
                    ) from None
                if not isinstance(patched, dict):
                    raise st.bad_request("the patch did not produce an object")
                md = patched.get("metadata")
                if not isinstance(md, dict):
                    raise st.bad_request("the patch removed metadata")
                if md.get("name") != name:
                    raise st.bad_request("metadata.name cannot be changed by a patch")
                if not md.get("resourceVersion"):
                    md["resourceVersion"] = old["metadata"]["resourceVersion"]
                return clone(
                    self._update_locked(
                        resource,
                        namespace,
                        name,
                        patched,
                        subresource,
                        force_conflict,
                        dry_run,
                        manager,
                    )
                )
        finally:
            self._flush()

    def server_side_apply(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        make: Callable[[JSON | None], JSON],
        *,
        force_conflict: bool = False,
        dry_run: bool = False,
    ) -> tuple[JSON, bool]:
        """Server-side apply: ``make(live or None)`` (`apply.apply`) is the object to store,
        read and written under the lock; created if absent. Returns it and whether it
        was created."""
        namespace = namespace if resource.namespaced else ""
        try:
            with self.lock:
                old = self._state[resource.plural].live.get((namespace, name))
                new = make(old)
                if old is None:
                    created = self._create_locked(resource, namespace, new, dry_run=dry_run)
                    return clone(created), True
                updated = self._update_locked(
                    resource, namespace, name, new, "", force_conflict, dry_run
                )
                return clone(updated), False
        finally:
            self._flush()

    def delete(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
        force_conflict: bool = False,
        dry_run: bool = False,
    ) -> JSON:
        namespace = namespace if resource.namespaced else ""
        try:
            with self.lock:
                s = self._state[resource.plural]
                key = (namespace, name)
                old = s.live.get(key)
                if old is None:
                    raise st.not_found(resource.plural, name, resource.group)
                md = old["metadata"]
                if uid and uid != md.get("uid"):
                    raise st.conflict(
                        resource.plural,
                        name,
                        resource.group,
                        f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                        f"{md.get('uid')}",
                    )
                if force_conflict or (
                    resource_version and resource_version != md["resourceVersion"]
                ):
                    raise st.conflict(
                        resource.plural,
                        name,
                        resource.group,
                        f"the ResourceVersion in the precondition ({resource_version}) does not "
                        f"match the ResourceVersion in record ({md['resourceVersion']}). The "
                        "object might have been modified",
                    )
                if dry_run:
                    return clone(old)  # the object as it is: nothing deleted
                return clone(self._commit(s, key, "DELETED", None, old))
        finally:
            self._flush()

    def delete_collection(
        self,
        resource: Resource,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        *,
        dry_run: bool = False,
    ) -> list[JSON]:
        try:
            with self.lock:
                s = self._state[resource.plural]
                out = []
                for key, obj in sorted(s.live.items()):
                    if namespace is not None and key[0] != namespace:
                        continue
                    if labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(
                        resource.field_labels(obj)
                    ):
                        if dry_run:
                            out.append(clone(obj))
                        else:
                            out.append(clone(self._commit(s, key, "DELETED", None, obj)))
                return out
        finally:
            self._flush()

    def apply_many(
        self, resource: Resource, ops: Iterable[tuple[str, str, bool, JSON, JSON]]
    ) -> int:
        """Many writes under one lock hold; each op is (namespace, name, delete, body, patch).

        An op deletes the object if asked and it exists, merge-patches it with
        ``patch`` if it exists, and creates it from ``body`` otherwise: every op
        is one write. Returns the number of writes. Used by the burst fault.
        The store takes ``body`` as it is (no copy, no field-type check): pass fresh
        objects of the server's own making.
        """
        done = 0
        try:
            with self.lock:
                s = self._state[resource.plural]
                for ns, name, delete, body, patch in ops:
                    key = (ns, name)
                    old = s.live.get(key)
                    if old is not None and delete:
                        self._commit(s, key, "DELETED", None, old)
                    elif old is not None:
                        new = apply_patch("application/merge-patch+json", old, patch)
                        self._commit(s, key, "MODIFIED", new, old)
                    else:
                        self._create_locked(resource, ns, body, owned=True)
                    done += 1
        finally:
            self._flush()
        return done

    # ---- compaction and restarts -----------------------------------------------------

    def compact(self, rv: int | None = None) -> int:
        """Forget history at or below ``rv`` (default: now); returns the horizon."""
        with self.lock:
            target = self.rv if rv is None else min(rv, self.rv)
            if target > self.horizon:
                self._compact_locked(target)
            return self.horizon

    def _compact_locked(self, target: int) -> None:
        self.horizon = target
        self.compactions += 1
        while self._event_rvs and self._event_rvs[0] <= target:
            self._event_rvs.popleft()
        for s in self._state.values():
            i = bisect.bisect_right(s.event_rvs, target)
            if i:
                del s.events[:i]
                del s.event_rvs[:i]
            dead: list[Key] = []
            for key, hist in s.history.items():
                j = bisect.bisect_right(hist, target, key=lambda v: v.rv) - 1
                if j > 0:
                    del hist[:j]
                if hist[0].obj is None and hist[0].rv <= target:
                    dead.append(key)
            if dead:
                for key in dead:
                    del s.history[key]
                s.keys = sorted(s.history)
                s.fresh.clear()

    def wipe(self, *, reset_rv: bool = False) -> None:
        """Lose every object, as a restart without state does; old watches get 410."""
        with self.lock:
            if reset_rv:
                self.rv = self.initial_rv
            self._state = {r.plural: _ResourceState(r) for r in RESOURCES}
            self._seed_locked()
            self._event_rvs.clear()
            self.horizon = self.rv
            self._changed.update(r.plural for r in RESOURCES)
        self._flush()

    def check(self) -> None:
        """Assert the invariants in the module docstring (for tests)."""
        with self.lock:
            assert self.horizon <= self.rv
            for s in self._state.values():
                assert s.event_rvs == sorted(s.event_rvs) == [e.rv for e in s.events]
                assert all(self.horizon < rv <= self.rv for rv in s.event_rvs)
                assert s.sorted_keys() == sorted(s.history)
                for key, hist in s.history.items():
                    assert [v.rv for v in hist] == sorted(v.rv for v in hist)
                    assert (hist[-1].obj is None) == (key not in s.live)
                    if key in s.live:
                        assert _rv_of(s.live[key]) == str(hist[-1].rv)
