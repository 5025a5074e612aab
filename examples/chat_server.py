"""A chat server: one broadcaster task owns the set of clients.

The Go original (Donovan and Kernighan, "The Go Programming Language",
section 8.10, gopl.io/ch8/chat), in outline::

    type client chan<- string // an outgoing message channel

    var (
        entering = make(chan client)
        leaving  = make(chan client)
        messages = make(chan string) // all incoming client messages
    )

    func broadcaster() {
        clients := make(map[client]bool)
        for {
            select {
            case msg := <-messages:
                for cli := range clients {
                    cli <- msg
                }
            case cli := <-entering:
                clients[cli] = true
            case cli := <-leaving:
                delete(clients, cli)
                close(cli)
            }
        }
    }

    func handleConn(conn net.Conn) {
        ch := make(chan string)
        go clientWriter(conn, ch)
        who := conn.RemoteAddr().String()
        messages <- who + " has arrived"
        entering <- ch
        input := bufio.NewScanner(conn)
        for input.Scan() {
            messages <- who + ": " + input.Text()
        }
        leaving <- ch
        messages <- who + " has left"
        conn.Close()
    }

    func clientWriter(conn net.Conn, ch <-chan string) {
        for msg := range ch {
            fmt.Fprintln(conn, msg)
        }
    }

What to look at: no lock anywhere. The broadcaster task is the only one
that touches the set of clients; every connection has a reader (its
``serve`` task, reading lines) and a writer task (draining the client's
outgoing channel), and they talk to the broadcaster over the ``entering``,
``leaving`` and ``messages`` channels. Three small changes from the book,
all from its exercises: a client's first line is its name (8.14); the
broadcaster greets a newcomer with who is already there and announces the
arrival itself (8.12), so that joining is one step of the broadcaster; and
the outgoing channels are buffered, with a ``select``/``default`` send that
drops a message for a client too slow to keep up instead of stalling
everyone (8.15). The handler also waits for its writer to flush before the
connection closes, which the book's version leaves to chance.

The clients are scripted in the same process: ``main`` is a conductor that
makes one client act, then waits until every client still connected has
received what that action caused. So the transcript is the same on every
run and every backend, although the server itself runs fully concurrently.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import gochan
from gochan import Chan, context, net

OUTGOING_BUFFER = 16  # messages queued for a client before it counts as slow


@dataclass(eq=False)
class Client:
    name: str
    out: Chan[str]  # what the broadcaster sends to this client; its writer drains it


class ChatServer:
    def __init__(self) -> None:
        self.entering: Chan[Client] = Chan()
        self.leaving: Chan[Client] = Chan()
        self.messages: Chan[str] = Chan()  # every line any client says
        self.dropped = 0  # messages a slow client did not get

    def broadcaster(self, ctx: context.Context) -> None:
        clients: dict[str, Client] = {}  # by name, in order of arrival
        done = ctx.done()
        while True:
            match gochan.select(
                self.messages.recv, self.entering.recv, self.leaving.recv, done.recv
            ):
                case 0, str(msg):
                    for cli in clients.values():
                        self.deliver(cli, msg)
                case 1, Client() as cli:
                    here = ", ".join(clients) or "nobody"
                    self.deliver(cli, f"welcome, {cli.name}! already here: {here}")
                    for other in clients.values():
                        self.deliver(other, f"{cli.name} has arrived")
                    clients[cli.name] = cli
                case 2, Client() as cli:
                    del clients[cli.name]
                    cli.out.close()  # its writer flushes what is queued, then ends
                case _:
                    return  # the server is shutting down

    def deliver(self, cli: Client, msg: str) -> None:
        match gochan.select((cli.out.send, msg), gochan.default):
            case 0, _:
                pass
            case _:
                self.dropped += 1  # Go: select { case cli <- msg: default: }

    def handle(self, conn: net.Conn) -> None:
        """One connection: this task reads, a second one writes."""
        lines = conn.makefile("r", encoding="utf-8", newline="\n")
        name = lines.readline().strip()
        if not name:
            return
        cli = Client(name, Chan(OUTGOING_BUFFER))
        writer = gochan.go(client_writer, conn, cli.out)
        self.entering.send(cli)
        for line in lines:  # bufio.Scanner: until the client closes its side
            self.messages.send(f"{name}: {line.rstrip()}")
        self.leaving.send(cli)
        self.messages.send(f"{name} has left")
        writer.join()  # everything queued for this client is written; serve closes conn


def client_writer(conn: net.Conn, out: Chan[str]) -> None:
    for msg in out:
        # If the client went away, keep draining until the broadcaster lets go.
        with contextlib.suppress(OSError):
            conn.write(f"{msg}\n".encode())


class ScriptedClient:
    """A chat client driven by main: it says lines, and a reader task puts
    every line it receives on ``inbox`` (closed at end of stream)."""

    def __init__(self, addr: str, name: str) -> None:
        self.name = name
        self.conn = net.dial("tcp", addr, timeout=5)
        self.inbox: Chan[str] = Chan(OUTGOING_BUFFER)
        gochan.go(self._read)
        self.conn.write(f"{name}\n".encode())

    def _read(self) -> None:
        try:
            for line in self.conn.makefile("r", encoding="utf-8", newline="\n"):
                self.inbox.send(line.rstrip("\n"))
        finally:
            self.inbox.close()

    def say(self, text: str) -> None:
        print(f"{self.name} says {text!r}")
        self.conn.write(f"{text}\n".encode())

    def leave(self) -> None:
        print(f"{self.name} leaves")
        self.conn.close_write()  # the server's reader sees end of stream
        leftover = list(self.inbox)  # ends when the server closes the connection
        assert not leftover, leftover
        self.conn.close()
        print(f"  {self.name:>4} | (connection closed by the server)")


def show(*clients: ScriptedClient) -> None:
    """Wait for the next line at each client and print it."""
    for c in clients:
        print(f"  {c.name:>4} | {c.inbox.recv()}")


def main() -> None:
    chat = ChatServer()
    ctx, cancel = context.with_cancel(context.background())
    broadcaster = gochan.go(chat.broadcaster, ctx)
    ln = net.listen("tcp", "127.0.0.1:0")
    server = gochan.go(net.serve, ln, chat.handle, ctx)
    addr = str(ln.addr)

    print("ann joins")
    ann = ScriptedClient(addr, "ann")
    show(ann)
    print("bob joins")
    bob = ScriptedClient(addr, "bob")
    show(bob, ann)
    ann.say("hi bob")
    show(ann, bob)
    print("cy joins")
    cy = ScriptedClient(addr, "cy")
    show(cy, ann, bob)
    bob.say("hello, both of you")
    show(ann, bob, cy)
    cy.say("hi all")
    show(ann, bob, cy)
    ann.leave()
    show(bob, cy)
    cy.say("bye bob")
    show(bob, cy)
    cy.leave()
    show(bob)
    bob.leave()

    cancel()  # serve stops accepting and waits for handlers; the broadcaster returns
    server.join()
    broadcaster.join()
    print(f"server stopped; {chat.dropped} messages dropped")


gochan.run(main)
