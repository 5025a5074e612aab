"""Tutorial: a function that returns a value and an error.

The Go original::

    func parsePort(s string) (int, error) {
        n, err := strconv.Atoi(s)
        if err != nil {
            return 0, fmt.Errorf("parse port %q: %w", s, err)
        }
        if n < 1 || n > 65535 {
            return 0, fmt.Errorf("port %d out of range", n)
        }
        return n, nil
    }

    port, err := parsePort("8080")
    if err != nil { log.Println(err); return }

    // from a goroutine: send both back on a channel
    type result struct { port int; err error }
    go func() { n, err := parsePort(s); out <- result{n, err} }()

In Python the idiom is different: **return the value, or raise**. The
caller writes the happy path and handles errors where it can, with
``try``/``except``; ``raise ... from err`` is Go's ``%w`` wrapping, and
``isinstance`` (or ``except ValueError``) is ``errors.Is``/``errors.As``.
What to look at: both shapes side by side, then the same two shapes for
results that come back from tasks: ``(value, error)`` pairs on a channel,
Go style, or tasks that simply raise, under an ``ErrGroup`` whose
``wait()`` re-raises the first exception (Go's ``errgroup``). An exception
escaping a task started with plain ``go()`` would be fatal to the whole
program, as an unrecovered panic is in Go; in an ``ErrGroup`` it is the
group's result instead.
"""

from __future__ import annotations

import gochan


# The Go shape, for comparison: a (value, error) pair.
def parse_port_go(s: str) -> tuple[int, Exception | None]:
    try:
        n = int(s)
    except ValueError as e:
        return 0, ValueError(f"parse port {s!r}: {e}")
    if not 1 <= n <= 65535:
        return 0, ValueError(f"port {n} out of range")
    return n, None


# The Python idiom: return the value or raise.
def parse_port(s: str) -> int:
    try:
        n = int(s)
    except ValueError as e:
        raise ValueError(f"parse port {s!r}") from e  # Go's %w
    if not 1 <= n <= 65535:
        raise ValueError(f"port {n} out of range")
    return n


def parse_into(ports: dict[str, int], s: str) -> None:
    ports[s] = parse_port(s)  # may raise: the ErrGroup collects it


def main() -> None:
    inputs = ["8080", "http", "70000"]

    print("Go shape:")
    for s in inputs:
        port, err = parse_port_go(s)
        if err is not None:
            print(f"  {s!r}: error: {err}")
            continue
        print(f"  {s!r}: port {port}")

    print("Python idiom:")
    for s in inputs:
        try:
            port = parse_port(s)
        except ValueError as e:
            cause = f" (caused by: {e.__cause__})" if e.__cause__ else ""
            print(f"  {s!r}: error: {e}{cause}")
            continue
        print(f"  {s!r}: port {port}")

    print("from tasks, Go style: (value, error) pairs on a channel")
    out = gochan.Chan[tuple[str, int, Exception | None]](len(inputs))

    def parse_and_send(s: str) -> None:
        port, err = parse_port_go(s)
        out.send((s, port, err))

    for s in inputs:
        gochan.go(parse_and_send, s)
    for _ in inputs:
        s, port, err = out.recv() or ("", 0, None)
        print(f"  {s!r}: {'error: ' + str(err) if err else port}")

    print("from tasks, Python style: tasks raise, ErrGroup.wait() re-raises the first")
    for batch in (["8080", "443"], inputs):
        ports: dict[str, int] = {}
        try:
            with gochan.ErrGroup() as g:  # wait() at the end of the block
                for s in batch:
                    g.go(parse_into, ports, s)
            print(f"  {batch}: all parsed: {ports}")
        except ValueError as e:
            print(f"  {batch}: failed: {e}; parsed before that: {ports}")


if __name__ == "__main__":
    gochan.run(main)
