"""``python -m examples.k8s_watch``: run the controller against an API server.

    python -m examples.k8s_watch --server http://127.0.0.1:8080
    python -m examples.k8s_watch --kubeconfig ~/.kube/config --namespace default
    python -m examples.k8s_watch --in-cluster --leader-elect --shards 4 --probe-port 8081

It watches pods (one namespace, or all with ``--all-namespaces``) and keeps
a ConfigMap per pod (``<pod>-info``), as the demo does. With
``--leader-elect``, several replicas can run: they compete for the Lease
``--lease-name`` and only the holder runs the informers and the workers; the
others wait, ready to take over (client-go's 15 s / 10 s / 2 s by default).
With ``--shards N`` the pods are split by the hash of their uid into N
shards, each with its own Lease (``<lease-name>-shard-<i>``): each replica
works on the shards it holds (see shard.py).

``--probe-port`` serves ``/healthz`` and ``/readyz`` (health.py). Every flag
can come from the environment (``K8S_WATCH_<FLAG>``) or a settings file
(``--config``), see settings.py. SIGTERM stops it cleanly (the Leases are
released, so another replica takes over at once).

It prints one line when it starts and stops leading, and a status line every
``--report`` seconds; it runs until killed, or for ``--duration`` seconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

if __package__ in (None, ""):  # pragma: no cover - run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import gochan
from examples.k8s_watch.health import Probes
from examples.k8s_watch.settings import SettingsError, build_parser, resolve
from examples.k8s_watch.shard import ShardedReplica, run_for
from examples.k8s_watch.transport import Client
from examples.k8s_watch.transports import make_transport
from gochan import context


def make_client(args: argparse.Namespace) -> Client:
    """The ``--transport`` client for ``--server``, else in-cluster, else kubeconfig."""
    client: Client = make_transport(
        args.transport,
        args.server,
        args.token,
        args.timeout,
        kubeconfig=args.kubeconfig,
        context=args.context,
        in_cluster_config=args.in_cluster,
        max_connections=max(64, args.workers + 8),
    )
    return client


def say(identity: str, text: str) -> None:
    print(f"{identity}: {text}", flush=True)


def make_replica(client: Client, args: argparse.Namespace) -> ShardedReplica:
    return ShardedReplica(
        client,
        None if args.all_namespaces else args.namespace,
        shards=args.shards,
        identity=args.identity,
        leader_elect=args.leader_elect,
        lease_name=args.lease_name,
        lease_namespace=args.lease_namespace,
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
        workers=args.workers,
        bookmark_interval=args.bookmark_interval,
        server_side=args.shard_filter == "server",
        say=lambda text: say(args.identity, text),
    )


def report(args: argparse.Namespace, replica: ShardedReplica) -> None:
    for index, c in replica.snapshot():
        s = c.controller.snapshot()
        where = f"shard={index} " if args.shards > 1 else ""
        say(
            args.identity,
            f"{where}pods={len(c.pods.store)} configmaps={len(c.configmaps.store)} "
            f"depth={s['depth']} in_flight={s['in_flight']} reconciled={s['reconciled']} "
            f"retries={s['retries']}",
        )


def main_task(args: argparse.Namespace, terminate: threading.Event | None = None) -> int:
    client = make_client(args)
    root, cancel = context.with_cancel(context.background())
    stop = None
    if args.duration:
        root, stop = context.with_timeout(root, args.duration)
    replica = make_replica(client, args)
    probes: Probes | None = None
    if terminate is not None:  # SIGTERM: cancel, so that the Leases are released

        def on_term() -> None:
            gochan.blocking(terminate.wait)
            cancel()

        gochan.go(on_term).name = "sigterm"
    try:
        if args.probe_port:
            probes = Probes(replica.ready, host=args.probe_address, port=args.probe_port)
            probes.start()
            say(args.identity, f"probes on {args.probe_address}:{probes.port}")
        if not args.leader_elect:
            say(args.identity, "running (no leader election)")
        task = run_for(root, replica)
        while True:
            i, _ = gochan.select(root.done().recv, gochan.after(args.report).recv)
            if i == 0:
                break
            report(args, replica)
        task.join()
        return 0
    finally:
        cancel()
        if stop is not None:
            stop()
        if probes is not None:
            probes.stop()
        if terminate is not None:
            terminate.set()  # lets the SIGTERM waiter go
        client.close()


def parse(argv: list[str] | None, environ: dict[str, str] | None = None) -> argparse.Namespace:
    """Flags > ``K8S_WATCH_*`` env > ``--config`` file > defaults (see settings.py)."""
    ap = build_parser(__doc__)
    try:
        args = resolve(argv, environ, parser=ap)
    except SettingsError as e:
        ap.error(str(e))
    env = os.environ if environ is None else environ
    if not (args.server or args.in_cluster or args.kubeconfig or env.get("KUBECONFIG")):
        args.kubeconfig = str(Path("~/.kube/config").expanduser())
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    terminate = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: terminate.set())
    try:
        result: int = gochan.run(main_task, args, terminate, backend=args.backend)
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
