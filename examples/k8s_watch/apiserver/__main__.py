"""``python -m examples.k8s_watch.apiserver``: run the apiserver until Ctrl-C or SIGTERM.

It prints one line, ``listening on http://127.0.0.1:PORT``, once it accepts
connections (a parent process can wait for it), and with ``--kubeconfig``
writes a kubeconfig for kubectl.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .server import serve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m examples.k8s_watch.apiserver", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host (no auth!)"
    )
    p.add_argument("--kubeconfig", help="write a kubeconfig for this server to this path")
    p.add_argument("--bookmark-interval", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument(
        "--max-events", type=int, default=100_000, help="event history kept before compaction"
    )
    p.add_argument("--initial-rv", type=int, default=10_000, help="first resourceVersion")
    p.add_argument(
        "--watch-backlog-limit",
        type=int,
        default=None,
        help="close a watcher that stops reading with more events queued than this",
    )
    p.add_argument(
        "--request-latency",
        type=float,
        default=0.0,
        help="seconds every request waits before it is answered, like a distant apiserver",
    )
    args = p.parse_args(argv)
    try:
        srv = serve(
            args.host,
            args.port,
            allow_remote=args.allow_remote,
            bookmark_interval=args.bookmark_interval,
            max_events=args.max_events,
            initial_rv=args.initial_rv,
            watch_backlog_limit=args.watch_backlog_limit,
            request_latency=args.request_latency,
        )
    except (OSError, ValueError) as e:
        print(f"apiserver: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.kubeconfig:
        srv.kubeconfig(args.kubeconfig)
    print(f"listening on {srv.url}", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
