"""Dining philosophers: five tasks, five forks, and no deadlock.

The Go original (the classic exercise, as in many Go tutorials)::

    type Fork struct{ sync.Mutex }

    func (p Philosopher) dine(wg *sync.WaitGroup) {
        defer wg.Done()
        for i := 0; i < 3; i++ {
            think()
            first, second := p.left, p.right
            if second.id < first.id { first, second = second, first } // order the forks
            first.Lock(); second.Lock()
            eat()
            second.Unlock(); first.Unlock()
        }
    }

What to look at: forks are ``gochan.Mutex``es. If every philosopher picks
up the left fork first, and all of them get hungry at once, each holds one
fork and waits forever for the next: the first part does exactly that,
and gochan reports the deadlock (``gochan.Deadlock``, with each
philosopher in ``[sync.Mutex.Lock]``) instead of hanging. The fix is Dijkstra's resource
ordering: always take the lower-numbered fork first, so no cycle of
waiting can form. Thinking and eating times come from a seeded
``random.Random`` on the virtual clock, so the whole dinner, and its
summary, are the same on every run.
"""

from __future__ import annotations

import random

import gochan

NAMES = ["Aristotle", "Kant", "Spinoza", "Marx", "Russell"]
MEALS = 3


def naive_dinner() -> None:
    forks = [gochan.Mutex() for _ in NAMES]
    wg = gochan.WaitGroup()

    def dine(i: int) -> None:
        left, right = forks[i], forks[(i + 1) % len(forks)]
        with left:
            gochan.sleep(0.1)  # everyone reaches for the right fork at the same time
            with right:
                pass

    for i, name in enumerate(NAMES):
        wg.go(dine, i).name = name
    wg.wait()


def ordered_dinner(rng: random.Random) -> None:
    forks = [gochan.Mutex() for _ in NAMES]
    wg = gochan.WaitGroup()
    eating: set[str] = set()
    most_at_once = 0
    hungry_for = dict.fromkeys(NAMES, 0.0)
    meals = dict.fromkeys(NAMES, 0)

    def dine(i: int) -> None:
        nonlocal most_at_once
        name = NAMES[i]
        a, b = i, (i + 1) % len(forks)
        first, second = forks[min(a, b)], forks[max(a, b)]  # lower number first
        for _ in range(MEALS):
            gochan.sleep(rng.uniform(0.5, 1.5))  # think
            hungry_since = gochan.monotonic()
            with first, second:
                hungry_for[name] += gochan.monotonic() - hungry_since
                eating.add(name)
                most_at_once = max(most_at_once, len(eating))
                meals[name] += 1
                print(f"{gochan.monotonic():5.2f}  {name:9} eats (meal {meals[name]})")
                gochan.sleep(rng.uniform(0.5, 1.0))  # eat
                eating.discard(name)

    for i in range(len(NAMES)):
        wg.go(dine, i)
    wg.wait()

    print(f"dinner over at t = {gochan.monotonic():.2f}")
    for name in NAMES:
        print(f"  {name:9} {meals[name]} meals, hungry for {hungry_for[name]:.2f} s")
    print(f"  at most {most_at_once} eating at once (5 forks allow 2)")


def main() -> None:
    print("left fork first, everyone at once:")
    try:
        naive_dinner()
    except gochan.Deadlock as e:  # the five stay stuck; run() cancels them at the end
        lines = str(e).splitlines()
        print(" ", lines[0])
        for line in lines:  # one header line per task: its name and state
            if line.startswith("goroutine "):
                print("   ", line.split(" ", 2)[2].rstrip(":"))

    print("lower-numbered fork first:")
    ordered_dinner(random.Random(1965))


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
