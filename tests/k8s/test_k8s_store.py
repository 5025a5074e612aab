"""The informer's cache: keys, indexes, and a relist that leaves tombstones."""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch import store as store_mod  # noqa: E402
from examples.k8s_watch.fake import obj  # noqa: E402
from examples.k8s_watch.store import (  # noqa: E402
    DeletedFinalStateUnknown,
    Store,
    UnkeyableObject,
    meta_namespace_key,
    namespace_index,
    split_key,
)


def test_keys_are_namespace_slash_name() -> None:
    assert meta_namespace_key(obj("web", "1", "prod")) == "prod/web"
    assert meta_namespace_key({"metadata": {"name": "node-1"}}) == "node-1"
    assert meta_namespace_key(DeletedFinalStateUnknown("a/b", {})) == "a/b"
    assert split_key("prod/web") == ("prod", "web")
    assert split_key("node-1") == ("", "node-1")
    with pytest.raises(UnkeyableObject):
        meta_namespace_key({"metadata": {}})


def test_add_update_delete_get() -> None:
    s = Store()
    assert s.add(obj("a", "1")) is None
    old = s.update(obj("a", "2"))
    assert old is not None and old["metadata"]["resourceVersion"] == "1"
    assert s.get_by_key("default/a")["metadata"]["resourceVersion"] == "2"  # type: ignore[index]
    assert s.get(obj("a", "whatever")) is s.get_by_key("default/a")
    assert "default/a" in s and len(s) == 1
    gone = s.delete(obj("a", "3"))
    assert gone is not None and gone["metadata"]["resourceVersion"] == "2"
    assert s.delete(obj("a", "3")) is None  # deleting twice is harmless
    assert s.list() == [] and s.list_keys() == []


def test_replace_reports_added_updated_and_tombstones() -> None:
    s = Store()
    s.add(obj("keep", "1"))
    s.add(obj("gone", "2"))
    s.add(obj("also-gone", "3", "other"))
    delta = s.replace([obj("keep", "5"), obj("new", "6")], "6")
    assert [o["metadata"]["name"] for o in delta.added] == ["new"]
    assert [
        (a["metadata"]["resourceVersion"], b["metadata"]["resourceVersion"])
        for a, b in delta.updated
    ] == [("1", "5")]
    tombs = sorted(delta.deleted, key=lambda t: t.key)
    assert [t.key for t in tombs] == ["default/gone", "other/also-gone"]
    # A tombstone carries the last state the cache saw.
    assert all(isinstance(t, DeletedFinalStateUnknown) for t in tombs)
    assert tombs[0].obj["metadata"]["resourceVersion"] == "2"
    assert sorted(s.list_keys()) == ["default/keep", "default/new"]
    assert s.resource_version == "6"
    # A tombstone can be deleted from a store by its key.
    s.add(obj("gone", "7"))
    assert s.delete(tombs[0]) is not None and "default/gone" not in s


def test_indexes_follow_every_write() -> None:
    s = Store(indexers={"namespace": namespace_index})
    s.add(obj("a", "1", "x"))
    s.add(obj("b", "1", "x"))
    s.add(obj("c", "1", "y"))
    assert [o["metadata"]["name"] for o in s.by_index("namespace", "x")] == ["a", "b"]
    s.update(obj("b", "2", "x"))
    s.delete(obj("a", "3", "x"))
    assert s.index_keys("namespace", "x") == ["x/b"]
    s.replace([obj("z", "9", "z")])
    assert s.list_index_values("namespace") == ["z"]
    # An index added later is built from what is there.
    s.add_indexers({"name": lambda o: [o["metadata"]["name"]]})
    assert s.index_keys("name", "z") == ["z/z"]
    with pytest.raises(ValueError):
        s.add_indexers({"name": lambda o: []})
    with pytest.raises(KeyError):
        s.by_index("nope", "x")


def test_module_doctests() -> None:
    result = doctest.testmod(store_mod)
    assert result.attempted > 0 and result.failed == 0
