"""The container's view of its cgroups (runtime/cgroupfs.py), as the mount calls it makes for each host layout.

These hosts run cgroup v1; an ordinary Debian 12 host runs v2, a hybrid host both. Each layout is given
here as the text the init reads (/proc/self/cgroup, /proc/self/mounts), and the calls made against the
recording fake: no root, nothing mounted. The real mounts are tested in test_cgroup_view.py.
"""
from __future__ import annotations

import os

import pytest

from corral.runtime import cgroupfs, init
from corral.runtime.options import ContainerOptions
from corral.store.rootfs import Mount
from corral.sys import libc
from corral.sys.fake import RecordingSyscall

pytestmark = pytest.mark.unit

NOSUID, NODEV, NOEXEC, RDONLY = libc.MS_NOSUID, libc.MS_NODEV, libc.MS_NOEXEC, libc.MS_RDONLY
BIND, REC, REMOUNT = libc.MS_BIND, libc.MS_REC, libc.MS_REMOUNT
SAFE = NOSUID | NOEXEC | NODEV
CID = "c0ffee" * 10 + "abcd"

V1_CO_MOUNTED = f"""12:name=systemd:/corral/{CID}
11:cpu,cpuacct:/corral/{CID}
10:net_cls,net_prio:/corral/{CID}
9:memory:/corral/{CID}
8:pids:/corral/{CID}
0::/user.slice
"""
"""/proc/self/cgroup of a container's init on a hybrid host (systemd's layout: co-mounted controllers)."""

V1_MOUNTS = """sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/net_cls,net_prio cgroup rw,nosuid,nodev,noexec,relatime,net_cls,net_prio 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,nodev,noexec,relatime,pids 0 0
"""

CGROUP_MOUNT = {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "ro"]}


@pytest.fixture
def fake() -> RecordingSyscall:
    return RecordingSyscall()


@pytest.fixture
def rootfs(tmp_path) -> str:
    (tmp_path / "sys" / "fs" / "cgroup").mkdir(parents=True)
    return str(tmp_path)


def test_hierarchies_are_read_from_proc_self_cgroup():
    assert cgroupfs.hierarchies(V1_CO_MOUNTED) == [
        ("systemd", "name=systemd", f"/corral/{CID}"), ("cpu,cpuacct", "cpu,cpuacct", f"/corral/{CID}"),
        ("net_cls,net_prio", "net_cls,net_prio", f"/corral/{CID}"), ("memory", "memory", f"/corral/{CID}"),
        ("pids", "pids", f"/corral/{CID}")]
    assert cgroupfs.hierarchies("0::/corral/x\n") == [], "a pure v2 host has no v1 hierarchy"


def test_v1_in_its_own_namespace_a_read_only_tmpfs_with_each_hierarchy_and_the_co_mounted_names(fake, rootfs):
    cgroupfs.mount(rootfs, CGROUP_MOUNT, True, fake, cgroupfs.Layout(False, V1_CO_MOUNTED))
    at = f"{rootfs}/sys/fs/cgroup"
    assert fake.calls == [
        ("mount", ("tmpfs", at, "tmpfs", SAFE, "mode=755")),
        ("mount", ("systemd", f"{at}/systemd", "cgroup", SAFE | RDONLY, "name=systemd")),
        ("mount", ("cgroup", f"{at}/cpu,cpuacct", "cgroup", SAFE | RDONLY, "cpu,cpuacct")),
        ("mount", ("cgroup", f"{at}/net_cls,net_prio", "cgroup", SAFE | RDONLY, "net_cls,net_prio")),
        ("mount", ("cgroup", f"{at}/memory", "cgroup", SAFE | RDONLY, "memory")),
        ("mount", ("cgroup", f"{at}/pids", "cgroup", SAFE | RDONLY, "pids")),
        ("mount", (None, at, None, SAFE | RDONLY | BIND | REMOUNT, None)),  # the tmpfs read-only, once filled
    ]
    links = {name: os.readlink(f"{at}/{name}") for name in os.listdir(at) if os.path.islink(f"{at}/{name}")}
    assert links == {"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "net_cls": "net_cls,net_prio",
                     "net_prio": "net_cls,net_prio"}
    assert sorted(n for n in os.listdir(at) if not os.path.islink(f"{at}/{n}")) == [
        "cpu,cpuacct", "memory", "net_cls,net_prio", "pids", "systemd"]


def test_v2_is_one_read_only_cgroup2_mount(fake, rootfs):
    cgroupfs.mount(rootfs, CGROUP_MOUNT, True, fake, cgroupfs.Layout(True))
    assert fake.calls == [("mount", ("cgroup", f"{rootfs}/sys/fs/cgroup", "cgroup2", SAFE | RDONLY, None))]


def test_privileged_leaves_it_writable(fake, rootfs):
    writable = dict(CGROUP_MOUNT, options=["nosuid", "noexec", "nodev"])
    cgroupfs.mount(rootfs, writable, True, fake, cgroupfs.Layout(False, "3:memory:/\n"))
    assert [args[3] for args in fake.named("mount")] == [SAFE, SAFE], "no read-only flag, no remount"
    fake.calls.clear()
    cgroupfs.mount(rootfs, writable, True, fake, cgroupfs.Layout(True))
    assert fake.named("mount") == [("cgroup", f"{rootfs}/sys/fs/cgroup", "cgroup2", SAFE, None)]


def test_v1_without_a_namespace_binds_the_containers_own_directories(fake, rootfs):
    cgroupfs.mount(rootfs, CGROUP_MOUNT, False, fake, cgroupfs.Layout(False, V1_CO_MOUNTED, V1_MOUNTS))
    at = f"{rootfs}/sys/fs/cgroup"
    binds = [args for args in fake.named("mount") if args[3] == BIND | REC]
    assert binds == [(f"/sys/fs/cgroup/{name}/corral/{CID}", f"{at}/{name}", None, BIND | REC, None)
                     for name in ("systemd", "cpu,cpuacct", "net_cls,net_prio", "memory", "pids")]
    remounts = [args for args in fake.named("mount") if args[3] & REMOUNT]
    assert remounts == [(None, f"{at}/{name}", None, SAFE | RDONLY | BIND | REMOUNT, None)
                        for name in ("systemd", "cpu,cpuacct", "net_cls,net_prio", "memory", "pids")] + [
        (None, at, None, SAFE | RDONLY | BIND | REMOUNT, None)]


def test_a_hierarchy_the_host_no_longer_mounts_is_left_out_of_the_binds(fake, rootfs):
    cgroupfs.mount(rootfs, CGROUP_MOUNT, False, fake, cgroupfs.Layout(False, "5:memory:/c\n4:rdma:/c\n",
                                                                      V1_MOUNTS))
    assert [args[0] for args in fake.named("mount") if args[3] == BIND | REC] == ["/sys/fs/cgroup/memory/c"]
    assert sorted(os.listdir(f"{rootfs}/sys/fs/cgroup")) == ["memory"]


def test_the_cgroup_mount_and_those_under_it_wait_for_the_cgroup_namespace():
    mounts = [{"destination": "/proc", "type": "proc"}, CGROUP_MOUNT,
              {"destination": "/sys/fs/cgroup/extra", "type": "bind"}, {"destination": "/sys/fs/cgroupie"},
              {"destination": "/data", "type": "bind"}]
    now, later = cgroupfs.split(mounts)
    assert now == [mounts[0], mounts[3], mounts[4]] and later == [mounts[1], mounts[2]]


def test_the_init_makes_the_view_after_its_cgroup_namespace_and_before_the_pivot(fake, tmp_path, monkeypatch):
    """The order is the point: a cgroup filesystem mounted before unshare(CLONE_NEWCGROUP) would show the
    host's whole hierarchy, and after pivot_root the host's mount points would be out of reach."""
    monkeypatch.setattr(cgroupfs.Layout, "detect", classmethod(lambda cls, own: cls(True)))
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    rootfs = Mount("overlay", "overlay", (f"lowerdir={tmp_path}", f"upperdir={bundle}/u", f"workdir={bundle}/w"))
    from corral.runtime import spec

    cfg = spec.build(CID, ContainerOptions(cmd=["sh"]), {}, rootfs, str(bundle))
    init.build_rootfs(cfg, str(bundle), fake)
    assert [args[1] for args in fake.named("mount") if "/sys/fs/cgroup" in args[1]] == [], \
        "nothing at /sys/fs/cgroup before the namespace"
    fake.calls.clear()
    init.switch_root(cfg, f"{bundle}/rootfs", libc.CLONE_NEWCGROUP, fake)
    assert fake.calls[:3] == [("unshare", (libc.CLONE_NEWCGROUP,)),
                              ("mount", ("cgroup", f"{bundle}/rootfs/sys/fs/cgroup", "cgroup2", SAFE | RDONLY, None)),
                              ("chdir", (f"{bundle}/rootfs",))]


def test_with_the_hosts_namespace_the_init_makes_no_namespace_and_binds(fake, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(cgroupfs.Layout, "detect",
                        classmethod(lambda cls, own: seen.append(own) or cls(False, "9:memory:/corral/x\n", V1_MOUNTS)))
    cfg = {"mounts": [CGROUP_MOUNT], "linux": {}}
    (tmp_path / "sys" / "fs" / "cgroup").mkdir(parents=True)
    init.switch_root(cfg, str(tmp_path), libc.CLONE_NEWNS, fake)
    assert seen == [False] and "unshare" not in fake.names()
    assert fake.named("mount")[1] == ("/sys/fs/cgroup/memory/corral/x", f"{tmp_path}/sys/fs/cgroup/memory", None,
                                      BIND | REC, None)


def test_docker_pys_cgroupns_keyword_is_applied():
    from corral.api.models.create import NOT_APPLIED, create_options

    assert "cgroupns" not in NOT_APPLIED
    assert create_options("run", {"cgroupns": "host"}) == {"cgroupns": "host"}
