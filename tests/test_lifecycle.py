"""Container lifecycle through the CLI, as a person types it (SCENARIOS stories 1 and 5)."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from corral.errors import APIError


def test_run_rm_prints_and_leaves_nothing(busybox):
    r = busybox("run", "--rm", "busybox", "echo", "hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello\n"
    assert busybox.out("ps", "-aq") == ""
    assert os.listdir(os.path.join(busybox.root, "containers")) == []
    assert busybox("system", "check").returncode == 0


def test_exit_codes_follow_docker(busybox):
    assert busybox("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    r = busybox("run", "--rm", "busybox", "nosuchcmd")
    assert r.returncode == 127
    assert b"executable file not found" in r.stderr and len(r.stderr.splitlines()) == 1
    r = busybox("run", "--rm", "busybox", "/etc")
    assert r.returncode == 126 and b"permission denied" in r.stderr
    r = busybox("run", "--rm", "nosuchimage")
    assert r.returncode == 125 and b"No such image: nosuchimage" in r.stderr
    cid = busybox.out("run", "-d", "busybox", "sleep", "60").strip()
    busybox.out("kill", "-s", "KILL", cid)
    assert busybox.out("wait", cid).strip() == "137"
    assert busybox("system", "check").returncode == 0


def test_create_start_stop_rm_by_name_id_and_prefix(busybox):
    cid = busybox.out("create", "--name", "web2", "busybox", "sleep", "60").strip()
    assert len(cid) == 64 and all(c in "0123456789abcdef" for c in cid)
    r = busybox("create", "--name", "web2", "busybox", "true")
    assert r.returncode == 125 and b'name "/web2" is already in use' in r.stderr
    assert b"Created" in busybox("ps", "-a").stdout
    busybox.out("start", cid[:10])
    assert busybox.out("ps", "-q") == cid[:12] + "\n"
    state = json.loads(busybox.out("inspect", "web2"))[0]["State"]
    assert state["Running"] and state["Pid"] > 0
    r = busybox("rm", "web2")
    assert r.returncode == 1 and b"Stop the container before attempting removal or force remove" in r.stderr
    started = time.monotonic()
    busybox.out("stop", "-t", "1", "/web2")  # sleep as PID 1 ignores SIGTERM: killed after the grace
    assert 0.9 < time.monotonic() - started < 10
    info = json.loads(busybox.out("inspect", cid))[0]
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 137
    busybox.out("rm", cid)
    assert busybox("inspect", cid).returncode == 1


def test_stop_sends_sigterm_first(busybox):
    busybox.out("run", "-d", "--name", "trap", "busybox", "sh", "-c",
                "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done")
    busybox.out("stop", "trap")
    assert busybox.out("wait", "trap").strip() == "7"
    assert "got-term" in busybox.out("logs", "trap")


def test_ambiguous_prefix_and_bad_names(busybox):
    ids = []
    while True:
        ids.append(busybox.out("create", "busybox", "true").strip())
        firsts = [i[0] for i in ids]
        dup = next((c for c in firsts if firsts.count(c) > 1), None)
        if dup:
            break
    r = busybox("rm", dup)
    assert r.returncode == 1 and b"multiple IDs found" in r.stderr
    r = busybox("create", "--name", "bad/name", "busybox", "true")
    assert r.returncode == 125 and b"Invalid container name" in r.stderr
    r = busybox("rm", "nosuchcontainer")
    assert r.returncode == 1 and b"No such container: nosuchcontainer" in r.stderr
    busybox.out("rm", *ids)
    assert busybox("system", "check").returncode == 0


def test_three_sandboxes_from_one_image(busybox):
    for name in ("dev", "test", "prod"):
        busybox.out("run", "-d", "--name", name, "busybox", "sh", "-c",
                    f"echo {name} > /data; echo {name} >> /etc/passwd; sleep 60")
    for name in ("dev", "test", "prod"):
        r = busybox("exec", name, "sh", "-c", "cat /data; tail -1 /etc/passwd")
        assert r.stdout == f"{name}\n{name}\n".encode()
    lowers = {json.loads(busybox.out("inspect", n))[0]["GraphDriver"]["Data"]["LowerDir"] for n in ("dev", "prod")}
    assert len(lowers) == 1  # one unpacked copy of the image serves every container
    r = busybox("run", "--rm", "busybox", "sh", "-c", "ls /data; tail -1 /etc/passwd")
    assert b"/data: No such file" in r.stderr and r.stdout.endswith(b"/bin/false\n")
    busybox.out("rm", "-f", "dev", "test", "prod")
    assert busybox.out("ps", "-aq") == ""


def test_logs_streams_and_tail(busybox):
    busybox.out("run", "--name", "talker", "busybox", "sh", "-c", "echo out1; echo err1 >&2; echo out2")
    r = busybox("logs", "talker")
    assert r.stdout == b"out1\nout2\n" and r.stderr == b"err1\n"
    busybox.out("run", "--name", "counter", "busybox", "sh", "-c", "echo a; echo b; echo c")
    assert busybox.out("logs", "--tail", "2", "counter") == "b\nc\n"
    stamped = busybox.out("logs", "-t", "talker").splitlines()
    assert stamped[0].endswith(" out1") and stamped[0][:4].isdigit()


def test_logs_follow_and_wait(busybox):
    busybox.out("run", "-d", "--name", "ticker", "busybox", "sh", "-c", "for i in 1 2 3; do echo t$i; sleep 0.2; done")
    r = busybox("logs", "-f", "ticker", timeout=20)
    assert r.stdout == b"t1\nt2\nt3\n"
    assert busybox.out("wait", "ticker").strip() == "0"


def test_run_attached_output_is_not_buffered(busybox):
    import subprocess

    proc = subprocess.Popen(busybox_cmd(busybox, "run", "--rm", "busybox", "sh", "-c", "echo first; sleep 2; echo second"),
                            stdout=subprocess.PIPE, env=busybox.env)
    started = time.monotonic()
    assert proc.stdout.readline() == b"first\n"
    assert time.monotonic() - started < 1.8
    assert proc.stdout.read() == b"second\n"
    assert proc.wait(10) == 0


def busybox_cmd(cli, *args: str) -> list[str]:
    from conftest import CORRAL

    return CORRAL + list(args)


def test_sigterm_to_run_is_forwarded(busybox):
    import subprocess

    proc = subprocess.Popen(busybox_cmd(busybox, "run", "--rm", "busybox", "sh", "-c",
                                        "trap 'echo fwd; exit 9' TERM; echo up; while true; do sleep 0.05; done"),
                            stdout=subprocess.PIPE, env=busybox.env)
    assert proc.stdout.readline() == b"up\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.read() == b"fwd\n"
    assert proc.wait(10) == 9


def test_restart_and_rename(busybox):
    busybox.out("run", "-d", "--name", "old", "busybox", "sh", "-c", "echo boot; sleep 60")
    pid1 = json.loads(busybox.out("inspect", "old"))[0]["State"]["Pid"]
    busybox.out("rename", "old", "new")
    assert busybox("inspect", "old").returncode == 1
    busybox.out("restart", "-t", "0", "new")
    info = json.loads(busybox.out("inspect", "new"))[0]
    assert info["State"]["Running"] and info["State"]["Pid"] != pid1
    assert busybox.out("logs", "new") == "boot\nboot\n"
    busybox.out("rm", "-f", "new")


@pytest.mark.parametrize("user", ["0", "1000:1000"])
def test_supervisor_outlives_cli_and_a_dead_one_is_not_a_ghost(busybox, user):
    """A container run as another user too: the kernel clears the init's parent-death signal when its
    user changes, so the init must set it again or outlive its supervisor."""
    cid = busybox.out("run", "-d", "-u", user, "busybox", "sleep", "60").strip()
    info = json.loads(busybox.out("inspect", cid))[0]["State"]
    with open(f"/proc/{info['Pid']}/status") as f:
        sup = int(next(line for line in f if line.startswith("PPid:")).split()[1])
    os.kill(sup, signal.SIGKILL)  # a crashed supervisor, or a host reboot
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{info['Pid']}") and time.monotonic() < deadline:
        if "Z" in _state_of(info["Pid"]):
            break
        time.sleep(0.02)
    alive = _state_of(info["Pid"])
    if alive and "Z" not in alive:
        os.kill(info["Pid"], signal.SIGKILL)  # leave no ghost behind even when failing
    assert not alive or "Z" in alive, f"the init outlived its supervisor: {alive}"
    state = json.loads(busybox.out("inspect", cid))[0]["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 255
    assert "Exited (255)" in busybox.out("ps", "-a")
    busybox.out("rm", cid)


def _state_of(pid: int) -> str:
    """The State: line of a process, "" once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((line for line in f if line.startswith("State:")), "")
    except FileNotFoundError:
        return ""


def test_reboot_shows_exited(busybox):
    import sqlite3

    cid = busybox.out("run", "-d", "busybox", "sleep", "60").strip()
    db = sqlite3.connect(os.path.join(busybox.root, "corral.db"))
    (sup,) = db.execute("SELECT supervisor FROM containers WHERE id=?", (cid,)).fetchone()
    pid, start, _boot = sup.split(":")
    with db:
        db.execute("UPDATE containers SET supervisor=? WHERE id=?", (f"{pid}:{start}:another-boot", cid))
    db.close()
    assert busybox.out("ps", "-q") == ""
    assert json.loads(busybox.out("inspect", cid))[0]["State"]["Status"] == "exited"
    os.kill(int(pid), signal.SIGKILL)
    busybox.out("rm", "-f", cid)


def _monitor_pids(root: str) -> list[int]:
    from conftest import _store_processes

    found = []
    for pid in _store_processes(root):
        try:
            with open(f"/proc/{pid}/cmdline") as f:
                if "corral" in f.read():
                    found.append(pid)
        except OSError:
            continue  # it exited meanwhile
    return found


def test_detached_rm_removes_on_exit_and_on_start_failure(busybox):
    r = busybox("run", "-d", "--rm", "busybox", "nosuchcmd")
    assert r.returncode == 127 and b"executable file not found" in r.stderr
    cid = busybox.out("run", "-d", "--rm", "busybox", "true").strip()
    deadline = time.monotonic() + 5
    while busybox("inspect", cid).returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert busybox.out("ps", "-aq") == ""
    assert busybox("system", "check").returncode == 0


def test_one_monitor_per_store_that_leaves_when_idle(busybox):
    busybox.out("run", "-d", "--name", "m1", "busybox", "sleep", "60")
    busybox.out("run", "-d", "--name", "m2", "busybox", "sleep", "60")
    monitors = _monitor_pids(busybox.root)
    assert len(monitors) == 1
    for name in ("m1", "m2"):
        pid = json.loads(busybox.out("inspect", name))[0]["State"]["Pid"]
        with open(f"/proc/{pid}/status") as f:
            assert int(next(line for line in f if line.startswith("PPid:")).split()[1]) == monitors[0]
    busybox.out("rm", "-f", "m1", "m2")
    deadline = time.monotonic() + 10
    while _monitor_pids(busybox.root) and time.monotonic() < deadline:  # it leaves ~2 s after the last one
        time.sleep(0.1)
    assert not _monitor_pids(busybox.root)


def test_monitor_answers_only_its_own_user(busybox):
    import _socket

    from corral.monitor import wire

    busybox.out("run", "-d", "--name", "m3", "busybox", "sleep", "60")
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        os.setgid(65534)
        os.setuid(65534)
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.connect(wire.socket_name(busybox.root))
        try:
            sock.sendall(b"{\"op\": \"start\", \"id\": \"" + b"0" * 64 + b"\"}\n")
        except BrokenPipeError:
            pass  # the monitor refuses at once, without reading: its answer is still there to read
        os.write(write_end, sock.recv(100))
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    answer = os.read(read_end, 100)
    assert answer.endswith(b"\n") and not answer.startswith(wire.OK)
    error = wire.answer_error(answer[:-1])
    assert (type(error), str(error), error.exit_code) == (APIError, "permission denied", 125)
    os.close(read_end)
    busybox.out("rm", "-f", "m3")


def test_logs_follow_ends_when_the_container_does(busybox):
    """Not when the monitor next goes idle: another container keeps it busy here."""
    busybox.out("run", "-d", "--name", "keeper", "busybox", "sleep", "120")
    busybox.out("run", "-d", "--name", "brief", "busybox", "sh", "-c", "echo one; sleep 1; echo two")
    assert busybox.out("logs", "-f", "brief", timeout=20) == "one\ntwo\n"
    busybox.out("rm", "-f", "keeper", "brief")
