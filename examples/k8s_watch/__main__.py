"""``python -m examples.k8s_watch``: run the controller against an API server.

    python -m examples.k8s_watch --server http://127.0.0.1:8080
    python -m examples.k8s_watch --kubeconfig ~/.kube/config --namespace default
    python -m examples.k8s_watch --in-cluster --leader-elect

It watches pods (one namespace, or all with ``--all-namespaces``) and keeps
a ConfigMap per pod (``<pod>-info``), as the demo does. With
``--leader-elect``, several replicas can run: they compete for the Lease
``--lease-name`` and only the holder runs the informer and the workers; the
others wait, ready to take over (client-go's 15 s / 10 s / 2 s by default).

It prints one line when it starts and stops leading, and a status line every
``--report`` seconds; it runs until killed, or for ``--duration`` seconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path

if __package__ in (None, ""):  # pragma: no cover - run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import gochan
from examples.k8s_watch.leaderelection import (
    LEASE_DURATION,
    RENEW_DEADLINE,
    RETRY_PERIOD,
    LeaderElector,
    LeaseLock,
)
from examples.k8s_watch.reconcile import PodConfigMaps
from examples.k8s_watch.transport import Client, from_kubeconfig, in_cluster
from gochan import context
from gochan.context import Context


def make_client(args: argparse.Namespace) -> Client:
    if args.server:
        return Client(args.server, token=args.token, timeout=args.timeout)
    if args.in_cluster:
        return in_cluster()
    return from_kubeconfig(args.kubeconfig, args.context)


def say(identity: str, text: str) -> None:
    print(f"{identity}: {text}", flush=True)


def run_controller(ctx: Context, client: Client, args: argparse.Namespace) -> None:
    """The informers and the workers, until ``ctx`` is done."""
    namespace = None if args.all_namespaces else args.namespace
    c = PodConfigMaps(
        client, namespace, workers=args.workers, bookmark_interval=args.bookmark_interval
    )
    try:
        c.start()
        while True:
            i, _ = gochan.select(ctx.done().recv, gochan.after(args.report).recv)
            if i == 0:
                break
            s = c.controller.snapshot()
            say(
                args.identity,
                f"pods={len(c.pods.store)} configmaps={len(c.configmaps.store)} "
                f"depth={s['depth']} in_flight={s['in_flight']} reconciled={s['reconciled']} "
                f"retries={s['retries']}",
            )
    finally:
        c.stop()


def main_task(args: argparse.Namespace) -> int:
    client = make_client(args)
    root, stop = context.background(), None
    if args.duration:
        root, stop = context.with_timeout(root, args.duration)
    try:
        if not args.leader_elect:
            say(args.identity, "running (no leader election)")
            run_controller(root, client, args)
            return 0
        lock = LeaseLock(client, args.lease_name, args.lease_namespace, args.identity)

        def lead(ctx: Context) -> None:
            say(args.identity, "started leading")
            run_controller(ctx, client, args)

        elector = LeaderElector(
            lock,
            on_started_leading=lead,
            on_stopped_leading=lambda: say(args.identity, "stopped leading"),
            on_new_leader=lambda who: say(args.identity, f"leader is {who}"),
            lease_duration=args.lease_duration,
            renew_deadline=args.renew_deadline,
            retry_period=args.retry_period,
        )
        while root.err() is None:  # stand again after losing the lease
            elector.run(root)
        return 0
    finally:
        if stop is not None:
            stop()
        client.close()


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m examples.k8s_watch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--server", help="API server URL (e.g. the embedded apiserver's)")
    where.add_argument("--kubeconfig", help="kubeconfig path (default $KUBECONFIG, ~/.kube/config)")
    where.add_argument("--in-cluster", action="store_true", help="use the pod's service account")
    ap.add_argument("--context", help="kubeconfig context")
    ap.add_argument("--token", help="bearer token (with --server)")
    ap.add_argument("--timeout", type=float, default=10.0, help="client read timeout, s")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--all-namespaces", action="store_true")
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--bookmark-interval", type=float, default=60.0)
    ap.add_argument("--report", type=float, default=10.0, help="status line period, s")
    ap.add_argument("--duration", type=float, default=0.0, help="stop after this long (0: never)")
    ap.add_argument("--leader-elect", action="store_true")
    ap.add_argument("--lease-name", default="k8s-watch-controller")
    ap.add_argument("--lease-namespace", default="default")
    ap.add_argument("--identity", default=f"{socket.gethostname()}-{os.getpid()}")
    ap.add_argument("--lease-duration", type=float, default=LEASE_DURATION)
    ap.add_argument("--renew-deadline", type=float, default=RENEW_DEADLINE)
    ap.add_argument("--retry-period", type=float, default=RETRY_PERIOD)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if not (args.server or args.in_cluster or args.kubeconfig or os.environ.get("KUBECONFIG")):
        args.kubeconfig = str(Path("~/.kube/config").expanduser())
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    try:
        result: int = gochan.run(main_task, args)
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
