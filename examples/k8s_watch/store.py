"""The informer's cache: client-go's ``cache.Store`` / ``cache.Indexer``.

Objects are plain dicts as they come off the wire, keyed ``namespace/name``
(just ``name`` for cluster-scoped objects), client-go's
``MetaNamespaceKeyFunc``. Indexers map an object to index values
(``by_index("namespace", "default")``), as ``cache.Indexers`` do.

`Store.replace` is the relist: it swaps the whole content for a fresh LIST
and says what changed, including the keys that vanished while nobody was
watching. Those are delivered to ``on_delete`` as a `DeletedFinalStateUnknown`
tombstone, client-go's type for "this was deleted, but the object you get is
the last state we saw, not the final one".

The store belongs to one thread (the scheduler's: the reflector writes, the
workers read, all green tasks of one thread), so it takes no lock.

>>> s = Store()
>>> s.add({"metadata": {"namespace": "default", "name": "web", "resourceVersion": "7"}})
>>> s.list_keys()
['default/web']
>>> delta = s.replace([{"metadata": {"namespace": "default", "name": "db"}}])
>>> [d.key for d in delta.deleted], delta.deleted[0]
(['default/web'], DeletedFinalStateUnknown(key='default/web'))
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]
KeyFunc = Callable[[JSON], str]
IndexFunc = Callable[[JSON], list[str]]


class UnkeyableObject(ValueError):
    """An object without ``metadata.name``: it cannot be keyed."""


def meta_namespace_key(obj: JSON | DeletedFinalStateUnknown) -> str:
    """client-go's ``MetaNamespaceKeyFunc``: ``namespace/name``, or ``name``.

    >>> meta_namespace_key({"metadata": {"namespace": "ns", "name": "a"}})
    'ns/a'
    >>> meta_namespace_key(DeletedFinalStateUnknown("ns/a", {}))
    'ns/a'
    """
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    md = obj.get("metadata") or {}
    name = md.get("name")
    if not name:
        raise UnkeyableObject(f"object has no metadata.name: {obj!r:.120}")
    ns = md.get("namespace")
    return f"{ns}/{name}" if ns else str(name)


def split_key(key: str) -> tuple[str, str]:
    """``"ns/name"`` -> ``("ns", "name")``; ``"name"`` -> ``("", "name")``.

    >>> split_key("default/web"), split_key("node-1")
    (('default', 'web'), ('', 'node-1'))
    """
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else ("", ns)


def namespace_index(obj: JSON) -> list[str]:
    """client-go's ``MetaNamespaceIndexFunc``."""
    return [(obj.get("metadata") or {}).get("namespace", "")]


@dataclass(frozen=True)
class DeletedFinalStateUnknown:
    """A tombstone: the key vanished across a relist; ``obj`` is the last state seen."""

    key: str
    obj: JSON = field(repr=False)


@dataclass
class ReplaceDelta:
    """What a relist changed: new keys, keys that were already there, keys gone."""

    added: list[JSON] = field(default_factory=list)
    updated: list[tuple[JSON, JSON]] = field(default_factory=list)  # (old, new)
    deleted: list[DeletedFinalStateUnknown] = field(default_factory=list)


class Store:
    """A keyed cache of objects with optional indexes (client-go's ``Indexer``)."""

    def __init__(
        self,
        key_func: KeyFunc = meta_namespace_key,
        indexers: dict[str, IndexFunc] | None = None,
    ) -> None:
        self.key_func = key_func
        self._items: dict[str, JSON] = {}
        self._indexers: dict[str, IndexFunc] = {}
        # index name -> index value -> keys
        self._indices: dict[str, dict[str, set[str]]] = {}
        self.resource_version = ""  # of the last replace, or the last event applied
        if indexers:
            self.add_indexers(indexers)

    def __repr__(self) -> str:
        return f"<Store {len(self._items)} objects rv={self.resource_version!r}>"

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[JSON]:
        return iter(list(self._items.values()))

    # -- indexes ----------------------------------------------------------------------------

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        """Add indexes (also on a non-empty store: they are built at once)."""
        for name, fn in indexers.items():
            if name in self._indexers:
                raise ValueError(f"indexer {name!r} already exists")
            self._indexers[name] = fn
            index: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for value in fn(obj):
                    index.setdefault(value, set()).add(key)
            self._indices[name] = index

    def _unindex(self, key: str, obj: JSON) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    def _index(self, key: str, obj: JSON) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                index.setdefault(value, set()).add(key)

    def index_keys(self, index_name: str, value: str) -> list[str]:
        if index_name not in self._indexers:
            raise KeyError(f"no indexer {index_name!r}")
        return sorted(self._indices[index_name].get(value, ()))

    def by_index(self, index_name: str, value: str) -> list[JSON]:
        """The objects whose index ``index_name`` includes ``value``."""
        return [self._items[k] for k in self.index_keys(index_name, value)]

    def list_index_values(self, index_name: str) -> list[str]:
        if index_name not in self._indexers:
            raise KeyError(f"no indexer {index_name!r}")
        return sorted(self._indices[index_name])

    # -- writes -----------------------------------------------------------------------------

    def _put(self, key: str, obj: JSON) -> JSON | None:
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        return old

    def add(self, obj: JSON) -> JSON | None:
        """Insert or replace; returns the previous object of the key, if any."""
        return self._put(self.key_func(obj), obj)

    update = add

    def delete(self, obj: JSON | DeletedFinalStateUnknown) -> JSON | None:
        """Remove the object's key; returns what was stored, if anything."""
        key = obj.key if isinstance(obj, DeletedFinalStateUnknown) else self.key_func(obj)
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def replace(self, items: Iterable[JSON], resource_version: str = "") -> ReplaceDelta:
        """Swap the content for ``items`` (a relist); returns what changed, with a
        tombstone for every key that is gone."""
        delta = ReplaceDelta()
        fresh: dict[str, JSON] = {}
        for obj in items:
            fresh[self.key_func(obj)] = obj
        for key, gone in list(self._items.items()):
            if key not in fresh:
                self._unindex(key, gone)
                del self._items[key]
                delta.deleted.append(DeletedFinalStateUnknown(key, gone))
        for key, obj in fresh.items():
            old = self._put(key, obj)
            if old is None:
                delta.added.append(obj)
            else:
                delta.updated.append((old, obj))
        self.resource_version = resource_version
        return delta

    # -- reads ------------------------------------------------------------------------------

    def get(self, obj: JSON) -> JSON | None:
        return self._items.get(self.key_func(obj))

    def get_by_key(self, key: str) -> JSON | None:
        return self._items.get(key)

    def list(self) -> builtins.list[JSON]:
        return list(self._items.values())

    def list_keys(self) -> builtins.list[str]:
        return list(self._items)


__all__ = [
    "DeletedFinalStateUnknown",
    "ReplaceDelta",
    "Store",
    "UnkeyableObject",
    "meta_namespace_key",
    "namespace_index",
    "split_key",
]
