"""Health checks run by the store's monitor: docker's HEALTHCHECK semantics, State.Health, ps's status
and health filter (issue 16 item 5)."""
from __future__ import annotations

import json
import os
import time

from tests.test_restart import inspect, wait_for


def health(cli, ref: str) -> dict:
    return inspect(cli, ref)["State"].get("Health") or {}


def test_a_passing_check_makes_it_healthy_and_ps_shows_it(busybox):
    busybox.out("run", "-d", "--name", "good", "--health-cmd", "echo fine", "--health-interval", "200ms",
                "--health-start-interval", "500ms", "--health-start-period", "400ms", "busybox", "sleep", "60")
    busybox.out("run", "-d", "--name", "nocheck", "busybox", "sleep", "60")
    assert health(busybox, "good")["Status"] == "starting"
    assert "(health: starting)" in busybox.out("ps", "--filter", "name=good", "--format", "{{.Status}}")
    assert wait_for(lambda: health(busybox, "good").get("Status") == "healthy")
    found = health(busybox, "good")
    assert found["FailingStreak"] == 0
    last = found["Log"][-1]
    assert last["ExitCode"] == 0 and last["Output"] == "fine\n" and last["Start"] <= last["End"]
    assert busybox.out("ps", "--filter", "name=good", "--format", "{{.Status}}").strip().endswith("(healthy)")
    assert busybox.out("ps", "--filter", "health=healthy", "--format", "{{.Names}}").split() == ["good"]
    assert busybox.out("ps", "--filter", "health=none", "--format", "{{.Names}}").split() == ["nocheck"]
    assert busybox.out("ps", "--filter", "health=unhealthy", "-q") == ""
    assert "Health" not in inspect(busybox, "nocheck")["State"]
    assert inspect(busybox, "good")["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "echo fine"]
    r = busybox("ps", "--filter", "health=sick")
    assert r.returncode != 0 and b"Unrecognised filter value for health: sick" in r.stderr

    def health_events() -> list[str]:
        until = str(int(time.time()) + 1)  # "0s" is the second begun (docker's whole seconds): events in it wait
        actions = busybox.out("events", "--since", "1m", "--until", until, "--filter", "container=good",
                              "--format", "{{.Action}}").split("\n")
        return [a for a in actions if a.startswith("health_status")]

    assert wait_for(lambda: health_events() != [])
    assert health_events() == ["health_status: healthy"]  # once: the event marks a change
    busybox.out("rm", "-f", "good", "nocheck")


def test_a_failing_check_makes_it_unhealthy_after_its_retries_and_heals(busybox):
    busybox.out("run", "-d", "--name", "bad", "--health-cmd", "cat /ok", "--health-interval", "150ms",
                "--health-retries", "3", "busybox", "sleep", "60")
    assert wait_for(lambda: health(busybox, "bad").get("Status") == "unhealthy")
    found = health(busybox, "bad")
    assert found["FailingStreak"] >= 3 and len(found["Log"]) >= 3
    assert all(e["ExitCode"] == 1 and "No such file" in e["Output"] for e in found["Log"])
    assert len(found["Log"]) <= 5
    assert busybox.out("ps", "--filter", "health=unhealthy", "--format", "{{.Names}} {{.Status}}").strip() \
        .endswith("(unhealthy)")
    busybox.out("exec", "bad", "touch", "/ok")
    assert wait_for(lambda: health(busybox, "bad").get("Status") == "healthy")
    assert health(busybox, "bad")["FailingStreak"] == 0
    busybox.out("rm", "-f", "bad")


def test_failures_in_the_start_period_do_not_count(busybox):
    busybox.out("run", "-d", "--name", "slow", "--health-cmd", "false", "--health-interval", "100ms",
                "--health-start-interval", "100ms", "--health-start-period", "1500ms", "--health-retries", "1",
                "busybox", "sleep", "60")
    time.sleep(0.8)
    early = health(busybox, "slow")
    assert early["Status"] == "starting" and early["FailingStreak"] == 0 and len(early["Log"]) >= 2
    assert wait_for(lambda: health(busybox, "slow").get("Status") == "unhealthy")
    busybox.out("rm", "-f", "slow")


def test_the_timeout_kills_a_hung_check(busybox, monkeypatch):
    monkeypatch.setenv("CORRAL_ROOT", busybox.root)
    import corral

    c = corral.from_env().containers.run(
        "busybox", ["sleep", "60"], detach=True, name="hung",
        healthcheck={"test": ["CMD", "sleep", "30"], "interval": 100_000_000, "timeout": 300_000_000, "retries": 1})
    try:
        assert wait_for(lambda: c.reload() or c.health == "unhealthy")
        last = c.attrs["State"]["Health"]["Log"][-1]
        assert last["ExitCode"] == -1 and last["Output"] == "Health check exceeded timeout (300ms)"
        from corral.timestamps import parse

        assert 0.3 <= parse(last["End"]) - parse(last["Start"]) < 2
        time.sleep(0.2)
        hung = [p for p in c.top()["Processes"] if p[-1] == "sleep 30"]
        assert len(hung) <= 1  # the killed ones are gone: at most the probe running now
    finally:
        c.remove(force=True)


def test_the_image_healthcheck_applies_and_no_healthcheck_disables_it(busybox, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\n"
                                         "HEALTHCHECK --interval=200ms --retries=1 CMD test -e /etc/hostname\n")
    busybox.out("build", "-q", "-t", "checked:1", str(tmp_path))
    busybox.out("run", "-d", "--name", "img", "checked:1", "sleep", "60")
    busybox.out("run", "-d", "--name", "off", "--no-healthcheck", "checked:1", "sleep", "60")
    busybox.out("run", "-d", "--name", "retuned", "--health-retries", "4", "checked:1", "sleep", "60")
    assert wait_for(lambda: health(busybox, "img").get("Status") == "healthy")
    assert inspect(busybox, "off")["Config"]["Healthcheck"]["Test"] == ["NONE"]  # the image's durations kept
    assert "Health" not in inspect(busybox, "off")["State"]
    assert inspect(busybox, "retuned")["Config"]["Healthcheck"] == {
        "Test": ["CMD-SHELL", "test -e /etc/hostname"], "Interval": 200_000_000, "Retries": 4}
    assert sorted(busybox.out("ps", "--filter", "health=none", "--format", "{{.Names}}").split()) == ["off"]
    busybox.out("rm", "-f", "img", "off", "retuned")


def test_a_paused_container_is_not_checked_and_a_missing_command_fails(busybox):
    busybox.out("run", "-d", "--name", "paused", "busybox", "sleep", "60")
    busybox.out("update", "--restart", "no", "paused")  # --restart alone is an update
    busybox.out("rm", "-f", "paused")
    busybox.out("run", "-d", "--name", "paused", "--health-cmd", "true", "--health-interval", "100ms",
                "busybox", "sleep", "60")
    assert wait_for(lambda: health(busybox, "paused").get("Status") == "healthy")
    busybox.out("pause", "paused")
    time.sleep(0.3)
    seen = health(busybox, "paused")["Log"][-1]["End"]
    time.sleep(0.5)
    assert health(busybox, "paused")["Log"][-1]["End"] == seen
    busybox.out("unpause", "paused")
    assert wait_for(lambda: health(busybox, "paused")["Log"][-1]["End"] != seen)
    busybox.out("rm", "-f", "paused")
    busybox.out("run", "-d", "--name", "nosuch", "--health-cmd", "x", "--health-interval", "100ms",
                "--health-retries", "1", "busybox", "sleep", "60")
    assert wait_for(lambda: health(busybox, "nosuch").get("Status") == "unhealthy")
    assert health(busybox, "nosuch")["Log"][-1]["ExitCode"] == 127  # the shell's: not found
    busybox.out("rm", "-f", "nosuch")


def _wakeups(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return sum(int(line.split()[1]) for line in f if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")))


def test_the_monitor_sleeps_without_health_checks_and_wakes_for_them(busybox):
    busybox.out("run", "-d", "--name", "idle", "busybox", "sleep", "60")
    pid = inspect(busybox, "idle")["State"]["Pid"]
    with open(f"/proc/{pid}/status") as f:
        monitor = int(next(line for line in f if line.startswith("PPid:")).split()[1])
    time.sleep(0.3)
    before = _wakeups(monitor)
    time.sleep(1.5)
    assert _wakeups(monitor) - before <= 1  # no timer, no wake-up (one: slack for a stray signal)
    busybox.out("run", "-d", "--name", "checked", "--health-cmd", "true", "--health-interval", "100ms",
                "busybox", "sleep", "60")
    before = _wakeups(monitor)
    time.sleep(1.0)
    assert _wakeups(monitor) - before >= 5  # a probe every 100 ms
    busybox.out("rm", "-f", "checked")
    time.sleep(0.3)
    before = _wakeups(monitor)
    time.sleep(1.0)
    assert _wakeups(monitor) - before <= 1  # its timers went with it
    assert os.path.exists(f"/proc/{monitor}")
    busybox.out("rm", "-f", "idle")
    assert json.loads(busybox.out("ps", "-a", "--format", "json") or "null") is None
