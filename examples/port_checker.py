"""A port checker: a pool of N tasks dialing with a timeout, results in a stable order.

The Go original, in outline (the worker pool every Go scanner is built on)::

    func check(addr string) Result {
        conn, err := net.DialTimeout("tcp", addr, dialTimeout)
        if err != nil {
            if errors.Is(err, syscall.ECONNREFUSED) { return Result{addr, "closed"} }
            if os.IsTimeout(err) { return Result{addr, "filtered"} }
            return Result{addr, err.Error()}
        }
        defer conn.Close()
        conn.SetReadDeadline(time.Now().Add(bannerWait))
        n, err := conn.Read(buf)           // servers that speak first say who they are
        if err != nil { return Result{addr, "open, silent"} }
        return Result{addr, "open, banner " + string(buf[:n])}
    }

    jobs := make(chan int, len(addrs))
    results := make(chan indexed, len(addrs))
    var wg sync.WaitGroup
    for w := 0; w < workers; w++ {
        wg.Add(1)
        go func() {
            defer wg.Done()
            for i := range jobs { results <- indexed{i, check(addrs[i])} }
        }()
    }
    for i := range addrs { jobs <- i }
    close(jobs)
    go func() { wg.Wait(); close(results) }()
    for r := range results { out[r.i] = r.Result }  // print in input order

What to look at: at most ``WORKERS`` checks run at once, however many ports
there are, because there are only that many tasks taking jobs. Results come
back in whatever order the checks finish and are put back in input order by
index. ``dial(timeout=)`` bounds the connect; a read deadline bounds the
wait for a banner. Each kind of answer a scanner meets is made locally: a
refused connect (a port whose listener was closed), a server that greets
first (a banner), one that waits for the client to speak (silent), and a
port that never answers: a listener whose accept queue is full and whose
owner never accepts, so the kernel drops the handshake as a firewall would
(Linux behaviour; the standard ``socket`` module makes that listener, since
``net.listen`` always asks for a long queue).

The output lists the ports in input order and the most checks that ever
ran at once: the pool's bound, whatever order the checks finish in. The
timeouts are short and real (about half a second in all: the three slow
checks overlap), so that nothing printed depends on timing.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

import gochan
from gochan import Chan, context, net

WORKERS = 3
DIAL_TIMEOUT = 0.5  # seconds to wait for a connection
BANNER_WAIT = 0.5  # seconds to wait for a server that speaks first


@dataclass(frozen=True)
class Result:
    state: str
    detail: str


def check(addr: str) -> Result:
    try:
        conn = net.dial("tcp", addr, timeout=DIAL_TIMEOUT)
    except ConnectionRefusedError:
        return Result("closed", "connection refused")
    except TimeoutError:
        return Result("filtered", f"no answer in {DIAL_TIMEOUT:g} s")
    with conn:
        conn.set_read_deadline(gochan.monotonic() + BANNER_WAIT)
        try:
            banner = conn.read(200)
        except TimeoutError:
            return Result("open", f"silent for {BANNER_WAIT:g} s")
    return Result("open", f"banner {banner.decode().strip()!r}")


class Gauge:
    """How many checks run now, and the most there ever were."""

    def __init__(self) -> None:
        self.now = self.peak = 0

    def __enter__(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        self.now -= 1


def worker(
    addrs: list[str], jobs: Chan[int], results: Chan[tuple[int, Result]], gauge: Gauge
) -> None:
    for i in jobs:
        with gauge:
            results.send((i, check(addrs[i])))


def scan(addrs: list[str], workers: int) -> tuple[list[Result], int]:
    """Check every address with ``workers`` tasks; the results in input order."""
    jobs: Chan[int] = Chan(len(addrs))
    results: Chan[tuple[int, Result]] = Chan(len(addrs))
    gauge = Gauge()
    wg = gochan.WaitGroup()
    for _ in range(workers):
        wg.go(worker, addrs, jobs, results, gauge)
    for i in range(len(addrs)):
        jobs.send(i)
    jobs.close()

    def close_when_done() -> None:  # no more results once every worker has returned
        wg.wait()
        results.close()

    gochan.go(close_when_done)
    by_index = dict(results)
    return [by_index[i] for i in range(len(addrs))], gauge.peak


# -- the ports to check, all made here ------------------------------------


def greeter(banner: str) -> Callable[[net.Conn], None]:
    def handle(conn: net.Conn) -> None:
        conn.write(f"{banner}\r\n".encode())

    return handle


def waits_for_client(conn: net.Conn) -> None:
    while conn.read(4096):  # like an HTTP server: the client speaks first
        pass


def closed_port() -> str:
    """The address of a port nobody listens on (one that was just freed)."""
    with net.listen("tcp", "127.0.0.1:0") as ln:
        return str(ln.addr)


def main() -> None:
    ctx, cancel = context.with_cancel(context.background())
    servers = []
    addr: dict[str, str] = {}
    for name, handler in [
        ("ssh", greeter("SSH-2.0-OpenSSH_9.6")),
        ("smtp", greeter("220 mail.example.org ESMTP ready")),
        ("http", waits_for_client),
        ("postgres", waits_for_client),
    ]:
        ln = net.listen("tcp", "127.0.0.1:0")
        addr[name] = str(ln.addr)
        servers.append(gochan.go(net.serve, ln, handler, ctx))
    for name in ("redis", "ftp", "imap"):
        addr[name] = closed_port()
    # A listener that never accepts, with room for one connection in its
    # queue, and that one taken: further handshakes are dropped.
    full = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    addr["behind-firewall"] = net.join_host_port(*full.getsockname())
    queued = net.dial("tcp", addr["behind-firewall"], timeout=DIAL_TIMEOUT)

    order = ["http", "behind-firewall", "postgres", "ssh", "redis", "smtp", "ftp", "imap"]
    print(f"checking {len(order)} ports with {WORKERS} workers")
    results, peak = scan([addr[name] for name in order], WORKERS)
    for name, r in zip(order, results, strict=True):
        print(f"  {name:<16} {r.state:<9} {r.detail}")
    print(f"at most {peak} checks ran at once")

    queued.close()
    full.close()
    cancel()
    for s in servers:
        s.join()


gochan.run(main)
