"""The embedded apiserver's CPU per request and per watch event, server thread only.

Not a workload of bench/run.py: a check of the apiserver's HTTP layer, for
comparing two checkouts side by side (run it with each on PYTHONPATH, in
turns: this machine's speed drifts). It measures the server thread's CPU
(user + system, from /proc/self/task/<tid>/stat) over

* ``--gets`` sequential keep-alive ``GET``s of one ConfigMap on one
  connection (a request, its answer read whole, the next),
* the same ``GET``s on ``--conns`` keep-alive connections at once, each
  answered ``--latency`` s after it is read (W9's regime: many connections,
  each waiting between requests; ``--conns 0`` skips it), both from a
  client process of its own (a client thread beside the server would share
  its GIL, and the hand-overs would count in the server's CPU), and
* a burst of ``--writes`` pod writes with ``--watchers`` raw watch streams
  reading them, minus the same burst with no watcher (the store's own
  writes): CPU per event delivered.

    PYTHONPATH=. python bench/k8s_server_cpu.py --gets 20000 --writes 20000 --watchers 20
    PYTHONPATH=. python bench/k8s_server_cpu.py --watchers 0  # builtin backend, as W9's server

``--backend`` is gochan's backend of the server; for a checkout whose
server ran on asyncio (no ``backend=``), ``uvloop`` means its
``loop_factory=uvloop.new_event_loop``.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from examples.k8s_watch.apiserver import APIServer, serve  # noqa: E402

GET = (
    b"GET /api/v1/namespaces/default/configmaps/x HTTP/1.1\r\nHost: x\r\n"
    b"Authorization: Bearer x\r\nUser-Agent: bench\r\nAccept: application/json\r\n\r\n"
)


def thread_cpu(tid: int) -> float:
    with open(f"/proc/self/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_tid(srv: APIServer) -> int:
    assert srv._thread is not None and srv._thread.native_id is not None
    return srv._thread.native_id


def start(backend: str | None, **options: object) -> APIServer:
    # (backend= only when asked for: an older checkout's server does not take it)
    if not backend:
        return serve(**options)
    try:
        return serve(backend=backend, **options)
    except TypeError:  # the asyncio-era server: a loop factory instead
        if backend != "uvloop":
            raise
        import uvloop

        return serve(loop_factory=uvloop.new_event_loop, **options)


class _Answers:
    """httptools' callbacks for one connection: counts the whole answers."""

    def __init__(self) -> None:
        self.complete = 0

    def on_message_complete(self) -> None:
        self.complete += 1


def load(port: int, conns: int, n: int) -> None:
    """The client of `gets` (a process of its own): ``conns`` keep-alive
    connections, each sending its next GET when its answer is in, ``n`` in
    all. Answers are framed by httptools, as the server's requests are."""
    import httptools

    sel = selectors.DefaultSelector()
    answers: dict[socket.socket, tuple[_Answers, Any]] = {}
    sent = done = 0
    for _ in range(min(conns, n)):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        a = _Answers()
        answers[s] = (a, httptools.HttpResponseParser(a))
        s.sendall(GET)
        sent += 1
    while done < n:
        for key, _ in sel.select():
            s = key.fileobj
            assert isinstance(s, socket.socket)
            data = s.recv(65536)
            if not data:
                raise EOFError("the server closed a connection")
            a, parser = answers[s]
            before = a.complete
            parser.feed_data(data)
            for _ in range(a.complete - before):
                done += 1
                if sent < n:
                    s.sendall(GET)
                    sent += 1
    for s in answers:
        s.close()


def gets(n: int, conns: int, latency: float, backend: str | None) -> float:
    """Server CPU µs per keep-alive GET, ``conns`` connections at once, each answer
    ``latency`` s late."""
    with start(backend, request_latency=latency) as srv:
        srv.create("configmaps", {"metadata": {"name": "x"}, "data": {"a": "b"}})

        def run(k: int) -> None:
            argv = ["--load", str(srv.port), "--conns", str(conns), "--gets", str(k)]
            subprocess.run([sys.executable, __file__, *argv], check=True)

        run(min(n, 10 * conns))  # warm up: the connections' tasks, the caches
        tid = server_tid(srv)
        c0 = thread_cpu(tid)
        run(n)
        return (thread_cpu(tid) - c0) / n * 1e6


def _drain(s: socket.socket) -> None:
    """Read a watch stream to its end (the events are counted by the server)."""
    try:
        while s.recv(1 << 20):
            pass
    except OSError:
        pass


def burst(writes: int, watchers: int, backend: str | None) -> float:
    """Server CPU seconds for a burst of ``writes`` with ``watchers`` streams reading it."""
    with start(backend) as srv:
        socks: list[socket.socket] = []
        readers: list[threading.Thread] = []
        path = "/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=3600"
        for _ in range(watchers):
            s = socket.create_connection(("127.0.0.1", srv.port))
            rv = srv.resource_version
            s.sendall(f"GET {path}&resourceVersion={rv} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            socks.append(s)
            readers.append(threading.Thread(target=_drain, args=(s,), daemon=True))
            readers[-1].start()
        srv.wait_for_watchers(watchers)
        tid = server_tid(srv)
        c0 = thread_cpu(tid)
        srv.burst(writes, 1000, seed=1)
        # Until every stream has been sent every event (a bounded wait: the burst is done).
        deadline = time.monotonic() + 120
        while any(w["resourceVersion"] < srv.resource_version for w in srv.watchers()):
            assert time.monotonic() < deadline, "the watchers did not catch up"
            time.sleep(0.01)
        used = thread_cpu(tid) - c0
    for s in socks:  # the server closed the streams; the readers see their end
        s.close()
    for t in readers:
        t.join(10)
    return used


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gets", type=int, default=20_000)
    ap.add_argument("--writes", type=int, default=20_000)
    ap.add_argument("--watchers", type=int, default=20)
    ap.add_argument("--conns", type=int, default=128, help="connections of the concurrent GETs")
    ap.add_argument("--latency", type=float, default=0.005, help="of the concurrent GETs (s)")
    ap.add_argument("--backend", default=None, help="gochan backend of the server (uvloop, trio)")
    ap.add_argument("--load", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.load is not None:  # the client process of `gets`
        load(args.load, args.conns, args.gets)
        return
    out = {"us_per_get": round(gets(args.gets, 1, 0.0, args.backend), 1)}
    if args.conns:
        us = gets(args.gets, args.conns, args.latency, args.backend)
        out[f"us_per_get_{args.conns}_conns"] = round(us, 1)
    if args.watchers:
        alone = burst(args.writes, 0, args.backend)
        watched = burst(args.writes, args.watchers, args.backend)
        out["burst_cpu_s_no_watcher"] = round(alone, 3)
        out["burst_cpu_s_watched"] = round(watched, 3)
        out["us_per_event"] = round((watched - alone) / (args.writes * args.watchers) * 1e6, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
