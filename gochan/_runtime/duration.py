"""Durations and deadlines: what a number of seconds given to gochan means.

Every API that takes a duration, a timeout or a deadline reads it through
this module, so the rule is the same everywhere:

* Not a number (a ``str``, ``None`` where a duration is required, a
  ``bool``): ``TypeError`` at the call.
* NaN: ``ValueError`` at the call, naming the API (as ``time.sleep`` does).
  A NaN deadline would otherwise compare false with every time and poison
  the timer heap.
* Zero or negative: "now", as in Go (``sleep`` returns at once, a Timer
  fires at once); ``-inf`` too.
* ``math.inf``, and anything longer than Go's largest ``time.Duration``
  (``2**63 - 1`` ns, about 292 years; ``MAX_DURATION``): "never" (``NEVER``,
  which is ``math.inf``). A timer due never is armed but kept out of the
  scheduler's timer heap, so it neither moves a virtual clock nor keeps a
  deadlock from being reported: the wait ends only by something else (the
  other ``select`` case, ``stop()``, a cancel).

The backends' waits take the other end: ``wait_timeout`` clamps the
timeout a scheduler hands its backend to ``MAX_WAIT``, a length every
poller accepts (epoll's is in int milliseconds, about 24.8 days).
"""

from __future__ import annotations

import math
from typing import Final, SupportsFloat

# Go's maximum time.Duration, 2**63 - 1 nanoseconds, in seconds. A longer
# duration means "never".
MAX_DURATION: Final = (2**63 - 1) / 1e9
NEVER: Final = math.inf
# The longest a scheduler blocks in its backend at once: asyncio's own
# MAXIMUM_SELECT_TIMEOUT (a day). A longer timeout is waited in turns.
MAX_WAIT: Final = 24 * 3600.0


# Durations are typed SupportsFloat, not float: a compiled build would check
# a float parameter on entry, with its own message instead of these.
def seconds(value: object, what: str) -> float:
    """``value`` as a duration in seconds for ``what`` (the API's name, as
    ``"sleep()"``): a float, ``NEVER`` if it is beyond ``MAX_DURATION``.
    ``TypeError`` if it is no number, ``ValueError`` if it is NaN.

    >>> seconds(1, "sleep()"), seconds(1e300, "sleep()"), seconds(-2.5, "sleep()")
    (1.0, inf, -2.5)
    >>> seconds(float("nan"), "sleep()")
    Traceback (most recent call last):
    ...
    ValueError: sleep() got NaN seconds; a duration must be a number (math.inf waits forever)
    """
    if type(value) is float:
        d = value
    elif isinstance(value, bool) or not isinstance(value, (int, float, SupportsFloat)):
        raise TypeError(f"{what} takes a duration in seconds (int or float), got {value!r}")
    else:
        d = _to_float(value)
    if d != d:
        raise ValueError(
            f"{what} got NaN seconds; a duration must be a number (math.inf waits forever)"
        )
    return NEVER if d > MAX_DURATION else d


def optional_seconds(value: object, what: str) -> float | None:
    """``seconds(value, what)``, with None (no timeout) passed through."""
    return None if value is None else seconds(value, what)


def instant(t: object, now: float, what: str) -> float:
    """``t``, an absolute time on the scheduler clock (a deadline), for
    ``what``: ``NEVER`` if it lies more than ``MAX_DURATION`` after ``now``.
    ``TypeError`` if it is no number, ``ValueError`` if it is NaN."""
    if isinstance(t, bool) or not isinstance(t, (int, float, SupportsFloat)):
        raise TypeError(f"{what} takes a time on gochan.monotonic(), got {t!r}")
    x = t if type(t) is float else _to_float(t)
    if x != x:
        raise ValueError(
            f"{what} got NaN as a deadline; a deadline must be a time on gochan.monotonic() "
            "(math.inf never expires)"
        )
    return NEVER if x - now > MAX_DURATION else x


def expiry(now: float, d: float) -> float:
    """When a timer of ``d`` seconds (from ``seconds()``) armed at ``now``
    is due: ``now`` for zero or less (Go fires those at once), ``NEVER``
    for ``NEVER``."""
    return now + d if d > 0 else now


def wait_timeout(timeout: float | None) -> float | None:
    """A timeout a backend's wait can take: clamped to ``[0, MAX_WAIT]``
    (None, "until woken", stays None). The scheduler passes every backend
    timeout through here, so a far timer is waited for in turns instead of
    overflowing epoll, selectors, an event loop or trio."""
    if timeout is None:
        return None
    if timeout > MAX_WAIT:
        return MAX_WAIT
    return timeout if timeout > 0 else 0.0


def _to_float(value: object) -> float:
    """``float(value)``; a value too large for a float (``10**400``) is
    ``±inf``, which is what it means as a duration."""
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf if value > 0 else -math.inf  # type: ignore[operator]
