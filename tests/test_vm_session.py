"""VM containers (--isolation=vm) as a user at a terminal meets them: a VM's boot holds up no other
container, and (below) terminals, stdin, attach, health checks, pause and stats, as process containers have.

Real boots under QEMU's TCG, each 1-2 s: the tests boot as few VMs as they can.
"""
from __future__ import annotations

import glob
import os
import subprocess
import time

from conftest import CORRAL


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
    r = busybox("run", "--name", "slow", "--isolation=vm", "busybox", "true")
    assert r.returncode == 125
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "the container's VM did not start its command (within 0.2 s)" in lines[0], lines
    assert _qemus_of(busybox.root) == []
    assert busybox.out("inspect", "-f", "{{.State.Status}}", "slow").strip() == "created"
    busybox.out("rm", "slow")


def test_a_command_that_exits_at_once_is_seen_to_exit(busybox):
    """The guest's 'R' and its exit status may come in one read: neither is lost."""
    for _ in range(2):
        r = busybox("run", "--rm", "--isolation=vm", "busybox", "sh", "-c", "exit 4")
        assert r.returncode == 4, r.stderr
    assert busybox.out("ps", "-aq") == ""
