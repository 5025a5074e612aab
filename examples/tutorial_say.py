"""Tutorial: the ``say("world")`` goroutine from the Tour of Go.

The Go original (A Tour of Go, "Goroutines")::

    func say(s string) {
        for i := 0; i < 5; i++ {
            time.Sleep(100 * time.Millisecond)
            fmt.Println(s)
        }
    }

    func main() {
        go say("world")
        say("hello")
    }

What to look at: ``gochan.go(say, "world")`` starts the task; main then
calls ``say("hello")`` itself. Both sleep 100 ms per line, so the lines
alternate. The virtual clock makes the run instant and the order exact:
timers that fall due at the same moment fire in the order they were set,
and main set its timer first. In Go the program ends the moment main
returns, so the fifth "world" may or may not make it out. In gochan, main's
return makes ``run`` cancel the other task at its next blocking call; here
that task's last sleep had already ended (its timer fired at 0.5 too, right
after main's), so it prints its fifth line first. A task still asleep at
that moment would be cancelled in its ``sleep`` and print nothing more.
"""

import gochan


def say(s: str) -> None:
    for _ in range(5):
        gochan.sleep(0.1)
        print(f"t={gochan.monotonic():.1f} {s}")


def main() -> None:
    gochan.go(say, "world")
    say("hello")


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
