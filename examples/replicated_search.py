"""Google Search 1.0 to 3.0: fan out, time out, and race replicas.

The Go original (Rob Pike, "Go Concurrency Patterns", 2012)::

    func First(query string, replicas ...Search) Result {
        c := make(chan Result)
        searchReplica := func(i int) { c <- replicas[i](query) }
        for i := range replicas { go searchReplica(i) }
        return <-c
    }

    func Google(query string) (results []Result) {     // 3.0
        c := make(chan Result)
        go func() { c <- First(query, Web1, Web2) }()
        go func() { c <- First(query, Image1, Image2) }()
        go func() { c <- First(query, Video1, Video2) }()
        timeout := time.After(80 * time.Millisecond)
        for i := 0; i < 3; i++ {
            select {
            case result := <-c: results = append(results, result)
            case <-timeout:     fmt.Println("timed out"); return
            }
        }
        return
    }

What to look at: each fake backend takes a random 0-99 ms (a seeded
``random.Random``, on the virtual clock, so the times are exact and the
same on every run). Each version runs 100 queries and prints the first
two. 1.0 calls them one after the other: the latencies add
up. 2.0 runs them concurrently: the slowest one sets the pace. 2.1 stops
waiting after 80 ms and returns what it has. 3.0 asks two replicas of each
backend and takes whichever answers first, which makes a slow answer, and
so a timeout, much rarer. The channels in ``first`` have room for every
replica, so the losers can finish their send instead of leaking (in Pike's
version they block forever; here ``run`` would cancel them at the end).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import gochan

Search = Callable[[str], str]
rng = random.Random(2012)
TIMEOUT = 0.080
N_QUERIES = 100


def fake_search(kind: str) -> Search:
    def search(query: str) -> str:
        gochan.sleep(rng.randrange(100) / 1000)
        return f"{kind}({query})"

    return search


web, image, video = fake_search("web"), fake_search("image"), fake_search("video")
web1, web2 = fake_search("web1"), fake_search("web2")
image1, image2 = fake_search("image1"), fake_search("image2")
video1, video2 = fake_search("video1"), fake_search("video2")


def google_1_0(query: str) -> list[str]:
    return [web(query), image(query), video(query)]


def fan_out(query: str, searches: list[Search], c: gochan.Chan[str]) -> None:
    def ask(search: Search) -> None:
        c.send(search(query))

    for search in searches:
        gochan.go(ask, search)


def google_2_0(query: str) -> list[str]:
    c = gochan.Chan[str]()
    fan_out(query, [web, image, video], c)
    return [c.recv() or "" for _ in range(3)]


def collect(c: gochan.Chan[str], n: int) -> list[str]:
    results: list[str] = []
    timeout = gochan.after(TIMEOUT)  # one deadline for the whole search
    for _ in range(n):
        match gochan.select(c.recv, timeout.recv):
            case 0, result:
                results.append(result)
            case 1, _:
                results.append("timed out")
                break
    return results


def google_2_1(query: str) -> list[str]:
    c = gochan.Chan[str](3)
    fan_out(query, [web, image, video], c)
    return collect(c, 3)


def first(query: str, *replicas: Search) -> str:
    c = gochan.Chan[str](len(replicas))  # room for the losers too
    fan_out(query, list(replicas), c)
    return c.recv() or ""


def replicated(*replicas: Search) -> Search:
    return lambda query: first(query, *replicas)


def google_3_0(query: str) -> list[str]:
    c = gochan.Chan[str](3)
    searches = [replicated(web1, web2), replicated(image1, image2), replicated(video1, video2)]
    fan_out(query, searches, c)
    return collect(c, 3)


def main() -> None:
    versions = [("1.0", google_1_0), ("2.0", google_2_0), ("2.1", google_2_1), ("3.0", google_3_0)]
    for name, google in versions:
        took, timeouts = [], 0
        for n in range(N_QUERIES):
            start = gochan.monotonic()
            results = google(f"q{n}")
            took.append((gochan.monotonic() - start) * 1000)
            timeouts += "timed out" in results
            if n < 2:
                print(f"Google {name} {took[-1]:3.0f} ms: {', '.join(results)}")
            gochan.sleep(1)  # let the stragglers finish before the next query
        print(
            f"  {N_QUERIES} queries: mean {sum(took) / len(took):3.0f} ms, "
            f"max {max(took):3.0f} ms, {timeouts} timed out"
        )


if __name__ == "__main__":
    gochan.run(main, clock="virtual", seed=1)
