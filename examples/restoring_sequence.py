"""Restoring sequencing: each message carries a channel to wait on.

The Go original (Rob Pike, "Go Concurrency Patterns", 2012)::

    type Message struct {
        str  string
        wait chan bool
    }

    waitForIt := make(chan bool) // shared between all messages
    c <- Message{fmt.Sprintf("%s: %d", msg, i), waitForIt}
    time.Sleep(time.Duration(rand.Intn(1e3)) * time.Millisecond)
    <-waitForIt

    for i := 0; i < 5; i++ {
        msg1 := <-c; fmt.Println(msg1.str)
        msg2 := <-c; fmt.Println(msg2.str)
        msg1.wait <- true
        msg2.wait <- true
    }

What to look at: after fan-in (fan_in.py) Joe and Ann speak in any order,
and a fast speaker can say several things in a row. Here each speaker
sends a message and then blocks on its own ``wait`` channel until main
lets it go, so every round has one line from each of them: the order
*within* a round still varies (it follows their random pauses), but nobody
gets two turns in one round.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import gochan

rng = random.Random(5)


@dataclass
class Message:
    text: str
    wait: gochan.Chan[bool]  # the speaker blocks here until told to go on


def boring(name: str) -> gochan.Chan[Message]:
    c = gochan.Chan[Message]()
    wait_for_it = gochan.Chan[bool]()  # shared by all of this speaker's messages

    def loop() -> None:
        i = 0
        while True:
            gochan.sleep(rng.randrange(1000) / 1000)
            c.send(Message(f"{name}: {i}", wait_for_it))
            wait_for_it.recv()
            i += 1

    gochan.go(loop)
    return c


def forward(src: gochan.Chan[Message], dst: gochan.Chan[Message]) -> None:
    for m in src:
        dst.send(m)


def fan_in(*inputs: gochan.Chan[Message]) -> gochan.Chan[Message]:
    c = gochan.Chan[Message]()
    for src in inputs:
        gochan.go(forward, src, c)
    return c


def main() -> None:
    c = fan_in(boring("Joe"), boring("Ann"))
    for round_no in range(1, 6):
        msg1 = c.recv()
        msg2 = c.recv()
        assert msg1 is not None and msg2 is not None
        print(f"round {round_no} (t={gochan.monotonic():.3f}): {msg1.text:8} {msg2.text}")
        msg1.wait.send(True)
        msg2.wait.send(True)
    print("You're both boring; I'm leaving.")


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
