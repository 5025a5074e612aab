"""An HTTP/1.1 server and client over h11: a task per connection, keep-alive.

The Go original, in outline (net/http does all of this for you; under it
is the same loop, a goroutine per connection serving one request after
another)::

    mux := http.NewServeMux()
    mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
        fmt.Fprintf(w, "hello, %s\\n", r.URL.Query().Get("name"))
    })
    mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
        io.Copy(w, r.Body)
    })
    srv := &http.Server{Handler: mux, IdleTimeout: 30 * time.Second}
    go srv.Serve(ln)

    // the client: one keep-alive connection, several requests
    client := &http.Client{}
    for _, path := range paths {
        resp, _ := client.Get("http://" + ln.Addr().String() + path)
        body, _ := io.ReadAll(resp.Body)
        resp.Body.Close()
        fmt.Println(resp.Status, string(body))
    }

What to look at: no HTTP parsing here. h11 is a sans-I/O library: it turns
bytes into events (``Request``, ``Data``, ``EndOfMessage``) and events into
bytes, and never touches a socket. The green task owns the socket and does
the I/O in blocking style: read when h11 says ``NEED_DATA``, write what
``send`` returns. ``net.serve`` gives each connection its own task, which
serves requests one after another on the connection (keep-alive) until the
client closes it, asks for ``Connection: close``, breaks the protocol
(a 400) or stays idle past the read deadline.

Two clients run at once, each a task with one connection making several
requests; ``/stats`` answers with how many requests its connection has
carried, which shows the keep-alive. Each client collects its lines and
``main`` prints them in order, so the output is the same on every run.
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import h11

import gochan
from gochan import context, net

IDLE = 30.0  # seconds a keep-alive connection may wait for its next request
MAX_READ = 64 * 1024


# -- the server -------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0


def route(method: str, target: str, body: bytes, served: int) -> tuple[int, bytes]:
    """The application: (status, body) for a request; ``served`` counts the
    requests on this connection, this one included."""
    url = urlsplit(target)
    match method, url.path:
        case "GET", "/":
            return 200, b"hello from gochan\n"
        case "GET", "/hello":
            name = parse_qs(url.query).get("name", ["world"])[0]
            return 200, f"hello, {name}\n".encode()
        case "POST", "/echo":
            return 200, body
        case "GET", "/stats":
            return 200, f"request {served} on this connection\n".encode()
        case _, "/" | "/hello" | "/echo" | "/stats":
            return 405, f"{method} not allowed on {url.path}\n".encode()
        case _:
            return 404, f"no route for {url.path}\n".encode()


def next_event(conn: net.Conn, h: h11.Connection) -> object:
    """h11's next event, reading from the connection whenever it needs more."""
    while True:
        event = h.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.set_read_deadline(gochan.monotonic() + IDLE)  # an idle timeout
        h.receive_data(conn.read(MAX_READ))  # b"" at end of stream: ConnectionClosed


def respond(conn: net.Conn, h: h11.Connection, status: int, body: bytes) -> None:
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    reason = HTTPStatus(status).phrase.encode()
    conn.write(h.send(h11.Response(status_code=status, headers=headers, reason=reason)))
    conn.write(h.send(h11.Data(data=body)))
    conn.write(h.send(h11.EndOfMessage()))


def serve_http(conn: net.Conn, stats: Stats) -> None:
    """One connection: requests one after another until either side is done."""
    stats.connections += 1
    h = h11.Connection(h11.SERVER)
    served = 0
    while True:
        try:
            event = next_event(conn, h)
            if not isinstance(event, h11.Request):
                return  # ConnectionClosed: the client is done with us
            body = b""
            while not isinstance(part := next_event(conn, h), h11.EndOfMessage):
                if isinstance(part, h11.Data):
                    body += part.data
        except h11.RemoteProtocolError as e:
            if h.our_state in (h11.IDLE, h11.SEND_RESPONSE):  # we may still answer
                respond(conn, h, e.error_status_hint, f"bad request: {e}\n".encode())
            return
        except TimeoutError:
            return  # idle too long
        served += 1
        stats.requests += 1
        status, payload = route(event.method.decode(), event.target.decode(), body, served)
        respond(conn, h, status, payload)
        if h.our_state is not h11.DONE or h.their_state is not h11.DONE:
            return  # MUST_CLOSE: "Connection: close", or HTTP/1.0
        h.start_next_cycle()


# -- the client -------------------------------------------------------------


class HTTPClient:
    """One keep-alive connection; ``request`` sends a request and reads the response."""

    def __init__(self, addr: str) -> None:
        self.host = addr
        self.conn = net.dial("tcp", addr, timeout=5)
        self.h = h11.Connection(h11.CLIENT)

    def request(
        self, method: str, target: str, body: bytes = b"", close: bool = False
    ) -> tuple[h11.Response, bytes]:
        headers = [("Host", self.host), ("Content-Length", str(len(body)))]
        if close:
            headers.append(("Connection", "close"))
        self.conn.write(self.h.send(h11.Request(method=method, target=target, headers=headers)))
        if body:
            self.conn.write(self.h.send(h11.Data(data=body)))
        self.conn.write(self.h.send(h11.EndOfMessage()))

        response = next_event(self.conn, self.h)
        assert isinstance(response, h11.Response), response
        data = b""
        while not isinstance(part := next_event(self.conn, self.h), h11.EndOfMessage):
            if isinstance(part, h11.Data):
                data += part.data
        if self.h.our_state is h11.DONE and self.h.their_state is h11.DONE:
            self.h.start_next_cycle()  # keep-alive: the next request goes on this connection
        return response, data

    def close(self) -> None:
        self.conn.close()


def status_line(r: h11.Response) -> str:
    return f"HTTP/{r.http_version.decode()} {r.status_code} {r.reason.decode()}"


def session(addr: str, name: str) -> list[str]:
    """A client's requests, one connection; the lines to print."""
    client = HTTPClient(addr)
    lines = []
    requests: list[tuple[str, str, bytes]] = [
        ("GET", "/", b""),
        ("GET", f"/hello?name={name}", b""),
        ("POST", "/echo", f"{name} was here\n".encode()),
        ("GET", "/nowhere", b""),
        ("DELETE", "/echo", b""),
        ("GET", "/stats", b""),
    ]
    for method, target, body in requests:
        resp, data = client.request(method, target, body)
        lines.append(f"{method} {target} -> {status_line(resp)}: {data.decode().rstrip()}")
    resp, data = client.request("GET", "/stats", close=True)
    lines.append(f"GET /stats (Connection: close) -> {status_line(resp)}: {data.decode().rstrip()}")
    eof = client.conn.read(1) == b""
    lines.append(f"then the server closed the connection: {eof}")
    client.close()
    return lines


def main() -> None:
    stats = Stats()
    ctx, cancel = context.with_cancel(context.background())
    ln = net.listen("tcp", "127.0.0.1:0")
    server = gochan.go(net.serve, ln, lambda conn: serve_http(conn, stats), ctx)
    addr = str(ln.addr)

    sessions = [gochan.go(session, addr, name) for name in ("ann", "bob")]
    for name, s in zip(("ann", "bob"), sessions, strict=True):
        print(f"client {name}:")
        for line in s.join():
            print("  " + line)

    with net.dial("tcp", addr) as c:  # not HTTP at all
        c.write(b"HELLO?\r\n\r\n")
        reply = b""
        while chunk := c.read(MAX_READ):
            reply += chunk
        print("a client speaking nonsense gets:", reply.split(b"\r\n")[0].decode())

    cancel()
    server.join()
    print(f"server: {stats.requests} requests on {stats.connections} connections")


gochan.run(main)
