"""The host preparation for peer tools (bench/hostprep.py): its decisions, from the texts a host shows,
for states this machine cannot return to once the suite has run (a fresh one keeps hugetlb on the
cgroup2 mount; after the first mount the kernel keeps it bound to v1 until a reboot), and the guard
that refuses a test which runs a peer tool without the peer_host fixture."""
from __future__ import annotations

import resource
import subprocess

import pytest

from bench import hostprep

HYBRID_MOUNTS = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""
HUGETLB_V1_MOUNT = "cgroup /sys/fs/cgroup/hugetlb cgroup rw,relatime,hugetlb 0 0\n"
PURE_V2_MOUNTS = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n"
PURE_V1_MOUNTS = "\n".join(HYBRID_MOUNTS.splitlines()[:-1]) + "\n"


def proc_cgroups(hugetlb: str | None) -> str:
    """/proc/cgroups as these machines show it, with hugetlb's line given ("hierarchy num enabled")."""
    lines = ["#subsys_name\thierarchy\tnum_cgroups\tenabled", "cpuset\t3\t4\t1", "cpu\t1\t4\t1",
             "memory\t4\t51\t1", "net_cls\t0\t1\t1", "pids\t8\t4\t1"]
    if hugetlb is not None:
        lines.insert(4, "hugetlb\t" + hugetlb.replace(" ", "\t"))
    return "\n".join(lines) + "\n"


@pytest.mark.unit
def test_the_cgroup2_mount_of_a_hybrid_host_is_found():
    assert hostprep.cgroup2_beside_v1(HYBRID_MOUNTS) == "/sys/fs/cgroup/unified"
    assert hostprep.cgroup2_beside_v1(HYBRID_MOUNTS + HUGETLB_V1_MOUNT) == "/sys/fs/cgroup/unified"


@pytest.mark.unit
@pytest.mark.parametrize("mounts", [PURE_V2_MOUNTS, PURE_V1_MOUNTS, "proc /proc proc rw 0 0\n", ""],
                         ids=["pure-v2", "pure-v1", "no-cgroups", "empty"])
def test_hosts_that_are_not_hybrid_need_nothing(mounts):
    assert hostprep.cgroup2_beside_v1(mounts) is None


@pytest.mark.unit
def test_a_fresh_machine_mounts_hugetlb_as_v1():
    """What a new machine of this kind shows: hugetlb bound to no v1 hierarchy, listed by cgroup2."""
    assert hostprep.hugetlb_needs_v1(proc_cgroups("0 1 1"), "hugetlb\n")


@pytest.mark.unit
@pytest.mark.parametrize("hugetlb, controllers", [
    ("9 1 1", ""),           # a used machine: hugetlb is a v1 hierarchy, cgroup2 lists nothing
    ("9 1 1", "hugetlb\n"),  # inconsistent, but a v1 hierarchy already holds it: mounting again would not help
    ("0 1 0", "hugetlb\n"),  # disabled on the kernel command line (cgroup_disable=hugetlb)
    (None, ""),              # a kernel without hugetlb
    ("0 1 1", ""),           # on neither (nothing mounted it): crun has nothing to refuse
    ("0 1 1", "rdma misc\n"),  # other controllers on cgroup2 are not this preparation's to move
])
def test_hugetlb_is_left_alone_unless_it_sits_on_cgroup2(hugetlb, controllers):
    assert not hostprep.hugetlb_needs_v1(proc_cgroups(hugetlb), controllers)


def test_this_host_ends_ready_for_crun(peer_host):
    """After the preparation, the cgroup2 mount of this (hybrid) host lists no controller."""
    with open("/proc/self/mounts") as f:
        unified = hostprep.cgroup2_beside_v1(f.read())
    assert unified is not None, "these machines are hybrid (design/HOST-NOTES.md)"
    with open(f"{unified}/cgroup.controllers") as f:
        assert f.read().split() == []
    assert subprocess.run(["crun", "--version"], capture_output=True).returncode == 0


@pytest.mark.unit
def test_podman_ulimits_are_added_once():
    new = hostprep.podman_ulimits("", False, 20000, 32768, 4194304)
    assert new == '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
    assert hostprep.podman_ulimits(new, False, 20000, 32768, 4194304) is None  # idempotent


@pytest.mark.unit
def test_podman_ulimits_keep_the_users_settings():
    conf = '# mine\n[engine]\ncgroup_manager = "cgroupfs"\n\n[containers]\nlog_size_max = 10\n'
    new = hostprep.podman_ulimits(conf, False, 1024, resource.RLIM_INFINITY, 4194304)
    assert new == conf.replace("[containers]\n", '[containers]\ndefault_ulimits = ["nofile=1024:1024",'
                               ' "nproc=4194304:4194304"]\n')  # unlimited nproc: podman caps it at pid_max
    assert hostprep.podman_ulimits('[containers]\n default_ulimits = []\n', False, 1, 1, 1) is None
    assert hostprep.podman_ulimits("no newline", False, 5, 6, 7).startswith("no newline\n[containers]\n")


@pytest.mark.unit
def test_podman_can_raise_its_own_limits_with_cap_sys_resource():
    assert hostprep.podman_ulimits("", True, 20000, 32768, 4194304) is None


@pytest.mark.unit
def test_a_peer_tool_run_without_peer_host_is_refused():
    with pytest.raises(RuntimeError, match="without the peer_host fixture"):
        subprocess.run(["crun", "--version"], capture_output=True)
    with pytest.raises(RuntimeError, match="runs podman without"):
        subprocess.run(["/usr/bin/podman", "--version"], capture_output=True)
    assert subprocess.run(["true"]).returncode == 0  # other commands are not its business
