"""The embedded apiserver over raw HTTP: discovery, REST semantics and every Status path.

No client library in between: each test sends bytes and checks the shapes
and codes a real kube-apiserver gives (``Status`` objects with Go's reasons,
``PodList`` with ``metadata.resourceVersion``, items without kind). Watch
streams are read chunk by chunk with ``RawWatch``; time-driven behaviour
(bookmarks, ``timeoutSeconds``) runs on a ``ManualClock``.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httptools
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import APIServer, ManualClock, serve  # noqa: E402
from examples.k8s_watch.apiserver.client import HTTPResult, RawWatch, request  # noqa: E402
from examples.k8s_watch.apiserver.resources import by_name  # noqa: E402
from examples.k8s_watch.apiserver.store import Store  # noqa: E402

PODS = "/api/v1/namespaces/default/pods"
CMS = "/api/v1/namespaces/default/configmaps"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def pod(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}], **spec},
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def srv(clock: ManualClock) -> Iterator[APIServer]:
    with serve(clock=clock, bookmark_interval=10.0, too_large_wait=0.05) as s:
        yield s


def call(srv: APIServer, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    r = request(srv.url, method, path, body, **kw)
    if not r.headers.get("content-type", "").startswith("application/json"):
        return r.status, r.body.decode()
    out = r.json()
    if out.get("kind") == "Status" and out.get("status") == "Failure":
        assert out["code"] == r.status  # the Status says what the HTTP status line says
    return r.status, out


def assert_status(body: Any, code: int, reason: str, message: str | None = None) -> None:
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure" and body["code"] == code and body["reason"] == reason
    assert body["metadata"] == {}
    if message is not None:
        assert message in body["message"], body["message"]


# ---- discovery -------------------------------------------------------------------------------


def test_discovery_documents(srv: APIServer) -> None:
    code, version = call(srv, "GET", "/version")
    assert code == 200 and version["major"] == "1" and version["gitVersion"].startswith("v1.")
    code, api = call(srv, "GET", "/api")
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    code, v1 = call(srv, "GET", "/api/v1")
    assert v1["kind"] == "APIResourceList" and v1["groupVersion"] == "v1"
    names = {r["name"]: r for r in v1["resources"]}
    assert set(names) == {"pods", "pods/status", "configmaps", "namespaces", "events"}
    assert names["namespaces"]["namespaced"] is False
    assert names["namespaces"]["shortNames"] == ["ns"]
    assert names["pods"]["kind"] == "Pod" and names["pods"]["namespaced"] is True
    assert "watch" in names["pods"]["verbs"] and names["pods"]["shortNames"] == ["po"]
    code, apis = call(srv, "GET", "/apis")
    assert apis["kind"] == "APIGroupList"
    assert [g["name"] for g in apis["groups"]] == ["coordination.k8s.io"]
    assert apis["groups"][0]["preferredVersion"]["groupVersion"] == "coordination.k8s.io/v1"
    code, group = call(srv, "GET", "/apis/coordination.k8s.io")
    assert code == 200 and group["kind"] == "APIGroup"
    code, leases = call(srv, "GET", "/apis/coordination.k8s.io/v1")
    assert [r["name"] for r in leases["resources"]] == ["leases"]
    assert call(srv, "GET", "/healthz") == (200, "ok")
    assert call(srv, "GET", "/readyz")[0] == 200
    code, root = call(srv, "GET", "/openapi/v3")
    assert "api/v1" in root["paths"] and "apis/coordination.k8s.io/v1" in root["paths"]
    code, doc = call(srv, "GET", "/openapi/v3/api/v1")
    assert code == 200 and "/api/v1/namespaces/{namespace}/pods/{name}" in doc["paths"]


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/api/v2",
        "/api/v1/foos",
        "/apis/example.com/v1",
        "/apis/coordination.k8s.io/v2/leases",
        "/api/v1/namespaces/default/pods/a/b/c",
        "/api/v1/pods/a",
        "/api/v1/namespaces/default/configmaps/x/status",
        "/openapi/v3/apis/nope/v1",
        "/debug/nothing",
    ],
)
def test_unknown_paths_are_404_status(srv: APIServer, path: str) -> None:
    code, body = call(srv, "GET", path)
    assert code == 404
    assert_status(body, 404, "NotFound")


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/api/v1/pods"),
        ("DELETE", "/api/v1/pods"),
        ("PUT", PODS),
        ("PATCH", PODS),
        ("POST", PODS + "/x"),
        ("DELETE", PODS + "/x/status"),
        ("POST", "/version"),
        ("POST", "/api"),
        ("DELETE", "/healthz"),
        ("PUT", "/debug/faults"),
    ],
)
def test_wrong_methods_are_405_status(srv: APIServer, method: str, path: str) -> None:
    code, body = call(srv, method, path, {})
    assert code == 405
    assert_status(body, 405, "MethodNotAllowed")


def test_loopback_only_by_default() -> None:
    with pytest.raises(ValueError, match="loopback"):
        APIServer("0.0.0.0")
    APIServer("0.0.0.0", allow_remote=True)  # constructing does not listen


# ---- CRUD and Status objects -------------------------------------------------------------


def test_create_get_list_shapes(srv: APIServer) -> None:
    start = srv.resource_version
    assert start >= 1000  # one global counter, well above 1
    code, created = call(srv, "POST", PODS, pod("a", {"app": "web"}))
    assert code == 201
    assert created["kind"] == "Pod" and created["apiVersion"] == "v1"
    md = created["metadata"]
    assert md["name"] == "a" and md["namespace"] == "default" and md["uid"]
    assert md["resourceVersion"] == str(start + 1) and md["creationTimestamp"].endswith("Z")
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert created["spec"]["restartPolicy"] == "Always"
    code, got = call(srv, "GET", PODS + "/a")
    assert got == created
    call(srv, "POST", CMS, {"metadata": {"name": "c"}, "data": {"k": "v"}})
    code, lst = call(srv, "GET", PODS)
    assert lst["kind"] == "PodList" and lst["apiVersion"] == "v1"
    assert lst["metadata"] == {"resourceVersion": str(start + 2)}  # the global revision
    assert len(lst["items"]) == 1
    assert "kind" not in lst["items"][0] and "apiVersion" not in lst["items"][0]
    code, all_ns = call(srv, "GET", "/api/v1/configmaps")
    assert all_ns["kind"] == "ConfigMapList" and all_ns["items"][0]["data"] == {"k": "v"}


def test_generate_name(srv: APIServer) -> None:
    code, created = call(srv, "POST", PODS, {**pod(""), "metadata": {"generateName": "web-"}})
    assert code == 201
    name = created["metadata"]["name"]
    assert name.startswith("web-") and len(name) == len("web-") + 5


@pytest.mark.parametrize(
    ("method", "path", "ctype", "prefix"),
    [
        ("POST", PODS, "application/json", "json parse error"),
        ("PUT", PODS + "/a", "application/json", "json parse error"),
        ("PATCH", PODS + "/a", "application/merge-patch+json", "error decoding patch"),
        ("PATCH", PODS + "/a", "application/json-patch+json", "error decoding patch"),
        ("PATCH", PODS + "/a", "application/strategic-merge-patch+json", "error decoding patch"),
    ],
)
def test_bodies_nested_past_the_decoder_are_a_400(
    srv: APIServer, method: str, path: str, ctype: str, prefix: str
) -> None:
    """100,000 nested ``[`` (past Python's recursion limit, as past Go's max depth): a
    400 BadRequest Status, not a 500 with a RecursionError; the connection serves on."""
    call(srv, "POST", PODS, pod("a"))
    rv = srv.resource_version
    code, body = call(srv, method, path, b"[" * 100_000, headers={"Content-Type": ctype})
    assert code == 400
    assert_status(body, 400, "BadRequest", f"{prefix}: exceeded max depth")
    assert "RecursionError" not in body["message"]
    # A body the decoder takes but too deep for what follows (the store's copy): also 400.
    deep: Any = []
    for _ in range(700):
        deep = [deep]
    obj = {**pod("a"), "extra": deep} if method != "PATCH" else {"extra": deep}
    if ctype == "application/json-patch+json":
        obj = [{"op": "add", "path": "/metadata/annotations", "value": {"x": deep}}]
    code, body = call(srv, method, path, obj, headers={"Content-Type": ctype})
    assert code == 400, body
    assert_status(body, 400, "BadRequest", "exceeded max depth")
    assert srv.resource_version == rv and srv.counters["internal_errors"] == 0  # nothing written
    assert call(srv, "GET", PODS + "/a")[0] == 200


def test_already_exists_not_found_and_bad_bodies(srv: APIServer) -> None:
    call(srv, "POST", PODS, pod("a"))
    code, body = call(srv, "POST", PODS, pod("a"))
    assert_status(body, 409, "AlreadyExists", 'pods "a" already exists')
    assert body["details"] == {"name": "a", "kind": "pods"}
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else None
        code, body = call(srv, method, PODS + "/zz", pod("zz"), headers=headers)
        assert code == 404, method
        assert_status(body, 404, "NotFound", 'pods "zz" not found')
    code, body = call(srv, "POST", PODS, b"{not json", headers={"Content-Type": "application/json"})
    assert_status(body, 400, "BadRequest", "json parse error")
    code, body = call(srv, "POST", PODS, [1, 2])
    assert_status(body, 400, "BadRequest")
    code, body = call(srv, "POST", PODS, {**pod("b"), "kind": "ConfigMap"})
    assert_status(body, 400, "BadRequest", "kind")
    code, body = call(srv, "POST", PODS, {**pod("b"), "apiVersion": "v2"})
    assert_status(body, 400, "BadRequest", "API version")
    code, body = call(
        srv, "POST", PODS, {**pod("b"), "metadata": {"name": "b", "namespace": "other"}}
    )
    assert_status(body, 400, "BadRequest", "namespace of the provided object")
    code, body = call(srv, "PUT", PODS + "/a", pod("other"))
    assert_status(body, 400, "BadRequest", "does not match the name on the URL")
    code, body = call(srv, "POST", PODS, b"", headers={"Content-Type": "application/json"})
    assert_status(body, 400, "BadRequest", "empty")
    code, body = call(srv, "POST", PODS, b"a: b", headers={"Content-Type": "application/yaml"})
    assert_status(body, 415, "UnsupportedMediaType")
    code, body = call(srv, "GET", PODS, headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert_status(body, 406, "NotAcceptable")
    code, body = call(srv, "GET", "/api/v1/namespaces/Bad_NS/pods")
    assert_status(body, 404, "NotFound", 'namespaces "Bad_NS" not found')


def test_invalid_objects_are_422(srv: APIServer) -> None:
    _, body = call(srv, "POST", PODS, pod("Bad_Name"))
    assert_status(body, 422, "Invalid", 'Pod "Bad_Name" is invalid: metadata.name: Invalid value')
    cause = body["details"]["causes"][0]
    assert cause == {
        "reason": "FieldValueInvalid",
        "message": cause["message"],
        "field": "metadata.name",
    }
    assert body["details"]["kind"] == "Pod" and body["details"]["name"] == "Bad_Name"
    _, body = call(srv, "POST", PODS, {"metadata": {"name": "x"}, "spec": {}})
    assert_status(body, 422, "Invalid", "spec.containers: Required value")
    _, body = call(srv, "POST", PODS, {"metadata": {}, "spec": {}})
    assert_status(body, 422, "Invalid", "name or generateName is required")
    _, body = call(srv, "POST", CMS, {"metadata": {"name": "c"}, "data": {"k": 1}})
    assert_status(body, 422, "Invalid", "data[k]")
    _, body = call(
        srv, "POST", LEASES, {"metadata": {"name": "l"}, "spec": {"leaseTransitions": -1}}
    )
    assert_status(body, 422, "Invalid")
    assert body["details"]["group"] == "coordination.k8s.io"


def test_update_with_resource_version_precondition(srv: APIServer) -> None:
    _, created = call(srv, "POST", PODS, pod("a"))
    stale = json.loads(json.dumps(created))
    created["metadata"]["labels"] = {"v": "1"}
    code, updated = call(srv, "PUT", PODS + "/a", created)
    assert code == 200 and updated["metadata"]["labels"] == {"v": "1"}
    assert int(updated["metadata"]["resourceVersion"]) > int(stale["metadata"]["resourceVersion"])
    assert updated["metadata"]["uid"] == stale["metadata"]["uid"]
    stale["metadata"]["labels"] = {"v": "stale"}
    code, body = call(srv, "PUT", PODS + "/a", stale)
    assert_status(body, 409, "Conflict", 'Operation cannot be fulfilled on pods "a"')
    assert "the object has been modified" in body["message"]
    # No resourceVersion in the body: an unconditional update.
    del stale["metadata"]["resourceVersion"]
    code, body = call(srv, "PUT", PODS + "/a", stale)
    assert code == 200 and body["metadata"]["labels"] == {"v": "stale"}
    code, body = call(
        srv, "PUT", PODS + "/a", {**stale, "metadata": {"name": "a", "resourceVersion": "x"}}
    )
    assert_status(body, 400, "BadRequest", "resourceVersion")


def test_noop_update_keeps_the_revision(srv: APIServer) -> None:
    _, created = call(srv, "POST", PODS, pod("a"))
    rv = srv.resource_version
    code, same = call(srv, "PUT", PODS + "/a", created)
    assert (
        code == 200
        and same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    )
    assert srv.resource_version == rv


def test_patches(srv: APIServer) -> None:
    _, created = call(srv, "POST", PODS, pod("a", {"x": "1", "y": "2"}))
    merge = {"Content-Type": "application/merge-patch+json"}
    code, patched = call(
        srv, "PATCH", PODS + "/a", {"metadata": {"labels": {"x": None, "z": "3"}}}, headers=merge
    )
    assert code == 200 and patched["metadata"]["labels"] == {"y": "2", "z": "3"}
    stale = {
        "metadata": {
            "resourceVersion": created["metadata"]["resourceVersion"],
            "labels": {"q": "1"},
        }
    }
    code, body = call(srv, "PATCH", PODS + "/a", stale, headers=merge)
    assert_status(body, 409, "Conflict")
    jp = {"Content-Type": "application/json-patch+json"}
    ops = [{"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}]
    code, patched = call(srv, "PATCH", PODS + "/a", ops, headers=jp)
    assert code == 200 and patched["metadata"]["annotations"] == {"a": "b"}
    code, body = call(
        srv,
        "PATCH",
        PODS + "/a",
        [{"op": "test", "path": "/metadata/name", "value": "b"}],
        headers=jp,
    )
    assert_status(body, 422, "Invalid", "test failed")
    smp = {"Content-Type": "application/strategic-merge-patch+json"}
    containers = {"spec": {"containers": [{"name": "side", "image": "envoy"}]}}
    code, patched = call(srv, "PATCH", PODS + "/a", containers, headers=smp)
    assert [c["name"] for c in patched["spec"]["containers"]] == ["main", "side"]
    code, body = call(
        srv, "PATCH", PODS + "/a", {}, headers={"Content-Type": "application/apply-patch+yaml"}
    )
    assert_status(body, 422, "Invalid", "fieldManager: Required value")  # test_k8s_apply.py
    code, body = call(srv, "PATCH", PODS + "/a", b"{", headers=merge)
    assert_status(body, 400, "BadRequest")


def test_status_subresource(srv: APIServer) -> None:
    _, created = call(srv, "POST", PODS, pod("a"))
    created["status"] = {"phase": "Running"}
    created["metadata"]["labels"] = {"new": "label"}
    _, updated = call(srv, "PUT", PODS + "/a", created)
    assert updated["status"]["phase"] == "Pending"  # the main resource keeps status
    assert updated["metadata"]["labels"] == {"new": "label"}
    updated["status"] = {"phase": "Running"}
    updated["metadata"]["labels"] = {"ignored": "yes"}
    code, st = call(srv, "PUT", PODS + "/a/status", updated)
    assert code == 200 and st["status"] == {"phase": "Running"}
    assert st["metadata"]["labels"] == {"new": "label"}  # /status keeps everything else
    merge = {"Content-Type": "application/merge-patch+json"}
    code, st = call(
        srv, "PATCH", PODS + "/a/status", {"status": {"phase": "Succeeded"}}, headers=merge
    )
    assert st["status"]["phase"] == "Succeeded"
    assert call(srv, "GET", PODS + "/a/status")[1]["status"]["phase"] == "Succeeded"


def test_delete_shapes_and_preconditions(srv: APIServer) -> None:
    _, created = call(srv, "POST", PODS, pod("a"))
    code, body = call(srv, "DELETE", PODS + "/a", {"preconditions": {"resourceVersion": "1"}})
    assert_status(body, 409, "Conflict", "precondition")
    code, body = call(srv, "DELETE", PODS + "/a", {"preconditions": {"uid": "nope"}})
    assert_status(body, 409, "Conflict", "UID in precondition")
    code, body = call(
        srv, "DELETE", PODS + "/a", b"{x", headers={"Content-Type": "application/json"}
    )
    assert_status(body, 400, "BadRequest")
    code, deleted = call(srv, "DELETE", PODS + "/a")
    assert code == 200 and deleted["kind"] == "Pod"  # pods answer with the object
    assert int(deleted["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    call(srv, "POST", CMS, {"metadata": {"name": "c"}})
    code, body = call(srv, "DELETE", CMS + "/c")
    assert body["kind"] == "Status" and body["status"] == "Success"  # configmaps with a Status
    assert body["details"]["name"] == "c" and body["details"]["kind"] == "configmaps"


def test_deletecollection_with_selector(srv: APIServer) -> None:
    for i in range(4):
        call(srv, "POST", PODS, pod(f"p{i}", {"even": str(i % 2 == 0).lower()}))
    code, body = call(srv, "DELETE", PODS + "?labelSelector=even%3Dtrue")
    assert code == 200 and body["kind"] == "PodList"
    assert [p["metadata"]["name"] for p in body["items"]] == ["p0", "p2"]
    assert [p["metadata"]["name"] for p in call(srv, "GET", PODS)[1]["items"]] == ["p1", "p3"]


def test_leases_round_trip(srv: APIServer) -> None:
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
    }
    code, created = call(srv, "POST", LEASES, lease)
    assert code == 201 and created["apiVersion"] == "coordination.k8s.io/v1"
    created["spec"]["holderIdentity"] = "b"
    code, updated = call(srv, "PUT", LEASES + "/leader", created)
    assert updated["spec"]["holderIdentity"] == "b"
    code, body = call(srv, "PUT", LEASES + "/leader", created)  # stale now
    assert_status(body, 409, "Conflict", 'leases.coordination.k8s.io "leader"')
    assert body["details"]["group"] == "coordination.k8s.io"
    code, lst = call(srv, "GET", "/apis/coordination.k8s.io/v1/leases")
    assert lst["kind"] == "LeaseList" and lst["apiVersion"] == "coordination.k8s.io/v1"


# ---- list: paging, revisions, selectors ------------------------------------------------


def test_paging_is_a_consistent_snapshot(srv: APIServer) -> None:
    for i in range(25):
        call(srv, "POST", PODS, pod(f"p{i:02d}"))
    code, page = call(srv, "GET", PODS + "?limit=10")
    rv = page["metadata"]["resourceVersion"]
    assert len(page["items"]) == 10 and page["metadata"]["remainingItemCount"] == 15
    names = [p["metadata"]["name"] for p in page["items"]]
    # Writes between pages do not show: the token carries the first page's revision.
    call(srv, "DELETE", PODS + "/p15")
    call(srv, "POST", PODS, pod("p99"))
    cont = page["metadata"]["continue"]
    while cont:
        code, page = call(srv, "GET", f"{PODS}?limit=10&continue={cont}")
        assert code == 200 and page["metadata"]["resourceVersion"] == rv
        names += [p["metadata"]["name"] for p in page["items"]]
        cont = page["metadata"].get("continue", "")
    assert names == [f"p{i:02d}" for i in range(25)]


def test_list_resource_version_semantics(srv: APIServer) -> None:
    call(srv, "POST", PODS, pod("a"))
    rv = srv.resource_version
    call(srv, "POST", PODS, pod("b"))
    _, exact = call(srv, "GET", f"{PODS}?resourceVersion={rv}&resourceVersionMatch=Exact")
    assert [p["metadata"]["name"] for p in exact["items"]] == ["a"]
    assert exact["metadata"]["resourceVersion"] == str(rv)
    _, newer = call(srv, "GET", f"{PODS}?resourceVersion={rv}&resourceVersionMatch=NotOlderThan")
    assert len(newer["items"]) == 2
    assert len(call(srv, "GET", f"{PODS}?resourceVersion=0")[1]["items"]) == 2
    _, body = call(srv, "GET", f"{PODS}?resourceVersion={rv + 100}")
    assert_status(body, 504, "Timeout", "Too large resource version")
    assert body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    assert (
        request(srv.url, "GET", f"{PODS}?resourceVersion={rv + 100}").headers["retry-after"] == "1"
    )
    srv.compact()
    _, body = call(srv, "GET", f"{PODS}?resourceVersion={rv}&resourceVersionMatch=Exact")
    assert_status(body, 410, "Expired", "too old")


def test_continue_token_errors(srv: APIServer) -> None:
    for i in range(3):
        call(srv, "POST", PODS, pod(f"p{i}"))
    cont = call(srv, "GET", PODS + "?limit=1")[1]["metadata"]["continue"]
    _, body = call(srv, "GET", f"{PODS}?limit=1&continue=garbage!")
    assert_status(body, 400, "BadRequest", "continue key is not valid")
    _, body = call(srv, "GET", f"{PODS}?limit=1&continue={cont}&resourceVersion=5")
    assert_status(body, 400, "BadRequest", "not allowed when using continue")
    srv.compact(srv.resource_version)
    call(srv, "POST", PODS, pod("late"))
    srv.compact()
    _, body = call(srv, "GET", f"{PODS}?limit=1&continue={cont}")
    assert_status(body, 410, "Expired", "continue parameter is too old")


@pytest.mark.parametrize(
    "query, code, reason, text",
    [
        ("labelSelector=a+in+(b", 400, "BadRequest", "unable to parse requirement"),
        ("labelSelector=a%3D%3D%3Db", 400, "BadRequest", "unable to parse requirement"),
        ("labelSelector=-bad-key", 400, "BadRequest", "name part must consist"),
        ("fieldSelector=spec.foo%3D1", 400, "BadRequest", "field label not supported: spec.foo"),
        ("fieldSelector=nonsense", 400, "BadRequest", "invalid selector"),
        ("resourceVersion=abc", 400, "BadRequest", "resourceVersion"),
        ("resourceVersion=-1", 400, "BadRequest", "resourceVersion"),
        ("limit=ten", 400, "BadRequest", "ParseInt"),
        ("watch=maybe", 400, "BadRequest", "boolean"),
        ("resourceVersionMatch=Exact", 422, "Invalid", "forbidden unless resourceVersion"),
        ("resourceVersion=1&resourceVersionMatch=Sometimes", 422, "Invalid", "Unsupported value"),
        ("resourceVersion=0&resourceVersionMatch=Exact", 422, "Invalid", '"exact" is forbidden'),
        ("sendInitialEvents=true", 422, "Invalid", "sendInitialEvents is forbidden for list"),
        ("watch=1&resourceVersionMatch=NotOlderThan", 422, "Invalid", "unless sendInitialEvents"),
        ("watch=1&sendInitialEvents=true", 422, "Invalid", "requires setting resourceVersionMatch"),
        ("watch=1&timeoutSeconds=soon", 400, "BadRequest", "ParseInt"),
        ("watch=1&resourceVersion=x1", 400, "BadRequest", "resourceVersion"),
        ("watch=1&labelSelector=!", 400, "BadRequest", "unable to parse requirement"),
    ],
)
def test_bad_list_and_watch_options(
    srv: APIServer, query: str, code: int, reason: str, text: str
) -> None:
    status, body = call(srv, "GET", f"{PODS}?{query}")
    assert status == code
    assert_status(body, code, reason, text)
    if code == 422:
        assert body["details"]["kind"] == "ListOptions"
        assert body["details"]["group"] == "meta.k8s.io"


def test_selectors_on_lists(srv: APIServer) -> None:
    call(srv, "POST", PODS, pod("a", {"app": "web", "tier": "fe"}, nodeName="n1"))
    call(srv, "POST", PODS, pod("b", {"app": "web", "tier": "be"}))
    call(srv, "POST", PODS, pod("c", {"app": "db"}, nodeName="n1"))
    call(srv, "POST", "/api/v1/namespaces/other/pods", pod("d", {"app": "web"}))

    def names(path: str) -> list[str]:
        return [p["metadata"]["name"] for p in call(srv, "GET", path)[1]["items"]]

    assert names(PODS + "?labelSelector=app%3Dweb") == ["a", "b"]
    assert names(PODS + "?labelSelector=app!%3Dweb") == ["c"]
    assert names(PODS + "?labelSelector=tier") == ["a", "b"]
    assert names(PODS + "?labelSelector=!tier") == ["c"]
    assert names(PODS + "?labelSelector=tier+notin+(fe)") == ["b", "c"]
    assert names(PODS + "?labelSelector=app+in+(web,db),tier!%3Dbe") == ["a", "c"]
    assert names(PODS + "?fieldSelector=spec.nodeName%3Dn1") == ["a", "c"]
    assert names(PODS + "?fieldSelector=spec.nodeName%3D") == ["b"]
    assert names(PODS + "?fieldSelector=metadata.name!%3Da,status.phase%3DPending") == ["b", "c"]
    assert names("/api/v1/pods?fieldSelector=metadata.namespace%3Dother") == ["d"]
    assert names("/api/v1/pods?labelSelector=app%3Dweb&limit=1") == ["a"]


def test_tables_for_kubectl(srv: APIServer) -> None:
    call(srv, "POST", PODS, pod("a"))
    _, table = call(srv, "GET", PODS, headers={"Accept": TABLE})
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    row = table["rows"][0]
    assert row["cells"][:4] == ["a", "0/1", "Pending", 0]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    _, one = call(srv, "GET", PODS + "/a", headers={"Accept": TABLE})
    assert one["kind"] == "Table" and len(one["rows"]) == 1


# ---- HTTP robustness -------------------------------------------------------------------


def raw_exchange(srv: APIServer, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def parse_answer(data: bytes) -> HTTPResult:
    """The one whole answer ``data`` holds, parsed by httptools (header names lower-cased)."""
    got = HTTPResult(0, {}, b"")
    done: list[bool] = []

    class Answer:
        def on_header(self, name: bytes, value: bytes) -> None:
            got.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

        def on_body(self, piece: bytes) -> None:
            got.body += piece

        def on_message_complete(self) -> None:
            done.append(True)

    parser = httptools.HttpResponseParser(Answer())
    parser.feed_data(data)
    assert done == [True], data  # one answer, whole
    got.status = parser.get_status_code()
    return got


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /api HTTP/9.9\r\n\r\n",
        b"get /api HTTP/1.1\r\n\r\n",
        b"GET /api HTTP/1.1\r\nNoColonHere\r\n\r\n",
        b"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n",
    ],
)
def test_malformed_http_gets_a_status_and_a_closed_connection(srv: APIServer, data: bytes) -> None:
    answer = parse_answer(raw_exchange(srv, data))
    assert answer.status == 400 and answer.headers["connection"] == "close"
    assert_status(answer.json(), 400, "BadRequest", "malformed HTTP request")
    assert call(srv, "GET", "/healthz") == (200, "ok")  # and the server lives on


def test_truncated_requests_do_not_hang_the_server(srv: APIServer) -> None:
    assert raw_exchange(srv, b"").startswith(b"")  # connect and hang up at once
    assert raw_exchange(srv, b"GET /api HTTP/1.1\r\nHost: x").startswith(b"HTTP/1.1 400 ")
    answer = raw_exchange(
        srv, b"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"
    )
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert call(srv, "GET", "/healthz") == (200, "ok")


def test_oversized_body_is_413() -> None:
    with serve(max_body=1000) as srv:
        big = {**pod("a"), "metadata": {"name": "a", "annotations": {"x": "y" * 2000}}}
        _, body = call(srv, "POST", PODS, big)
        assert_status(body, 413, "RequestEntityTooLarge", "limit is 1000")
        chunked = (
            b"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"%x\r\n%s\r\n" % (300, b"x" * 300) for _ in range(4))
            + b"0\r\n\r\n"
        )
        assert raw_exchange(srv, chunked).startswith(b"HTTP/1.1 413 ")


def test_chunked_request_body_and_keep_alive(srv: APIServer) -> None:
    body = json.dumps(pod("a")).encode()
    req = (
        b"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        + b"GET /api/v1/namespaces/default/pods/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = raw_exchange(srv, req)
    assert answer.startswith(b"HTTP/1.1 201 Created")
    assert answer.count(b"HTTP/1.1 200 OK") == 1  # the second request on the same connection


def test_an_internal_error_is_a_500_status(srv: APIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(srv.store, "get_json", boom)
    _, body = call(srv, "GET", PODS + "/a")
    assert_status(body, 500, "InternalError", "kaboom")
    monkeypatch.undo()
    assert call(srv, "GET", "/healthz") == (200, "ok")


def test_store_invariants_hold_after_churn(srv: APIServer) -> None:
    srv.burst(2000, 50, seed=3)
    srv.store.check()
    srv.compact(srv.resource_version - 500)
    srv.store.check()
    srv.burst(500, 50, namespace="ns2", seed=4)
    srv.store.check()


# ---- watch semantics -------------------------------------------------------------------


def test_watch_from_a_resource_version_replays_in_order(srv: APIServer) -> None:
    rv = srv.resource_version
    call(srv, "POST", PODS, pod("a"))
    call(srv, "POST", CMS, {"metadata": {"name": "c"}})  # another resource: not in this stream
    call(
        srv,
        "PATCH",
        PODS + "/a",
        {"metadata": {"labels": {"x": "1"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    call(srv, "DELETE", PODS + "/a")
    with RawWatch(srv.url, f"{PODS}?watch=1&resourceVersion={rv}") as w:
        assert w.read_head() == 200 and w.headers["transfer-encoding"] == "chunked"
        assert w.headers["content-type"] == "application/json"
        events = w.events(3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == [rv + 1, rv + 3, rv + 4]  # the DELETED event carries the delete's revision
    assert all(e["object"]["kind"] == "Pod" and e["object"]["apiVersion"] == "v1" for e in events)
    # The three were in the log before the watch: they go out in one write, one chunk of
    # whole lines (events are split by newlines, not by chunks, as with the kube-apiserver).
    assert len(w.chunks) == 1 and w.chunks[0].endswith(b"\n") and w.chunks[0].count(b"\n") == 3


def test_watch_without_resource_version_starts_with_the_state(srv: APIServer) -> None:
    call(srv, "POST", PODS, pod("a"))
    call(srv, "POST", PODS, pod("b"))
    with RawWatch(srv.url, PODS + "?watch=true") as w:
        first = w.events(2)
        srv.wait_for_watchers(1)
        srv.create("pods", pod("c"))
        live = w.next_event()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in first] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]
    assert live is not None and live["object"]["metadata"]["name"] == "c"


def test_legacy_watch_paths_and_single_object_watch(srv: APIServer) -> None:
    rv = srv.resource_version
    call(srv, "POST", PODS, pod("a"))
    call(srv, "POST", PODS, pod("b"))
    with RawWatch(srv.url, f"/api/v1/watch/namespaces/default/pods?resourceVersion={rv}") as w:
        assert [e["object"]["metadata"]["name"] for e in w.events(2)] == ["a", "b"]
    with RawWatch(srv.url, f"{PODS}/b?watch=1&resourceVersion={rv}") as w:
        srv.wait_for_watchers(1)
        srv.delete("pods", "b")
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in w.events(2)] == [
            ("ADDED", "b"),
            ("DELETED", "b"),
        ]


def test_watch_from_before_the_horizon_gets_one_410_then_a_clean_end(srv: APIServer) -> None:
    rv = srv.resource_version
    call(srv, "POST", PODS, pod("a"))
    horizon = srv.compact()
    with RawWatch(srv.url, f"{PODS}?watch=1&resourceVersion={rv}") as w:
        assert w.read_head() == 200  # the error travels inside the stream, as from the watch cache
        events = w.events()
    assert w.ended and not w.torn
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    assert_status(
        events[0]["object"], 410, "Expired", f"too old resource version: {rv} ({horizon})"
    )


def test_timeout_seconds_ends_the_stream_cleanly(srv: APIServer, clock: ManualClock) -> None:
    with RawWatch(
        srv.url, f"{PODS}?watch=1&resourceVersion={srv.resource_version}&timeoutSeconds=30"
    ) as w:
        srv.wait_for_watchers(1)
        clock.advance(29)
        srv.create("pods", pod("a"))
        assert w.next_event() is not None  # still open at 29 s
        clock.advance(1)
        assert w.next_event() is None
    assert w.ended and not w.torn


def test_default_watch_timeout_is_the_min_request_timeout(clock: ManualClock) -> None:
    with (
        serve(clock=clock, min_request_timeout=100) as srv,
        RawWatch(srv.url, PODS + "?watch=1") as w,
    ):
        srv.wait_for_watchers(1)
        clock.advance(99)  # [100, 200) s, randomised like the apiserver's
        clock.advance(101)
        assert w.next_event() is None and w.ended


def test_bookmarks_on_the_interval(srv: APIServer, clock: ManualClock) -> None:
    rv = srv.resource_version
    path = f"{PODS}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true"
    with RawWatch(srv.url, path) as w:
        srv.wait_for_watchers(1)
        srv.create("configmaps", {"metadata": {"name": "c"}})  # moves the global revision only
        clock.advance(10)
        bookmark = w.next_event()
        srv.create("pods", pod("a"))
        added = w.next_event()
    assert bookmark is not None and bookmark["type"] == "BOOKMARK"
    # The zero value of the kind with only the revision set: the revision of the configmap.
    assert bookmark["object"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": str(rv + 1), "creationTimestamp": None},
        "spec": {"containers": None},
        "status": {},
    }
    assert added is not None and added["type"] == "ADDED"


def test_no_bookmarks_unless_asked(srv: APIServer, clock: ManualClock) -> None:
    with RawWatch(srv.url, f"{PODS}?watch=1&resourceVersion={srv.resource_version}") as w:
        srv.wait_for_watchers(1)
        clock.advance(100)
        srv.create("pods", pod("a"))
        ev = w.next_event()
    assert ev is not None and ev["type"] == "ADDED"


def test_watch_list_sends_initial_events_then_the_end_bookmark(srv: APIServer) -> None:
    call(srv, "POST", PODS, pod("a"))
    call(srv, "POST", PODS, pod("b"))
    rv = srv.resource_version
    path = (
        f"{PODS}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
        "&allowWatchBookmarks=true"
    )
    with RawWatch(srv.url, path) as w:
        events = w.events(3)
        srv.wait_for_watchers(1)
        srv.create("pods", pod("c"))
        live = w.next_event()
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    md = events[2]["object"]["metadata"]
    assert md["resourceVersion"] == str(rv)
    assert md["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert live is not None and live["object"]["metadata"]["name"] == "c"


def test_watch_list_with_a_future_revision_is_a_504_error_event(srv: APIServer) -> None:
    path = (
        f"{PODS}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
        f"&allowWatchBookmarks=true&resourceVersion={srv.resource_version + 50}"
    )
    with RawWatch(srv.url, path) as w:
        events = w.events()
    assert len(events) == 1 and w.ended
    assert_status(events[0]["object"], 504, "Timeout", "Too large resource version")


def test_watch_with_selectors_turns_transitions_into_added_and_deleted(srv: APIServer) -> None:
    rv = srv.resource_version
    srv.create("pods", pod("a", {"app": "web"}))
    srv.create("pods", pod("b", {"app": "db"}))
    srv.patch("pods", "b", {"metadata": {"labels": {"app": "web"}}})  # enters: ADDED
    srv.patch("pods", "a", {"metadata": {"labels": {"app": "db"}}})  # leaves: DELETED
    srv.patch("pods", "b", {"metadata": {"annotations": {"x": "y"}}})  # stays: MODIFIED
    srv.create("pods", pod("c", {"app": "web"}), namespace="other")
    with RawWatch(srv.url, f"{PODS}?watch=1&resourceVersion={rv}&labelSelector=app%3Dweb") as w:
        events = w.events(4)
    seen = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a"), ("MODIFIED", "b")]
    assert events[2]["object"]["metadata"]["labels"] == {"app": "web"}  # the last state it matched
    assert int(events[2]["object"]["metadata"]["resourceVersion"]) == rv + 4
    with RawWatch(
        srv.url,
        f"/api/v1/pods?watch=1&resourceVersion={rv}&fieldSelector=metadata.namespace%3Dother",
    ) as w:
        (only,) = w.events(1)
    assert only["object"]["metadata"]["name"] == "c"


def test_watch_as_table_for_kubectl(srv: APIServer) -> None:
    rv = srv.resource_version
    srv.create("pods", pod("a"))
    with RawWatch(srv.url, f"{PODS}?watch=1&resourceVersion={rv}", headers={"Accept": TABLE}) as w:
        (ev,) = w.events(1)
    assert ev["type"] == "ADDED" and ev["object"]["kind"] == "Table"
    assert ev["object"]["rows"][0]["cells"][0] == "a"


def test_many_concurrent_watchers(srv: APIServer) -> None:
    rv = srv.resource_version
    watches = [RawWatch(srv.url, f"{PODS}?watch=1&resourceVersion={rv}") for _ in range(200)]
    try:
        srv.wait_for_watchers(200)
        for i in range(5):
            srv.create("pods", pod(f"p{i}"))
        for w in watches:
            assert [e["object"]["metadata"]["name"] for e in w.events(5)] == [
                f"p{i}" for i in range(5)
            ]
    finally:
        for w in watches:
            w.close()


def test_close_ends_streams_and_leaves_no_thread(clock: ManualClock) -> None:
    srv = serve(clock=clock)
    w = RawWatch(srv.url, PODS + "?watch=1")
    held = socket.create_connection(("127.0.0.1", srv.port))  # an idle keep-alive connection
    try:
        srv.wait_for_watchers(1)
        # The server has accepted ``held`` (not merely the kernel): polled for
        # the condition, with a deadline as the safety net.
        deadline = time.monotonic() + 10
        while srv.stats()["connections"] < 2:
            assert time.monotonic() < deadline, "the idle connection was never accepted"
            time.sleep(0.001)
        srv.close()
        assert w.next_event() is None and w.ended  # a clean end on shutdown
        assert held.recv(10) == b""
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=5).close()
    finally:
        w.close()
        held.close()


def test_uids_are_seeded_version_4_uuids() -> None:
    """Object uids are RFC 4122 version-4 UUIDs, unique, and the same for the same seed."""
    import uuid

    def uids(seed: int) -> list[str]:
        store = Store(now=lambda: 0.0, seed=seed)
        pods = by_name("pods")
        out = []
        for i in range(300):
            out.append(store.create(pods, "default", pod_body(f"p{i}"))["metadata"]["uid"])
        return out

    first = uids(7)
    assert len(set(first)) == len(first)
    for uid in first:
        u = uuid.UUID(uid)
        assert str(u) == uid
        assert u.version == 4 and u.variant == uuid.RFC_4122
    assert uids(7) == first
    assert uids(8) != first


def test_lists_are_sorted_and_page_exactly_whatever_order_keys_arrive_in() -> None:
    """New keys are merged into the sorted key list lazily (by the next list):
    every list, whole or paged, in a namespace or across all, is in key order
    and sees each object exactly once, with creates arriving in random order."""
    import random

    from examples.k8s_watch.apiserver.selectors import parse_field_selector, parse_label_selector

    store = Store(now=lambda: 0.0, seed=1)
    pods = by_name("pods")
    rng = random.Random(3)
    labels, fields = parse_label_selector(""), parse_field_selector("", pods.supports_field)
    names = [f"p{i:03d}" for i in range(150)]
    rng.shuffle(names)
    created: list[tuple[str, str]] = []

    def listed(namespace: str | None, limit: int) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        token = ""
        while True:
            page = store.list_page(
                pods, namespace, labels=labels, fields=fields, limit=limit, continue_token=token
            )
            out += [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in page.objects]
            token = page.continue_token
            if not token:
                return out
            store.create(pods, "a", pod_body(f"late-{len(created)}"))  # during the paging
            created.append(("a", f"late-{len(created)}"))

    for i, name in enumerate(names):
        ns = rng.choice(["a", "b"])
        store.create(pods, ns, pod_body(name))
        created.append((ns, name))
        if i % 13 == 0:
            snapshot = sorted(created)
            assert listed(None, 0) == snapshot
            paged = listed(None, 7)  # a paged list is a snapshot from its first page
            assert paged == snapshot
            assert listed("b", 5) == [k for k in sorted(created) if k[0] == "b"]
    store.check()


def pod_body(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i"}]}}


# ---- issue 21: dryRun, field types, namespaces and events --------------------------------------


def test_dry_run_all_stores_nothing_on_every_write_verb(srv: APIServer) -> None:
    rv0 = srv.resource_version
    code, body = call(srv, "POST", PODS + "?dryRun=All", pod("dry"))
    assert code == 201 and body["metadata"]["name"] == "dry" and body["metadata"]["uid"]
    assert "resourceVersion" not in body["metadata"] and body["status"]["phase"] == "Pending"
    assert srv.objects("pods") == [] and srv.resource_version == rv0
    call(srv, "POST", PODS, pod("real"))
    rv1 = srv.resource_version
    code, body = call(
        srv,
        "PATCH",
        PODS + "/real?dryRun=All",
        {"metadata": {"labels": {"a": "b"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert code == 200 and body["metadata"]["labels"] == {"a": "b"}
    live = srv.get("pods", "real")
    assert live["metadata"]["labels"] == {} and srv.resource_version == rv1
    code, body = call(
        srv,
        "PUT",
        PODS + "/real?dryRun=All",
        {**live, "metadata": {**live["metadata"], "labels": {"x": "y"}}},
    )
    assert code == 200 and body["metadata"]["labels"] == {"x": "y"}
    code, body = call(srv, "DELETE", PODS + "/real?dryRun=All")
    assert code == 200 and body["metadata"]["name"] == "real"
    code, body = call(srv, "DELETE", PODS + "/real", {"dryRun": ["All"]})  # kubectl's way
    assert code == 200
    code, body = call(srv, "DELETE", PODS + "?dryRun=All")
    assert code == 200 and [i["metadata"]["name"] for i in body["items"]] == ["real"]
    assert [p["metadata"]["name"] for p in srv.objects("pods")] == ["real"]
    assert srv.resource_version == rv1
    srv.store.check()


@pytest.mark.parametrize(
    ("method", "path", "kind", "query", "options"),
    [
        ("POST", PODS, "CreateOptions", "?dryRun=Bogus", None),
        ("PUT", PODS + "/real", "UpdateOptions", "?dryRun=Bogus", None),
        ("PATCH", PODS + "/real", "PatchOptions", "?dryRun=Bogus", None),
        ("DELETE", PODS + "/real", "DeleteOptions", "?dryRun=Bogus", None),
        ("DELETE", PODS, "DeleteOptions", "?dryRun=Bogus", None),  # deletecollection
        ("DELETE", PODS + "/real", "DeleteOptions", "", {"dryRun": ["Bogus"]}),  # kubectl's way
        ("POST", PODS, "CreateOptions", "?dryRun=All&dryRun=Bogus", None),
    ],
)
def test_dry_run_other_values_are_refused_with_400(
    srv: APIServer, method: str, path: str, kind: str, query: str, options: Any
) -> None:
    """Issue 21, fix 1: any dryRun but ``All`` is a 400 BadRequest Status naming the value
    and the one supported; nothing is written."""
    created = srv.create("pods", pod("real"))
    rv = srv.resource_version
    body_out: Any = options
    headers = None
    if method == "PATCH":
        body_out = {"metadata": {"labels": {"a": "b"}}}
        headers = {"Content-Type": "application/merge-patch+json"}
    elif method != "DELETE":
        body_out = created if method == "PUT" else pod("other")
    code, body = call(srv, method, path + query, body_out, headers=headers)
    assert code == 400
    bogus = '[]string{"All", "Bogus"}' if "All" in query else '[]string{"Bogus"}'
    assert_status(
        body,
        400,
        "BadRequest",
        f'invalid dryRun: Unsupported value: {bogus}: supported values: "All"',
    )
    assert body["details"]["kind"] == kind and body["details"]["group"] == "meta.k8s.io"
    cause = body["details"]["causes"][0]
    assert cause["field"] == "dryRun" and cause["reason"] == "FieldValueNotSupported"
    assert srv.resource_version == rv
    assert [p["metadata"]["name"] for p in srv.objects("pods")] == ["real"]
    assert srv.get("pods", "real") == created


@pytest.mark.parametrize(
    ("path", "body", "field", "shown"),
    [
        (
            PODS,
            pod("p", image=None) | {"spec": {"containers": [{"name": "c", "image": 5}]}},
            "spec.containers[0].image",
            "5",
        ),
        (
            PODS,
            {"metadata": {"name": 123}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
            "metadata.name",
            "123",
        ),
        (
            PODS,
            pod("p") | {"metadata": {"name": "p", "labels": {"a": 1}}},
            "metadata.labels[a]",
            "1",
        ),
        (
            PODS,
            pod("p") | {"metadata": {"name": "p", "annotations": []}},
            "metadata.annotations",
            "[]",
        ),
        (PODS, pod("p") | {"metadata": {"name": "p", "namespace": 7}}, "metadata.namespace", "7"),
        (CMS, {"metadata": {"name": "c"}, "data": {"k": True}}, "data[k]", "true"),
        (
            LEASES,
            {"metadata": {"name": "l"}, "spec": {"holderIdentity": 1}},
            "spec.holderIdentity",
            "1",
        ),
        (
            LEASES,
            {"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": "15"}},
            "spec.leaseDurationSeconds",
            '"15"',
        ),
    ],
)
def test_field_types_are_validated(
    srv: APIServer, path: str, body: Any, field: str, shown: str
) -> None:
    rv0 = srv.resource_version
    code, out = call(srv, "POST", path, body)
    assert code == 422, out
    assert_status(out, 422, "Invalid", f"{field}: Invalid value: {shown}: must be of type")
    assert out["details"]["causes"][0]["field"] == field
    assert out["details"]["causes"][0]["reason"] == "FieldValueTypeInvalid"
    assert srv.resource_version == rv0


def test_field_types_are_validated_on_update_patch_and_status(srv: APIServer) -> None:
    srv.create("pods", pod("p"))
    code, out = call(
        srv,
        "PATCH",
        PODS + "/p",
        {"spec": {"containers": [{"name": "main", "image": 5}]}},
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert code == 422 and out["details"]["causes"][0]["field"] == "spec.containers[0].image"
    code, out = call(
        srv,
        "PATCH",
        PODS + "/p/status",
        {"status": {"podIP": 5}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert code == 422 and out["details"]["causes"][0]["field"] == "status.podIP"
    assert srv.get("pods", "p")["spec"]["containers"][0]["image"] == "busybox"


def test_namespaces_and_events(srv: APIServer) -> None:
    code, body = call(srv, "GET", "/api/v1/namespaces")
    assert code == 200 and body["kind"] == "NamespaceList"
    names = [i["metadata"]["name"] for i in body["items"]]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    code, ns = call(srv, "POST", "/api/v1/namespaces", {"metadata": {"name": "team"}})
    assert code == 201 and ns["status"] == {"phase": "Active"} and "namespace" not in ns["metadata"]
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    code, got = call(srv, "GET", "/api/v1/namespaces/team")
    assert code == 200 and got["kind"] == "Namespace"
    code, body = call(srv, "POST", "/api/v1/namespaces", {"metadata": {"name": "Bad.Name"}})
    assert code == 422
    code, body = call(srv, "DELETE", "/api/v1/namespaces")
    assert code == 405
    code, body = call(srv, "GET", "/api/v1/namespaces/default/namespaces")
    assert code == 404
    code, _ = call(srv, "DELETE", "/api/v1/namespaces/team")
    assert code == 200
    code, body = call(srv, "GET", "/api/v1/events")
    assert code == 200 and body["kind"] == "EventList" and body["items"] == []
    event = {
        "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Pod", "name": "p"},
        "reason": "Started",
        "message": "hi",
        "type": "Normal",
        "count": 1,
    }
    code, _ = call(srv, "POST", "/api/v1/namespaces/default/events", event)
    assert code == 201
    code, table = call(srv, "GET", "/api/v1/namespaces/default/events", headers={"Accept": TABLE})
    assert table["rows"][0]["cells"][1:5] == ["Normal", "Started", "pod/p", "hi"]
