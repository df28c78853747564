"""pause/unpause (the cgroup freezer) and top, through the CLI as Docker users type them."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time

from conftest import CORRAL

COUNTER = "i=0; while true; do i=$((i+1)); echo $i >> /tmp/count; sleep 0.1; done"


def _until(predicate, timeout: float = 10.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def _state(cli, ref: str) -> dict:  # noqa: ANN001
    return json.loads(cli.out("inspect", ref))[0]["State"]


def _count(cli, ref: str) -> int:  # noqa: ANN001
    """Lines the counter wrote, read from the sandbox's upper dir so a frozen container is not disturbed."""
    upper = json.loads(cli.out("inspect", ref))[0]["GraphDriver"]["Data"]["UpperDir"]
    try:
        with open(os.path.join(upper, "tmp", "count")) as f:
            return len(f.read().split())
    except FileNotFoundError:
        return 0


def _top_when(cli, ref: str, done) -> list[dict]:  # noqa: ANN001
    """top's rows once `done(rows)` holds: processes appear a moment after `run -d` returns."""
    rows: list[dict] = []

    def check() -> bool:
        rows[:] = _top(cli, ref)
        return done(rows)

    assert _until(check), f"top never showed what was expected: {rows}"
    return rows


PS_EF = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]  # docker top's default: ps -ef


def _top(cli, ref: str, *ps_args: str, titles: list[str] = PS_EF) -> list[dict]:  # noqa: ANN001
    lines = cli.out("top", ref, *ps_args).splitlines()
    assert lines[0].split() == titles
    return [dict(zip(titles, line.split(None, len(titles) - 1))) for line in lines[1:]]


def test_pause_freezes_and_unpause_resumes(busybox):
    busybox.out("run", "-d", "--name", "counter", "busybox", "sh", "-c", COUNTER)
    assert _until(lambda: _count(busybox, "counter") >= 3)
    assert busybox.out("pause", "counter") == "counter\n"
    frozen_at = _count(busybox, "counter")
    time.sleep(0.6)
    assert _count(busybox, "counter") == frozen_at
    state = _state(busybox, "counter")
    assert (state["Status"], state["Running"], state["Paused"]) == ("paused", True, True)
    [line] = [line for line in busybox.out("ps").splitlines() if line.endswith("counter")]
    assert "   Up " in line and " (Paused)   " in line
    assert "(Paused)" in busybox.out("ps", "-a")

    assert busybox.out("unpause", "counter") == "counter\n"
    assert _until(lambda: _count(busybox, "counter") >= frozen_at + 3)
    state = _state(busybox, "counter")
    assert (state["Status"], state["Running"], state["Paused"]) == ("running", True, False)
    assert "(Paused)" not in busybox.out("ps")
    assert int(busybox.out("exec", "counter", "sh", "-c", "wc -l < /tmp/count")) > frozen_at
    busybox.out("rm", "-f", "counter")


def test_pause_and_unpause_errors_follow_docker(busybox):
    cid = busybox.out("create", "--name", "idle", "busybox", "sleep", "100").strip()
    for verb, message in (("pause", "is not running"), ("unpause", "is not paused")):
        r = busybox(verb, "idle")
        assert r.returncode == 1 and r.stdout == b""
        assert r.stderr.decode() == f"Error: Container {cid} {message}\n"
    r = busybox("top", "idle")
    assert r.returncode == 1 and f"Container {cid} is not running".encode() in r.stderr

    busybox.out("start", "idle")
    r = busybox("unpause", "idle")
    assert r.returncode == 1 and f"Container {cid} is not paused".encode() in r.stderr
    busybox.out("pause", "idle")
    r = busybox("pause", "idle")
    assert r.returncode == 1 and f"Container {cid} is already paused".encode() in r.stderr
    assert _state(busybox, "idle")["Paused"]  # a failed second pause leaves it paused
    for args, message in ((("exec", "idle", "true"), "unpause the container before exec"),
                          (("attach", "idle"), "unpause it first"), (("start", "-a", "idle"), "try unpause")):
        r = busybox(*args, timeout=10)  # refused at once, never left hanging on the frozen container
        assert r.returncode == 1 and message.encode() in r.stderr, (args, r.stderr)

    other = busybox.out("run", "-d", "busybox", "sleep", "100").strip()
    r = busybox("pause", other[:12], "nosuchcontainer", "idle")  # one error per name, the rest still done
    assert r.returncode == 1
    assert r.stdout.decode() == f"{other[:12]}\n"
    assert b"No such container: nosuchcontainer" in r.stderr and b"is already paused" in r.stderr
    assert busybox.out("unpause", "idle", other) == f"idle\n{other}\n"
    assert not _state(busybox, "idle")["Paused"] and not _state(busybox, other)["Paused"]

    busybox.out("kill", "idle")
    busybox.out("wait", "idle")
    for verb, message in (("pause", "is not running"), ("unpause", "is not paused")):
        r = busybox(verb, "idle")
        assert r.returncode == 1 and f"Container {cid} {message}".encode() in r.stderr
    busybox.out("rm", "-f", "idle", other)


def test_kill_of_a_paused_container(busybox):
    busybox.out("run", "-d", "--name", "killme", "busybox", "sleep", "100")
    busybox.out("pause", "killme")
    assert busybox.out("kill", "killme") == "killme\n"
    assert busybox.out("wait", "killme", timeout=10).strip() == "137"
    assert _state(busybox, "killme")["Status"] == "exited"
    busybox.out("rm", "killme")


def test_a_signal_other_than_the_stop_signal_waits_for_unpause(busybox):
    """Docker thaws only for SIGKILL or the configured stop signal; any other waits pending, as on a paused host."""
    busybox.out("run", "-d", "--name", "sig", "--stop-signal", "USR2", "busybox", "sh", "-c",
                "trap 'exit 5' USR1; trap 'exit 6' USR2; while true; do sleep 0.05; done")
    time.sleep(0.3)  # let the traps be set
    busybox.out("pause", "sig")
    busybox.out("kill", "-s", "USR1", "sig")
    time.sleep(0.3)
    assert _state(busybox, "sig")["Paused"]
    busybox.out("unpause", "sig")
    assert busybox.out("wait", "sig", timeout=10).strip() == "5"
    busybox.out("rm", "sig")


def test_stop_of_a_paused_container_delivers_sigterm(busybox):
    busybox.out("run", "-d", "--name", "trap", "busybox", "sh", "-c",
                "trap 'exit 7' TERM; while true; do sleep 0.05; done")
    time.sleep(0.3)
    busybox.out("pause", "trap")
    started = time.monotonic()
    assert busybox.out("stop", "-t", "20", "trap") == "trap\n"
    assert time.monotonic() - started < 10  # ended by its TERM trap, not by the SIGKILL after -t
    state = _state(busybox, "trap")
    assert (state["Status"], state["ExitCode"], state["Paused"]) == ("exited", 7, False)
    busybox.out("rm", "trap")


def test_rm_force_of_a_paused_container_leaves_nothing(busybox):
    cid = busybox.out("run", "-d", "busybox", "sh", "-c", "sleep 100 & sleep 100 & wait").strip()
    busybox.out("pause", cid)
    started = time.monotonic()
    assert busybox.out("rm", "-f", cid[:12], timeout=20) == f"{cid[:12]}\n"
    assert time.monotonic() - started < 10
    assert busybox.out("ps", "-aq") == ""
    assert glob.glob(f"/sys/fs/cgroup/*/corral/{cid}") + glob.glob(f"/sys/fs/cgroup/corral/{cid}") == []


def test_top_lists_exactly_the_container_processes(busybox):
    cid = busybox.out("run", "-d", "--name", "tp", "busybox", "sh", "-c", "sleep 100 & sleep 200 & wait").strip()
    rows = _top_when(busybox, "tp", lambda rows: len(rows) == 3)
    by_cmd = {r["CMD"]: r for r in rows}
    assert set(by_cmd) == {"sh -c sleep 100 & sleep 200 & wait", "sleep 100", "sleep 200"}
    sh = by_cmd["sh -c sleep 100 & sleep 200 & wait"]
    assert int(sh["PID"]) == _state(busybox, "tp")["Pid"]
    for r in rows:
        assert r["UID"] == "root" and r["TIME"] == "00:00:00" and r["TTY"] == "?" and 0 <= int(r["C"]) <= 99
        assert os.path.isdir(f"/proc/{r['PID']}")
    for cmd in ("sleep 100", "sleep 200"):
        assert by_cmd[cmd]["PPID"] == sh["PID"]
    assert len({r["PID"] for r in rows}) == 3
    procs = glob.glob(f"/sys/fs/cgroup/*/corral/{cid}/cgroup.procs") or [f"/sys/fs/cgroup/corral/{cid}/cgroup.procs"]
    with open(procs[0]) as f:
        assert sorted(f.read().split(), key=int) == sorted((r["PID"] for r in rows), key=int)

    def but_cpu(found: list[dict]) -> list[dict]:  # C is CPU time over run time: it moves between two reads
        return [{k: v for k, v in r.items() if k != "C"} for r in found]

    assert but_cpu(_top(busybox, "tp", "-ef")) == but_cpu(rows)  # the host's ps -ef, restricted to the container
    pids = sorted(r["PID"] for r in rows)
    assert sorted(r["PID"] for r in _top(busybox, "tp", "-o", "pid,comm", titles=["PID", "COMMAND"])) == pids
    aux = _top(busybox, "tp", "aux", titles="USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND".split())
    assert sorted(r["PID"] for r in aux) == pids and {r["COMMAND"] for r in aux} == set(by_cmd)
    r = busybox("top", "tp", "-o", "comm")
    assert r.returncode == 1 and r.stderr == b"Error: Couldn't find PID field in ps output\n"
    busybox.out("pause", "tp")
    assert but_cpu(_top(busybox, "tp")) == but_cpu(rows)  # a paused container can still be listed, as with Docker
    busybox.out("rm", "-f", "tp")


def test_top_lists_exec_processes_with_the_container_user_names(busybox):
    """uid 4321 is "app" only in the container's /etc/passwd: the host's names would mean nothing there."""
    busybox.out("run", "-d", "--name", "users", "busybox", "sh", "-c",
                "echo app:x:4321:4321::/:/bin/sh >> /etc/passwd; sleep 100 & wait")
    assert _until(lambda: "app" in busybox.out("exec", "users", "cat", "/etc/passwd"))
    execd = subprocess.Popen([*CORRAL, "exec", "-u", "app", "users", "sleep", "77"],
                             env=busybox.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        rows = _top_when(busybox, "users", lambda rows: any(r["CMD"] == "sleep 77" for r in rows))
        users = {r["CMD"]: r["UID"] for r in rows}
        assert users["sleep 77"] == "app" and users["sleep 100"] == "root"
    finally:
        busybox.out("rm", "-f", "users")
        execd.wait(timeout=20)


def test_python_api(busybox):
    script = """
from corral.api import Host
c = Host().create_container("busybox", ["sleep", "60"])
c.start()
print(c.paused, end=" ")
c.pause()
print(c.paused, c.status, end=" ")
(pid, cpid, user, cmd, *_), = c.top()
print(pid == c.pid, cpid, user, cmd, end=" ")
c.unpause()
print(c.paused)
c.remove(force=True)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, env=busybox.env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"False True running True 1 root sleep 60 False\n"
