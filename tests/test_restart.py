"""Restart policies run by the store's monitor: docker's back-off, counts, manual stops, and a reboot
survived through `corral system restore` (issue 16 item 6)."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest


def inspect(cli, ref: str) -> dict:
    return json.loads(cli.out("inspect", ref))[0]


def wait_for(predicate, timeout: float = 10.0, step: float = 0.05):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(step)


def test_on_failure_3_restarts_three_times_with_backoff_then_stays_exited(busybox):
    busybox.out("run", "-d", "--name", "fail3", "--restart", "on-failure:3", "busybox", "sh", "-c", "echo run; exit 1")
    assert wait_for(lambda: inspect(busybox, "fail3")["State"]["Status"] == "exited"
                    and inspect(busybox, "fail3")["RestartCount"] == 3)
    time.sleep(1.0)  # a fourth restart would come 0.8 s after the fourth exit
    found = inspect(busybox, "fail3")
    assert found["RestartCount"] == 3 and found["State"]["Status"] == "exited"
    assert found["State"]["ExitCode"] == 1 and not found["State"]["Restarting"]
    assert found["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    lines = busybox.out("logs", "-t", "fail3").splitlines()
    assert len(lines) == 4  # the first run and three restarts
    from corral.timestamps import parse

    times = [parse(line.split()[0]) for line in lines]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # back-off 0.1, 0.2, 0.4 s (plus a start each): each gap longer than its back-off, and growing
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4, gaps
    assert gaps[2] > gaps[0], gaps
    assert busybox("system", "check").returncode == 0


def test_always_restarts_after_exit_0_but_not_after_stop(busybox):
    busybox.out("run", "-d", "--name", "always1", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2")
    assert wait_for(lambda: inspect(busybox, "always1")["RestartCount"] >= 2)
    cid = inspect(busybox, "always1")["Id"]
    busybox.out("stop", "always1")
    stopped = inspect(busybox, "always1")
    count = stopped["RestartCount"]
    assert stopped["State"]["Status"] == "exited"
    time.sleep(1.5)  # past any back-off it could have had
    after = inspect(busybox, "always1")
    assert after["State"]["Status"] == "exited" and after["RestartCount"] == count and after["Id"] == cid
    busybox.out("start", "always1")  # a manual start counts afresh
    assert inspect(busybox, "always1")["RestartCount"] == 0
    busybox.out("rm", "-f", "always1")


def test_restart_reuses_the_container_and_its_network(busybox):
    busybox.out("network", "create", "--subnet", "10.236.1.0/24", "hnet")
    try:
        busybox.out("run", "-d", "--name", "netr", "--network", "hnet", "--restart", "always", "busybox", "sh", "-c",
                    "ip -4 addr show eth0 | grep -o 'inet [0-9.]*'; sleep 0.3")
        assert wait_for(lambda: len(busybox.out("logs", "netr").split()) >= 6)  # three runs wired
        found = inspect(busybox, "netr")
        assert found["RestartCount"] >= 2
        addrs = set(busybox.out("logs", "netr").strip().split("\n"))
        assert len(addrs) == 1 and addrs.pop().startswith("inet 10.236.1.")  # the same address, wired each time
        busybox.out("rm", "-f", "netr")
        assert not os.path.exists(os.path.join(busybox.root, "containers", found["Id"]))
    finally:
        busybox("rm", "-f", "netr")
        busybox.out("network", "rm", "hnet")


def test_kill_by_the_user_is_no_failure_to_restart(busybox):
    busybox.out("run", "-d", "--name", "killme", "--restart", "on-failure", "busybox", "sleep", "60")
    busybox.out("kill", "killme")
    assert busybox.out("wait", "killme").strip() == "137"
    time.sleep(0.5)
    found = inspect(busybox, "killme")
    assert found["State"]["Status"] == "exited" and found["RestartCount"] == 0


def test_a_restarting_container_is_not_removed_without_force(busybox):
    busybox.out("run", "-d", "--name", "loop", "--restart", "always", "busybox", "true")
    assert wait_for(lambda: inspect(busybox, "loop")["RestartCount"] >= 6, timeout=15)  # back-off 3.2 s now
    assert wait_for(lambda: inspect(busybox, "loop")["State"]["Restarting"])
    assert "Restarting (0)" in busybox.out("ps", "--format", "{{.Status}}")
    assert busybox.out("ps", "-q", "--filter", "status=restarting").strip()
    r = busybox("rm", "loop")
    assert r.returncode != 0 and b"You cannot remove a restarting container" in r.stderr
    busybox.out("rm", "-f", "loop")
    assert busybox.out("ps", "-aq") == ""


def test_rm_with_restart_is_refused_and_update_sets_the_policy(busybox):
    r = busybox("run", "--rm", "--restart", "always", "busybox", "true")
    assert r.returncode == 125 and b"conflicting options: cannot specify both --restart and --rm" in r.stderr
    r = busybox("run", "--restart", "sometimes", "busybox", "true")
    assert r.returncode == 125 and b"unknown policy 'sometimes'" in r.stderr
    assert busybox.out("ps", "-aq") == ""
    busybox.out("run", "-d", "--name", "upd", "busybox", "sh", "-c", "sleep 0.5; exit 2")
    busybox.out("update", "--restart", "on-failure:1", "upd")
    assert inspect(busybox, "upd")["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 1}
    assert wait_for(lambda: inspect(busybox, "upd")["RestartCount"] == 1 and
                    inspect(busybox, "upd")["State"]["Status"] == "exited", timeout=10)
    r = busybox("update", "--restart", "always:3", "upd")
    assert r.returncode != 0 and b"can only be used with 'on-failure'" in r.stderr


def _monitor_pid(init_pid: int) -> int:
    with open(f"/proc/{init_pid}/status") as f:
        return int(next(line for line in f if line.startswith("PPid:")).split()[1])


def test_restore_after_a_simulated_reboot(busybox):
    """The monitor killed with its containers (as a host reboot does), then `system restore`: the
    unless-stopped and always ones come back, a stopped unless-stopped one and a no-policy one do not."""
    for name, policy in (("keep", "unless-stopped"), ("stopped", "unless-stopped"), ("alw", "always"),
                         ("plain", "no"), ("failing", "on-failure:5")):
        busybox.out("run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "60")
    busybox.out("stop", "-t", "1", "stopped")
    busybox.out("stop", "-t", "1", "alw")  # always: stopped by the user, yet back after a reboot (docker's rule)
    pid = inspect(busybox, "keep")["State"]["Pid"]
    os.kill(_monitor_pid(pid), signal.SIGKILL)
    assert wait_for(lambda: inspect(busybox, "keep")["State"]["Status"] == "exited")
    assert inspect(busybox, "keep")["State"]["ExitCode"] == 255
    out = busybox.out("system", "restore").split()
    assert sorted(out) == ["alw", "failing", "keep"]
    states = {name: inspect(busybox, name)["State"]["Status"] for name in ("keep", "stopped", "alw", "plain",
                                                                           "failing")}
    assert states == {"keep": "running", "stopped": "exited", "alw": "running", "plain": "exited",
                      "failing": "running"}
    assert busybox.out("system", "restore") == ""  # nothing more to start: they run
    busybox.out("rm", "-f", "keep", "alw", "failing")


@pytest.mark.parametrize("policy", ["always", "unless-stopped"])
def test_restart_python_api(busybox, policy, monkeypatch):
    monkeypatch.setenv("CORRAL_ROOT", busybox.root)
    import corral

    client = corral.from_env()
    c = client.containers.run("busybox", ["sh", "-c", "sleep 0.2"], detach=True,
                              restart_policy={"Name": policy})
    assert wait_for(lambda: c.reload() or c.attrs["RestartCount"] >= 1)
    assert c.attrs["HostConfig"]["RestartPolicy"] == {"Name": policy, "MaximumRetryCount": 0}
    c.update(restart_policy={"Name": "no"})
    c.reload()
    assert c.attrs["HostConfig"]["RestartPolicy"]["Name"] == "no"
    c.remove(force=True)
