"""The example's reconcile: every pod gets a ConfigMap written back through the API.

For pod ``ns/name`` the desired state is ConfigMap ``ns/name-info`` holding
what the controller last saw of the pod (its uid, resourceVersion, phase,
node and images), owned by the pod. Reconcile reads the pod from the
informer's cache (level-triggered: the key, never the event), then makes
the API match with one or two round trips:

- pod present: GET the ConfigMap; CREATE it if missing, UPDATE it if it
  differs (with its resourceVersion: a concurrent writer gets 409 Conflict,
  an error, so the key is retried with backoff);
- pod gone: DELETE the ConfigMap if the ConfigMap cache has it, with its uid
  and resourceVersion as preconditions (404: already clean; 409: it changed,
  retried). Deleting only what the cache holds is what makes a shard safe:
  a shard's cache holds only the ConfigMaps of its own pods.

`PodConfigMaps` wires the whole controller: an informer on pods, a second
one on the ConfigMaps it manages (so that a ConfigMap whose pod vanished
while no replica was watching, or one edited by someone else, brings its
pod's key back: controller-runtime's ``Owns``), one queue, N workers. The
workers start only once both caches are synced, so that a pod not listed
yet is never mistaken for a deleted one.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable

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


Writes = Callable[[str, str, dict[str, str]], None]  # on_write(action, key, data)


class ConfigMapReconciler:
    """``reconcile(key)`` for pods (see the module doc).

    ``configmaps`` is the informer's cache of the managed ConfigMaps (only a
    ConfigMap in it is ever deleted). ``counts`` counts each ``create``,
    ``update``, ``delete`` and ``unchanged``; ``on_write(action, key, data)``
    is told of every write that succeeded (tests count them).
    """

    def __init__(
        self, client: Client, pods: Store, configmaps: Store, on_write: Writes | None = None
    ) -> None:
        self.client = client
        self.pods = pods
        self.configmaps = configmaps
        self.on_write = on_write
        self.counts: Counter[str] = Counter()

    def __call__(self, key: str) -> Result | None:
        ns, name = split_key(key)
        cm_name = configmap_name(name)
        pod = self.pods.get_by_key(key)
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            self._delete(key, ns, cm_name)
            return None
        want = self._new(pod, cm_name)
        try:
            cm = self.client.get(CONFIGMAPS, cm_name, ns)
        except APIStatusError as e:
            if not is_not_found(e):
                raise
            self.client.create(CONFIGMAPS, want, ns)
            self._did("create", key, want["data"])
            return None
        if as_wanted(cm, pod):
            self.counts["unchanged"] += 1
            return None
        cm["data"] = want["data"]
        cm.setdefault("metadata", {})["ownerReferences"] = want["metadata"]["ownerReferences"]
        self.client.update(CONFIGMAPS, cm, ns)  # carries its resourceVersion: 409 if stale
        self._did("update", key, want["data"])
        return None

    def _delete(self, key: str, ns: str, cm_name: str) -> None:
        cached = self.configmaps.get_by_key(f"{ns}/{cm_name}")
        if cached is None:
            return  # already gone, or not ours (a shard's cache holds only its own)
        md = cached["metadata"]
        try:
            self.client.delete(
                CONFIGMAPS,
                cm_name,
                ns,
                preconditions={"uid": md.get("uid"), "resourceVersion": md["resourceVersion"]},
            )
        except APIStatusError as e:
            if not is_not_found(e):
                raise  # 409: it changed since the cache saw it; retried with a fresh look
            return
        self._did("delete", key, {})

    def _did(self, action: str, key: str, data: dict[str, str]) -> None:
        self.counts[action] += 1
        if self.on_write is not None:
            self.on_write(action, key, data)

    def _new(self, pod: JSON, cm_name: str) -> JSON:
        md = pod["metadata"]
        owner = {"apiVersion": "v1", "kind": "Pod", "name": md["name"], "uid": md.get("uid", "")}
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": cm_name,
                "labels": {"app.kubernetes.io/managed-by": MANAGED_BY},
                "ownerReferences": [{**owner, "controller": True}],
            },
            "data": desired_data(pod),
        }


def as_wanted(cm: JSON, pod: JSON) -> bool:
    """``cm`` holds `desired_data` of ``pod`` and is owned by it (this uid, not a
    pod of the same name before it)."""
    return cm.get("data") == desired_data(pod) and owner_uid(cm) == pod_uid(pod)


def pod_uid(obj: JSON) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def owner_ref(cm: JSON) -> JSON:
    """A ConfigMap's owner reference to a Pod (its controller reference first), or {}."""
    refs = (cm.get("metadata") or {}).get("ownerReferences") or []
    pods = [r for r in refs if r.get("kind") == "Pod"]
    return min(pods, key=lambda r: not r.get("controller"), default={})


def owner_uid(cm: JSON) -> str:
    """The uid of the pod that owns a ConfigMap, or ''."""
    return str(owner_ref(cm).get("uid") or "")


def owner_key(cm: Deleted) -> str:
    """The key of the pod a ConfigMap belongs to (by its owner reference, else its name)."""
    obj = cm.obj if isinstance(cm, DeletedFinalStateUnknown) else cm
    md = obj.get("metadata") or {}
    pod = str(owner_ref(obj).get("name") or str(md.get("name", "")).removesuffix(SUFFIX))
    ns = md.get("namespace")
    return f"{ns}/{pod}" if ns else pod


class PodConfigMaps:
    """The example controller, wired: two informers, one queue, N workers.

    A shard's controller (`shard.py`) is the same with filters:
    ``pod_filter`` and ``configmap_filter`` keep each informer to the shard's
    objects, ``shard_selector`` is sent on the pods' LIST and WATCH (the
    server-side filter), and ``tag`` names the informers and the queue apart.
    """

    def __init__(
        self,
        client: Client,
        namespace: str | None,
        *,
        workers: int = 16,
        bookmark_interval: float = 60.0,
        backoff: Backoff | None = None,
        queue: workqueue.Queue[str] | None = None,
        tag: str = "",
        pod_filter: Callable[[JSON], bool] | None = None,
        configmap_filter: Callable[[JSON], bool] | None = None,
        shard_selector: str | None = None,
        on_write: Writes | None = None,
    ) -> None:
        pods_lw = ListWatch(client, PODS, namespace)
        if shard_selector:
            pods_lw.selectors["shardSelector"] = shard_selector
        self.pods = Informer(
            pods_lw,
            name=f"pods{tag}",
            bookmark_interval=bookmark_interval,
            backoff=backoff,
            filter=pod_filter,
        )
        self.configmaps = Informer(
            ListWatch(
                client,
                CONFIGMAPS,
                namespace,
                label_selector=f"app.kubernetes.io/managed-by={MANAGED_BY}",
            ),
            name=f"configmaps{tag}",
            bookmark_interval=bookmark_interval,
            backoff=copy.copy(backoff),  # the same policy; a Backoff has state: one each
            filter=configmap_filter,
        )
        self.reconciler = ConfigMapReconciler(
            client, self.pods.store, self.configmaps.store, on_write=on_write
        )
        self.controller = Controller(f"pods{tag}", self.reconciler, workers=workers, queue=queue)
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
        if pod is None or not as_wanted(cm, pod):
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

    def synced(self) -> bool:
        """Both caches hold their first LIST."""
        return self.pods.has_synced() and self.configmaps.has_synced()

    def stop(self, drain: bool = False) -> None:
        """Stop the workers (``drain``: after the queued keys), then the informers."""
        self.controller.stop(drain=drain)
        self.pods.stop()
        self.configmaps.stop()

    def pending(self) -> int:
        """Notifications the informers have not delivered to their handlers yet."""
        return self.pods.pending() + self.configmaps.pending()


__all__ = [
    "MANAGED_BY",
    "ConfigMapReconciler",
    "PodConfigMaps",
    "as_wanted",
    "configmap_name",
    "desired_data",
    "owner_key",
    "owner_ref",
    "owner_uid",
    "pod_uid",
]
