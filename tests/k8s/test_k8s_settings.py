"""The controller's settings (flag > env > file > default, checked) and its probes
(/healthz answers while the scheduler runs, /readyz follows the replica)."""

from __future__ import annotations

import json
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import gochan

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.__main__ import parse  # noqa: E402
from examples.k8s_watch.health import Probes  # noqa: E402
from examples.k8s_watch.settings import SETTINGS, SettingsError, resolve  # noqa: E402

# ---- settings ----------------------------------------------------------------------------------


def test_defaults_are_todays_behaviour() -> None:
    a = resolve(["--server", "http://127.0.0.1:1"], {})
    assert (a.workers, a.shards, a.leader_elect, a.probe_port) == (16, 1, False, 0)
    assert (a.lease_duration, a.renew_deadline, a.retry_period) == (15.0, 10.0, 2.0)
    assert a.identity and a.sources["workers"] == "default"


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("workers: 3\nbookmark_interval: 30\nreport: 7\nleader-elect: true\n")
    env = {"K8S_WATCH_WORKERS": "5", "K8S_WATCH_REPORT": "9", "K8S_WATCH_CONFIG": str(cfg)}
    a = resolve(["--workers", "8", "--server", "http://x:1"], env)
    assert a.workers == 8 and a.sources["workers"] == "from flag --workers"
    assert a.report == 9.0 and a.sources["report"] == "from K8S_WATCH_REPORT"
    assert a.bookmark_interval == 30.0 and a.sources["bookmark-interval"] == f"from {cfg}"
    assert a.leader_elect is True
    b = resolve(["--no-leader-elect", "--config", str(cfg), "--server", "http://x:1"], {})
    assert b.leader_elect is False and b.workers == 3


def test_json_settings_file_and_every_flag_has_an_env_var(tmp_path: Path) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"shards": 4, "leader-elect": True, "shard-filter": "server"}))
    a = resolve(["--config", str(cfg), "--server", "http://x:1"], {})
    assert (a.shards, a.leader_elect, a.shard_filter) == (4, True, "server")
    env = {"K8S_WATCH_IN_CLUSTER": "yes", "K8S_WATCH_PROBE_PORT": "8081", "K8S_WATCH_SHARDS": "2",
           "K8S_WATCH_LEADER_ELECT": "true", "K8S_WATCH_ALL_NAMESPACES": "1"}  # fmt: skip
    a = resolve([], env)
    assert a.in_cluster and a.all_namespaces and (a.probe_port, a.shards) == (8081, 2)
    assert {s.env for s in SETTINGS} >= {"K8S_WATCH_WORKERS", "K8S_WATCH_BOOKMARK_INTERVAL"}


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (
            ["--workers", "0"],
            {},
            "workers = 0 (from flag --workers): must be an integer in 1..10000",
        ),
        (
            [],
            {"K8S_WATCH_WORKERS": "many"},
            "workers = 'many' (from K8S_WATCH_WORKERS): must be an integer",
        ),
        ([], {"K8S_WATCH_WORKERS": "20000"}, "must be an integer in 1..10000"),
        (
            ["--probe-port", "70000"],
            {},
            "probe-port = 70000 (from flag --probe-port): must be an integer in 0..65535",
        ),
        (
            ["--namespace", "Bad_NS"],
            {},
            "namespace = 'Bad_NS' (from flag --namespace): must be a DNS label",
        ),
        (  # a trailing newline (a file or an env var written carelessly) is no DNS label
            [],
            {"K8S_WATCH_LEASE_NAMESPACE": "default\n"},
            "lease-namespace = 'default\\n' (from K8S_WATCH_LEASE_NAMESPACE): must be a DNS label",
        ),
        ([], {"K8S_WATCH_LEASE_NAME": "a" * 254}, "must be a DNS subdomain"),
        (
            [],
            {"K8S_WATCH_IDENTITY": " \t"},
            "identity = ' \\t' (from K8S_WATCH_IDENTITY): must not",
        ),
        (
            ["--server", "ftp://x"],
            {},
            "server = 'ftp://x' (from flag --server): must be an http:// or https:// URL",
        ),
        (
            ["--shard-filter", "both"],
            {},
            "shard-filter = 'both' (from flag --shard-filter): must be one of client, server",
        ),
        (
            [],
            {"K8S_WATCH_LEADER_ELECT": "maybe"},
            "leader-elect = 'maybe' (from K8S_WATCH_LEADER_ELECT): must be a boolean",
        ),
        (["--shards", "4"], {}, "shards = 4 (from flag --shards) needs leader-elect"),
        (
            ["--lease-duration", "5"],
            {},
            "need lease-duration > renew-deadline > 1.2 x retry-period",
        ),
        (
            ["--server", "http://x:1", "--in-cluster"],
            {},
            "server, kubeconfig and in-cluster are alternatives",
        ),
        (
            ["--timeout", "0"],
            {},
            "timeout = 0.0 (from flag --timeout): must be a number of seconds in (0, 3600]",
        ),
    ],
)
def test_bad_values_name_the_setting_the_source_and_what_is_accepted(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as e:
        resolve(argv, env)
    assert message in str(e.value)


def test_transport_and_backend_settings() -> None:
    a = resolve(["--server", "http://127.0.0.1:1"], {})
    assert (a.transport, a.backend) == ("green", "builtin")
    a = resolve(["--server", "http://127.0.0.1:1", "--transport", "httpx"], {})
    assert (a.transport, a.backend) == ("httpx", "uvloop")  # the transport's own default
    env = {"K8S_WATCH_TRANSPORT": "official", "K8S_WATCH_BACKEND": "trio"}
    a = resolve(["--server", "http://127.0.0.1:1"], env)
    assert (a.transport, a.backend) == ("official", "trio")
    with pytest.raises(SettingsError) as e:
        resolve(["--server", "http://127.0.0.1:1", "--transport", "httpx", "--backend", "trio"], {})
    assert "the httpx transport needs one of the backends uvloop, asyncio, not 'trio'" in str(
        e.value
    )
    assert "backend from flag --backend" in str(e.value)
    with pytest.raises(SettingsError) as e:
        resolve(["--server", "http://127.0.0.1:1"], {"K8S_WATCH_TRANSPORT": "carrier-pigeon"})
    assert "transport = 'carrier-pigeon' (from K8S_WATCH_TRANSPORT): must be one of" in str(e.value)


def test_bad_settings_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("workers: [1, 2\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        resolve(["--config", str(bad)], {})
    bad.write_text("wrokers: 3\n")
    with pytest.raises(SettingsError, match=r"'wrokers' in .*: not a setting; known: .*workers"):
        resolve(["--config", str(bad)], {})
    bad.write_text("- 1\n")
    with pytest.raises(SettingsError, match="must be a mapping"):
        resolve(["--config", str(bad)], {})
    bad.write_text("workers: 0\n")
    with pytest.raises(SettingsError, match=rf"workers = 0 \(from {bad}\): must be an integer"):
        resolve(["--config", str(bad)], {})
    with pytest.raises(SettingsError, match="cannot read it"):
        resolve(["--config", str(tmp_path / "missing.yaml")], {})


def test_the_cli_turns_a_settings_error_into_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        parse(["--workers", "0"], {})
    assert e.value.code == 2
    assert "workers = 0 (from flag --workers): must be an integer in 1..10000" in (
        capsys.readouterr().err
    )


# ---- probes ------------------------------------------------------------------------------------


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_probes_follow_readiness_and_answer_404_elsewhere() -> None:
    state = {"ok": False, "why": "shard 0: caches not synced"}

    def main() -> list[tuple[int, str]]:
        p = Probes(lambda now: (bool(state["ok"]), str(state["why"])), host="127.0.0.1")
        p.start()
        try:
            out = [
                gochan.blocking(_get, p.url + "/healthz"),
                gochan.blocking(_get, p.url + "/readyz"),
            ]
            state.update(ok=True, why="ok, leading shards [0]")
            out.append(gochan.blocking(_get, p.url + "/readyz"))
            out.append(gochan.blocking(_get, p.url + "/metrics"))
            return out
        finally:
            p.stop()

    assert gochan.run(main) == [
        (200, "ok\n"),
        (503, "shard 0: caches not synced\n"),
        (200, "ok, leading shards [0]\n"),
        (404, "not found\n"),
    ]  # fmt: skip


def test_healthz_fails_while_the_scheduler_is_wedged() -> None:
    release = threading.Event()

    def main() -> tuple[tuple[int, str], tuple[int, str]]:
        p = Probes(lambda now: (True, "ok"), host="127.0.0.1", deadline=0.2)
        p.start()
        result: list[tuple[int, str]] = []
        probed = threading.Event()

        def prober() -> None:
            result.append(_get(p.url + "/healthz"))
            probed.set()
            release.set()

        try:
            th = threading.Thread(target=prober)
            th.start()
            # A task that blocks the scheduler's thread (the bug liveness catches):
            # the prober gets its answer (503) while we are stuck, then lets us go.
            release.wait(10)
            assert probed.is_set()
            gochan.blocking(th.join)
            after = gochan.blocking(_get, p.url + "/healthz")
            return result[0], after
        finally:
            p.stop()

    wedged, after = gochan.run(main)
    assert wedged == (503, "scheduler did not answer within 0.2 s\n")
    assert after == (200, "ok\n")


def test_a_readiness_check_that_raises_is_not_ready() -> None:
    def boom(now: float) -> tuple[bool, str]:
        raise RuntimeError("bug")

    def main() -> tuple[int, str]:
        p = Probes(boom, host="127.0.0.1")
        p.start()
        try:
            return gochan.blocking(_get, p.url + "/readyz")
        finally:
            p.stop()

    assert gochan.run(main) == (503, "readiness check failed: RuntimeError: bug\n")
