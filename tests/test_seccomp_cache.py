"""The store's seccomp cache (<store>/seccomp/<hash>.bpf, runtime/seccomp.py) has an end (issue 20, item 7):
`system prune` removes the programs no container names, and what a writer killed mid-write left is reported by
`system check` and removed by the repair, while a live writer's file is left alone."""
from __future__ import annotations

import os
import subprocess

from corral.store.owners import identity


def _programs(cli) -> set[str]:  # noqa: ANN001
    return {n for n in os.listdir(os.path.join(cli.root, "seccomp")) if n.endswith(".bpf")}


def test_prune_removes_the_programs_no_container_names_and_keeps_the_others(busybox):
    kept = busybox.out("run", "-d", "busybox", "sleep", "60").strip()
    used = _programs(busybox)
    assert len(used) == 1
    busybox.out("run", "--rm", "--cap-add", "SYS_PTRACE", "busybox", "true")  # another capability set: another program
    busybox.out("run", "--name", "stopped", "--cap-add", "SYS_ADMIN", "busybox", "true")
    assert len(_programs(busybox)) == 3
    out = busybox.out("system", "prune", "-f")  # removes `stopped` first, then the two programs nobody names
    assert _programs(busybox) == used
    assert not out.endswith("Total reclaimed space: 0B\n")
    assert busybox.out("exec", kept, "echo", "confined") == "confined\n"
    assert "Seccomp:\t2" in busybox.out("exec", kept, "cat", "/proc/self/status")
    busybox.out("rm", "-f", kept)
    busybox.out("system", "prune", "-f")
    assert _programs(busybox) == set()
    assert busybox.out("run", "--rm", "busybox", "grep", "Seccomp:", "/proc/self/status") == "Seccomp:\t2\n"


def test_a_dead_writers_temporary_program_is_reported_and_repaired_a_live_ones_kept(busybox):
    busybox.out("run", "--rm", "busybox", "true")
    cache = os.path.join(busybox.root, "seccomp")
    gone = subprocess.Popen(["true"])
    dead_identity = identity(gone.pid)  # read while it lives (or as a zombie: no start time, never alive)
    gone.wait()
    names = {"dead": f"{'a' * 64}-{dead_identity}.bpf.tmp",
             "old": f"{'b' * 64}.bpf.4242.tmp",  # the name before temporary files carried an identity
             "live": f"{'c' * 64}-{identity()}.bpf.tmp"}  # this test's own process: a writer at work
    for name in names.values():
        with open(os.path.join(cache, name), "wb") as f:
            f.write(b"\0" * 8)
    check = busybox("system", "check")
    assert check.returncode == 1
    reported = check.stdout.decode()
    assert f"seccomp/{names['dead']} was left by a writer that is gone" in reported
    assert f"seccomp/{names['old']} was left by a writer that is gone" in reported
    assert names["live"] not in reported
    repaired = busybox.out("system", "check", "--repair")
    assert f"seccomp/{names['dead']}, left by a writer that is gone" in repaired
    assert set(os.listdir(cache)) - _programs(busybox) == {names["live"]}
    os.unlink(os.path.join(cache, names["live"]))
    assert busybox("system", "check").returncode == 0
