"""Fault injection: what is armed, and the JSON face of it (``/debug/faults``).

Two kinds of fault:

- **Armed** faults wait for matching requests (by verb and resource) and fire
  on the next ``count`` of them (``count=None``: until cleared): an HTTP error
  with ``Retry-After``, a stall after the response headers, a request accepted
  and never answered, a forced 409 Conflict on writes.
- **Modes** apply to every watch stream while set: slow events (a delay before
  each one) and trickled events (each event cut into small chunks with a
  delay between them).

The one-shot actions on live watchers (tear, end, expire, corrupt, close
the backlogged), compaction, bursts and restarts are methods of `APIServer`;
`dispatch` maps a ``POST /debug/faults`` body onto all of them.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .status import JSON, bad_request

if TYPE_CHECKING:
    from .server import APIServer

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
WRITE_VERBS = frozenset({"update", "patch", "delete"})


@dataclass
class ArmedFault:
    kind: str  # "http_error", "stall", "never_answer", "conflict"
    count: int | None
    verbs: frozenset[str] | None
    resource: str | None
    code: int = 0
    retry_after: int | None = None

    def matches(self, verb: str, resource: str) -> bool:
        return (self.verbs is None or verb in self.verbs) and (
            self.resource is None or self.resource == resource
        )

    def describe(self) -> JSON:
        return {
            "kind": self.kind,
            "remaining": self.count,
            "verbs": sorted(self.verbs) if self.verbs is not None else None,
            "resource": self.resource,
            "code": self.code or None,
            "retryAfter": self.retry_after,
        }


class Faults:
    """The armed faults and watch modes; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[ArmedFault] = []
        self.slow_delay = 0.0
        self.trickle: tuple[int, float] | None = None
        self.injected: Counter[str] = Counter()

    def arm(self, fault: ArmedFault) -> None:
        if fault.count is not None and fault.count <= 0:
            raise ValueError("count must be positive (or None: until cleared)")
        if fault.verbs is not None:
            unknown = fault.verbs - set(VERBS)
            if unknown:
                raise ValueError(f"unknown verbs {sorted(unknown)}; known: {list(VERBS)}")
        with self._lock:
            self._armed.append(fault)

    def take(
        self, verb: str, resource: str, kinds: frozenset[str] | None = None
    ) -> ArmedFault | None:
        """The first armed fault matching this request, consumed once."""
        if not self._armed:  # the usual case; arm() appends before its request is sent
            return None
        with self._lock:
            for f in self._armed:
                if (kinds is None or f.kind in kinds) and f.matches(verb, resource):
                    if f.count is not None:
                        f.count -= 1
                        if f.count == 0:
                            self._armed.remove(f)
                    self.injected[f.kind] += 1
                    return f
        return None

    def count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self.slow_delay = 0.0
            self.trickle = None

    def describe(self) -> JSON:
        with self._lock:
            return {
                "armed": [f.describe() for f in self._armed],
                "slowDelay": self.slow_delay,
                "trickle": (
                    {"chunkBytes": self.trickle[0], "delay": self.trickle[1]}
                    if self.trickle
                    else None
                ),
                "injected": dict(self.injected),
                "injectedTotal": sum(self.injected.values()),
            }


def _opt_int(body: JSON, key: str, default: int | None) -> int | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{key} must be an integer")
    return value


def _opt_float(body: JSON, key: str, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"{key} must be a number")
    return float(value)


def _opt_str(body: JSON, key: str, default: str | None = None) -> str | None:
    value = body.get(key, default)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{key} must be a string")
    return value


def _opt_verbs(body: JSON, default: tuple[str, ...] | None) -> tuple[str, ...] | None:
    value = body.get("verbs", default)
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise bad_request("verbs must be a list of strings")
    return tuple(value)


ACTIONS = (
    "http_error",
    "stall",
    "never_answer",
    "conflict",
    "slow",
    "trickle",
    "tear",
    "end",
    "expire",
    "corrupt",
    "compact",
    "burst",
    "restart",
    "backlog_limit",
    "close_backlogged",
    "clear",
)


def restart_args(body: JSON) -> JSON:
    """The keyword arguments of `APIServer.restart` from a fault body."""
    return {
        "keep_state": bool(body.get("keepState", True)),
        "reset_rv": bool(body.get("resetRV", False)),
        "down_for": _opt_float(body, "downFor", 0.0),
    }


def dispatch(server: APIServer, body: Any) -> JSON:
    """Run one ``POST /debug/faults`` body, e.g. ``{"action": "tear", "resource": "pods"}``.

    Runs in a connection's task on the server's thread. A restart is not done here: the HTTP layer
    answers first and then restarts (see ``restart_args``).
    """
    if not isinstance(body, dict) or not isinstance(body.get("action"), str):
        raise bad_request(f'the body must be an object with an "action", one of {list(ACTIONS)}')
    action = body["action"]
    resource = _opt_str(body, "resource")
    try:
        result: Any = None
        if action == "http_error":
            server.fail_requests(
                code=_opt_int(body, "code", 429) or 429,
                count=_opt_int(body, "count", 1),
                verbs=_opt_verbs(body, ("list", "watch")),
                resource=resource,
                retry_after=_opt_int(body, "retryAfter", 1),
            )
        elif action == "stall":
            server.stall_after_headers(
                count=_opt_int(body, "count", 1),
                resource=resource,
                verbs=_opt_verbs(body, ("watch",)),
            )
        elif action == "never_answer":
            server.never_answer(
                count=_opt_int(body, "count", 1), resource=resource, verbs=_opt_verbs(body, None)
            )
        elif action == "conflict":
            server.force_conflict(count=_opt_int(body, "count", 1), resource=resource)
        elif action == "slow":
            server.slow_watches(_opt_float(body, "delay", 0.05))
        elif action == "trickle":
            server.trickle_watches(
                chunk_bytes=_opt_int(body, "chunkBytes", 7) or 7,
                delay=_opt_float(body, "delay", 0.0),
            )
        elif action == "tear":
            result = server.tear_watches(resource)
        elif action == "end":
            result = server.end_watches(resource)
        elif action == "expire":
            result = server.expire_watches(resource)
        elif action == "corrupt":
            result = server.corrupt_watches(resource, _opt_str(body, "kind", "json") or "json")
        elif action == "compact":
            result = server.compact(_opt_int(body, "resourceVersion", None))
        elif action == "burst":
            result = server.burst_green(
                writes=_opt_int(body, "writes", 10_000) or 0,
                keys=_opt_int(body, "keys", 1000) or 1,
                namespace=_opt_str(body, "namespace", "default") or "default",
                resource=resource or "pods",
                seed=_opt_int(body, "seed", 0) or 0,
            )
        elif action == "restart":
            raise bad_request("restart is answered before it runs; see restart_args")
        elif action == "backlog_limit":
            server.set_watch_backlog_limit(_opt_int(body, "limit", None))
        elif action == "close_backlogged":
            result = server.close_backlogged_watchers(
                _opt_int(body, "maxBacklog", 0) or 0, resource
            )
        elif action == "clear":
            server.clear_faults()
        else:
            raise bad_request(f"unknown action {action!r}; known: {list(ACTIONS)}")
    except (ValueError, KeyError) as e:
        raise bad_request(str(e)) from None
    return {"action": action, "result": result}
