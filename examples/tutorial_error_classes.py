"""Tutorial: classify errors: retry, give up, or recover.

The Go original (the usual shape of a worker's error handling)::

    var ErrTransient = errors.New("transient")

    func process(job Job) (err error) {
        defer func() {                       // a bug: log it, keep the worker alive
            if r := recover(); r != nil { err = fmt.Errorf("bug: %v", r) }
        }()
        for attempt := 1; ; attempt++ {
            err := call(job)
            var bad *BadRequestError
            switch {
            case err == nil:
                return nil
            case errors.Is(err, ErrTransient) && attempt < maxAttempts:
                time.Sleep(backoff << (attempt - 1))   // retry
            case errors.As(err, &bad):
                return err                             // permanent: give up now
            default:
                return err                             // out of attempts
            }
        }
    }

Python classifies with the exception hierarchy: ``except`` clauses are
``errors.Is``/``errors.As``. Three classes of failure:

* **transient** (``ConnectionError``, ``TimeoutError``): retry with
  exponential backoff, up to a limit;
* **permanent** (a ``BadRequest`` here): retrying cannot help, give up at
  once and report it;
* **a bug** (any other exception: ``KeyError``, ``ZeroDivisionError``, a
  ``panic``): not handled by the retry logic at all; a deferred
  ``recover()`` turns it into a report so one bad job does not take the
  worker, and the program, down.

What to look at: the outcome of each job, and the virtual times of the
retries (0.1 s, 0.2 s, 0.4 s apart).
"""

from __future__ import annotations

import gochan
from gochan import defer, recover

MAX_ATTEMPTS = 4
BACKOFF = 0.1


class BadRequest(Exception):
    """A permanent error: the request itself is wrong."""


class FakeService:
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def call(self, job: str) -> str:
        n = self.calls[job] = self.calls.get(job, 0) + 1
        gochan.sleep(0.01)
        match job:
            case "flaky" if n <= 2:
                raise ConnectionError("connection reset")
            case "down":
                raise TimeoutError("no answer")
            case "invalid":
                raise BadRequest("field 'size' must be positive")
            case "buggy":
                return {"ok": "?"}["result"]  # a KeyError: a bug in our code
        return f"{job} done"


def log(job: str, msg: str) -> None:
    print(f"{gochan.monotonic():5.2f}  {job:8} {msg}")


def process(svc: FakeService, job: str) -> None:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            log(job, svc.call(job))
            return
        except (ConnectionError, TimeoutError) as e:  # transient: retry
            if attempt == MAX_ATTEMPTS:
                log(job, f"giving up after {attempt} attempts: {e!r}")
                return
            delay = BACKOFF * 2 ** (attempt - 1)
            log(job, f"attempt {attempt}: {e!r}; retrying in {delay:.1f} s")
            gochan.sleep(delay)
        except BadRequest as e:  # permanent: retrying cannot help
            log(job, f"permanent error, not retrying: {e}")
            return


@gochan.func
def process_safely(svc: FakeService, job: str) -> None:
    def catch_bug() -> None:
        r = recover()
        if r is not None:
            log(job, f"bug, recovered: {r!r}; the worker goes on")

    defer(catch_bug)
    process(svc, job)  # anything that is neither transient nor permanent ends up above


def worker(svc: FakeService, jobs: gochan.Chan[str]) -> None:
    for job in jobs:
        process_safely(svc, job)


def main() -> None:
    svc = FakeService()
    jobs = gochan.Chan[str](10)
    for job in ("ok", "flaky", "down", "invalid", "buggy", "last"):
        jobs.send(job)
    jobs.close()
    w = gochan.go(worker, svc, jobs)
    w.join()
    print("calls per job:", svc.calls)


if __name__ == "__main__":
    gochan.run(main, clock="virtual")
