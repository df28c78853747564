"""The cgroup v2 device filter (runtime/devicefilter.py, issue 20 item 3 on v2), on the real kernel: this host is
v1 with a cgroup2 mount at /sys/fs/cgroup/unified, and the kernel asks a device program attached there as it
would on a v2 host. A child process in a cgroup holding docker's default rules makes a block device node
(CAP_MKNOD, and `b *:* m`) but cannot open it, nor the host's block devices, while /dev/null opens; with the rules of
--privileged it opens; the cgroup's own mount is found, never assumed."""
from __future__ import annotations

import errno
import os
import stat

import pytest

from corral.runtime import devicefilter
from corral.runtime.spec import ALLOWED_DEVICES

DEFAULT_RULES = [{"allow": False, "access": "rwm"}] + [
    {"allow": True, "type": t, "major": ma, "minor": mi, "access": acc} for t, ma, mi, acc in ALLOWED_DEVICES]


def _cgroup2_mount() -> str:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                return fields[4]
    raise AssertionError("no cgroup2 mount on this host: the device filter cannot be tried")


@pytest.fixture
def cgroup2(tmp_path):
    path = os.path.join(_cgroup2_mount(), f"corral-test-devices-{os.getpid()}")
    os.mkdir(path)
    yield path
    os.rmdir(path)  # the attached program goes with it


def _in_cgroup(path: str, action) -> int:  # noqa: ANN001 - action() -> int, run in a child inside the cgroup
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write("0")
            code = action()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _open_errno(node: str, flags: int = os.O_RDONLY) -> int:
    try:
        os.close(os.open(node, flags))
        return 0
    except OSError as e:
        return e.errno


def _host_disk() -> str:
    """A block device of the host that this process may open: a loop device (opened read-only and closed,
    nothing read; the host's own disk is refused to the tests' sandbox here, with or without a filter)."""
    for name in sorted(os.listdir("/sys/block")):
        if name.startswith("loop") and os.path.exists(f"/dev/{name}") and _open_errno(f"/dev/{name}") == 0:
            return f"/dev/{name}"
    raise AssertionError("no block device on this host that root may open")


def test_default_rules_let_a_block_device_be_made_but_never_opened(cgroup2, tmp_path):
    devicefilter.attach(cgroup2, DEFAULT_RULES)
    node = str(tmp_path / "disk")
    disk = _host_disk()
    major, minor = os.major(os.stat(disk).st_rdev), os.minor(os.stat(disk).st_rdev)

    def inside() -> int:
        os.mknod(node, stat.S_IFBLK | 0o600, os.makedev(major, minor))  # allowed: b *:* m
        if _open_errno(node) != errno.EPERM or _open_errno(disk) != errno.EPERM:
            return 1
        if _open_errno("/dev/null", os.O_RDWR) != 0 or _open_errno("/dev/zero") != 0:
            return 2
        try:
            os.mknod(str(tmp_path / "mem"), stat.S_IFCHR | 0o600, os.makedev(1, 1))  # c *:* m: made ...
        except OSError:
            return 3
        return 0 if _open_errno(str(tmp_path / "mem")) == errno.EPERM else 4  # ... /dev/mem's node never opened

    assert _in_cgroup(cgroup2, inside) == 0
    assert _open_errno(node) == 0  # outside the cgroup the same node opens: the program did it


def test_privileged_rules_allow_every_device_and_a_cgroup_without_rules_too(cgroup2, tmp_path):
    disk = _host_disk()
    devicefilter.attach(cgroup2, [{"allow": True, "access": "rwm"}])  # --privileged's
    assert _in_cgroup(cgroup2, lambda: _open_errno(disk)) == 0
    devicefilter.attach(cgroup2, [])  # replaces the one before: no rule, no refusal
    assert _in_cgroup(cgroup2, lambda: _open_errno(disk)) == 0
    devicefilter.attach(cgroup2, DEFAULT_RULES)
    assert _in_cgroup(cgroup2, lambda: _open_errno(disk)) == errno.EPERM
    from corral.sys import bpf

    fd = os.open(cgroup2, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert bpf.attached_device_programs(fd) == 1  # each attach replaced the one before
    finally:
        os.close(fd)


def test_a_later_rule_wins_over_an_earlier_one(cgroup2):
    rules = DEFAULT_RULES + [{"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}]
    devicefilter.attach(cgroup2, rules)
    assert _in_cgroup(cgroup2, lambda: _open_errno("/dev/null", os.O_WRONLY)) == errno.EPERM
    assert _in_cgroup(cgroup2, lambda: _open_errno("/dev/null", os.O_RDONLY)) == 0


@pytest.mark.unit
def test_bad_rules_are_refused_in_words():
    with pytest.raises(ValueError, match="only r, w and m"):
        devicefilter.program([{"allow": True, "type": "c", "access": "rx"}])
    with pytest.raises(ValueError, match="only a, b and c"):
        devicefilter.program([{"allow": True, "type": "p", "access": "r"}])


def test_a_v2_cgroup_made_by_the_runtime_carries_the_filter(cgroup2):
    from corral.runtime import cgroups

    mount = os.path.dirname(cgroup2)
    cg = cgroups.CgroupV2(os.path.basename(cgroup2) + "/ctr", root=mount)  # as manager() makes one on a v2 host
    cg.create({"devices": DEFAULT_RULES})
    try:
        disk = _host_disk()

        def inside() -> int:
            cgroups.enter(cg.entry_files())
            return _open_errno(disk)

        pid = os.fork()
        if pid == 0:
            os._exit(inside())
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == errno.EPERM
        assert _open_errno(disk) == 0
    finally:
        cg.destroy()
