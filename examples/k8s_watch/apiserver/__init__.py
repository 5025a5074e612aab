"""A small Kubernetes API server for the K8s-watch example's demo and tests.

It speaks the real wire protocol, so the official ``kubernetes`` client and
``kubectl`` work against it unmodified: discovery, pods, configmaps and
``coordination.k8s.io/v1`` leases (list with paging, get, create, update
with a resourceVersion precondition, merge/strategic/JSON patch, delete,
watch with bookmarks, timeouts, watch-list and selectors), one global
revision counter with compaction and 410 Expired, and ``Status`` errors with
Go's reasons and codes. Faults are injected from Python or over HTTP
(``POST /debug/faults``).

>>> from examples.k8s_watch.apiserver import serve
>>> with serve() as srv:
...     pod = srv.create("pods", {"metadata": {"name": "web"},
...                               "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
...     pod["status"]["phase"], int(pod["metadata"]["resourceVersion"]) > 1
('Pending', True)

Run it on its own with ``python -m examples.k8s_watch.apiserver --port 8080``.
"""

from .clock import Clock, ManualClock, RealClock
from .server import APIServer, serve
from .status import APIError

__all__ = ["APIError", "APIServer", "Clock", "ManualClock", "RealClock", "serve"]
