"""Server-side apply over HTTP and its pieces (`apply.py`): what kubectl does not show.

kubectl's own runs are in test_k8s_apiserver_kubectl.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import APIServer, ManualClock, serve  # noqa: E402
from examples.k8s_watch.apiserver import apply as ssa  # noqa: E402
from examples.k8s_watch.apiserver.client import request  # noqa: E402

CM = "/api/v1/namespaces/default/configmaps/c"
APPLY = {"Content-Type": ssa.MEDIA_TYPE}


@pytest.fixture
def srv() -> Iterator[APIServer]:
    with serve(clock=ManualClock()) as s:
        yield s


def apply(srv: APIServer, body: Any, query: str = "?fieldManager=m") -> tuple[int, Any]:
    r = request(srv.url, "PATCH", CM + query, body, headers=APPLY)
    return r.status, r.json()


def cm(data: dict[str, str], **md: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", **md}, "data": data}


def test_create_then_update_answers_201_then_200(srv: APIServer) -> None:
    code, obj = apply(srv, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: x}\n")
    assert code == 201 and obj["data"] == {"a": "x"}
    [entry] = obj["metadata"]["managedFields"]
    assert entry == {
        "manager": "m",
        "operation": "Apply",
        "apiVersion": "v1",
        "time": entry["time"],
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {"f:a": {}}},
    }
    code, obj = apply(srv, cm({"a": "y"}))
    assert code == 200 and obj["data"] == {"a": "y"}


def test_bad_requests(srv: APIServer) -> None:
    code, status = apply(srv, cm({"a": "x"}), query="")
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
        "for apply patch"
    )
    code, status = apply(srv, cm({"a": "x"}, managedFields=[]))
    assert (code, status["message"]) == (400, "metadata.managedFields must be nil")
    code, status = apply(srv, {**cm({}), "apiVersion": "v2"})
    assert code == 400 and "Incorrect version specified in apply patch" in status["message"]
    code, status = apply(srv, cm({}, name="other"))
    assert code == 400 and "does not match the name on the URL" in status["message"]
    code, status = apply(srv, b"a: [")
    assert code == 400 and "error decoding YAML" in status["message"]
    assert srv.objects("configmaps") == []


def test_dry_run_stores_nothing(srv: APIServer) -> None:
    code, obj = apply(srv, cm({"a": "x"}), "?fieldManager=m&dryRun=All")
    assert code == 201 and obj["data"] == {"a": "x"} and srv.objects("configmaps") == []


def test_conflicts_with_several_managers(srv: APIServer) -> None:
    apply(srv, cm({"a": "1"}), "?fieldManager=one")
    apply(srv, cm({"b": "1"}), "?fieldManager=two")
    code, status = apply(srv, cm({"a": "2", "b": "2"}), "?fieldManager=three")
    assert (code, status["reason"]) == (409, "Conflict")
    assert status["message"] == (
        'Apply failed with 2 conflicts: conflicts with "one":\n- .data.a\n'
        'conflicts with "two":\n- .data.b'
    )
    assert status["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "one"', "field": ".data.a"},
        {"reason": "FieldManagerConflict", "message": 'conflict with "two"', "field": ".data.b"},
    ]
    code, obj = apply(srv, cm({"a": "2", "b": "2"}), "?fieldManager=three&force=true")
    assert code == 200 and [e["manager"] for e in obj["metadata"]["managedFields"]] == ["three"]


def test_same_value_is_shared_and_only_unshared_fields_are_removed(srv: APIServer) -> None:
    apply(srv, cm({"a": "1", "b": "1"}), "?fieldManager=one")
    code, _ = apply(srv, cm({"a": "1"}), "?fieldManager=two")  # same value: no conflict
    assert code == 200
    _, obj = apply(srv, cm({}), "?fieldManager=one")  # one lets go of a and b
    assert obj["data"] == {"a": "1"}  # two still owns a; b had no other owner


def test_updates_are_recorded_once_tracking_started(srv: APIServer) -> None:
    srv.create("configmaps", cm({"a": "1"}))
    r = request(srv.url, "PUT", CM + "?fieldManager=editor", cm({"a": "2"}))
    assert "managedFields" not in r.json()["metadata"]  # not tracked before the first apply
    _, live = apply(srv, cm({"b": "1"}))
    live["data"]["a"] = "3"
    r = request(srv.url, "PUT", CM + "?fieldManager=editor", live)
    fields = {e["manager"]: e["fieldsV1"] for e in r.json()["metadata"]["managedFields"]}
    assert fields["editor"] == {"f:data": {"f:a": {}}}
    assert fields["before-first-apply"] == {"f:data": {}}  # a moved to the editor
    merge = {"Content-Type": "application/merge-patch+json"}
    r = request(srv.url, "PATCH", CM, {"data": {"b": "2"}}, headers={**merge, "User-Agent": "x/1"})
    fields = {e["manager"]: e["fieldsV1"] for e in r.json()["metadata"]["managedFields"]}
    assert fields["x"] == {"f:data": {"f:b": {}}} and "m" not in fields  # m's only field moved


@pytest.mark.parametrize(
    "paths",
    [
        {("f:data",)},
        {("f:data",), ("f:data", "f:a")},
        {
            ("f:spec", "f:containers", 'k:{"name":"c"}'),
            ("f:spec", "f:containers", 'k:{"name":"c"}', "f:image"),
        },
        {("f:metadata", "f:finalizers", 'v:"x"')},
    ],
)
def test_fields_v1_round_trips(paths: set[tuple[str, ...]]) -> None:
    assert ssa.from_fields_v1(ssa.to_fields_v1(paths)) == paths
