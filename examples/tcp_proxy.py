"""A TCP proxy: two tasks per connection, one per direction, half-closes passed on.

The Go original, in outline (every Go TCP proxy is this function)::

    func proxy(client net.Conn) {
        defer client.Close()
        backend, err := net.DialTimeout("tcp", backendAddr, 5*time.Second)
        if err != nil {
            return
        }
        defer backend.Close()
        done := make(chan struct{})
        go func() { // client -> backend
            io.Copy(backend, client)
            backend.(*net.TCPConn).CloseWrite() // pass the client's EOF on
            close(done)
        }()
        io.Copy(client, backend) // backend -> client
        client.(*net.TCPConn).CloseWrite()
        <-done
    }

What to look at: ``pipe`` is ``io.Copy`` followed by ``CloseWrite``. When
one side finishes sending, the proxy does not hang up: it shuts down only
the write half toward the other side, which reads end of stream and may
still answer. The demonstration depends on that: the backend echoes lines
in upper case and, once the client has sent everything, answers with a
total; the client reads the total after its own half-close, through the
proxy. A second client pushes a megabyte through while reading it back
(its own reader task), so both directions are busy at once and each waits
on flow control in turn; a third is proxied to a backend that is down, and
sees its connection closed.

Each proxied connection reports what it copied on a channel; ``main``
prints the reports in the order the clients ran, so the output is the same
on every run.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass

import gochan
from gochan import Chan, context, net

CHUNK = 32 * 1024


# -- the backend: an upper-casing echo that reports a total at the end -----------


def shout_back(conn: net.Conn) -> None:
    total = 0
    while data := conn.read(CHUNK):
        total += len(data)
        conn.write(data.upper())
    conn.write(f"TOTAL {total} BYTES\n".encode())  # after the client's end of stream


# -- the proxy -------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    up: int  # bytes copied client -> backend
    down: int  # bytes copied backend -> client
    error: str = ""

    def __str__(self) -> str:
        if self.error:
            return f"could not reach the backend ({self.error}); closed the client"
        return f"copied {self.up} bytes up, {self.down} down, then both halves closed"


def pipe(dst: net.Conn, src: net.Conn) -> int:
    """Copy ``src`` to ``dst`` until end of stream, then pass the end on
    (Go's ``io.Copy`` then ``CloseWrite``). Returns the bytes copied."""
    n = 0
    try:
        while data := src.read(CHUNK):
            dst.write(data)
            n += len(data)
    except OSError:
        pass  # a reset or a close on either side ends this direction too
    with contextlib.suppress(OSError):  # already gone
        dst.close_write()
    return n


class Proxy:
    def __init__(self, backend_addr: str) -> None:
        self.backend_addr = backend_addr
        self.reports: Chan[Report] = Chan(16)

    def handle(self, client: net.Conn) -> None:
        try:
            backend = net.dial("tcp", self.backend_addr, timeout=5)
        except OSError as e:
            self.reports.send(Report(0, 0, type(e).__name__))
            return  # serve closes the client's connection
        with backend:
            up = gochan.go(pipe, backend, client)
            down = pipe(client, backend)
            self.reports.send(Report(up.join(), down))


# -- the clients -----------------------------------------------------------------


def chat(addr: str, lines: list[str]) -> list[str]:
    """Send lines one at a time, reading each echo; half-close; read the rest."""
    got = []
    with net.dial("tcp", addr, timeout=5) as c:
        f = c.makefile("r", encoding="utf-8", newline="\n")
        for line in lines:
            c.write(f"{line}\n".encode())
            got.append(f.readline().rstrip("\n"))
        c.close_write()  # "that is all": the backend sees end of stream...
        got.extend(line.rstrip("\n") for line in f)  # ...and still answers
    return got


def bulk(addr: str, size: int) -> tuple[bool, int]:
    """Write ``size`` bytes while a reader task reads the answer back."""
    payload = bytes(i % 26 + ord("a") for i in range(size))
    with net.dial("tcp", addr, timeout=5) as c:

        def read_all() -> bytes:
            parts = []
            while data := c.read(CHUNK):
                parts.append(data)
            return b"".join(parts)

        reader = gochan.go(read_all)
        c.write(payload)  # blocks whenever the pipes are full; the reader drains them
        c.close_write()
        answer = reader.join()
    echoed, trailer = answer[:size], answer[size:]
    same = hashlib.sha256(echoed).digest() == hashlib.sha256(payload.upper()).digest()
    return same, int(trailer.split()[1])


def refused(addr: str) -> bytes:
    with net.dial("tcp", addr, timeout=5) as c:
        data: bytes = c.read(100)
        return data


def main() -> None:
    ctx, cancel = context.with_cancel(context.background())
    backend_ln = net.listen("tcp", "127.0.0.1:0")
    backend = gochan.go(net.serve, backend_ln, shout_back, ctx)

    proxy = Proxy(str(backend_ln.addr))
    proxy_ln = net.listen("tcp", "127.0.0.1:0")
    server = gochan.go(net.serve, proxy_ln, proxy.handle, ctx)
    addr = str(proxy_ln.addr)

    print("line client got:")
    for line in chat(addr, ["hello", "through a proxy", "and back"]):
        print("  " + line)
    print("proxy:", proxy.reports.recv())

    same, total = bulk(addr, 1 << 20)
    print(f"bulk client: 1 MiB echoed intact: {same}; the backend counted {total} bytes")
    print("proxy:", proxy.reports.recv())

    with net.listen("tcp", "127.0.0.1:0") as gone:
        down_addr = str(gone.addr)  # a port nobody listens on once closed
    broken = Proxy(down_addr)
    broken_ln = net.listen("tcp", "127.0.0.1:0")
    broken_server = gochan.go(net.serve, broken_ln, broken.handle, ctx)
    print("client of a proxy whose backend is down reads:", refused(str(broken_ln.addr)))
    print("proxy:", broken.reports.recv())

    cancel()
    for s in (server, broken_server, backend):
        s.join()


gochan.run(main)
