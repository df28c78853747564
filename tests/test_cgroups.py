"""The cgroup managers against a temporary directory laid out as a cgroup filesystem.

These machines are cgroup v1 hosts, so the v2 manager never runs in the
integration tests; here both run against directories laid out as the kernel
lays out cgroup2 (cgroup.controllers, cgroup.subtree_control, cgroup.events…)
and v1 hierarchies. A regular file keeps only the last value written to it,
so the writes themselves are recorded, in order, through `cgroups._write`.
"""
from __future__ import annotations

import errno
import os

import pytest

from corral.errors import CorralError
from corral.runtime import cgroups, spec
from corral.runtime.options import ContainerOptions
from corral.store.rootfs import Mount

pytestmark = pytest.mark.unit

CID = "0123456789ab" * 5 + "cdef"


@pytest.fixture
def writes(monkeypatch) -> list[tuple[str, str]]:
    """Every value the managers write, as (path, value), still written to the file."""
    seen: list[tuple[str, str]] = []
    real = cgroups._write

    def recording(path: str, value: str) -> None:
        seen.append((path, value))
        real(path, value)

    monkeypatch.setattr(cgroups, "_write", recording)
    return seen


@pytest.fixture
def cgroup2(tmp_path) -> str:
    """The root of a cgroup2 mount as a host with every usual controller shows it."""
    root = tmp_path / "unified"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / "cgroup.procs").write_text("1\n")
    return str(root)


def resources(**options: object) -> dict:
    """linux.resources as spec.build makes them from `docker create` options."""
    rootfs = Mount("overlay", "overlay", ("lowerdir=/bundle/empty", "upperdir=/bundle/upper", "workdir=/bundle/work"))
    return spec.build(CID, ContainerOptions(cmd=["sh"], **options), {}, rootfs, "/bundle")["linux"]["resources"]


def v2_resources(**options: object) -> dict:
    """The same without the device rules: a directory laid out as cgroup2 takes no BPF device program
    (tests/test_devicefilter.py attaches one on the host's real cgroup2 mount)."""
    return {k: v for k, v in resources(**options).items() if k != "devices"}


# ------------------------------------------------------------------------------------- v2


def test_a_directory_laid_out_as_cgroup2_is_v2_and_others_are_not(cgroup2, tmp_path):
    assert cgroups.is_v2(cgroup2) and isinstance(cgroups.manager(f"/corral/{CID}", cgroup2), cgroups.CgroupV2)
    assert not cgroups.is_v2(str(tmp_path))


def test_v2_create_stays_under_its_root_and_writes_the_limits(cgroup2, writes):
    """The root given is the one used, for the controllers offered too (this v1 host has no
    /sys/fs/cgroup/cgroup.controllers: reading the host's would fail here)."""
    cg = cgroups.CgroupV2(f"/corral/{CID}", cgroup2)
    cg.create(v2_resources(memory=64 << 20, cpus=0.5, pids_limit=100))
    parent, leaf = f"{cgroup2}/corral", f"{cgroup2}/corral/{CID}"
    enable = [(f"{d}/cgroup.subtree_control", f"+{c}")
              for d in (cgroup2, parent) for c in ("cpu", "memory", "pids", "io")]
    assert writes == enable + [(f"{leaf}/memory.max", str(64 << 20)), (f"{leaf}/cpu.max", "50000 100000"),
                               (f"{leaf}/pids.max", "100")]
    assert os.path.isdir(leaf) and cg.paths() == [leaf]
    assert cg.entry_files() == [f"{leaf}/cgroup.procs"]


def test_v2_enables_only_the_controllers_the_root_offers(cgroup2, writes):
    with open(f"{cgroup2}/cgroup.controllers", "w") as f:
        f.write("memory pids\n")
    cgroups.CgroupV2(f"/corral/{CID}", cgroup2).create(v2_resources())
    assert [value for path, value in writes if path.endswith("subtree_control")] == ["+memory", "+pids"] * 2
    assert not [path for path, _ in writes if not path.endswith("subtree_control")], "no limit asked, none written"


def test_v2_create_goes_on_when_a_controller_cannot_be_delegated(cgroup2):
    """The kernel refuses +cpu where a realtime task runs, for one: the limits still apply."""
    os.makedirs(f"{cgroup2}/corral/cgroup.subtree_control")  # writing it now fails as a refusal would
    cgroups.CgroupV2(f"/corral/{CID}", cgroup2).create(v2_resources(pids_limit=7))
    with open(f"{cgroup2}/corral/{CID}/pids.max") as f:
        assert f.read() == "7"


def test_v2_freeze_returns_once_the_kernel_reports_frozen(cgroup2):
    cg = cgroups.CgroupV2(f"/corral/{CID}", cgroup2)
    os.makedirs(cg.dir)
    with open(f"{cg.dir}/cgroup.events", "w") as f:
        f.write("populated 1\nfrozen 1\n")
    assert not cg.frozen()
    cg.freeze()
    assert cg.frozen()
    cg.thaw()
    assert not cg.frozen()
    with open(f"{cg.dir}/cgroup.freeze") as f:
        assert f.read() == "0"


def test_v2_freeze_that_never_completes_is_undone_and_reported(cgroup2, monkeypatch):
    monkeypatch.setattr(cgroups, "FREEZE_TIMEOUT", 0.05)
    cg = cgroups.CgroupV2(f"/corral/{CID}", cgroup2)
    os.makedirs(cg.dir)
    with open(f"{cg.dir}/cgroup.events", "w") as f:
        f.write("populated 1\nfrozen 0\n")
    with pytest.raises(CorralError, match="did not stop within 0.05 s"):
        cg.freeze()
    assert not cg.frozen(), "a freeze that failed must not leave the container half frozen"


def test_v2_pids_and_a_cgroup_already_gone(cgroup2):
    cg = cgroups.CgroupV2(f"/corral/{CID}", cgroup2)
    assert cg.pids() == [] and not cg.frozen()
    cg.destroy()  # nothing to remove: no error
    os.makedirs(cg.dir)
    with open(f"{cg.dir}/cgroup.procs", "w") as f:
        f.write("12\n345\n")
    assert cg.pids() == [12, 345]


def test_v2_destroy_removes_the_directory(cgroup2):
    cg = cgroups.CgroupV2(f"/corral/{CID}", cgroup2)
    os.makedirs(cg.dir)
    cg.destroy()
    assert not os.path.exists(cg.dir) and os.path.isdir(f"{cgroup2}/corral")


def test_a_cgroup_busy_with_exiting_tasks_is_removed_once_they_are_gone(monkeypatch, tmp_path):
    answers = [OSError(errno.EBUSY, "busy"), OSError(errno.EBUSY, "busy"), None]

    def rmdir(path: str) -> None:
        answer = answers.pop(0)
        if answer:
            raise answer

    monkeypatch.setattr(cgroups.os, "rmdir", rmdir)
    cgroups._rmdir_retry(str(tmp_path / "cg"))
    assert answers == []
    answers[:] = [OSError(errno.ENOTEMPTY, "not empty")]
    with pytest.raises(OSError, match="not empty"):
        cgroups._rmdir_retry(str(tmp_path / "cg"))


# ------------------------------------------------------------------------------------- v1


@pytest.fixture
def cgroup1(tmp_path) -> dict[str, str]:
    """One directory per v1 hierarchy; the cpuset one with the CPUs and nodes of its root."""
    found = {}
    for ctrl in cgroups.V1_CONTROLLERS:
        found[ctrl] = str(tmp_path / ctrl)
        os.makedirs(found[ctrl])
    for name, value in (("cpuset.cpus", "0-3\n"), ("cpuset.mems", "0\n")):
        with open(os.path.join(found["cpuset"], name), "w") as f:
            f.write(value)
    for d in ("corral", f"corral/{CID}"):  # what the kernel shows in a new cpuset: empty sets
        os.makedirs(os.path.join(found["cpuset"], d))
        for name in ("cpuset.cpus", "cpuset.mems"):
            open(os.path.join(found["cpuset"], d, name), "w").close()
    return found


def test_v1_create_writes_each_limit_in_its_hierarchy(cgroup1, writes):
    cg = cgroups.CgroupV1(f"/corral/{CID}", cgroup1)
    cg.create(resources(memory=64 << 20, cpus=1.5, pids_limit=50))
    leaf = {ctrl: f"{mount}/corral/{CID}" for ctrl, mount in cgroup1.items()}
    limits = [(path, value) for path, value in writes if "cpuset" not in path and "devices" not in path]
    assert limits == [(f"{leaf['memory']}/memory.limit_in_bytes", str(64 << 20)),
                      (f"{leaf['cpu']}/cpu.cfs_period_us", "100000"), (f"{leaf['cpu']}/cpu.cfs_quota_us", "150000"),
                      (f"{leaf['pids']}/pids.max", "50")]
    assert all(os.path.isdir(d) for d in leaf.values()) and sorted(cg.paths()) == sorted(leaf.values())
    assert sorted(cg.entry_files()) == sorted(f"{d}/tasks" for d in leaf.values())


def test_v1_devices_deny_everything_then_allow_dockers_list(cgroup1, writes):
    cgroups.CgroupV1(f"/corral/{CID}", cgroup1).create(resources())
    rules = [(os.path.basename(path), value) for path, value in writes if "/devices/" in path]
    assert rules[0] == ("devices.deny", "a")
    assert rules[1:] == [("devices.allow", f"{t} {'*' if ma is None else ma}:{'*' if mi is None else mi} {acc}")
                         for t, ma, mi, acc in spec.ALLOWED_DEVICES]
    assert ("devices.allow", "c 136:* rwm") in rules  # the container's terminals (/dev/pts/N)


def test_v1_privileged_allows_every_device(cgroup1, writes):
    cgroups.CgroupV1(f"/corral/{CID}", cgroup1).create(resources(privileged=True))
    assert [(os.path.basename(p), v) for p, v in writes if "/devices/" in p] == [("devices.allow", "a")]


def test_v1_cpuset_is_filled_down_from_the_root(cgroup1, writes):
    """A new v1 cpuset has no CPUs and would refuse every task: each level gets its parent's."""
    cgroups.CgroupV1(f"/corral/{CID}", cgroup1).create(resources())
    cpuset = cgroup1["cpuset"]
    assert [(p[len(cpuset):], v) for p, v in writes if p.startswith(cpuset)] == [
        ("/corral/cpuset.cpus", "0-3"), ("/corral/cpuset.mems", "0"),
        (f"/corral/{CID}/cpuset.cpus", "0-3"), (f"/corral/{CID}/cpuset.mems", "0")]


def test_v1_freeze_and_thaw(cgroup1):
    cg = cgroups.CgroupV1(f"/corral/{CID}", cgroup1)
    cg.create(resources())
    assert not cg.frozen()
    cg.freeze()
    assert cg.frozen()
    cg.thaw()
    assert not cg.frozen()


def test_v1_without_a_freezer_cannot_pause(tmp_path):
    cg = cgroups.CgroupV1(f"/corral/{CID}", {"memory": str(tmp_path)})
    assert not cg.frozen()
    with pytest.raises(CorralError, match="freezer cgroup controller is not mounted"):
        cg.freeze()


def test_v1_pids_come_from_the_pids_hierarchy(cgroup1):
    cg = cgroups.CgroupV1(f"/corral/{CID}", cgroup1)
    assert cg.pids() == []
    os.makedirs(cg.dirs["pids"])
    with open(f"{cg.dirs['pids']}/cgroup.procs", "w") as f:
        f.write("7\n8\n")
    assert cg.pids() == [7, 8]


def test_entering_writes_zero_to_each_entry_file(tmp_path):
    """0 is "the writer itself": a fresh fork moves only itself, as enter()'s docstring explains."""
    files = [tmp_path / "cpu.tasks", tmp_path / "memory.tasks"]
    for f in files:
        f.write_text("")
    cgroups.enter([str(f) for f in files])
    assert [f.read_text() for f in files] == ["0", "0"]
