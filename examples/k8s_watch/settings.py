"""The controller's settings: flags, environment, a settings file; checked with clear errors.

Every setting has one name, its flag's (``workers``, ``bookmark-interval``...),
and comes from, first match wins:

1. the command line: ``--workers 8`` (booleans: ``--leader-elect`` /
   ``--no-leader-elect``);
2. the environment: ``K8S_WATCH_WORKERS=8`` (``K8S_WATCH_`` + the name in
   upper case, ``-`` as ``_``; booleans ``true/false/1/0/yes/no/on/off``);
3. the settings file named by ``--config`` (or ``K8S_WATCH_CONFIG``): a YAML
   mapping (PyYAML) or JSON (a ``.json`` file, or when PyYAML is missing),
   keys as the names (``bookmark-interval`` or ``bookmark_interval``), as a
   ConfigMap mounted at ``/etc/k8s-watch/config.yaml`` provides it;
4. the default.

Each value is checked where it came from, and a bad one stops the program
with a message that names the setting, where it came from and what is
accepted::

    settings: workers = 0 (from K8S_WATCH_WORKERS): must be an integer in 1..10000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .leaderelection import JITTER_FACTOR, LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD
from .transports import TRANSPORTS, check_backend, default_backend

ENV_PREFIX = "K8S_WATCH_"
DEFAULT_CONFIG = "/etc/k8s-watch/config.yaml"


class SettingsError(ValueError):
    """A setting has a value that is not accepted; the message says which and why."""


Check = Callable[[Any], str | None]  # None if fine, else what is accepted


def _int_range(lo: int, hi: int) -> Check:
    return lambda v: None if lo <= v <= hi else f"must be an integer in {lo}..{hi}"


def _positive(hi: float) -> Check:
    return lambda v: None if 0 < v <= hi else f"must be a number of seconds in (0, {hi:g}]"


def _non_negative(v: float) -> str | None:
    return None if v >= 0 else "must be a number of seconds >= 0 (0: never)"


def _matches(pattern: str, what: str) -> Check:
    rx = re.compile(pattern, re.DOTALL)
    return lambda v: None if rx.fullmatch(v) else what


_dns_label = _matches(
    r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?",
    "must be a DNS label (a-z, 0-9, '-', at most 63 characters)",
)
_dns_subdomain = _matches(
    r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
    "must be a DNS subdomain (a-z, 0-9, '-', '.', at most 253 characters)",
)
_url = _matches(r"https?://[^/\s]+.*", "must be an http:// or https:// URL")
_non_empty = _matches(r".*\S.*", "must not be empty")


def _choice(*choices: str) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type  # str, int, float or bool
    default: Any
    help: str
    check: Check | None = None
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name


BACKEND_NAMES = ("builtin", "asyncio", "uvloop", "trio")  # gochan.run(backend=...)


def _default_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


SETTINGS: tuple[Setting, ...] = (
    Setting("server", str, None, "API server URL (e.g. the embedded apiserver's)", _url),
    Setting("kubeconfig", str, None, "kubeconfig path (default $KUBECONFIG, ~/.kube/config)", None),
    Setting("in-cluster", bool, False, "use the pod's service account"),
    Setting("context", str, None, "kubeconfig context", _non_empty),
    Setting("token", str, None, "bearer token (with --server)", _non_empty),
    Setting("timeout", float, 10.0, "client read timeout, s", _positive(3600)),
    Setting(
        "transport",
        str,
        "green",
        "HTTP client: " + "; ".join(f"{k}: {v}" for k, v in TRANSPORTS.items()),
        _choice(*TRANSPORTS),
        "{" + ",".join(TRANSPORTS) + "}",
    ),
    Setting(
        "backend",
        str,
        None,
        "gochan backend (default: the transport's own, see transports.py)",
        _choice(*BACKEND_NAMES),
        "{" + ",".join(BACKEND_NAMES) + "}",
    ),
    Setting("namespace", str, "default", "namespace to watch", _dns_label),
    Setting("all-namespaces", bool, False, "watch every namespace (needs a ClusterRole)"),
    Setting("workers", int, 16, "workers per shard", _int_range(1, 10000)),
    Setting("bookmark-interval", float, 60.0, "expected bookmark interval, s", _positive(3600)),
    Setting("report", float, 10.0, "status line period, s", _positive(86400)),
    Setting("duration", float, 0.0, "stop after this long, s (0: never)", _non_negative),
    Setting("leader-elect", bool, False, "compete for the Lease(s); only holders work"),
    Setting(
        "lease-name",
        str,
        "k8s-watch-controller",
        "Lease name (per shard: -shard-<i>)",
        _dns_subdomain,
    ),
    Setting("lease-namespace", str, "default", "namespace of the Lease(s)", _dns_label),
    Setting("identity", str, None, "this replica's holder identity (default host-pid)", _non_empty),
    Setting("lease-duration", float, LEASE_DURATION, "Lease duration, s", _positive(3600)),
    Setting("renew-deadline", float, RENEW_DEADLINE, "renew deadline, s", _positive(3600)),
    Setting("retry-period", float, RETRY_PERIOD, "retry period, s", _positive(3600)),
    Setting("shards", int, 1, "hash shards, one Lease each (1: no sharding)", _int_range(1, 1024)),
    Setting(
        "shard-filter",
        str,
        "client",
        "client: filter events here; server: also send "
        "shardSelector (KEP-5866, Kubernetes 1.36 alpha)",
        _choice("client", "server"),
        "{client,server}",
    ),
    Setting("probe-port", int, 0, "port of /healthz and /readyz (0: off)", _int_range(0, 65535)),
    Setting("probe-address", str, "0.0.0.0", "address the probe server binds", _non_empty),
    Setting("verbose", bool, False, "log at INFO"),
)
BY_NAME = {s.name: s for s in SETTINGS}


def _parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on", "y", "t"):
        return True
    if t in ("0", "false", "no", "off", "n", "f", ""):
        return False
    raise ValueError(text)


def _coerce(s: Setting, value: Any, where: str) -> Any:
    """``value`` (a string from env/flag, or a YAML/JSON scalar) as the setting's type."""
    what = {
        bool: "must be a boolean (true/false)",
        int: "must be an integer",
        float: "must be a number",
        str: "must be a string",
    }[s.kind]
    try:
        if s.kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str):
                return _parse_bool(value)
            raise ValueError(value)
        if s.kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if s.kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError(value)
        return str(value)
    except (TypeError, ValueError):
        raise SettingsError(f"settings: {s.name} = {value!r} ({where}): {what}") from None


def load_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A settings file as a mapping (YAML, or JSON for a ``.json`` file)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise SettingsError(f"settings: config = {str(p)!r}: cannot read it: {e}") from None
    yaml: Any = None
    if p.suffix != ".json":
        try:
            import yaml  # type: ignore[import-untyped, no-redef]
        except ImportError:  # pragma: no cover - PyYAML is a dependency of the image
            yaml = None
    if yaml is None:
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as e:
            raise SettingsError(f"settings: config = {str(p)!r}: not valid JSON: {e}") from None
    else:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise SettingsError(f"settings: config = {str(p)!r}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise SettingsError(
            f"settings: config = {str(p)!r}: must be a mapping of setting names to values"
        )
    return data


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """The flags: every setting, with no defaults (an absent flag falls through to env)."""
    ap = argparse.ArgumentParser(
        prog="python -m examples.k8s_watch",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
        epilog=f"Every flag can also be set as {ENV_PREFIX}<FLAG> (e.g. {ENV_PREFIX}WORKERS=8) "
        "or in the --config file (flag > env > file > default).",
    )
    ap.add_argument(
        "--config", help=f"settings file, YAML or JSON (e.g. {DEFAULT_CONFIG}); env "
        f"{ENV_PREFIX}CONFIG",
    )  # fmt: skip
    for s in SETTINGS:
        default = s.default if s.name != "identity" else "host-pid"
        help_ = f"{s.help} [env {s.env}; default {default}]"
        if s.kind is bool:
            names = [s.flag, "-v"] if s.name == "verbose" else [s.flag]
            ap.add_argument(*names, action=argparse.BooleanOptionalAction, help=help_)
        else:
            ap.add_argument(s.flag, help=help_, metavar=s.metavar)
    return ap


def resolve(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    parser: argparse.ArgumentParser | None = None,
) -> argparse.Namespace:
    """Flags > env > file > defaults, checked. Raises `SettingsError`.

    The result has one attribute per setting (``args.bookmark_interval``),
    plus ``config`` and ``sources`` (name -> where the value came from).
    """
    env = os.environ if environ is None else environ
    ap = parser or build_parser()
    given = vars(ap.parse_args(argv))
    config = given.pop("config", None) or env.get(ENV_PREFIX + "CONFIG") or None
    from_file: dict[str, Any] = {}
    if config:
        for key, value in load_file(config).items():
            name = str(key).replace("_", "-")
            if name not in BY_NAME:
                raise SettingsError(
                    f"settings: {key!r} in {config}: not a setting; known: "
                    + ", ".join(sorted(BY_NAME))
                )
            from_file[name] = value
    out = argparse.Namespace(config=config)
    sources: dict[str, str] = {}
    for s in SETTINGS:
        if s.dest in given:
            raw, where = given[s.dest], f"from flag {s.flag}"
        elif s.env in env:
            raw, where = env[s.env], f"from {s.env}"
        elif s.name in from_file:
            raw, where = from_file[s.name], f"from {config}"
        else:
            setattr(out, s.dest, s.default)
            sources[s.name] = "default"
            continue
        value = None if raw is None else _coerce(s, raw, where)
        if value is not None and s.check is not None:
            problem = s.check(value)
            if problem:
                raise SettingsError(f"settings: {s.name} = {value!r} ({where}): {problem}")
        setattr(out, s.dest, value)
        sources[s.name] = where
    out.sources = sources
    _cross_check(out)
    if out.identity is None:
        out.identity = _default_identity()
    return out


def _cross_check(a: argparse.Namespace) -> None:
    def where(*names: str) -> str:
        return ", ".join(f"{n} ({a.sources[n]})" for n in names)

    chosen = [n for n in ("server", "kubeconfig", "in-cluster") if getattr(a, n.replace("-", "_"))]
    if len(chosen) > 1:
        raise SettingsError(
            f"settings: server, kubeconfig and in-cluster are alternatives, choose one; "
            f"set: {where(*chosen)}"
        )
    if not a.lease_duration > a.renew_deadline > JITTER_FACTOR * a.retry_period:
        raise SettingsError(
            "settings: need lease-duration > renew-deadline > 1.2 x retry-period (client-go's "
            f"rule); got {a.lease_duration:g} / {a.renew_deadline:g} / {a.retry_period:g} "
            f"from {where('lease-duration', 'renew-deadline', 'retry-period')}"
        )
    if a.backend is None:
        a.backend = default_backend(a.transport)
    else:
        try:
            check_backend(a.transport, a.backend)
        except ValueError as e:
            raise SettingsError(
                f"settings: {e} (transport {a.sources['transport']}, "
                f"backend {a.sources['backend']})"
            ) from None
    if a.shards > 1 and not a.leader_elect:
        raise SettingsError(
            f"settings: shards = {a.shards} ({a.sources['shards']}) needs leader-elect: each "
            "shard is a Lease, and only its holder works on it"
        )


__all__ = [
    "BY_NAME",
    "DEFAULT_CONFIG",
    "ENV_PREFIX",
    "SETTINGS",
    "Setting",
    "SettingsError",
    "build_parser",
    "load_file",
    "resolve",
]
