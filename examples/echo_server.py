"""An echo server: a task per connection, idle deadlines, graceful shutdown.

The Go original (the shape of every Go server)::

    ln, _ := net.Listen("tcp", "127.0.0.1:0")
    for {
        conn, err := ln.Accept()
        if err != nil { return }
        go func() {
            defer conn.Close()
            for {
                conn.SetReadDeadline(time.Now().Add(idle))
                n, err := conn.Read(buf)
                if err != nil { return }
                conn.Write(buf[:n])
            }
        }()
    }

What to look at: ``net.serve`` runs ``handle`` in a green task per
connection, each written in blocking style. The handler moves its read
deadline forward before every read (Go's idle timeout), so a client that
goes quiet is dropped after ``IDLE`` seconds. Cancelling the context stops
the server gracefully: no new connections, the listener closed, the
handlers still running allowed to finish. The virtual clock makes the idle
timeout instant and the output the same on every run.
"""

import gochan
from gochan import context, net

IDLE = 30.0  # seconds a connection may stay quiet


def handle(conn: net.Conn) -> None:
    while True:
        conn.set_read_deadline(gochan.monotonic() + IDLE)
        try:
            data = conn.read(4096)
        except TimeoutError:
            print(f"server: dropped a client idle for {IDLE:g} s at t={gochan.monotonic():g}")
            return
        if not data:
            return  # the client closed its side
        conn.write(data)


def client(addr: str, name: str) -> str:
    with net.dial("tcp", addr, timeout=5) as c:
        replies = []
        for i in range(3):
            msg = f"{name} says {i}\n".encode()
            c.write(msg)
            got = b""
            while len(got) < len(msg):
                got += c.read(4096)
            replies.append(got.decode().strip())
        return "; ".join(replies)


def quiet_client(addr: str) -> bytes:
    with net.dial("tcp", addr) as c:
        return c.read(100)  # sends nothing: the server hangs up (b"")


def main() -> None:
    ctx, cancel = context.with_cancel(context.background())
    ln = net.listen("tcp", "127.0.0.1:0")
    addr = str(ln.addr)
    server = gochan.go(net.serve, ln, handle, ctx)

    clients = [gochan.go(client, addr, name) for name in ("ann", "bob", "cy")]
    for c in clients:
        print("client:", c.join())

    print("quiet client got", quiet_client(addr))

    cancel()
    server.join()
    try:
        net.dial("tcp", addr)
    except ConnectionRefusedError:
        print("after shutdown: connection refused")


gochan.run(main, clock="virtual")
