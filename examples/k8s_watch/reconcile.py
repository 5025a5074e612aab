"""The example's reconcile: every pod gets a ConfigMap written back through the API.

For pod ``ns/name`` the desired state is ConfigMap ``ns/name-info`` holding
what the controller last saw of the pod (its uid, resourceVersion, phase,
node and images), owned by the pod. Reconcile reads the pod from the
informer's cache (level-triggered: the key, never the event), then makes
the API match with one or two round trips:

- pod present: GET the ConfigMap; CREATE it if missing, UPDATE it (with its
  resourceVersion as precondition: a concurrent writer gets 409 Conflict,
  which is an error, so the key is retried with backoff) if it differs;
- pod gone: DELETE the ConfigMap (404 is fine: already clean).

Each call waits in `gochan.blocking`, so N workers have N requests in the
air (up to the blocking pool's size).

`PodConfigMaps` wires the whole controller: an informer on pods, a second
one on the ConfigMaps it manages (so that a ConfigMap whose pod vanished
while no replica was watching, or one edited by someone else, brings its
pod's key back: controller-runtime's ``Owns``), one queue, N workers. The
workers start only once both caches are synced, so that a pod not listed
yet is never mistaken for a deleted one.
"""

from __future__ import annotations

from typing import Any

from gochan import workqueue

from .controller import Controller, Result
from .informer import Deleted, EventHandlerFuncs, Informer
from .reflector import Backoff, ListWatch
from .store import JSON, DeletedFinalStateUnknown, Store, split_key
from .transport import CONFIGMAPS, PODS, APIStatusError, Client, is_not_found

MANAGED_BY = "gochan-k8s-watch"
SUFFIX = "-info"


def configmap_name(pod_name: str) -> str:
    return pod_name + SUFFIX


def desired_data(pod: JSON) -> dict[str, str]:
    """What the ConfigMap of ``pod`` must hold."""
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    images = ",".join(str(c.get("image", "")) for c in spec.get("containers") or [])
    return {
        "pod": str(md.get("name", "")),
        "podUID": str(md.get("uid", "")),
        "podResourceVersion": str(md.get("resourceVersion", "")),
        "phase": str(status.get("phase", "")),
        "node": str(spec.get("nodeName", "")),
        "images": images,
    }


class ConfigMapReconciler:
    """``reconcile(key)`` for pods (see the module doc); counts what it did."""

    def __init__(self, client: Client, pods: Store) -> None:
        self.client = client
        self.pods = pods
        self.created = 0
        self.updated = 0
        self.deleted = 0
        self.unchanged = 0

    def __call__(self, key: str) -> Result | None:
        ns, name = split_key(key)
        cm_name = configmap_name(name)
        pod = self.pods.get_by_key(key)
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            try:
                self.client.delete(CONFIGMAPS, cm_name, ns)
                self.deleted += 1
            except APIStatusError as e:
                if not is_not_found(e):
                    raise
            return None
        want = desired_data(pod)
        try:
            cm = self.client.get(CONFIGMAPS, cm_name, ns)
        except APIStatusError as e:
            if not is_not_found(e):
                raise
            self.client.create(CONFIGMAPS, self._new(pod, cm_name, want), ns)
            self.created += 1
            return None
        if cm.get("data") == want:
            self.unchanged += 1
            return None
        cm["data"] = want  # cm carries its resourceVersion: a stale write gets 409
        self.client.update(CONFIGMAPS, cm, ns)
        self.updated += 1
        return None

    def _new(self, pod: JSON, cm_name: str, data: dict[str, str]) -> JSON:
        md = pod["metadata"]
        owner: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": md["name"],
            "uid": md.get("uid", ""),
            "controller": True,
        }
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": cm_name,
                "labels": {"app.kubernetes.io/managed-by": MANAGED_BY},
                "ownerReferences": [owner],
            },
            "data": data,
        }


def owner_key(cm: Deleted) -> str:
    """The key of the pod a ConfigMap belongs to."""
    obj = cm.obj if isinstance(cm, DeletedFinalStateUnknown) else cm
    md = obj.get("metadata") or {}
    name = str(md.get("name", ""))
    for ref in md.get("ownerReferences") or []:
        if ref.get("kind") == "Pod" and ref.get("name"):
            name = configmap_name(str(ref["name"]))
            break
    pod = name.removesuffix(SUFFIX)
    ns = md.get("namespace")
    return f"{ns}/{pod}" if ns else pod


class PodConfigMaps:
    """The example controller, wired: two informers, one queue, N workers."""

    def __init__(
        self,
        client: Client,
        namespace: str | None,
        *,
        workers: int = 16,
        bookmark_interval: float = 60.0,
        backoff: Backoff | None = None,
        queue: workqueue.Queue[str] | None = None,
    ) -> None:
        self.pods = Informer(
            ListWatch(client, PODS, namespace),
            name="pods",
            bookmark_interval=bookmark_interval,
            backoff=backoff,
        )
        self.configmaps = Informer(
            ListWatch(
                client,
                CONFIGMAPS,
                namespace,
                label_selector=f"app.kubernetes.io/managed-by={MANAGED_BY}",
            ),
            name="configmaps",
            bookmark_interval=bookmark_interval,
        )
        self.reconciler = ConfigMapReconciler(client, self.pods.store)
        self.controller = Controller("pods", self.reconciler, workers=workers, queue=queue)
        self.pods.add_event_handler(self.controller.handler(), name="enqueue")
        self.configmaps.add_event_handler(
            EventHandlerFuncs(
                add=lambda cm, _initial: self._owned_changed(cm),
                update=lambda _old, cm: self._owned_changed(cm),
                delete=lambda cm: self.controller.queue.add(owner_key(cm)),
            ),
            name="enqueue-owner",
        )

    def _owned_changed(self, cm: JSON) -> None:
        """A ConfigMap appeared or changed: queue its pod only if it is not as wanted
        (our own writes, the usual case, cost nothing)."""
        key = owner_key(cm)
        pod = self.pods.store.get_by_key(key)
        if pod is None or cm.get("data") != desired_data(pod):
            self.controller.queue.add(key)

    def start(self, sync_timeout: float | None = None) -> bool:
        """Start the informers, wait for both caches, then start the workers."""
        self.pods.start()
        self.configmaps.start()
        synced = self.pods.wait_for_sync(sync_timeout) and self.configmaps.wait_for_sync(
            sync_timeout
        )
        if synced:
            self.controller.start()
        return synced

    def stop(self, drain: bool = False) -> None:
        self.controller.stop(drain=drain)
        self.pods.stop()
        self.configmaps.stop()

    def pending(self) -> int:
        return self.pods.pending() + self.configmaps.pending()


__all__ = [
    "MANAGED_BY",
    "ConfigMapReconciler",
    "PodConfigMaps",
    "configmap_name",
    "desired_data",
    "owner_key",
]
