"""``/healthz`` and ``/readyz`` for the kubelet, on the stdlib ``http.server`` in a thread.

The probe server runs in a thread of its own, so a busy or stuck scheduler
cannot stop it from answering; what it answers is decided by a green task
(the *responder*) on the scheduler:

- ``/healthz`` (liveness): the responder answered within ``deadline``
  seconds. It answers only when the scheduler runs it, so a scheduler that is
  wedged (a task blocking its thread, a livelock) or dead fails the probe and
  the kubelet restarts the container. Nothing else is checked: a liveness
  probe that fails on a cluster problem (the API server down) would restart
  every replica for nothing.
- ``/readyz`` (readiness): the responder answered, and ``ready(now)`` says
  yes. For the controller (`shard.ShardedReplica.ready`): every shard this
  replica leads has its caches synced, and, with leader election, every
  shard's elector has read its Lease within one lease duration. A
  **follower is ready**: it is doing its job (standing by, able to take
  over); marking it unready would only make a rolling update wait for ever on
  replicas that will never lead. A replica cut off from the API server is
  not ready (it could not take over). Without leader election: the caches
  are synced.

Both answer ``200 ok`` or ``503`` with the reason in the body, as text.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import gochan

log = logging.getLogger("k8s_watch.health")

Ready = Callable[[float], tuple[bool, str]]  # (now on the scheduler's clock) -> (ok, why)


class Probes:
    """The probe server. `start` and `stop` from a task."""

    def __init__(
        self,
        ready: Ready,
        *,
        host: str = "0.0.0.0",
        port: int = 0,
        deadline: float = 1.0,
    ) -> None:
        self.ready = ready
        self.host = host
        self.requested_port = port
        self.deadline = deadline
        self._asks: gochan.Chan[queue.Queue[tuple[bool, str]]] = gochan.Chan(16)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.answered = 0

    def __repr__(self) -> str:
        return f"<Probes {self.host}:{self.port}>"

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server is not None else 0

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    # -- the green side -----------------------------------------------------------------------

    def _respond(self) -> None:
        for q in self._asks:
            try:
                answer = self.ready(gochan.monotonic())
            except Exception as e:  # a bug in ready() is "not ready", not a dead responder
                answer = (False, f"readiness check failed: {type(e).__name__}: {e}")
            self.answered += 1
            q.put(answer)

    # -- the thread side ----------------------------------------------------------------------

    def ask(self) -> tuple[bool, str] | None:
        """From any thread: the responder's answer, or None if it did not answer in time."""
        q: queue.Queue[tuple[bool, str]] = queue.Queue(1)
        i, _ = gochan.select((self._asks.send, q), gochan.default)
        if i != 0:
            return None  # the responder is behind by a whole buffer: as good as stuck
        try:
            return q.get(timeout=self.deadline)
        except queue.Empty:
            return None

    def start(self) -> None:
        probes = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path not in ("/healthz", "/livez", "/readyz"):
                    self._reply(404, "not found\n")
                    return
                answer = probes.ask()
                if answer is None:
                    self._reply(503, f"scheduler did not answer within {probes.deadline:g} s\n")
                elif path == "/readyz":
                    ok, why = answer
                    self._reply(200 if ok else 503, f"{why}\n")
                else:
                    self._reply(200, "ok\n")

            def _reply(self, code: int, text: str) -> None:
                body = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("probe: " + format, *args)

        self._server = ThreadingHTTPServer((self.host, self.requested_port), Handler)
        self._server.daemon_threads = True
        gochan.go(self._respond).name = "probes/responder"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.name = "probes"
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            gochan.blocking(server.shutdown)
            server.server_close()
        self._asks.close()


__all__ = ["Probes", "Ready"]
