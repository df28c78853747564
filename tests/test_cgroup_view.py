"""Inside a container, /sys/fs/cgroup is the container's own cgroup, read-only (runtime/cgroupfs.py).

So cgroup-aware runtimes (the JVM, Go, Node, Python's os.process_cpu_count) find their limits: each
limit given at `run` is read back from inside, where the container's cgroup is the root of every
hierarchy and "/" its path in /proc/self/cgroup, for its exec'd processes too; nothing of the host's
other cgroups (another container's, here) shows; nothing there can be written but with --privileged,
where a limit written from inside takes effect. The files are v1's or v2's as the host has them.
"""
from __future__ import annotations

import json
import os

V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
LIMIT_FILES = ["memory.max", "cpu.max", "pids.max"] if V2 else \
    ["memory/memory.limit_in_bytes", "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us", "pids/pids.max"]
LIMITS = [str(64 << 20), "100000 100000", "50"] if V2 else [str(64 << 20), "100000", "100000", "50"]
PIDS_MAX = "pids.max" if V2 else "pids/pids.max"


def inside(cli, cid: str, script: str) -> str:
    return cli.out("exec", cid, "sh", "-c", script)


def test_the_container_sees_its_own_limits_read_only_and_no_other_cgroup(busybox):
    other = busybox.out("run", "-d", "busybox", "sleep", "60").strip()
    cid = busybox.out("run", "-d", "--memory", "64m", "--cpus", "1", "--pids-limit", "50", "busybox",
                      "sleep", "60").strip()
    files = " ".join(f"/sys/fs/cgroup/{f}" for f in LIMIT_FILES)
    assert inside(busybox, cid, f"cat {files}").split("\n")[:-1] == LIMITS
    for who in ("cat /proc/1/cgroup", "cat /proc/self/cgroup"):  # the init, and an exec'd process
        paths = {line.split(":", 2)[2] for line in inside(busybox, cid, who).splitlines()}
        assert paths == {"/"}, who
    # every directory there is a hierarchy's root (the container's cgroup), none a cgroup under it
    dirs = inside(busybox, cid, "find /sys/fs/cgroup -mindepth 1 -type d").split()
    if V2:
        assert dirs == []
    else:
        assert "/sys/fs/cgroup/memory" in dirs and all(d.count("/") == 4 for d in dirs), dirs
    listing = inside(busybox, cid, "find /sys/fs/cgroup -type f -exec cat {} + 2>/dev/null; find /sys/fs/cgroup")
    assert other not in listing and other[:12] not in listing and cid not in listing
    roots = {line.split()[3] for line in inside(busybox, cid, "cat /proc/self/mountinfo").splitlines()
             if line.split()[4].startswith("/sys/fs/cgroup/") or line.split()[8].startswith("cgroup")}
    assert roots == {"/"}, "the JVM matches these roots with /proc/self/cgroup's paths"
    r = busybox("exec", cid, "sh", "-c", f"echo 40 > /sys/fs/cgroup/{PIDS_MAX}")
    assert r.returncode != 0 and b"Read-only file system" in r.stderr
    r = busybox("exec", cid, "mkdir", "/sys/fs/cgroup/mine")
    assert r.returncode != 0 and b"Read-only file system" in r.stderr
    assert inside(busybox, cid, f"cat /sys/fs/cgroup/{PIDS_MAX}").strip() == "50"


def test_an_exec_is_in_the_cgroup_it_sees(busybox):
    cid = busybox.out("run", "-d", "busybox", "sleep", "60").strip()
    procs = "cgroup.procs" if V2 else "pids/cgroup.procs"
    pids = inside(busybox, cid, f"echo $$; cat /sys/fs/cgroup/{procs}").split()
    assert pids[0] in pids[1:] and "1" in pids[1:], pids  # its own PID, in the container's PID namespace


def test_cgroupns_host_shows_the_hosts_paths_and_is_in_inspect(busybox):
    cid = busybox.out("run", "-d", "--cgroupns", "host", "--pids-limit", "30", "busybox", "sleep", "60").strip()
    paths = {line.split(":", 2)[2] for line in inside(busybox, cid, "cat /proc/self/cgroup").splitlines()
             if line.split(":")[1] == ("" if V2 else "pids")}
    assert paths == {f"/corral/{cid}"}
    where = f"corral/{cid}/pids.max" if V2 else "pids/pids.max"  # v2: runc's (and crun's) whole hierarchy
    assert inside(busybox, cid, f"cat /sys/fs/cgroup/{where}").strip() == "30"
    assert json.loads(busybox.out("inspect", cid))[0]["HostConfig"]["CgroupnsMode"] == "host"
    private = busybox.out("create", "busybox", "true").strip()
    assert json.loads(busybox.out("inspect", private))[0]["HostConfig"]["CgroupnsMode"] == "private"
    r = busybox("create", "--cgroupns", "shared", "busybox", "true")
    assert r.returncode == 125 and b"--cgroupns: invalid CGROUP mode" in r.stderr


def test_privileged_may_write_its_limits_and_they_take_effect(busybox):
    script = f"echo 3 > /sys/fs/cgroup/{PIDS_MAX} && for i in 1 2 3 4 5 6; do sleep 1 & done; wait"
    r = busybox("run", "--rm", "--privileged", "busybox", "sh", "-c", script)
    assert b"can't fork" in r.stderr or b"Resource temporarily unavailable" in r.stderr, r.stderr
