"""The logic of health checks and restart policies, without containers: docker's rules as tables."""
from __future__ import annotations

import pytest

from corral.api.models.create import create_options
from corral.cli.container_cmds import _healthcheck
from corral.errors import InvalidArgument
from corral.monitor import health, restart
from corral.monitor.timers import Timers
from corral.runtime.options import ContainerOptions, merge_healthcheck, parse_restart, restart_text
from corral.timestamps import go_duration_text

pytestmark = pytest.mark.unit
MS = 1_000_000
S = 1_000_000_000


@pytest.mark.parametrize("text, parsed", [("no", ("no", 0)), ("always", ("always", 0)),
                                          ("on-failure", ("on-failure", 0)), ("on-failure:3", ("on-failure", 3)),
                                          ("unless-stopped", ("unless-stopped", 0))])
def test_restart_policies_parse(text, parsed):
    assert parse_restart(text) == parsed


@pytest.mark.parametrize("text, message", [
    ("sometimes", "unknown policy 'sometimes'"), (":3", "no policy provided before colon"),
    ("on-failure:x", "maximum retry count must be an integer"), ("always:2", "can only be used with 'on-failure'"),
    ("on-failure:-1", "cannot be negative")])
def test_bad_restart_policies_are_refused_in_dockers_words(text, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_restart(text)


def test_restart_with_rm_is_refused_as_docker_does():
    with pytest.raises(InvalidArgument, match="cannot specify both --restart and --rm"):
        ContainerOptions(restart="always", autoremove=True).check()
    ContainerOptions(restart="no", autoremove=True).check()


def test_docker_py_restart_policy_and_healthcheck_keywords():
    opts = create_options("run", {"restart_policy": {"Name": "on-failure", "MaximumRetryCount": 3},
                                  "healthcheck": {"test": "curl -f localhost", "interval": 2 * S, "retries": 4}})
    assert opts["restart"] == "on-failure:3"
    assert opts["healthcheck"] == {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 2 * S, "Retries": 4}
    assert restart_text({"Name": "always"}) == "always"
    with pytest.raises(InvalidArgument, match="unknown policy"):
        create_options("run", {"restart_policy": {"Name": "never"}})
    with pytest.raises(InvalidArgument, match="unknown key"):
        create_options("run", {"healthcheck": {"tests": ["CMD", "true"]}})


def _flags(**given: object) -> dict:
    o = {"health_cmd": None, "health_interval": None, "health_timeout": None, "health_retries": None,
         "health_start_period": None, "health_start_interval": None, "no_healthcheck": False}
    o.update(given)
    return o


def test_health_flags_become_a_config_healthcheck():
    assert _healthcheck(_flags()) is None
    assert _healthcheck(_flags(no_healthcheck=True)) == {"Test": ["NONE"]}
    assert _healthcheck(_flags(health_cmd="true", health_interval="1m30s", health_timeout="500ms",
                               health_retries="2", health_start_period="2s")) == {
        "Test": ["CMD-SHELL", "true"], "Interval": 90 * S, "Timeout": 500 * MS, "Retries": 2, "StartPeriod": 2 * S}
    with pytest.raises(InvalidArgument, match="--no-healthcheck conflicts with --health-\\* options"):
        _healthcheck(_flags(no_healthcheck=True, health_cmd="true"))
    with pytest.raises(InvalidArgument, match="--health-interval cannot be negative"):
        _healthcheck(_flags(health_interval="-1s"))
    with pytest.raises(InvalidArgument, match="invalid duration"):
        _healthcheck(_flags(health_timeout="soon"))


def test_healthcheck_checks_and_merge_with_the_image():
    with pytest.raises(InvalidArgument, match="Interval in Healthcheck cannot be less than 1ms"):
        ContainerOptions(healthcheck={"Test": ["CMD", "true"], "Interval": 5}).check()
    with pytest.raises(InvalidArgument, match="Retries in Healthcheck cannot be negative"):
        ContainerOptions(healthcheck={"Retries": -1}).check()
    image = {"Test": ["CMD-SHELL", "check"], "Interval": 30 * S, "Retries": 5}
    assert merge_healthcheck(None, image) == image
    assert merge_healthcheck({"Interval": S}, image) == {"Test": ["CMD-SHELL", "check"], "Interval": S, "Retries": 5}
    assert merge_healthcheck({"Test": ["NONE"]}, image)["Test"] == ["NONE"]
    assert merge_healthcheck({"Test": ["CMD", "x"]}, None) == {"Test": ["CMD", "x"]}


def test_probe_commands():
    assert health.probe_command({"Test": ["CMD", "curl", "-f", "x"]}) == ["curl", "-f", "x"]
    assert health.probe_command({"Test": ["CMD-SHELL", "curl -f x"]}) == ["/bin/sh", "-c", "curl -f x"]
    assert health.probe_command({"Test": ["CMD-SHELL", "x"]}, ["/bin/bash", "-ec"]) == ["/bin/bash", "-ec", "x"]
    assert health.probe_command({"Test": ["NONE"]}) is None
    assert health.probe_command({}) is None


def test_failures_make_unhealthy_after_retries_and_a_success_heals():
    h = health.Health({"Retries": 2}, started_ns=0)
    assert h.status == "starting"
    assert not h.record(1 * S, 1 * S, 1, "no")
    assert h.state["FailingStreak"] == 1 and h.status == "starting"
    assert h.record(2 * S, 2 * S, 1, "no") and h.status == "unhealthy"
    assert h.record(3 * S, 3 * S, 0, "ok") and h.status == "healthy" and h.state["FailingStreak"] == 0
    assert not h.record(4 * S, 4 * S, 1, "no") and h.status == "healthy"  # one failure of two


def test_failures_within_the_start_period_do_not_count_until_a_success():
    h = health.Health({"StartPeriod": 10 * S, "Retries": 1}, started_ns=0)
    h.record(1 * S, 1 * S, 1, "")
    assert h.status == "starting" and h.state["FailingStreak"] == 0
    h.record(11 * S, 11 * S, 1, "")
    assert h.status == "unhealthy"
    h2 = health.Health({"StartPeriod": 10 * S, "Retries": 1}, started_ns=0)
    h2.record(1 * S, 1 * S, 0, "")
    h2.record(2 * S, 2 * S, 1, "")  # healthy once: the start period no longer shields it
    assert h2.status == "unhealthy"


def test_probe_intervals_follow_docker():
    h = health.Health({"Interval": 10 * S, "StartPeriod": 60 * S, "StartInterval": 1 * S}, started_ns=0)
    assert h.next_delay_ns(0) == 1 * S  # starting within the start period: the start interval
    h.record(0, 0, 0, "")
    assert h.next_delay_ns(S) == 10 * S  # healthy: the interval
    assert h.next_delay_ns(55 * S) == 5 * S  # the start period's end comes first
    assert h.next_delay_ns(61 * S) == 10 * S
    assert health.Health({}, 0).next_delay_ns(0) == 30 * S


def test_log_keeps_five_results_and_output_is_cut_at_4096_bytes():
    h = health.Health({}, started_ns=0)
    for i in range(7):
        h.record(i * S, i * S + MS, 0, str(i))
    assert [e["Output"] for e in h.state["Log"]] == ["2", "3", "4", "5", "6"]
    assert h.state["Log"][-1]["Start"] == "1970-01-01T00:00:06.000000000Z"
    out = health.Output()
    out.feed(b"x" * 4000)
    out.feed(b"y" * 200)
    assert out.text() == "x" * 4000 + "y" * 96 + "..."
    assert health.Health({"Timeout": 500 * MS}, 0).timed_out("") == (-1, "Health check exceeded timeout (500ms)")
    assert health.Health({}, 0).timed_out("half") == (-1, "Health check exceeded timeout (30s): half")


@pytest.mark.parametrize("ns, text", [(0, "0s"), (30 * S, "30s"), (90 * S, "1m30s"), (3600 * S, "1h0m0s"),
                                      (1500 * MS, "1.5s"), (500 * MS, "500ms"), (1500, "1.5µs")])
def test_go_duration_text(ns, text):
    assert go_duration_text(ns) == text


def test_restart_decisions():
    assert not restart.wanted("no", 1, False, 0)
    assert restart.wanted("always", 0, False, 100)
    assert not restart.wanted("always", 0, True, 0)  # the user stopped it
    assert restart.wanted("unless-stopped", 0, False, 0)
    assert restart.wanted("on-failure", 1, False, 1000)
    assert not restart.wanted("on-failure", 0, False, 0)
    assert restart.wanted("on-failure:3", 1, False, 2) and not restart.wanted("on-failure:3", 1, False, 3)


def test_restore_decisions():
    assert restart.restorable("always", 0, True, 0, True)  # a manual stop holds until the host restarts
    assert not restart.restorable("always", None, False, 0, False)  # never started
    assert restart.restorable("unless-stopped", 255, False, 0, True)
    assert not restart.restorable("unless-stopped", 0, True, 0, True)
    assert restart.restorable("on-failure:2", 255, False, 1, True)
    assert not restart.restorable("on-failure:2", 255, False, 2, True)
    assert not restart.restorable("on-failure", 0, False, 0, True)
    assert not restart.restorable("no", 255, False, 0, True)


def test_backoff_doubles_from_100ms_caps_at_a_minute_and_resets_after_10s_up():
    b = restart.Backoff()
    assert [b.next(0.5) for _ in range(4)] == [0.1, 0.2, 0.4, 0.8]
    for _ in range(20):
        b.next(0.5)
    assert b.next(0.5) == 60.0
    assert b.next(10.0) == 0.1


def test_timers_run_in_order_and_cancelled_ones_never():
    now = [0.0]
    timers = Timers(clock=lambda: now[0])
    ran: list[str] = []
    assert timers.timeout_ms() is None and not timers
    timers.after(0.2, lambda: ran.append("b"))
    timers.after(0.1, lambda: ran.append("a"))
    dropped = timers.after(0.05, lambda: ran.append("never"))
    dropped.cancel()
    assert timers.timeout_ms() == 100
    now[0] = 0.15
    timers.run_due()
    assert ran == ["a"] and timers.timeout_ms() == 50
    now[0] = 1.0
    timers.run_due()
    assert ran == ["a", "b"] and not timers
