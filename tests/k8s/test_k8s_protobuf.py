"""Protobuf request bodies (issue 21, fix 8): the decoder and the server's answers.

The bodies below are what kubectl v1.37 sends (``kubectl -v=9`` prints them):
``kubectl create configmap x --from-literal=a=b`` and ``kubectl create
namespace team``. A body that is not a protobuf envelope, or is cut short, is a
400 ``BadRequest`` with a message saying so, never a 500; nothing is stored.
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
from examples.k8s_watch.apiserver import protobuf as pb  # noqa: E402
from examples.k8s_watch.apiserver.client import request  # noqa: E402
from examples.k8s_watch.apiserver.status import APIError  # noqa: E402

KUBECTL_CONFIGMAP = bytes.fromhex(
    "6b3873000a0f0a0276311209436f6e6669674d6170121b0a110a017812001a0022002a00320038004200"
    "12060a01611201621a002200"
)
KUBECTL_NAMESPACE = bytes.fromhex(
    "6b3873000a0f0a02763112094e616d657370616365121c0a140a047465616d12001a0022002a00320038"
    "00420012001a020a001a002200"
)
PROTO = {"Content-Type": pb.MEDIA_TYPE, "Accept": f"{pb.MEDIA_TYPE},application/json"}
CMS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def srv() -> Iterator[APIServer]:
    with serve(clock=ManualClock()) as s:
        yield s


def test_decodes_what_kubectl_sends() -> None:
    assert pb.decode(KUBECTL_CONFIGMAP, "ConfigMap") == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
        "data": {"a": "b"},
    }
    assert pb.decode(KUBECTL_NAMESPACE, "Namespace") == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "team"},
    }


def test_round_trips_every_kind_it_decodes() -> None:
    lease = {
        "metadata": {"name": "l", "labels": {"a": "b"}, "finalizers": ["f"]},
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 0, "leaseTransitions": 3},
    }
    assert pb.decode(pb.encode(lease, "Lease", "coordination.k8s.io/v1"), "Lease") == {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        **lease,  # a pointer's zero (leaseDurationSeconds: 0) is kept, as Go keeps it
    }
    cm = {"metadata": {"name": "c"}, "binaryData": {"x": "/wA="}, "immutable": False}
    assert pb.decode(pb.encode(cm, "ConfigMap", "v1"), "ConfigMap") == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        **cm,
    }
    ev = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"}, "count": 2}
    assert pb.decode(pb.encode(ev, "Event", "v1"), "Event") == {
        "apiVersion": "v1",
        "kind": "Event",
        **ev,
        "reportingComponent": "",  # no omitempty in Go: always in the JSON
        "reportingInstance": "",
        "eventTime": None,
    }


def test_times_are_rfc3339() -> None:
    lease = pb._CLASSES["Lease"]()
    lease.metadata.name = "l"
    lease.metadata.creationTimestamp.seconds = 86400
    lease.spec.renewTime.seconds = 86400
    lease.spec.renewTime.nanos = 123456789
    env = pb._CLASSES["Unknown"](raw=lease.SerializeToString())
    env.typeMeta.kind = "Lease"
    got = pb.decode(pb.MAGIC + env.SerializeToString(), "Lease")
    assert got["metadata"]["creationTimestamp"] == "1970-01-02T00:00:00Z"
    assert got["spec"]["renewTime"] == "1970-01-02T00:00:00.123456Z"  # MicroTime


def _raw(obj: bytes, kind: bytes = b"ConfigMap") -> bytes:
    """An envelope around ``obj``'s bytes, as a Go client builds it."""
    tm = b"\x0a\x02v1\x12" + bytes([len(kind)]) + kind
    return pb.MAGIC + b"\x0a" + bytes([len(tm)]) + tm + b"\x12" + bytes([len(obj)]) + obj


BAD = {
    "not protobuf": (b'{"kind": "ConfigMap"}', "does not appear to be a protobuf message"),
    "envelope cut short": (KUBECTL_CONFIGMAP[:-5], "unable to decode the protobuf envelope"),
    "garbage envelope": (pb.MAGIC + b"\xff\xff\xff", "unable to decode the protobuf envelope"),
    "object cut short": (_raw(b"\x0a\x05\x0a\x03ab"), "unable to decode the protobuf body"),
    "field not decoded": (_raw(b"\x48\x01"), "sets ConfigMap: field 9, which this server"),
    "nested field not decoded": (
        _raw(b"\x0a\x03\xa0\x01\x01"),
        "sets ConfigMap.metadata: field 20",
    ),
    "other kind": (KUBECTL_NAMESPACE, "the kind of the object in the body (Namespace)"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_bodies_are_400_with_a_clear_message(srv: APIServer, name: str) -> None:
    body, message = BAD[name]
    r = request(srv.url, "POST", CMS, body, headers=PROTO)
    status: Any = r.json()
    assert (r.status, status["reason"]) == (400, "BadRequest"), status
    assert message in status["message"]
    assert srv.objects("configmaps") == [] and srv.counters["internal_errors"] == 0
    if name != "other kind":
        with pytest.raises(APIError):
            pb.decode(body, "ConfigMap")


def test_a_kind_not_decoded_is_415(srv: APIServer) -> None:
    r = request(
        srv.url, "POST", "/api/v1/namespaces/default/pods", KUBECTL_CONFIGMAP, headers=PROTO
    )
    assert r.status == 415 and r.json()["reason"] == "UnsupportedMediaType"


def test_created_from_protobuf_answers_json(srv: APIServer) -> None:
    r = request(srv.url, "POST", CMS, KUBECTL_CONFIGMAP, headers=PROTO)
    assert r.status == 201 and r.headers["content-type"] == "application/json"
    assert r.json()["data"] == {"a": "b"} and r.json()["kind"] == "ConfigMap"
    r = request(srv.url, "POST", "/api/v1/namespaces", KUBECTL_NAMESPACE, headers=PROTO)
    assert r.status == 201 and r.json()["status"] == {"phase": "Active"}
    r = request(srv.url, "PUT", CMS + "/x", KUBECTL_CONFIGMAP, headers=PROTO)
    assert r.status == 200 and r.json()["metadata"]["name"] == "x"
