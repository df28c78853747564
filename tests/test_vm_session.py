"""VM containers (--isolation=vm) as a user at a terminal meets them: a VM's boot holds up no other
container, and (below) terminals, stdin, attach, health checks, pause and stats, as process containers have.

Real boots under QEMU's TCG, each 1-2 s: the tests boot as few VMs as they can.
"""
from __future__ import annotations

import glob
import os
import signal
import subprocess
import time

import pytest

import corral
import test_interactive
from conftest import CORRAL
from corral.runtime.spec import STDIN_ANNOTATION
from corral.runtime.vm import describe
from test_interactive import _settings_restored

term = test_interactive.term  # a private tmux terminal per test (test_interactive.py's fixture)


def _qemus_of(root: str) -> list[int]:
    """PIDs of the QEMU processes serving this store's containers (their command line names its bundles)."""
    found = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"qemu-system-x86_64") and any(root.encode() in a for a in argv):
            found.append(int(path.split("/")[2]))
    return found


# ---------------------------------------------------------------- unit: what the guest init reads

@pytest.mark.unit
def test_terminal_stdin_and_window_reach_the_init_and_input_is_framed():
    spec = {"process": {"args": ["sh"], "terminal": True}, "annotations": {STDIN_ANNOTATION: "open"}}
    [message], _ = describe.parse_messages(describe.process_message(spec, (30, 100)))
    assert message.split(b"\0")[-4:] == [b"t", b"i", b"W30 100", b""]
    spec = {"process": {"args": ["sh"]}, "annotations": {STDIN_ANNOTATION: "null"}}
    assert describe.parse_messages(describe.process_message(spec, (30, 100)))[0] == [b"Pash\0c/\0u0\0g0\0"]
    [request], _ = describe.parse_messages(describe.exec_message("0a1b2c3d", {"args": ["sh"]}, True, False, (5, 6)))
    assert request == b"x0a1b2c3d\0ash\0c/\0u0\0g0\0t\0W5 6\0"
    assert describe.parse_messages(describe.input_message(b"i", b"ls\r") + describe.input_message(b"I")
                                   + describe.input_message(b"z", b"5 6", "0a1b2c3d")) == \
        ([b"ils\r", b"I", b"z0a1b2c3d5 6"], b"")


# ---------------------------------------------------------------- the monitor is not held by a boot

def test_exec_into_another_container_answers_while_a_vm_boots(busybox):
    other = busybox.out("run", "-d", "busybox", "sleep", "60").strip()
    busybox.out("exec", other, "true")  # the monitor is up and the exec path warm
    booting = subprocess.Popen(CORRAL + ["run", "-d", "--isolation=vm", "busybox", "sleep", "60"], env=busybox.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not _qemus_of(busybox.root) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _qemus_of(busybox.root), "QEMU never started"
        started = time.monotonic()
        r = busybox("exec", other, "echo", "served")
        took = time.monotonic() - started
        still_booting = booting.poll() is None
        assert (r.returncode, r.stdout) == (0, b"served\n"), r.stderr
        assert still_booting, "the VM finished booting before the exec ended: nothing was measured"
        assert took < 1.0, f"exec took {took:.2f} s while a VM booted"
        out, err = booting.communicate(timeout=60)
    finally:
        if booting.poll() is None:
            booting.kill()
            booting.wait()
    assert booting.returncode == 0, err
    vm = out.decode().strip()
    assert busybox.out("inspect", "-f", "{{.State.Status}} {{.HostConfig.Isolation}}", vm).split() == ["running", "vm"]
    assert busybox.out("exec", vm, "echo", "in the guest") == "in the guest\n"
    busybox.out("rm", "-f", vm, other)
    assert _qemus_of(busybox.root) == []


def test_a_guest_that_never_answers_fails_its_start_in_one_line(busybox):
    busybox.env["CORRAL_VM_READY_TIMEOUT"] = "0.2"  # the monitor this store's first start spawns reads it
    busybox.env["CORRAL_VM_TEMPLATES"] = "none"  # a cold boot: a template's resume answers within the bound
    r = busybox("run", "--name", "slow", "--isolation=vm", "busybox", "true")
    assert r.returncode == 125
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "the container's VM did not start its command (within 0.2 s)" in lines[0], lines
    assert _qemus_of(busybox.root) == []
    assert busybox.out("inspect", "-f", "{{.State.Status}}", "slow").strip() == "created"
    busybox.out("rm", "slow")


def test_an_exec_into_a_guest_that_does_not_answer_fails_after_the_bound(busybox):
    busybox.env["CORRAL_VM_READY_TIMEOUT"] = "6"  # the monitor this store's first start spawns reads it
    cid = busybox.out("run", "-d", "--isolation=vm", "busybox", "sleep", "300").strip()
    other = busybox.out("run", "-d", "busybox", "sleep", "300").strip()
    qemu = int(busybox.out("inspect", "-f", "{{.State.Pid}}", cid))
    os.kill(qemu, signal.SIGSTOP)
    try:
        started = time.monotonic()
        hung = subprocess.Popen(CORRAL + ["exec", cid, "true"], env=busybox.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        time.sleep(1)  # the monitor has the exec: its relay waits for the guest
        served = time.monotonic()
        r = busybox("exec", other, "echo", "served")
        assert (r.returncode, r.stdout) == (0, b"served\n") and time.monotonic() - served < 2, \
            "the monitor serves other containers while a VM's exec waits for its guest"
        out, err = hung.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        os.kill(qemu, signal.SIGCONT)
    assert hung.returncode != 0 and err.decode().splitlines() == [
        "Error: the container's VM did not start the exec within 6 s (CORRAL_VM_READY_TIMEOUT)"], err
    assert 5 < took < 15
    assert busybox.out("exec", cid, "echo", "answers again") == "answers again\n"
    busybox.out("rm", "-f", cid, other)
    assert _qemus_of(busybox.root) == []


def test_a_command_that_exits_at_once_is_seen_to_exit(busybox):
    """The guest's 'R' and its exit status may come in one read: neither is lost."""
    for _ in range(2):
        r = busybox("run", "--rm", "--isolation=vm", "busybox", "sh", "-c", "exit 4")
        assert r.returncode == 4, r.stderr
    assert busybox.out("ps", "-aq") == ""


# ---------------------------------------------------------------- terminals and stdin (a real PTY: tmux)

def test_run_it_in_a_vm_size_resize_ctrl_c_and_exit_status(term, busybox):
    term.run_corral("run -it --rm --isolation=vm --name vmtty1 busybox sh")
    term.wait_for("/ #", timeout=60)
    term.type("stty size; tty; uname -r; echo pid=$$")
    screen = term.wait_for("pid=1")
    assert "30 100" in screen and "/dev/pts/0" in screen  # the guest's own terminal, at the client's size
    term.tmux("resize-window", "-t", "t", "-x", "80", "-y", "20")
    time.sleep(0.5)
    term.type("stty size")
    term.wait_for("20 80")
    term.type("sleep 100")
    time.sleep(1)
    term.keys("C-c")
    term.type("echo slept=$?")
    term.wait_for("slept=130")  # Ctrl-C reached sleep inside the guest, and the shell lives on
    term.type("exit 3")
    assert "EXIT=3" in term.wait_for("EXIT=")
    assert _settings_restored(term)
    assert busybox.out("ps", "-aq") == ""  # --rm
    assert _qemus_of(busybox.root) == []


def test_attach_detach_and_exec_it_into_a_vm(term, busybox):
    cid = busybox.out("run", "-dit", "--isolation=vm", "--name", "vmtty2", "busybox", "sh").strip()
    client = corral.Client(busybox.root)
    try:
        client.containers.get(cid).resize(33, 77)  # docker's resize, with no client attached
    finally:
        client.close()
    assert busybox.out("exec", cid, "stty", "-F", "/dev/pts/0", "size") == "33 77\n"
    term.run_corral("attach --detach-keys ctrl-x,x vmtty2")
    time.sleep(0.5)
    term.type("echo again-$((40+2)) > /mark; cat /mark")
    term.wait_for("again-42", timeout=30)
    term.keys("C-x", "x")
    assert "EXIT=0" in term.wait_for("EXIT=")
    assert busybox.out("inspect", "-f", "{{.State.Status}}", cid).strip() == "running"
    term.type("clear")
    term.run_corral("exec -it vmtty2 sh")
    term.wait_for("/ #", timeout=30)
    term.type("cat /mark; tty; stty size; echo pid=$$; echo DO''NE")
    screen = term.wait_for("DONE")
    assert "again-42" in screen and "/dev/pts/1" in screen and "30 100" in screen and "pid=1\n" not in screen
    assert busybox.out("exec", cid, "echo", "beside the session") == "beside the session\n"  # another exec port
    for _ in range(3):  # the other three exec ports, held
        busybox.out("exec", "-d", cid, "sleep", "30")
    started = time.monotonic()
    r = busybox("exec", cid, "true")  # refused at once, not queued behind the others
    assert r.returncode != 0 and b"whose 4 exec ports other execs hold (4 at a time)" in r.stderr
    assert time.monotonic() - started < 5
    term.tmux("resize-window", "-t", "t", "-x", "90", "-y", "25")
    time.sleep(0.5)
    term.type("stty size")
    term.wait_for("25 90")
    term.type("sleep 100")
    time.sleep(1)
    term.keys("C-c")
    term.type("echo slept=$?")
    term.wait_for("slept=130")
    term.type("exit 5")
    assert "EXIT=5" in term.wait_for("EXIT=")
    assert _settings_restored(term)
    data = b"".join(b"%d\n" % i for i in range(100_000))  # more than every buffer on the way holds
    r = busybox("exec", "-i", cid, "sh", "-c", "wc -lc; exit 4", input=data)
    assert r.returncode == 4 and r.stdout.split() == [b"100000", str(len(data)).encode()], r.stderr
    r = busybox("exec", "-i", cid, "sh", "-c", "head -c 5; exit 2", input=data * 3, timeout=30)  # leaves the rest
    assert (r.returncode, r.stdout) == (2, b"0\n1\n2"), r.stderr
    assert busybox.out("exec", cid, "echo", "next") == "next\n"
    busybox.out("rm", "-f", cid)
    assert _qemus_of(busybox.root) == []


def test_run_i_feeds_stdin_to_the_guest(busybox):
    r = busybox("run", "--rm", "-i", "--isolation=vm", "busybox", "sh", "-c", "cat; echo end >&2; exit 3",
                input=b"from the host\n")
    assert (r.returncode, r.stdout, r.stderr) == (3, b"from the host\n", b"end\n")
    r = busybox("run", "--rm", "--isolation=vm", "busybox", "cat")  # no -i: the end of input at once
    assert (r.returncode, r.stdout) == (0, b""), r.stderr


def test_closing_the_terminal_ends_a_vm_session(term, busybox):
    term.run_corral("run -it --rm --isolation=vm --name vmtty4 busybox sh")
    term.wait_for("/ #", timeout=60)
    subprocess.run(["tmux", "-L", term.socket, "kill-server"], capture_output=True, timeout=10)
    deadline = time.monotonic() + 20
    while busybox.out("ps", "-aq") != "":
        assert time.monotonic() < deadline, "the VM container outlived its closed terminal"
        time.sleep(0.1)
    assert _qemus_of(busybox.root) == []


# ---------------------------------------------------------------- health checks, pause, stats

def _wait_until(what, timeout: float = 30):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while not (found := what()):
        assert time.monotonic() < deadline, "never came true"
        time.sleep(0.1)
    return found


def test_health_checks_of_a_vm_run_in_the_guest(busybox):
    cid = busybox.out("run", "-d", "--isolation=vm", "--health-cmd", "test -e /ok && echo fine", "--health-interval",
                      "1s", "--health-retries", "1", "busybox", "sleep", "300").strip()
    health = lambda: busybox.out("inspect", "-f", "{{.State.Health.Status}}", cid).strip()  # noqa: E731
    _wait_until(lambda: health() == "unhealthy")
    busybox.out("exec", cid, "touch", "/ok")  # in the guest: the check sees what the guest sees
    _wait_until(lambda: health() == "healthy")
    assert "(healthy)" in busybox.out("ps", "--format", "{{.Status}}")
    log = busybox.out("inspect", "-f", "{{range .State.Health.Log}}{{.ExitCode}}:{{.Output}};{{end}}", cid)
    assert "1:;" in log and "0:fine\n;" in log
    busybox.out("rm", "-f", cid)
    assert _qemus_of(busybox.root) == []


def test_pause_freezes_the_whole_vm_and_stats_measure_it(busybox):
    cid = busybox.out("run", "-d", "--isolation=vm", "-m", "96m", "busybox", "sh", "-c",
                      "while true; do echo tick; sleep 0.1; done").strip()
    ticks = lambda: busybox.out("logs", cid).count("tick")  # noqa: E731
    _wait_until(lambda: ticks() > 3)
    busybox.out("pause", cid)
    assert busybox.out("inspect", "-f", "{{.State.Status}}", cid).strip() == "paused"
    before = ticks()
    time.sleep(1)
    assert ticks() == before  # QEMU's cgroup is frozen: the guest with it
    r = busybox("exec", cid, "true")
    assert r.returncode != 0 and b"is paused, unpause the container before exec" in r.stderr
    busybox.out("unpause", cid)
    _wait_until(lambda: ticks() > before + 3)
    usage, limit = busybox.out("stats", "--no-stream", "--format", "{{.MemUsage}}", cid).split(" / ")
    assert limit.strip() == "224MiB"  # the guest's 96 MiB and QEMU's own 128
    assert usage.endswith("MiB") and float(usage[:-3]) > 16  # the guest's memory, as QEMU's
    assert busybox.out("exec", cid, "echo", "thawed") == "thawed\n"
    busybox.out("rm", "-f", cid)
    assert _qemus_of(busybox.root) == []


def test_a_client_that_reads_nothing_holds_up_neither_the_guest_nor_the_monitor(busybox):
    """A terminal's output backs up to the guest (the monitor stops reading for a client that lags): its init
    keeps it queued and goes on serving execs and signals, instead of waiting to write it."""
    busybox.env["CORRAL_VM_READY_TIMEOUT"] = "10"  # an exec the guest does not answer fails after 10 s
    cid = busybox.out("run", "-dit", "--isolation=vm", "busybox", "sh", "-c", "yes flood-flood-flood").strip()
    lagging = subprocess.Popen(CORRAL + ["attach", "--no-stdin", cid], env=busybox.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # its stdout is never read
    try:
        time.sleep(6)  # MiBs of output: every buffer between the guest's terminal and the client is full
        assert lagging.poll() is None
        started = time.monotonic()
        r = busybox("exec", cid, "echo", "alive", timeout=30)
        assert (r.returncode, r.stdout) == (0, b"alive\n"), r.stderr
        assert time.monotonic() - started < 5
    finally:
        lagging.kill()
        lagging.wait()
        lagging.stdout.close()
    busybox.out("rm", "-f", cid)
    assert _qemus_of(busybox.root) == []
