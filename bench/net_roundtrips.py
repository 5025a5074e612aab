"""A fixed number of keep-alive round trips over gochan.net, for counting
instructions (callgrind) and greenlet switches per round trip on a backend.

Not a workload of bench/run.py, and not timed: W11 (w11_echo.py) is the
timed echo. This is its gochan side with a fixed count: CONNS client tasks
each send a 64-byte message ROUNDS times and read the echo back, to a
``net.serve`` echo server in the same run (both ends on one thread: two
socket waits per round trip). Instructions per round trip are the
difference of two counts over the difference of the round trips, so that
start-up cancels out:

    for n in 500 2500; do
      valgrind --tool=callgrind --callgrind-out-file=cg.$n \\
        python bench/net_roundtrips.py uvloop 1 $n
    done   # then (Ir of cg.2500 - Ir of cg.500) / 2000

``--switches`` prints the greenlet switches per round trip (no valgrind
needed); ``--hosted`` runs it under ``gochan.run_async`` in an asyncio (or,
with backend uvloop, a uvloop) program instead of ``gochan.run``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

import greenlet  # noqa: E402

import gochan  # noqa: E402
from gochan import net  # noqa: E402

MSG = b"x" * 64


def round_trips(conns: int, rounds: int, switches: list[int] | None) -> None:
    """The run's main: ``conns`` connections, ``rounds`` round trips each
    (after 5 of warm-up); counts switches into ``switches`` if given."""
    ln = net.listen("tcp", "127.0.0.1:0")
    addr = str(ln.addr)

    def echo(conn: net.Conn) -> None:
        read, write = conn.read, conn.write
        while data := read(4096):
            write(data)

    gochan.go(net.serve, ln, echo)
    start = gochan.Chan[None]()
    ready, done = gochan.WaitGroup(), gochan.WaitGroup()

    def client() -> None:
        with net.dial("tcp", addr) as c:
            read, write = c.read, c.write
            for _ in range(5):
                write(MSG)
                read(4096)
            ready.done()
            start.recv()
            for _ in range(rounds):
                write(MSG)
                got = 0
                while got < len(MSG):
                    got += len(read(len(MSG) - got))

    for _ in range(conns):
        ready.add(1)
        done.go(client)
    ready.wait()
    if switches is not None:

        def trace(event: str, args: Any) -> None:
            if event in ("switch", "throw"):
                switches[0] += 1

        greenlet.settrace(trace)
    start.close()
    done.wait()
    if switches is not None:
        greenlet.settrace(None)
    ln.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("backend", choices=["builtin", "asyncio", "uvloop", "trio"])
    ap.add_argument("conns", type=int)
    ap.add_argument("rounds", type=int)
    ap.add_argument("--switches", action="store_true", help="print switches per round trip")
    ap.add_argument("--hosted", action="store_true", help="under run_async (asyncio, uvloop)")
    args = ap.parse_args()
    switches = [0] if args.switches else None

    def run() -> None:
        round_trips(args.conns, args.rounds, switches)

    if not args.hosted:
        gochan.run(run, backend=args.backend)
    else:

        async def amain() -> None:
            await gochan.run_async(run)

        factory = None
        if args.backend == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(amain())
    if switches is not None:
        print(f"{switches[0] / (args.conns * args.rounds):.2f} switches per round trip")


if __name__ == "__main__":
    main()
