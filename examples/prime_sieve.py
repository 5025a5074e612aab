"""Prime sieve: a chain of filter tasks, one per prime found so far.

The Go original (the concurrent prime sieve from the Go tour and go/test)::

    func Generate(ch chan<- int) {
        for i := 2; ; i++ { ch <- i }
    }

    func Filter(in <-chan int, out chan<- int, prime int) {
        for {
            i := <-in
            if i%prime != 0 { out <- i }
        }
    }

    ch := make(chan int)
    go Generate(ch)
    for i := 0; i < 10; i++ {
        prime := <-ch
        fmt.Println(prime)
        ch1 := make(chan int)
        go Filter(ch, ch1, prime)
        ch = ch1
    }

What to look at: every prime that comes out of the chain adds a new
filter task at its end, so after N primes there are N+1 tasks, each
holding one number in hand. It is a lovely demonstration of channels as
plumbing and a slow way to find primes. Nobody stops the infinite
generator: when main returns, ``run`` cancels all the tasks.
"""

import gochan


def generate(ch: gochan.Chan[int]) -> None:
    i = 2
    while True:
        ch.send(i)
        i += 1


def filter_multiples(inp: gochan.Chan[int], out: gochan.Chan[int], prime: int) -> None:
    for i in inp:
        if i % prime != 0:
            out.send(i)


def main() -> None:
    ch = gochan.Chan[int]()
    gochan.go(generate, ch)
    primes = []
    for _ in range(100):
        prime = ch.recv()
        assert prime is not None
        primes.append(prime)
        ch1 = gochan.Chan[int]()
        gochan.go(filter_multiples, ch, ch1, prime)
        ch = ch1
    print("first 10 primes:", *primes[:10])
    print("the 100th prime:", primes[-1])
    print("tasks in the sieve:", gochan.num_goroutine() - 1)


if __name__ == "__main__":
    gochan.run(main)
