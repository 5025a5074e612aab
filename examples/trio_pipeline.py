"""A trio program that hosts a green pipeline with ``gochan.run_async``.

    python examples/trio_pipeline.py

The program is an ordinary ``trio.run(main)``. Inside its nursery:

* a trio task, ``feed``, sends lines of text into a channel with
  ``await lines.asend(line)``;
* ``await gochan.run_async(pipeline, ...)`` runs the green side on the same
  thread, between trio's own tasks: a splitter task turns lines into words,
  three counter tasks (a fan-out on one channel) score each word, and a
  closer closes the output once every counter is done. The green tasks use
  plain blocking calls (``for line in lines``, ``words.send(w)``); one of
  them also calls ``gochan.await_(trio.sleep(0))`` to show that green tasks
  can use trio itself;
* a second trio task, ``collect``, reads the scores with ``async for``.

Channels are the only link between the two worlds, in both directions, and
the program ends when the trio tasks and the green run are all done. The
output is sorted, so it is the same on every run; the test suite compares
all of it (tests/examples/test_example_async.py).
"""

from __future__ import annotations

import trio

import gochan
from gochan import Chan, go

TEXT = [
    "Do not communicate by sharing memory",
    "instead share memory by communicating",
    "Channels orchestrate mutexes serialize",
    "A little copying is better than a little dependency",
]
COUNTERS = 3


async def feed(lines: Chan[str]) -> None:
    """Trio side: produce the input."""
    for line in TEXT:
        await lines.asend(line)
        await trio.sleep(0)
    lines.close()


async def collect(scores: Chan[tuple[str, int]], out: list[tuple[str, int]]) -> None:
    """Trio side: consume the output."""
    async for item in scores:
        out.append(item)


def pipeline(lines: Chan[str], scores: Chan[tuple[str, int]]) -> int:
    """The green side: split, then score with a pool of counters."""
    words = Chan[str](4)

    def splitter() -> None:
        for line in lines:
            for word in line.lower().split():
                words.send(word)
        words.close()

    def counter() -> int:
        n = 0
        for word in words:
            gochan.await_(trio.sleep(0))  # a trio call, from a green task
            vowels = sum(c in "aeiou" for c in word)
            scores.send((word, vowels))
            n += 1
        return n

    go(splitter)
    counters = [go(counter) for _ in range(COUNTERS)]

    def closer() -> None:
        for c in counters:
            c.join()
        scores.close()

    go(closer)
    return sum(c.join() for c in counters)


async def main() -> None:
    lines, scores = Chan[str](), Chan[tuple[str, int]]()
    out: list[tuple[str, int]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(feed, lines)
        nursery.start_soon(collect, scores, out)
        scored = await gochan.run_async(pipeline, lines, scores)

    totals: dict[str, int] = {}
    for word, vowels in out:
        totals[word] = vowels
    for word in sorted(totals):
        print(f"{word:14} {totals[word]} {'*' * totals[word]}".rstrip())
    print(
        f"summary: {len(TEXT)} lines fed by a trio task, {scored} words scored by "
        f"{COUNTERS} green counters, {len(out)} collected by a trio task, "
        f"{len(totals)} distinct"
    )


if __name__ == "__main__":
    trio.run(main)
