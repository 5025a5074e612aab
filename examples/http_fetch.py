"""Green tasks fetch pages through httpx's AsyncClient, on the uvloop backend.

    python examples/http_fetch.py

The whole program is one ``gochan.run(main, backend="uvloop")``. Everything
async runs on uvloop's event loop; everything else is green tasks written in
blocking style:

* ``main`` starts a small HTTP server on 127.0.0.1 (an ``asyncio.start_server``
  on the same loop, started through ``await_``; port 0, so the OS picks a free
  port) and opens one ``httpx.AsyncClient``, shared by every worker.
* A feeder task sends paths into an unbuffered ``jobs`` channel. Four worker
  tasks take paths with a plain ``for path in jobs`` and fetch each one with
  ``gochan.await_(client.get(path))``: only the worker parks while its request
  runs on the loop, so up to four requests are in flight at once, and the
  server's own coroutines serve them on the same thread.
* The workers send ``(path, status, title)`` rows to a ``results`` channel;
  ``main`` collects them, closes the client and the server (again through
  ``await_``) and prints the rows sorted, with a summary.

A path the server does not know gives a 404 row; a request that fails in
httpx (here: the server drops the connection) gives an ``error`` row with
the exception's type. The output is the same on every run; the test suite
compares all of it (tests/examples/test_example_async.py).

Needs the ``uvloop`` extra and ``httpx``: ``pip install 'gochan[uvloop]' httpx``.
"""

from __future__ import annotations

import asyncio
import json

import httpx

import gochan
from gochan import Chan, await_, go

WORKERS = 4
ARTICLES = {
    "/articles/1": "Share memory by communicating",
    "/articles/2": "Concurrency is not parallelism",
    "/articles/3": "Go statement considered harmful",
    "/articles/4": "Notes on structured concurrency",
    "/articles/5": "A tour of select",
    "/articles/6": "Timeouts and deadlines",
    "/articles/7": "Green threads, again",
    "/articles/8": "What color is your function?",
}
PATHS = [*ARTICLES, "/articles/404", "/drop"]


# -- the server: plain asyncio coroutines on the same loop ----------------------


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Serve one request: GET <path>, answered as JSON, then close."""
    try:
        request = (await reader.readline()).decode()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass  # headers: not needed here
        path = request.split()[1]
        if path == "/drop":
            return  # close without answering: the client sees an error
        if path in ARTICLES:
            status, body = "200 OK", {"path": path, "title": ARTICLES[path]}
        else:
            status, body = "404 Not Found", {"error": f"no such page: {path}"}
        data = json.dumps(body).encode()
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def start_server() -> asyncio.Server:
    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def stop_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


# -- the green side ----------------------------------------------------------------


def feeder(jobs: Chan[str]) -> None:
    for path in PATHS:
        jobs.send(path)
    jobs.close()


def worker(client: httpx.AsyncClient, jobs: Chan[str], results: Chan[tuple[str, str, str]]) -> None:
    for path in jobs:
        try:
            response = await_(client.get(path))  # parks this task only
        except httpx.HTTPError as e:
            results.send((path, "error", type(e).__name__))
            continue
        body = response.json()
        results.send((path, str(response.status_code), body.get("title", body.get("error", ""))))


def main() -> None:
    server = await_(start_server())
    port = server.sockets[0].getsockname()[1]
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
    jobs, results = Chan[str](), Chan[tuple[str, str, str]]()
    go(feeder, jobs)
    workers = [go(worker, client, jobs, results) for _ in range(WORKERS)]
    rows = sorted(results.recv() for _ in PATHS)  # type: ignore[type-var]
    for w in workers:
        w.join()
    await_(client.aclose())
    await_(stop_server(server))

    for path, status, title in rows:
        print(f"{path:15} {status:5} {title}")
    ok = sum(1 for _, status, _ in rows if status == "200")
    print(
        f"summary: {len(rows)} requests by {WORKERS} green workers over one httpx.AsyncClient "
        f"on uvloop: {ok} ok, {len(rows) - ok} not; tasks left besides main: "
        f"{gochan.num_goroutine() - 1}"
    )


if __name__ == "__main__":
    gochan.run(main, backend="uvloop")
